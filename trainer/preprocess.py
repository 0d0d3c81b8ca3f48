"""Per-image standardisation and the train/test split, as the notebook does them."""
import math

import numpy as np

from mnist_ova.trainer import validation
from mnist_ova.errors import InputError

SPLITS = ("seed", "official")


def standardise(images, dtype="float64"):
    """(x - row mean) / row std for every image (row), in ``dtype``.

    A constant image (std 0) has nothing to standardise: it becomes all zeros, the value
    every pixel has after subtracting the mean, instead of the NaN that 0/0 would give.
    """
    X = np.asarray(images, dtype=np.float64)
    mean = X.mean(axis=1, keepdims=True)
    std = X.std(axis=1, keepdims=True)
    centred = X - mean
    return np.divide(centred, std, out=np.zeros_like(centred), where=std > 0).astype(dtype, copy=False)


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
                             "IDX files together); this data has none: use --split seed")
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
                         f"and {len(test)} test rows from {n_samples}: use more data or another --test-size")
    return train, test
