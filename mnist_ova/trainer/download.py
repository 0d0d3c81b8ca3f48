"""Full MNIST from the usual public mirrors: sha256-verified, cached, never half-written."""
import hashlib
import os
import tempfile
from pathlib import Path

from mnist_ova import children
from mnist_ova.errors import ToolError, ExitCode

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

CHUNK = 1 << 16


class DownloadError(ToolError):
    """No mirror delivered a file with the expected checksum."""

    exit_code = ExitCode.DATA_UNAVAILABLE


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_files(cache_dir, files=MNIST_FILES):
    """The cached paths when every file is there with the right checksum, else None."""
    paths = [Path(cache_dir) / "mnist" / name for name in files]
    if all(p.is_file() and sha256_of(p) == files[p.name] for p in paths):
        return paths
    return None


def fetch(cache_dir, *, files=MNIST_FILES, mirrors=MIRRORS, progress=True, timeout=30):
    """Every file of ``files`` in ``cache_dir/mnist``, downloading the missing ones.

    A file is streamed to a temporary name beside its final one and renamed into place
    only once its sha256 matches, so an interrupted or corrupt download never stays in
    the cache. Each mirror is tried in turn.
    """
    folder = Path(cache_dir) / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, expected in files.items():
        path = folder / name
        if not (path.is_file() and sha256_of(path) == expected):
            _download_first_good(name, expected, path, mirrors, progress, timeout)
        paths.append(path)
    return paths


def _download_first_good(name, expected, path, mirrors, progress, timeout):
    import http.client  # here: every run imports this module, few download (15 ms of a first run's start)

    failures = []
    for mirror in mirrors:
        url = mirror + name
        try:
            _download(url, expected, path, progress, timeout)
            return
        except (OSError, http.client.HTTPException, ValueError) as exc:
            failures.append(f"{url}: {exc}")
    raise DownloadError(f"could not download {name} from any mirror ({'; '.join(failures)}); "
                        "check the network, or give local MNIST files as the data", option="data")


def _download(url, expected, path, progress, timeout):
    import urllib.request

    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        received = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = response.headers.get("Content-Length")
            with children.progress_bar(total=int(total) if total else None, unit="B", unit_scale=True,
                                       desc=path.name, disable=not progress, leave=False) as bar:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        # http.client does not raise on a short read of a sized body: check the length here.
        if total and received != int(total):
            raise ValueError(f"the connection dropped after {received} of {total} bytes")
        if digest.hexdigest() != expected:
            raise ValueError(f"sha256 {digest.hexdigest()} is not the expected {expected}")
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
