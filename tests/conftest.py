import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


def pytest_report_header(config):
    """How the run's jobs start in this session (CI runs the children's tests under fork and under spawn)."""
    from mnist_ova import children

    return f"mnist-ova jobs start by: {children.start_method()} (MNIST_OVA_START_METHOD)"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One cache for the whole run, outside the user's home."""
    path = tmp_path_factory.mktemp("cache")
    os.environ["MNIST_OVA_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def sample(cache_dir):
    """The bundled 5,000 real MNIST digits."""
    from mnist_ova.trainer import data

    return data.load("sample", cache_dir=cache_dir)


@pytest.fixture(scope="session")
def small_digits(sample):
    """600 real digits, 60 of each class, fixed rows: small enough for reference loops."""
    rng = np.random.RandomState(0)
    rows = np.concatenate([rng.choice(np.flatnonzero(sample.labels == k), 60, replace=False) for k in range(10)])
    rng.shuffle(rows)
    return sample.images[rows], sample.labels[rows]


@pytest.fixture
def shared_mnist():
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("../shared/data/mnist is not present")
    return SHARED_MNIST


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory, small_digits):
    """The 600 small digits as an .npz file, the way a user passes their own data."""
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, X=small_digits[0], y=small_digits[1])
    return path
