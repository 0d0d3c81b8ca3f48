import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from mnist_ova.errors import InputError
from mnist_ova.trainer.preprocess import split_indices, standardise


def test_standardise_is_the_notebooks_per_row_formula():
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(5, 16)).astype(np.uint8)
    x = images.astype(np.float64)
    expected = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
    out = standardise(images)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, expected, rtol=1e-15)


def test_a_constant_image_becomes_zeros_not_nan():
    images = np.array([[7] * 9, [0, 255] * 4 + [0]], dtype=np.uint8)
    out = standardise(images)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[0], 0.0)


def test_standardise_in_float32():
    assert standardise(np.arange(8).reshape(2, 4), "float32").dtype == np.float32


@pytest.mark.parametrize("n, test_size, seed", [(5000, 0.2, 42), (101, 0.2, 42), (37, 0.3, 7), (10000, 0.25, 0)])
def test_seed_split_is_scikit_learns_train_test_split(n, test_size, seed):
    rows = np.arange(n)
    expected_train, expected_test = train_test_split(rows, test_size=test_size, random_state=seed)
    train, test = split_indices(n, test_size=test_size, seed=seed)
    np.testing.assert_array_equal(train, expected_train)
    np.testing.assert_array_equal(test, expected_test)


def test_official_split_keeps_the_files_parts():
    train, test = split_indices(10, method="official", official_n_train=7)
    assert train.tolist() == list(range(7)) and test.tolist() == [7, 8, 9]


def test_official_split_without_parts_is_an_error():
    with pytest.raises(InputError, match="split 'official' needs data with its own train/test parts"):
        split_indices(10, method="official")


@pytest.mark.parametrize("kwargs, message", [
    ({"test_size": 1.5}, "test_size must be a number > 0 and < 1; got 1.5"),
    ({"method": "stratified"}, "split must be one of 'seed', 'official'; got 'stratified'"),
    ({"seed": -1}, "seed must be an integer >= 0"),
])
def test_bad_split_parameters(kwargs, message):
    with pytest.raises(InputError, match=message):
        split_indices(100, **kwargs)


def test_fewer_than_two_test_rows_is_an_error():
    with pytest.raises(InputError, match="at least 2 training and 2 test rows"):
        split_indices(5, test_size=0.2)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_standardised_images_are_standardise_without_the_float_copy(dtype):
    from mnist_ova.trainer.preprocess import BLOCK, StandardisedImages

    rng = np.random.RandomState(4)
    images = rng.randint(0, 256, size=(BLOCK + 7, 20)).astype(np.uint8)
    images[3] = 9
    lazy = StandardisedImages(images, dtype)
    assert lazy.shape == images.shape and len(lazy) == len(images) and lazy.dtype == np.dtype(dtype)
    expected = standardise(images, dtype)
    np.testing.assert_array_equal(np.asarray(lazy), expected)
    rows = np.array([BLOCK + 3, 3, 0])
    subset = lazy[rows]
    assert subset.pixels.dtype == np.uint8 and subset.shape == (3, 20)
    np.testing.assert_array_equal(np.asarray(subset), expected[rows])
    np.testing.assert_array_equal(lazy[5], expected[5])
    pixels, centre, scale = lazy.kernel_inputs()
    assert scale[3] == 0  # a constant image: zeros, as standardise makes it
    np.testing.assert_allclose((pixels - centre[:, None]) * scale[:, None], expected, rtol=1e-6 if dtype == "float32"
                               else 1e-14, atol=1e-6 if dtype == "float32" else 1e-14)


def test_standardise_matches_the_one_shot_formula_across_blocks():
    """Blocks of rows give the same bits as the whole array at once (the reductions are per row)."""
    from mnist_ova.trainer.preprocess import BLOCK

    images = np.random.RandomState(5).randint(0, 256, size=(2 * BLOCK + 1, 12)).astype(np.uint8)
    x = images.astype(np.float64)
    np.testing.assert_array_equal(standardise(images), (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True))
