"""Writing files so that a reader never sees half of one, and zip entries that do not carry the time."""
import contextlib
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path

FIXED_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry


def add_to_zip(archive, name, data, *, compress=False):
    """One entry with a fixed date, so the same content gives the same archive bytes."""
    info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path``, renamed onto it only if the block succeeds."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def json_text(document):
    """``document`` as JSON text that every parser reads: a number that is not finite (NaN, ±inf, which
    Python would write as the invalid ``NaN``/``Infinity``) becomes ``null``, with ``<key>_note`` beside
    it saying what it was."""
    return json.dumps(_finite(document)[0], indent=2, allow_nan=False) + "\n"


def _finite(value):
    """(the value with non-finite numbers as None, a note when any was replaced)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()  # numpy arrays and scalars
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"not a finite number ({value!r}), written as null"
    if isinstance(value, dict):
        clean = {}
        for key, item in value.items():
            clean[key], note = _finite(item)
            if note:
                clean[f"{key}_note"] = note
        return clean, None
    if isinstance(value, (list, tuple)):
        pairs = [_finite(item) for item in value]
        bad = any(note for _, note in pairs)
        return [item for item, _ in pairs], ("holds numbers that are not finite, written as null" if bad else None)
    return value, None
