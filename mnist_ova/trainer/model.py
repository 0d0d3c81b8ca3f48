"""Ten (or K) one-vs-all logistic-regression models trained as one matrix.

Per model this is exactly the course notebook's algorithm: zero initialisation, full-batch
gradient descent on the cross-entropy cost, and after every update the RMSE of the rounded
training predictions; a model stops once that is <= ``tol`` and keeps its weights while the
others go on. All models share one pass over X per step (``trainer.steps``: the compiled kernel,
or NumPy where it is not built): it computes the logits of every model, the cost, the rounding
errors and the gradient Xᵀ(A − Y) at once, and the logits of step i+1 double as the prediction
that checks the update of step i, so X is read once a step instead of the notebook's three times
per model.
"""
import numpy as np
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d, validate_data

from mnist_ova.trainer import validation
from mnist_ova.trainer.choices import DEFAULT_L2, DTYPES, SOLVERS  # noqa: F401 (re-exported)
from mnist_ova.trainer.preprocess import BLOCK, StandardisedImages
from mnist_ova.trainer.snapshots import Recorder
from mnist_ova.trainer.steps import step_pass
from mnist_ova.errors import InputError


class NotFittedError(_SklearnNotFittedError, InputError):
    """The model was used before ``fit`` (or loading) gave it weights.

    It is scikit-learn's ``NotFittedError`` (so a ValueError and an AttributeError, caught as
    scikit-learn users catch it) and the tool's ``InputError`` (exit code 2 on the command line).
    """


class OneVsAllLogisticRegression(ClassifierMixin, BaseEstimator):
    """One binary logistic-regression model per class, each "class k or not".

    A scikit-learn classifier: ``get_params``/``set_params``, ``score``, ``clone``, pipelines,
    grid search and the displays work with it, and labels may be any values (integers, strings).

    Parameters
    ----------
    learning_rate : float, default 0.01
        Gradient-descent step size (the notebook's alpha). Not used by ``solver="lbfgs"``.
    max_iter : int, default 1000
        Gradient-descent iterations per model (L-BFGS iterations for ``solver="lbfgs"``).
    tol : float, default 1e-5
        A model stops once the RMSE of its rounded training predictions is <= tol. Not used by
        ``solver="lbfgs"``, which stops once a model's largest gradient entry is below 1e-5.
    dtype : {"float64", "float32"}, default "float64"
        Precision of the weights and of the arithmetic.
    solver : {"gd", "lbfgs"}, default "gd"
        "gd" is the notebook's full-batch gradient descent. "lbfgs" minimises the same costs
        with L-BFGS, one independent run per model, all in lockstep so one pass over X per
        iteration serves them all, for at most ``max_iter`` iterations.
    l2 : float or None, default None
        Weight of the penalty (l2 / 2) * ||w||^2 added to each model's mean cost. None means
        0 for "gd" (the notebook has none) and 1e-3 for "lbfgs", which would otherwise chase
        ever larger weights on separable data (1 / n_samples matches scikit-learn's C = 1).

    Attributes
    ----------
    classes_ : ndarray (n_classes,), the sorted labels; model k is "``classes_[k]`` or not"
    coef_ : ndarray (n_classes, n_features), one row per model, as in ``LogisticRegression``
    intercept_ : ndarray (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when ``X`` had string column names (a DataFrame)
    n_iter_ : ndarray (n_classes,), iterations each model ran
    cost_history_ : list of n_classes ndarrays, the cost before each of a model's updates
    snapshots_ : ``trainer.snapshots.Snapshots``, the weights, biases and costs after about 100 iterations
        spaced evenly on a log scale, and after the last (no accuracies: ``snapshots.score`` adds them)
    """

    def __init__(self, *, learning_rate=0.01, max_iter=1000, tol=1e-5, dtype="float64", solver="gd", l2=None):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.dtype = dtype
        self.solver = solver
        self.l2 = l2

    def _validated_params(self):
        """The hyper-parameters checked (each message names the parameter, what is allowed and the
        value got), with ``l2`` resolved."""
        solver = validation.check_choice("solver", self.solver, SOLVERS)
        return {
            "learning_rate": validation.check_number("learning_rate", self.learning_rate, minimum=0,
                                                     include_minimum=False),
            "max_iter": validation.check_number("max_iter", self.max_iter, minimum=1, integer=True),
            "tol": validation.check_number("tol", self.tol, minimum=0),
            "dtype": validation.check_choice("dtype", self.dtype, DTYPES),
            "solver": solver,
            "l2": DEFAULT_L2[solver] if self.l2 is None else validation.check_number("l2", self.l2, minimum=0),
        }

    def fit(self, X, y, *, callback=None):
        """Train all models on features ``X`` (n_samples, n_features) and labels ``y`` (n_samples,).

        ``callback(step, n_active)`` is called after every step, for progress bars.
        """
        params = self._validated_params()
        if isinstance(X, StandardisedImages):  # raw pixels, standardised inside the kernel: no float copy
            features = X.kernel_inputs()
            self.n_features_in_ = features[0].shape[1]
            y = column_or_1d(y)
            check_consistent_length(features[0], y)
        else:
            X, y = validate_data(self, X, y, dtype=np.dtype(params["dtype"]))
            features = (X, None, None)
        check_classification_targets(y)
        classes, y_index = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise InputError(f"y must hold at least 2 classes to train one-vs-all models; got {classes.size} class "
                             f"({classes.tolist()[0]!r})")
        K = classes.size
        solve = _gradient_descent if params["solver"] == "gd" else _lbfgs
        W, b, n_iter, history, snapshots = solve(features, y_index.ravel(), K, params, callback)
        self.classes_ = classes
        self.coef_, self.intercept_, self.n_iter_ = W, b, n_iter
        self.snapshots_ = snapshots
        self.cost_history_ = [history[: n_iter[k], k].copy() for k in range(K)]
        return self

    def _logits(self, X):
        """The models' logits z = X @ coef_.T + intercept_, shape (n_samples, n_classes)."""
        try:
            check_is_fitted(self)
        except _SklearnNotFittedError as exc:
            raise NotFittedError(str(exc)) from None
        if isinstance(X, StandardisedImages):  # raw pixels: scored as they are, no float copy of X
            return self._logits_of_pixels(X)
        X = validate_data(self, X, reset=False, dtype=self.coef_.dtype)
        return X @ self.coef_.T + self.intercept_

    def _logits_of_pixels(self, X, block=BLOCK):
        """The logits of standardised images from their raw pixels, folding the standardisation in:
        z = (p @ coef_.T - mean * Σ coef_) / std + intercept_ per row, a block of rows at a time, in
        coef_'s dtype with the fold in float64 (float64 logits agree with those of the float features to
        about 1e-13). This skips making and re-reading the float features: a fifth of the time."""
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input.")
        pixels, centre, scale = X.kernel_inputs()
        W = self.coef_
        row_sums = W.sum(axis=1, dtype=np.float64)
        z = np.empty((len(pixels), W.shape[0]), W.dtype)
        for start in range(0, len(pixels), block):
            rows = slice(start, start + block)
            products = (pixels[rows].astype(W.dtype) @ W.T).astype(np.float64, copy=False)
            products -= centre[rows, None] * row_sums
            products *= scale[rows, None]
            products += self.intercept_
            z[rows] = products
        return z

    @staticmethod
    def _binary_decision(z):
        # log(s(z1) / s(z0)) with s the sigmoid: the logit of predict_proba[:, 1], so its sign is
        # predict's choice and its order is predict_proba's (z1 - z0 would order the rows otherwise).
        return log_expit(z[:, 1]) - log_expit(z[:, 0])

    def decision_function(self, X):
        """Confidence scores: the models' logits z = X @ coef_.T + intercept_, (n_samples, n_classes).

        With two classes it is one score per sample, as scikit-learn's classifiers give, > 0 for
        ``classes_[1]``: log(s(z_1) / s(z_0)), s the sigmoid, which is the logit of
        ``predict_proba(X)[:, 1]``. Its sign is that of z_1 - z_0 (the class whose model gives
        the larger output), so ``predict`` is ``classes_[1]`` exactly where it is > 0.
        """
        z = self._logits(X)
        return self._binary_decision(z) if z.shape[1] == 2 else z

    def predict_binary_proba(self, X):
        """Each model's own sigmoid output: P(class k) as model k alone sees it, (n_samples, n_classes)."""
        return expit(self._logits(X))

    def predict_proba(self, X):
        """The sigmoid outputs divided by their sum, as the notebook shows them."""
        A = self.predict_binary_proba(X).astype(np.float64)
        total = A.sum(axis=1, keepdims=True)
        # Every sigmoid can underflow to 0 only for absurd logits; then no model claims
        # the image and the fair reading is a uniform distribution.
        return np.divide(A, total, out=np.full_like(A, 1.0 / A.shape[1]), where=total > 0)

    def predict(self, X):
        """The class whose model gives the largest output (one-vs-all argmax); with two classes,
        ``classes_[1]`` where ``decision_function`` is > 0 (the same choice, also where both
        sigmoids round to 1)."""
        z = self._logits(X)
        index = (self._binary_decision(z) > 0).astype(np.intp) if z.shape[1] == 2 else np.argmax(z, axis=1)
        return self.classes_[index]


def _gradient_descent(features, y_index, K, params, callback):
    """``features`` = (pixels, centre, scale): the training features are (pixels - centre) * scale
    row by row (raw images with each row's mean and 1 / std), or the pixels themselves when
    centre and scale are None (any float array in the training dtype)."""
    pixels, centre, scale = features
    recorder = Recorder(params["max_iter"])
    n, d = pixels.shape
    dtype = np.dtype(params["dtype"])
    lr = dtype.type(params["learning_rate"])
    max_iter, tol = params["max_iter"], params["tol"]
    WT = np.zeros((K, d), dtype=dtype)  # one row per model: the layout the kernel reads fastest
    b = np.zeros(K, dtype=dtype)
    n_iter = np.full(K, max_iter, dtype=np.int64)
    history = np.full((max_iter, K), np.nan)
    active = np.ones(K, dtype=bool)

    def cost_of(cost_sum):  # every model's cost, as the history records an active one's
        return cost_sum / n + 0.5 * params["l2"] * np.sum(WT ** 2, axis=1)

    def state(sums):  # (cost, binary and one-vs-all accuracies on the training rows) of the weights passed
        return cost_of(sums.cost_sum), 1 - sums.wrong / n, sums.right / n

    done = max_iter
    with step_pass(pixels, y_index, K, dtype=dtype, centre=centre, scale=scale) as step_sums:
        for step in range(max_iter):
            sums = step_sums(WT, b)
            dWT, g_sum, cost_sum = sums.gradient, sums.g_sum, sums.cost_sum
            if recorder.wants(step):  # this pass scored the weights after `step` updates
                recorder.take(step, WT, b, *state(sums))
            if step > 0:
                # This pass's predictions are the notebook's "predict after the update" of the previous step.
                rmse = np.sqrt(sums.wrong / n)
                stopped = active & (rmse <= tol)
                n_iter[stopped] = step
                active &= ~stopped
                if not active.any():
                    done = step
                    break
            history[step, active] = cost_of(cost_sum)[active]
            # A stopped model keeps its weights exactly: only the active rows move.
            WT[active] -= lr * (dWT[active] / dtype.type(n) + dtype.type(params["l2"]) * WT[active])
            b[active] -= lr * (g_sum[active] / n).astype(dtype)
            if callback is not None:
                callback(step, int(active.sum()))
        # After the last update no pass has scored the weights yet: one more pass (a thousandth of a run) does.
        snapshots = recorder.snapshots(done, WT, b, lambda: state(step_sums(WT, b)))
    return WT, b, n_iter, history, snapshots


def _lbfgs(features, y_index, K, params, callback, memory=10, armijo=1e-4, gtol=1e-5):
    """K independent L-BFGS minimisations run in lockstep, so one pass over X serves them all.

    The models share nothing but the data, so each keeps its own curvature pairs and its own
    step length (backtracking until the Armijo condition holds); a joint L-BFGS over all
    weights would couple them through one line search and one history. A model stops once its
    largest gradient entry is below ``gtol``. Hand-written because scipy's L-BFGS-B minimises one
    function at a time: K runs of it would read X K times an iteration instead of once.
    """
    pixels, centre, scale = features  # as in _gradient_descent
    recorder = Recorder(params["max_iter"])
    n, d = pixels.shape
    dtype = np.dtype(params["dtype"])
    l2 = params["l2"]
    with step_pass(pixels, y_index, K, dtype=dtype, centre=centre, scale=scale) as step_sums:
        def evaluate(theta):
            """Per-model cost (K,) and gradient (K, d + 1) at parameters ``theta`` = [w | b] per row."""
            WT, b = theta[:, :d], theta[:, d]
            dWT, g_sum, cost_sum, *_ = step_sums(WT.astype(dtype), b.astype(dtype))
            cost = cost_sum / n + 0.5 * l2 * np.sum(WT ** 2, axis=1)
            return cost, np.column_stack([dWT / n + l2 * WT, g_sum / n])

        theta = np.zeros((K, d + 1))
        cost, grad = evaluate(theta)
        # (s, y, rho) per iteration, each with one row per model
        pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        active = np.abs(grad).max(axis=1) > gtol
        n_iter = np.zeros(K, dtype=np.int64)
        costs = []
        for step in range(params["max_iter"]):
            if not active.any():
                break
            direction = -_two_loop(grad, pairs)
            slope = np.sum(direction * grad, axis=1)
            uphill = slope >= 0  # a stale history can point uphill: fall back to steepest descent there
            direction[uphill], slope[uphill] = -grad[uphill], -np.sum(grad[uphill] ** 2, axis=1)
            direction[~active], slope[~active] = 0.0, 0.0
            length = np.ones(K) if pairs else 1.0 / np.maximum(np.abs(grad).sum(axis=1), 1e-12)
            new_cost, new_grad = cost.copy(), grad.copy()
            pending = active.copy()
            for _ in range(30):
                trial_cost, trial_grad = evaluate(theta + np.where(pending, length, 0.0)[:, None] * direction)
                accepted = pending & (trial_cost <= cost + armijo * length * slope)
                new_cost[accepted], new_grad[accepted] = trial_cost[accepted], trial_grad[accepted]
                pending &= ~accepted
                if not pending.any():
                    break
                length[pending] *= 0.5
            moved = active & ~pending  # a model whose line search failed has converged as far as it can
            s_step = np.where(moved, length, 0.0)[:, None] * direction
            theta += s_step
            y_step = np.where(moved[:, None], new_grad - grad, 0.0)
            curvature = np.sum(s_step * y_step, axis=1)
            rho = np.divide(1.0, curvature, out=np.zeros(K), where=curvature > 1e-12)
            pairs = (pairs + [(s_step, y_step, rho)])[-memory:]
            cost, grad = np.where(moved, new_cost, cost), np.where(moved[:, None], new_grad, grad)
            n_iter[active] += 1
            costs.append(cost.copy())
            if recorder.wants(step + 1):
                recorder.take(step + 1, theta[:, :d].astype(dtype), theta[:, d].astype(dtype), cost)
            active &= moved & (np.abs(grad).max(axis=1) > gtol)
            if callback is not None:
                callback(step, int(active.sum()))
    history = np.array(costs).reshape(-1, K)
    for k in range(K):  # a converged model's row of the history ends at its own last iteration
        history[n_iter[k]:, k] = np.nan
    W, b = theta[:, :d].astype(dtype), theta[:, d].astype(dtype)
    return W, b, n_iter, history, recorder.snapshots(len(costs), W, b, lambda: (cost,))


def _two_loop(grad, pairs):
    """The L-BFGS product H·grad for every model (row) at once."""
    q = grad.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        alpha = rho * np.sum(s * q, axis=1)
        q -= alpha[:, None] * y
        alphas.append(alpha)
    if pairs:
        s, y, rho = pairs[-1]
        yy = np.sum(y * y, axis=1)
        q *= np.divide(np.sum(s * y, axis=1), yy, out=np.ones_like(yy), where=yy > 0)[:, None]
    for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
        beta = rho * np.sum(y * q, axis=1)
        q += (alpha - beta)[:, None] * s
    return q
