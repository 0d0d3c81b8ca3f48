"""Writing files so that a reader never sees half of one, and zip entries that do not carry the time."""
import contextlib
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
