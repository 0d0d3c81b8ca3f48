import warnings

import numpy as np
import pytest

from mnist_ova.errors import InputError
from mnist_ova.trainer.model import NotFittedError, OneVsAllLogisticRegression
from mnist_ova.trainer.preprocess import standardise


def notebook_loop(X, y, alpha=0.01, iterations=1000, tol=1e-5):
    """One binary model exactly as the course notebook trains it, written plainly."""
    m = X.shape[0]
    y = y.reshape(-1, 1).astype(float)
    w = np.zeros((X.shape[1], 1))
    b = 0.0
    costs = []
    for i in range(iterations):
        Z = np.dot(X, w) + b
        A = 1 / (1 + np.exp(-Z))
        cost = -np.sum(y * np.log(A) + (1 - y) * np.log(1 - A)) / m
        dw = np.dot(X.T, (A - y)) / m
        db = np.sum(A - y) / m
        w = w - alpha * dw
        b = b - alpha * db
        costs.append(cost)
        y_pred = np.round(1 / (1 + np.exp(-(np.dot(X, w) + b))))
        rmse = np.sqrt(np.mean((y_pred - y) ** 2))
        if rmse <= tol:
            break
    return w.ravel(), b, np.array(costs), i + 1


def notebook_models(X, y, **kwargs):
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return [notebook_loop(X, (y == k).astype(int), **kwargs) for k in range(10)]


def test_joint_trainer_equals_the_notebooks_ten_loops(small_digits):
    images, labels = small_digits
    X = standardise(images)
    reference = notebook_models(X, labels, iterations=300)
    model = OneVsAllLogisticRegression(max_iter=300).fit(X, labels)
    for k, (w, b, costs, n_iter) in enumerate(reference):
        assert model.n_iter_[k] == n_iter
        np.testing.assert_allclose(model.coef_[k], w, rtol=0, atol=1e-10)
        assert abs(model.intercept_[k] - b) <= 1e-10
        finite = np.isfinite(costs)
        np.testing.assert_allclose(model.cost_history_[k][finite], costs[finite], rtol=1e-10)


def test_models_stop_early_at_their_own_iteration_and_keep_their_weights(small_digits):
    images, labels = small_digits
    X = standardise(images[:80])
    y = labels[:80]
    reference = notebook_models(X, y, iterations=1000)
    stops = [n for _, _, _, n in reference]
    assert max(stops) < 1000 and len(set(stops)) > 1, "the data must make models stop early, at different steps"
    model = OneVsAllLogisticRegression().fit(X, y)
    assert model.n_iter_.tolist() == stops
    for k, (w, b, costs, _) in enumerate(reference):
        np.testing.assert_allclose(model.coef_[k], w, rtol=0, atol=1e-10)
        assert len(model.cost_history_[k]) == stops[k]


@pytest.mark.parametrize("wrong", [0, 2])
def test_a_model_stops_when_its_rmse_equals_tol(small_digits, wrong):
    """tol = sqrt(wrong / n) exactly, an RMSE the rounded predictions can have: a model stops at the step
    it reaches it, not only once below it; with tol = 0, once it gets every training row right."""
    images, labels = small_digits
    X, y = standardise(images[:80]), labels[:80]
    tol = np.sqrt(wrong / 80)
    stops = [n for *_, n in notebook_models(X, y, tol=tol)]
    strictly_below = [n for *_, n in notebook_models(X, y, tol=np.nextafter(tol, -1))]
    assert stops != strictly_below, "some model must reach an RMSE of exactly tol"
    assert OneVsAllLogisticRegression(tol=tol).fit(X, y).n_iter_.tolist() == stops


def test_float32_mode_trains_in_float32_and_agrees_with_float64(small_digits):
    images, labels = small_digits
    X = standardise(images)
    m64 = OneVsAllLogisticRegression(max_iter=100).fit(X, labels)
    m32 = OneVsAllLogisticRegression(max_iter=100, dtype="float32").fit(X, labels)
    assert m32.coef_.dtype == np.float32
    np.testing.assert_allclose(m32.coef_, m64.coef_, atol=1e-4)
    assert np.mean(m32.predict(X) == m64.predict(X)) > 0.99


def test_cost_is_finite_and_equals_the_notebooks_formula_where_that_is_finite():
    """Huge steps push logits far past where log(sigmoid) underflows; the cost must stay finite."""
    rng = np.random.RandomState(2)
    X = rng.randn(64, 9) * 40
    y = np.arange(64) % 2
    lr = 50.0
    model = OneVsAllLogisticRegression(learning_rate=lr, max_iter=2, tol=0).fit(X, y)
    Y = (y[:, None] == np.arange(2)).astype(float)
    G0 = 0.5 - Y  # at zero weights every sigmoid output is 0.5
    Z1 = X @ (-lr * X.T @ G0 / 64) + (-lr * G0.sum(axis=0) / 64)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        A = 1 / (1 + np.exp(-Z1))
        per_row = -(Y * np.log(A) + (1 - Y) * np.log(1 - A))
    costs = np.array([h[1] for h in model.cost_history_])
    assert np.all(np.isfinite(costs))
    assert not np.all(np.isfinite(per_row)), "the logits must be extreme enough to break the plain formula"
    finite = np.all(np.isfinite(per_row), axis=0)
    np.testing.assert_allclose(costs[finite], per_row.mean(axis=0)[finite], rtol=1e-10)
    for k in np.flatnonzero(~finite):  # where the formula gives inf, the true value is still finite
        exact = np.mean(np.logaddexp(0, -Z1[:, k]) * Y[:, k] + np.logaddexp(0, Z1[:, k]) * (1 - Y[:, k]))
        assert costs[k] == pytest.approx(exact, rel=1e-10)


def test_training_on_separable_extremes_never_gives_nan():
    X = np.array([[50.0, -50.0], [-50.0, 50.0], [60.0, -60.0], [-40.0, 40.0]])
    y = np.array([0, 1, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = OneVsAllLogisticRegression(learning_rate=100.0, max_iter=50, tol=0).fit(X, y)
    assert all(np.all(np.isfinite(h)) for h in model.cost_history_)


def test_scikit_learn_shape(small_digits):
    images, labels = small_digits
    X = standardise(images)
    with pytest.raises(TypeError):
        OneVsAllLogisticRegression(0.01)  # hyper-parameters are keyword-only
    model = OneVsAllLogisticRegression(max_iter=20)
    assert model.fit(X, labels) is model
    assert model.classes_.tolist() == list(range(10))
    assert model.coef_.shape == (10, 784) and model.intercept_.shape == (10,)
    assert model.n_iter_.shape == (10,) and len(model.cost_history_) == 10
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    sigmoid = 1 / (1 + np.exp(-(X @ model.coef_.T + model.intercept_)))
    np.testing.assert_allclose(proba, sigmoid / sigmoid.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), np.argmax(sigmoid, axis=1))


def test_non_contiguous_labels_map_back_to_their_values():
    rng = np.random.RandomState(1)
    X = rng.randn(60, 4)
    y = np.repeat([3, 7, 11], 20)
    X[y == 7, 0] += 5
    X[y == 11, 1] += 5
    model = OneVsAllLogisticRegression(max_iter=200, learning_rate=0.5).fit(X, y)
    assert set(model.predict(X)) <= {3, 7, 11}
    assert np.mean(model.predict(X) == y) > 0.9


def test_use_before_fit_is_a_clear_error():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        OneVsAllLogisticRegression().predict(np.zeros((1, 4)))


@pytest.mark.parametrize("params, message", [
    ({"learning_rate": -0.1}, r"learning_rate must be a number > 0; got -0.1"),
    ({"max_iter": 0}, r"max_iter must be an integer >= 1; got 0"),
    ({"max_iter": 2.5}, r"max_iter must be an integer >= 1; got 2.5"),
    ({"dtype": "float16"}, r"dtype must be one of 'float64', 'float32'; got 'float16'"),
    ({"solver": "sgd"}, r"solver must be one of .*; got 'sgd'"),
    ({"tol": float("nan")}, r"tol must be a number >= 0; got nan"),
])
def test_bad_hyper_parameters_name_the_parameter_allowed_values_and_value(params, message):
    with pytest.raises(InputError, match=message):
        OneVsAllLogisticRegression(**params).fit(np.eye(4), [0, 1, 0, 1])


@pytest.mark.parametrize("X, y, message", [
    (np.zeros(4), [0, 1, 0, 1], "Expected 2D array, got 1D array"),
    (np.array([[0.0, np.nan], [1, 1]]), [0, 1], "Input X contains NaN"),
    (np.eye(3), [0, 1], "inconsistent numbers of samples: \\[3, 2\\]"),
    (np.eye(3), [1, 1, 1], "at least 2 classes to train one-vs-all models; got 1 class \\(1\\)"),
    (np.eye(2), [0.5, 1], "Unknown label type: continuous"),
])
def test_bad_training_data_is_a_clear_error(X, y, message):
    """scikit-learn's own checks and messages; all are ValueErrors."""
    with pytest.raises(ValueError, match=message):
        OneVsAllLogisticRegression().fit(X, y)


def test_predicting_with_the_wrong_number_of_features_is_a_clear_error():
    model = OneVsAllLogisticRegression(max_iter=2).fit(np.eye(4), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="X has 3 features, but OneVsAllLogisticRegression is expecting 4 features"):
        model.predict(np.eye(3))


def test_l2_penalty_in_gradient_descent_matches_a_plain_loop(small_digits):
    images, labels = small_digits
    X = standardise(images[:200])
    y = (labels[:200] == 3).astype(float).reshape(-1, 1)
    lam, m = 0.05, 200
    w, b = np.zeros((784, 1)), 0.0
    for _ in range(40):
        A = 1 / (1 + np.exp(-(X @ w + b)))
        w = w - 0.01 * (X.T @ (A - y) / m + lam * w)
        b = b - 0.01 * np.sum(A - y) / m
    model = OneVsAllLogisticRegression(max_iter=40, l2=lam, tol=0).fit(X, labels[:200])
    np.testing.assert_allclose(model.coef_[3], w.ravel(), atol=1e-10)


def test_lbfgs_solver_fits_all_models_at_once(small_digits):
    images, labels = small_digits
    X = standardise(images)
    gd = OneVsAllLogisticRegression(max_iter=50).fit(X[:480], labels[:480])
    fast = OneVsAllLogisticRegression(solver="lbfgs", max_iter=50).fit(X[:480], labels[:480])
    assert fast.get_params()["l2"] is None and fast.n_iter_.max() <= 50
    for history in fast.cost_history_:
        assert len(history) and np.all(np.diff(history) <= 0), "each model's line search only accepts descent"
    assert np.mean(fast.predict(X[480:]) == labels[480:]) >= np.mean(gd.predict(X[480:]) == labels[480:])
    np.testing.assert_allclose(fast.predict_proba(X).sum(axis=1), 1.0)
