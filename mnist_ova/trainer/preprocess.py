"""Per-image standardisation and the train/test split, as the notebook does them."""
import math

import numpy as np

from mnist_ova.trainer import validation
from mnist_ova.errors import InputError

SPLITS = ("seed", "official")


BLOCK = 4096  # rows standardised at a time: a float64 block of MNIST images is 25 MB


def row_statistics(images) -> tuple[np.ndarray, np.ndarray]:
    """Each row's mean and std in float64, computed as ``standardise`` computes them (the same
    numpy reductions, so the same bits), a block of rows at a time."""
    images = _two_dimensional(images)
    mean = np.empty(len(images))
    std = np.empty(len(images))
    for start in range(0, len(images), BLOCK):
        X = images[start:start + BLOCK].astype(np.float64)
        mean[start:start + BLOCK] = X.mean(axis=1)
        std[start:start + BLOCK] = X.std(axis=1)
    return mean, std


def standardise(images, dtype="float64"):
    """(x - row mean) / row std for every image (row), in ``dtype``.

    A constant image (std 0) has nothing to standardise: it becomes all zeros, the value
    every pixel has after subtracting the mean, instead of the NaN that 0/0 would give.
    The arithmetic is float64 whatever ``dtype``, a block of rows at a time, so the float64
    temporaries stay small and a float32 result never needs more memory than a float64 one.
    """
    images = _two_dimensional(images)
    return _standardised(images, *row_statistics(images), np.dtype(dtype))


def _standardised(images, mean, std, dtype):
    out = np.empty(images.shape, dtype)
    for start in range(0, len(images), BLOCK):
        rows = slice(start, start + BLOCK)
        centred = images[rows].astype(np.float64)
        centred -= mean[rows, None]  # exactly 0 in a constant image, which the division then skips
        out[rows] = np.divide(centred, std[rows, None], out=centred, where=std[rows, None] > 0)
    return out


def _two_dimensional(images):
    images = np.asarray(images)
    if images.ndim != 2:
        raise InputError(f"images must be a 2-D array (images x pixels); got shape {images.shape}")
    return images


class StandardisedImages:
    """Images standardised per row, kept as their raw pixels with each row's mean and std.

    This is what ``standardise(images, dtype)`` returns, without the float copy of the whole
    data set: ``np.asarray(this)`` makes the float features (the same values, a block of rows
    at a time), and ``this[rows]`` selects rows, copying only their raw pixels (1 byte each
    for uint8 images). ``OneVsAllLogisticRegression.fit`` recognises it and trains on the
    raw pixels, standardising inside the kernel (``kernel_inputs``).
    """

    def __init__(self, images, dtype="float64", *, mean=None, std=None):
        self.pixels = _two_dimensional(images)
        self.dtype = np.dtype(dtype)
        if mean is None or std is None:
            mean, std = row_statistics(self.pixels)
        self.mean, self.std = np.asarray(mean, np.float64), np.asarray(std, np.float64)

    @property
    def shape(self):
        return self.pixels.shape

    @property
    def ndim(self):
        return 2

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, rows):
        if np.ndim(rows) == 0 and not isinstance(rows, slice):
            return self[[rows]].__array__()[0]
        return StandardisedImages(self.pixels[rows], self.dtype, mean=self.mean[rows], std=self.std[rows])

    def __array__(self, dtype=None, copy=None):
        X = _standardised(self.pixels, self.mean, self.std, self.dtype)
        return X if dtype is None else X.astype(dtype, copy=False)

    def kernel_inputs(self):
        """(pixels, centre, scale): the features are (pixels - centre) * scale, row by row; the
        scale of a constant image is 0, so it becomes zeros as in ``standardise``."""
        scale = np.divide(1.0, self.std, out=np.zeros_like(self.std), where=self.std > 0)
        return self.pixels, self.mean, scale


def split_indices(n_samples, *, test_size=0.2, seed=42, method="seed", official_n_train=None):
    """Row indices (train, test).

    "seed": ``RandomState(seed).permutation(n)``, the first ceil(test_size * n) rows are the
    test set and the rest the training set: the same rows as scikit-learn's
    ``train_test_split(test_size=test_size, random_state=seed)``.
    "official": the data files' own parts; the first ``official_n_train`` rows train.
    """
    validation.check_choice("split", method, SPLITS)
    if method == "official":
        if official_n_train is None:
            raise InputError("split 'official' needs data with its own train/test parts (e.g. the train and t10k "
                             "IDX files together); this data has none: use the split 'seed'", option="split")
        train, test = np.arange(official_n_train), np.arange(official_n_train, n_samples)
    else:
        test_size = validation.check_number("test_size", test_size, minimum=0, maximum=1,
                                            include_minimum=False, include_maximum=False)
        seed = validation.check_number("seed", seed, minimum=0, maximum=2**32 - 1, integer=True)
        n_test = math.ceil(test_size * n_samples)
        permutation = np.random.RandomState(seed).permutation(n_samples)
        test, train = permutation[:n_test], permutation[n_test:]
    if len(test) < 2 or len(train) < 2:
        raise InputError(f"the split must leave at least 2 training and 2 test rows; got {len(train)} training "
                         f"and {len(test)} test rows from {n_samples}: use more data or another test size",
                         option="test_size")
    return train, test
