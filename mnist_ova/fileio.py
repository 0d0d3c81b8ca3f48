"""Writing files so that a reader never sees half of one, zip entries that do not carry the time, and
reading a user's file only when it is a regular file of a bounded size."""
import contextlib
import json
import math
import os
import stat
import tempfile
import zipfile
from pathlib import Path

from mnist_ova.errors import InputError

FIXED_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry
MiB = 1 << 20


def read_bounded(path, *, limit, what, encoding=None):
    """The content of ``path``, a regular file of at most ``limit`` bytes (text when ``encoding`` is
    given); anything else is one ``InputError`` naming ``what`` (e.g. "config file") and the path: a
    FIFO or a device such as /dev/zero (refused before it is opened; one put there in the meantime is
    opened without blocking and never read), a folder, a file too large, text that is not in ``encoding``."""
    path = Path(path)
    try:
        # A FIFO or a device is refused before it is opened: opening one may block, or act (a tape rewinds).
        _regular(os.stat(path).st_mode, what, path)
    except OSError:
        pass  # the open below says why
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise InputError(f"{what} {str(path)!r} does not exist") from None
    except OSError as exc:
        if path.is_dir():  # Windows opens no folder: the same words as where it does
            raise InputError(f"{what} {str(path)!r} is a folder: only regular files are read") from None
        raise InputError(f"{what} {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    info = os.fstat(fd)
    size = info.st_size
    try:
        _regular(info.st_mode, what, path)  # again: it may have been replaced since
    except InputError:
        os.close(fd)
        raise
    with open(fd, "rb") as f:
        data = f.read(limit + 1) if size <= limit else b""
        if size > limit or len(data) > limit:
            raise InputError(f"{what} {str(path)!r} is larger than the {_size_text(limit)} read for it "
                             f"({_size_text(max(size, len(data)))}): give the right file")
    if encoding is None:
        return data
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise InputError(f"{what} {str(path)!r} is not {encoding.upper()} text") from None


def _regular(mode, what, path):
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "no regular file")
        raise InputError(f"{what} {str(path)!r} is {kind}: only regular files are read")


def _size_text(size):
    return f"{size / MiB:g} MiB" if size >= MiB else f"{size} bytes"


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
