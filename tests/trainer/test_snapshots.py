import numpy as np
import pytest
from sklearn.base import clone

from mnist_ova.trainer import metrics, snapshots
from mnist_ova.trainer.model import OneVsAllLogisticRegression
from mnist_ova.trainer.preprocess import StandardisedImages, standardise


def test_iterations_are_about_100_log_spaced_from_the_first_to_the_last():
    its = snapshots.snapshot_iterations(1000)
    assert its[0] == 1 and its[-1] == 1000 and np.all(np.diff(its) > 0)
    assert 100 <= its.size <= 110
    assert its[:5].tolist() == [1, 2, 3, 4, 5]
    ratios = its[1:] / its[:-1]
    assert ratios[-20:].max() < 1.1  # evenly on a log scale: the late steps grow by a constant factor
    assert snapshots.snapshot_iterations(7).tolist() == list(range(1, 8))
    assert snapshots.snapshot_iterations(100).tolist() == list(range(1, 101))


def plain_gradient_descent(X, y, K, iterations, alpha=0.01, tol=1e-5):
    """The notebook's ten loops side by side, written plainly, keeping the weights, bias and cost after
    every update count t (t = 0 … the last)."""
    n = X.shape[0]
    Y = (y[:, None] == np.arange(K)).astype(float)
    W, b = np.zeros((X.shape[1], K)), np.zeros(K)
    active = np.ones(K, bool)
    states = []
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for t in range(iterations + 1):
            A = 1 / (1 + np.exp(-(X @ W + b)))
            cost = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A), axis=0) / n
            states.append((W.T.copy(), b.copy(), cost))
            if t > 0:
                active &= np.sqrt(np.mean((np.round(A) - Y) ** 2, axis=0)) > tol
            if t == iterations or not active.any():
                break
            W[:, active] -= alpha * (X.T @ (A - Y) / n)[:, active]
            b[active] -= alpha * (np.sum(A - Y, axis=0) / n)[active]
    return states


def test_gradient_descent_snapshots_equal_a_plain_loop_and_fresh_fits(small_digits):
    images, labels = small_digits
    X = standardise(images[:300])
    y = labels[:300]
    model = OneVsAllLogisticRegression(max_iter=150).fit(X, y)
    shots = model.snapshots_
    assert shots.iterations.tolist() == snapshots.snapshot_iterations(150).tolist()
    assert shots.coef.shape == (shots.iterations.size, 10, X.shape[1]) and not shots.scored
    reference = plain_gradient_descent(X, y, 10, 150)
    for s, t in enumerate(shots.iterations):
        W, b, cost = reference[t]
        np.testing.assert_allclose(shots.coef[s], W, rtol=0, atol=1e-12)
        np.testing.assert_allclose(shots.intercept[s], b, rtol=0, atol=1e-12)
        np.testing.assert_allclose(shots.cost[s], cost, rtol=1e-10)
    for t in (1, 17, 150):
        fresh = clone(model).set_params(max_iter=t).fit(X, y)
        s = shots.iterations.tolist().index(t)
        np.testing.assert_allclose(shots.coef[s], fresh.coef_, rtol=0, atol=1e-12)
        np.testing.assert_allclose(shots.intercept[s], fresh.intercept_, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(shots.coef[-1], model.coef_)


def test_a_run_that_stops_early_keeps_its_last_state_once(small_digits):
    images, labels = small_digits
    X, y = standardise(images[:80]), labels[:80]
    model = OneVsAllLogisticRegression().fit(X, y)
    last = int(model.n_iter_.max())
    assert last < 1000
    shots = model.snapshots_
    assert shots.iterations[-1] == last and np.all(np.diff(shots.iterations) > 0)
    assert set(shots.iterations[:-1].tolist()) <= set(snapshots.snapshot_iterations(1000).tolist())
    np.testing.assert_array_equal(shots.coef[-1], model.coef_)
    reference = plain_gradient_descent(X, y, 10, 1000)
    assert len(reference) == last + 1
    np.testing.assert_allclose(shots.cost[-1], reference[last][2], rtol=1e-10)


def test_float32_snapshots_are_float32(small_digits):
    images, labels = small_digits
    model = OneVsAllLogisticRegression(max_iter=20, dtype="float32").fit(standardise(images, "float32"), labels)
    assert model.snapshots_.coef.dtype == np.float32 and model.snapshots_.intercept.dtype == np.float32
    np.testing.assert_array_equal(model.snapshots_.coef[-1], model.coef_)


def test_lbfgs_snapshots_equal_fresh_fits(small_digits):
    images, labels = small_digits
    X, y = standardise(images[:200]), labels[:200]
    model = OneVsAllLogisticRegression(solver="lbfgs", max_iter=12).fit(X, y)
    shots = model.snapshots_
    assert shots.iterations[-1] == model.n_iter_.max()
    for t in (1, 5, int(shots.iterations[-1])):
        fresh = clone(model).set_params(max_iter=t).fit(X, y)
        s = shots.iterations.tolist().index(t)
        np.testing.assert_allclose(shots.coef[s], fresh.coef_, rtol=0, atol=1e-12)
        np.testing.assert_allclose(shots.cost[s], [h[-1] for h in fresh.cost_history_], rtol=1e-12)


@pytest.mark.parametrize("as_pixels, solver", [(True, "gd"), (False, "gd"), (True, "lbfgs")])
def test_scores_equal_the_estimators_own_at_every_snapshot(small_digits, as_pixels, solver):
    """Gradient descent's training accuracies come from its own passes (Recorder), L-BFGS's from score."""
    images, labels = small_digits
    X = StandardisedImages(images) if as_pixels else standardise(images)
    train, test = np.arange(450), np.arange(450, 600)
    model = OneVsAllLogisticRegression(max_iter=60, solver=solver).fit(X[train], labels[train])
    assert (model.snapshots_.train_accuracy is not None) == (solver == "gd")
    scored = snapshots.score(model.snapshots_, X[train], labels[train], X[test], labels[test], block=128)
    assert scored.scored
    for s in (0, 10, len(scored.iterations) - 1):
        at = clone(model)
        at.classes_, at.n_features_in_ = model.classes_, model.n_features_in_
        at.coef_, at.intercept_ = scored.coef[s], scored.intercept[s]
        for rows, binary, multiclass in ((train, scored.train_accuracy, scored.train_multiclass),
                                         (test, scored.test_accuracy, scored.test_multiclass)):
            # score()'s float32 products may put a logit within their rounding of zero on the other side: one
            # row; the passes of gradient descent score in the weights' dtype
            rounding = 1 / len(rows) if rows is test or solver == "lbfgs" else 0
            expected = metrics.binary_accuracies(at.predict_binary_proba(X[rows]), labels[rows], model.classes_)
            np.testing.assert_allclose(binary[s], expected, atol=rounding + 1e-12)
            assert abs(multiclass[s] - np.mean(at.predict(X[rows]) == labels[rows])) <= rounding + 1e-12
    assert scored.test_multiclass[-1] > scored.test_multiclass[0]


def test_large_models_keep_fewer_snapshots_within_the_memory_allowed(monkeypatch):
    """Twelve 2048² images with 100 iterations ran out of memory: 100 snapshots of 4 M weights per model."""
    K, intercept = 10, np.zeros(10)
    small = snapshots.Recorder(100)
    small.take(1, np.zeros((K, 784)), intercept, np.zeros(K))
    assert all(small.wants(t) for t in range(2, 101)), "a small model keeps its 100"
    d = 2048 * 2048 // 64  # the real size over 64, and the allowance with it
    monkeypatch.setattr(snapshots, "SNAPSHOT_BYTES", snapshots.SNAPSHOT_BYTES // 64)
    recorder = snapshots.Recorder(100)
    coef = np.zeros((K, d))
    for iteration in range(1, 101):
        if recorder.wants(iteration):
            recorder.take(iteration, coef, intercept, np.zeros(K))
    shots = recorder.snapshots(100, coef, intercept, lambda: (np.zeros(K),))
    assert shots.coef.nbytes <= max(snapshots.SNAPSHOT_BYTES, 2 * coef.nbytes)
    assert shots.iterations[0] == 1 and shots.iterations[-1] == 100 and shots.iterations.size >= 2


def test_a_fit_of_large_images_keeps_its_snapshots_within_the_memory_allowed(small_digits, monkeypatch):
    images, labels = small_digits
    X = standardise(images[:200])
    monkeypatch.setattr(snapshots, "SNAPSHOT_BYTES", 10 * X.shape[1] * 8 * 5)  # five snapshots of ten models
    model = OneVsAllLogisticRegression(max_iter=300).fit(X, labels[:200])
    shots = model.snapshots_
    assert shots.coef.nbytes <= snapshots.SNAPSHOT_BYTES and shots.iterations[0] == 1
    assert shots.iterations[-1] == model.n_iter_.max()
    np.testing.assert_array_equal(shots.coef[-1], model.coef_)
