"""Snapshots of training: every model's weights, bias and cost at about 100 iterations spaced evenly on a
log scale (1, 2, 3, …, 1000) plus the last, so that the film and the report can show how the models learned.

The fit loop only copies the weights and the cost it has already computed (``Recorder``); the accuracies
of every snapshot are computed after training by ``score``, one matrix product of the raw pixels with the
weights of all snapshots at once (float32: enough to decide which side of zero a logit lies).
"""
import dataclasses

import numpy as np

from mnist_ova.trainer.preprocess import BLOCK, StandardisedImages

SNAPSHOTS = 100  # about this many iterations are kept, from the first to the last


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
    a copy, and ``snapshots(last, ...)`` adds the last state (when not yet kept) and returns them."""

    def __init__(self, max_iter):
        self._wanted = set(snapshot_iterations(max_iter).tolist())
        self._rows: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []

    def wants(self, iteration):
        return iteration in self._wanted and not (self._rows and self._rows[-1][0] == iteration)

    def take(self, iteration, coef, intercept, cost):
        self._rows.append((int(iteration), np.array(coef), np.array(intercept),
                           np.asarray(cost, dtype=np.float64).copy()))

    def snapshots(self, last, coef, intercept, cost):
        """Every snapshot kept, with the state after ``last`` iterations; ``cost`` is called (no arguments)
        for the cost of that state only when it was not kept yet."""
        if not self._rows or self._rows[-1][0] != last:
            self.take(last, coef, intercept, cost())
        iterations, coefs, intercepts, costs = zip(*self._rows)
        return Snapshots(np.array(iterations, dtype=np.int64), np.stack(coefs), np.stack(intercepts), np.stack(costs))


def score(snapshots, X_train, y_train_index, X_test, y_test_index, *, block=BLOCK):
    """``snapshots`` with their accuracies on the training and the test rows (labels as class indices).

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

    train_binary, train_multiclass = accuracies(X_train, y_train_index)
    test_binary, test_multiclass = accuracies(X_test, y_test_index)
    return dataclasses.replace(snapshots, train_accuracy=train_binary, test_accuracy=test_binary,
                               train_multiclass=train_multiclass, test_multiclass=test_multiclass)
