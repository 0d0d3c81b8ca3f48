"""fileio.read_bounded: only regular files, within a size bound, are read."""
import os

import pytest

from mnist_ova.errors import InputError
from mnist_ova.fileio import read_bounded


def test_a_regular_file_within_the_bound_is_read(tmp_path):
    (tmp_path / "a.toml").write_text("iterations = 5\n")
    assert read_bounded(tmp_path / "a.toml", limit=15, what="config file") == b"iterations = 5\n"
    assert read_bounded(tmp_path / "a.toml", limit=15, what="config file", encoding="utf-8") == "iterations = 5\n"


@pytest.mark.parametrize("kind, message", [
    pytest.param("fifo", r"config file '.*' is a named pipe \(FIFO\): only regular files are read",
                 marks=pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes (FIFOs) here")),
    pytest.param("device", r"config file '/dev/zero' is a device: only regular files are read",
                 marks=pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")),
    ("folder", r"config file '.*' is a folder: only regular files are read"),
    ("absent", r"config file '.*absent' does not exist"),
    ("too large", r"config file '.*' is larger than the 16 bytes read for it \(17 bytes\)"),
    ("not UTF-8", r"config file '.*' is not UTF-8 text"),
])
def test_anything_else_is_one_input_error(tmp_path, kind, message):
    path = {"device": "/dev/zero", "folder": tmp_path, "absent": tmp_path / "absent"}.get(kind, tmp_path / "f")
    if kind == "fifo":
        os.mkfifo(path)  # opened without blocking: the test would hang otherwise
    elif kind == "too large":
        path.write_bytes(b"x" * 17)
    elif kind == "not UTF-8":
        path.write_bytes(b"\xff\xfe")
    with pytest.raises(InputError, match=message):
        read_bounded(path, limit=16, what="config file", encoding="utf-8")


def test_a_folder_that_cannot_be_opened_is_named_a_folder(tmp_path, monkeypatch):
    """Windows refuses to open a folder (PermissionError): still the folder's own words."""
    def no_folders(path, flags, *args):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "open", no_folders)
    with pytest.raises(InputError, match=r"config file '.*' is a folder: only regular files are read"):
        read_bounded(tmp_path, limit=16, what="config file")
