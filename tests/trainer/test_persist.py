import numpy as np
import pytest

from mnist_ova.errors import InputError
from mnist_ova.trainer.model import OneVsAllLogisticRegression
from mnist_ova.trainer.persist import load_model, save_model
from mnist_ova.trainer.preprocess import standardise


def test_a_saved_model_predicts_the_same_after_loading(tmp_path, small_digits):
    images, labels = small_digits
    X = standardise(images)
    model = OneVsAllLogisticRegression(max_iter=30).fit(X, labels)
    save_model(model, tmp_path / "model.npz", metadata={"data": "sample"})
    loaded, metadata = load_model(tmp_path / "model.npz")
    assert metadata == {"data": "sample"}
    assert loaded.coef_.dtype == np.float64 and loaded.coef_.shape == (784, 10)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.get_params() == model.get_params()
    assert [len(h) for h in loaded.cost_history_] == [len(h) for h in model.cost_history_]


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04" + bytes(60)])
def test_a_corrupt_model_is_a_clear_error(tmp_path, content):
    (tmp_path / "model.npz").write_bytes(content)
    with pytest.raises(InputError, match="damaged or no model of this tool.*--force"):
        load_model(tmp_path / "model.npz")


def test_an_npz_that_is_no_model(tmp_path):
    np.savez(tmp_path / "model.npz", W=np.zeros((4, 2)))
    with pytest.raises(InputError, match="damaged or no model"):
        load_model(tmp_path / "model.npz")


def test_a_missing_model_says_how_to_make_one(tmp_path):
    with pytest.raises(InputError, match="does not exist: train one first"):
        load_model(tmp_path / "model.npz")
