"""Random bytes into every file reader: only the tool's own error type may come out."""
import gzip
import io
import zipfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_ova.trainer import data
from mnist_ova.errors import InputError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Bytes that start like the real thing reach deeper into each reader than pure noise.
idx_like = st.builds(lambda kind, ndim, dims, body: bytes([0, 0, kind, ndim]) + b"".join(
    d.to_bytes(4, "big") for d in dims) + body,
    st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]), st.integers(0, 4),
    st.lists(st.integers(0, 70), max_size=4), st.binary(max_size=600))


def read_or_refuse(read, path, check):
    """``read(path)``: either a value that passes ``check`` or one line of ``InputError``, nothing else."""
    try:
        value = read(path)
    except InputError as exc:
        assert str(exc).strip() and "\n" not in str(exc), repr(str(exc))
        return
    check(value)


def check_idx(path):
    def check(array):
        assert isinstance(array, np.ndarray) and array.shape == data.idx_header(path).shape
    return check


def check_dataset(dataset):
    """What a reader returns is the data the rest of the tool expects: one label per image, each
    image of the declared shape."""
    assert dataset.images.ndim == 2 and dataset.labels.shape == (dataset.images.shape[0],)
    assert dataset.images.shape[1] == int(np.prod(dataset.image_shape))


@FUZZ
@given(content=st.one_of(st.binary(max_size=2000), idx_like), compressed=st.booleans())
def test_idx_reader(tmp_path, content, compressed):
    path = tmp_path / ("x-images-idx3-ubyte.gz" if compressed else "x-images-idx3-ubyte")
    path.write_bytes(gzip.compress(content) if compressed and len(content) % 3 else content)
    read_or_refuse(data.read_idx, path, check_idx(path))


@FUZZ
@given(content=st.one_of(st.binary(max_size=2000), st.builds(lambda b: b"MATLAB 5.0 MAT-file" + b, st.binary(max_size=800))))
def test_mat_reader(tmp_path, content):
    path = tmp_path / "x.mat"
    path.write_bytes(content)
    read_or_refuse(data.load_path, path, check_dataset)


def npz_like(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in entries:
            archive.writestr(name, body)
    return buffer.getvalue()


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


arrays = st.builds(lambda shape, kind: np.zeros(shape, dtype=kind),
                   st.lists(st.integers(0, 5), max_size=4).map(tuple), st.sampled_from(["u1", "f8", "i4", "U3", "?"]))


@FUZZ
@given(content=st.one_of(
    st.binary(max_size=2000),
    st.lists(st.tuples(st.sampled_from(["X.npy", "y.npy", "x_train.npy", "y_train.npy", "x_test.npy",
                                        "y_test.npy", "junk"]), st.binary(max_size=300)), max_size=4,
             unique_by=lambda entry: entry[0]).map(npz_like),
    st.lists(st.tuples(st.sampled_from(["X.npy", "y.npy"]), arrays.map(npy_bytes)), max_size=3,
             unique_by=lambda entry: entry[0]).map(npz_like)))
def test_npz_reader(tmp_path, content):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    read_or_refuse(data.load_path, path, check_dataset)
