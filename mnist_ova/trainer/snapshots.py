"""Snapshots of training: every model's weights, bias and cost at about 100 iterations spaced evenly on a
log scale (1, 2, 3, …, 1000) plus the last, so that the film and the report can show how the models learned;
fewer for models so large that 100 copies would not fit ``SNAPSHOT_BYTES``.

The fit loop only copies the weights and what its passes over the training rows already computed
(``Recorder``): the cost, and with gradient descent the training accuracies too (each pass scores the
weights it is given). The rest, the test rows' accuracies (and the training rows' after L-BFGS), are
computed after training by ``score``, one matrix product of the raw pixels with the weights of all
snapshots at once (float32: enough to decide which side of zero a logit lies).
"""
import dataclasses

import numpy as np

from mnist_ova.trainer.preprocess import BLOCK, StandardisedImages

SNAPSHOTS = 100  # about this many iterations are kept, from the first to the last
# Bytes of weights the snapshots may hold (scoring them adds a float32 copy): 100 snapshots of ten models of
# 784 pixels take 6 MB, but of 2048² pixels 34 GB. Large models keep fewer snapshots, the first and the last
# always (twice the model's weights, when one model is over half of this).
SNAPSHOT_BYTES = 256 * 2**20


def snapshot_iterations(max_iter, count=SNAPSHOTS):
    """The iterations (updates done) to keep for a run of ``max_iter``: every one up to ``count``, else at
    least ``count`` distinct ones spaced evenly on a log scale from 1 to ``max_iter``, both included."""
    if max_iter <= count:
        return np.arange(1, max_iter + 1, dtype=np.int64)
    points = count
    while True:  # rounding merges neighbours at the start of the scale: ask for more until count remain
        iterations = np.unique(np.round(np.geomspace(1, max_iter, points)).astype(np.int64))
        if iterations.size >= count:
            return iterations
        points += 1


@dataclasses.dataclass(frozen=True)
class Snapshots:
    """The models as training went: row s holds them after ``iterations[s]`` updates.

    The accuracies are None until ``score`` has computed them from data.
    """

    iterations: np.ndarray  # (S,) int64, increasing
    coef: np.ndarray  # (S, K, d), the weights' dtype
    intercept: np.ndarray  # (S, K)
    cost: np.ndarray  # (S, K) float64, the cost of the weights in that row (a stopped model keeps its last)
    train_accuracy: np.ndarray | None = None  # (S, K) each binary model's accuracy at 0.5, training rows
    test_accuracy: np.ndarray | None = None  # (S, K) the same, test rows
    train_multiclass: np.ndarray | None = None  # (S,) argmax accuracy, training rows
    test_multiclass: np.ndarray | None = None  # (S,) the same, test rows

    SCORES = ("train_accuracy", "test_accuracy", "train_multiclass", "test_multiclass")

    @property
    def scored(self):
        return all(getattr(self, name) is not None for name in self.SCORES)


class Recorder:
    """Collects snapshots inside a fit loop: ``wants(t)`` says whether iteration t is kept, ``take`` keeps
    a copy, and ``snapshots(last, ...)`` adds the last state (when not yet kept) and returns them. A loop
    whose passes over the training rows score the weights (gradient descent's do) hands their training
    accuracies to ``take``, which spares ``score`` those rows."""

    def __init__(self, max_iter):
        self._max_iter = max_iter
        self._wanted = set(snapshot_iterations(max_iter).tolist())
        self._rows: list[tuple] = []

    def wants(self, iteration):
        return iteration in self._wanted and not (self._rows and self._rows[-1][0] == iteration)

    def take(self, iteration, coef, intercept, cost, train_accuracy=None, train_multiclass=None):
        """Keep the state after ``iteration`` updates; the accuracies, when given, are on the training rows:
        each binary model's (K,) and the one-vs-all prediction's."""
        if not self._rows:  # the first snapshot tells the weights' size: as many as SNAPSHOT_BYTES holds
            count = max(2, min(SNAPSHOTS, SNAPSHOT_BYTES // max(np.asarray(coef).nbytes, 1)))
            self._wanted = set(snapshot_iterations(self._max_iter, count).tolist())
        self._rows.append((int(iteration), np.array(coef), np.array(intercept),
                           np.asarray(cost, dtype=np.float64).copy(),
                           None if train_accuracy is None else np.asarray(train_accuracy, dtype=np.float64).copy(),
                           train_multiclass))

    def snapshots(self, last, coef, intercept, state):
        """Every snapshot kept, with the state after ``last`` iterations; ``state`` is called (no arguments)
        only when that state was not kept yet, for ``take``'s arguments after the intercept."""
        if not self._rows or self._rows[-1][0] != last:
            self.take(last, coef, intercept, *state())
        iterations, coefs, intercepts, costs, train_binary, train_multiclass = zip(*self._rows)
        known = all(a is not None for a in train_binary) and all(a is not None for a in train_multiclass)
        return Snapshots(np.array(iterations, dtype=np.int64), np.stack(coefs), np.stack(intercepts), np.stack(costs),
                         train_accuracy=np.stack(train_binary) if known else None,
                         train_multiclass=np.array(train_multiclass, dtype=np.float64) if known else None)


def score(snapshots, X_train, y_train_index, X_test, y_test_index, *, block=BLOCK):
    """``snapshots`` with their accuracies on the training and the test rows (labels as class indices);
    training accuracies the fit loop recorded are kept, not computed again.

    ``X_*`` are ``StandardisedImages`` (scored on their raw pixels, the standardisation folded into the
    logits as ``OneVsAllLogisticRegression`` does) or float feature arrays. One float32 matrix product
    per block of rows covers every snapshot's models at once.
    """
    S, K, d = snapshots.coef.shape
    weights = snapshots.coef.reshape(S * K, d).astype(np.float32)
    row_sums = weights.sum(axis=1, dtype=np.float64).astype(np.float32)
    intercept = snapshots.intercept.reshape(S * K).astype(np.float32)

    def accuracies(X, y_index):
        if isinstance(X, StandardisedImages):
            pixels, centre, scale = X.kernel_inputs()
        else:
            pixels, centre, scale = np.asarray(X), None, None
        y_index = np.asarray(y_index)
        binary_right = np.zeros((S, K), dtype=np.int64)
        multiclass_right = np.zeros(S, dtype=np.int64)
        for start in range(0, len(pixels), block):
            rows = slice(start, start + block)
            z = pixels[rows].astype(np.float32) @ weights.T
            if centre is not None:
                z -= centre[rows, None].astype(np.float32) * row_sums
                z *= scale[rows, None].astype(np.float32)
            z += intercept
            z = z.reshape(-1, S, K)
            truth = y_index[rows]
            binary_right += ((z > 0) == (truth[:, None, None] == np.arange(K))).sum(axis=0)
            multiclass_right += (z.argmax(axis=2) == truth[:, None]).sum(axis=0)
        n = max(len(pixels), 1)
        return binary_right / n, multiclass_right / n

    if snapshots.train_accuracy is None or snapshots.train_multiclass is None:
        train_binary, train_multiclass = accuracies(X_train, y_train_index)
    else:  # the training passes scored them (Recorder)
        train_binary, train_multiclass = snapshots.train_accuracy, snapshots.train_multiclass
    test_binary, test_multiclass = accuracies(X_test, y_test_index)
    return dataclasses.replace(snapshots, train_accuracy=train_binary, test_accuracy=test_binary,
                               train_multiclass=train_multiclass, test_multiclass=test_multiclass)
