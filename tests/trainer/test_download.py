"""The download code against a local HTTP server on 127.0.0.1 (no other network is used)."""
import functools
import gzip
import hashlib
import http.server
import shutil
import threading

import numpy as np
import pytest

from tests.conftest import SHARED_MNIST
from mnist_ova.trainer import data, download

NAMES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


class Handler(http.server.SimpleHTTPRequestHandler):
    """/good/NAME serves the file; /drop/NAME promises all of it and hangs up halfway."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        mode, _, name = self.path.strip("/").partition("/")
        try:
            body = open(self.directory + "/" + name, "rb").read()
            assert mode in ("good", "drop")
        except (OSError, AssertionError):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if mode == "good" else body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The real MNIST test files when ../shared has them, else small IDX files made here."""
    folder = tmp_path_factory.mktemp("served")
    if (SHARED_MNIST / NAMES[0]).is_file():
        for name in NAMES:
            shutil.copy(SHARED_MNIST / name, folder / name)
    else:
        rng = np.random.RandomState(0)
        images = rng.randint(0, 256, (50, 28, 28)).astype(np.uint8)
        labels = np.arange(50, dtype=np.uint8) % 10
        for name, array, code in ((NAMES[0], images, 3), (NAMES[1], labels, 1)):
            header = bytes([0, 0, 8, code]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
            (folder / name).write_bytes(gzip.compress(header + array.tobytes(), mtime=0))
    files = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in NAMES}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", files
    server.shutdown()


def test_download_verifies_caches_and_loads(tmp_path, served):
    base, files = served
    paths = download.fetch(tmp_path, files=files, mirrors=(base + "/good/",), progress=False)
    assert [p.name for p in paths] == list(NAMES)
    assert download.cached_files(tmp_path, files) == paths
    dataset = data._load_idx_paths(paths)
    assert len(dataset.labels) == len(dataset.images) > 0
    # A second fetch finds everything cached and asks no mirror at all.
    assert download.fetch(tmp_path, files=files, mirrors=("http://127.0.0.1:9/",), progress=False) == paths


@pytest.mark.parametrize("progress", [False, True])
def test_a_download_leaves_no_thread_behind(tmp_path, served, progress):
    """tqdm's monitor thread, left alive, would keep the run from forking its render lanes (children.forks)."""
    base, files = served
    download.fetch(tmp_path, files=files, mirrors=(base + "/good/",), progress=progress)
    assert not [thread for thread in threading.enumerate() if thread.name == "tqdm_monitor"]


def test_a_dropped_connection_falls_back_to_the_next_mirror(tmp_path, served):
    base, files = served
    paths = download.fetch(tmp_path, files=files, mirrors=(base + "/drop/", base + "/good/"), progress=False)
    assert all(download.sha256_of(p) == files[p.name] for p in paths)
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(NAMES)


def test_a_dropped_connection_leaves_no_file_in_the_cache(tmp_path, served):
    base, files = served
    with pytest.raises(download.DownloadError, match="connection dropped after [0-9]+ of [0-9]+ bytes"):
        download.fetch(tmp_path, files=files, mirrors=(base + "/drop/",), progress=False)
    assert list((tmp_path / "mnist").iterdir()) == []


def test_a_wrong_checksum_leaves_no_file_in_the_cache(tmp_path, served):
    base, files = served
    wrong = {name: "0" * 64 for name in files}
    with pytest.raises(download.DownloadError, match="sha256 .* is not the expected 0000"):
        download.fetch(tmp_path, files=wrong, mirrors=(base + "/good/",), progress=False)
    assert list((tmp_path / "mnist").iterdir()) == []


def test_every_mirror_is_named_when_all_fail(tmp_path, served):
    base, files = served
    with pytest.raises(download.DownloadError) as caught:
        download.fetch(tmp_path, files=files, mirrors=(base + "/missing/", base + "/drop/"), progress=False)
    assert "404" in str(caught.value) and "/drop/" in str(caught.value)
    assert caught.value.exit_code == 3


def test_the_real_mnist_checksums_are_the_shared_files(shared_mnist):
    for name in NAMES:
        assert download.sha256_of(shared_mnist / name) == download.MNIST_FILES[name]
