"""Accuracy figures, confusion matrix, ROC and per-class scores (scikit-learn's metrics), gathered once
into an ``Evaluation`` that every deliverable reads."""
import dataclasses
import functools
import warnings

import numpy as np
from sklearn import metrics as sk
from sklearn.exceptions import UndefinedMetricWarning


def binary_accuracies(binary_proba, y, classes):
    """Each one-vs-all model's own accuracy at its 0.5 threshold, as the notebook reports it."""
    Y = np.asarray(y)[:, None] == np.asarray(classes)[None, :]
    return np.mean((binary_proba > 0.5) == Y, axis=0)


def normalise_rows(counts):
    """Each row divided by its total; a class with no test rows keeps a row of zeros."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def most_confused_pairs(counts, top=3):
    """The ``top`` largest off-diagonal (true, predicted, count) cells and every cell tied with the last of
    them (a tie is named whole, as the report names it), largest first, ties in row-major order (the order
    of ``statistics.confusion_cells`` and of the report)."""
    off_diagonal = np.array(counts, dtype=np.int64)
    np.fill_diagonal(off_diagonal, 0)
    flat = off_diagonal.ravel()
    order = np.lexsort((np.arange(flat.size), -flat))
    least = flat[order[min(top, flat.size) - 1]] if flat.size else 0
    return [(*map(int, np.unravel_index(i, off_diagonal.shape)), int(flat[i])) for i in order
            if flat[i] >= max(least, 1)]


def roc_curve(scores, positive):
    """False- and true-positive rates at every distinct score (scikit-learn's, every point kept, so the
    figures draw the same curve) and the area under them."""
    positive = np.asarray(positive, dtype=bool)
    with warnings.catch_warnings():
        # A class with no test rows (or the only class in them) has no positives (negatives) to divide by:
        # scikit-learn warns and gives NaN rates; that rate is 0 here, and so is the area.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        fpr, tpr, _ = sk.roc_curve(positive, scores, drop_intermediate=False)
    fpr, tpr = np.nan_to_num(fpr), np.nan_to_num(tpr)
    return fpr, tpr, float(sk.auc(fpr, tpr))


@dataclasses.dataclass(frozen=True)
class RocCurve:
    false_positive_rate: np.ndarray
    true_positive_rate: np.ndarray
    auc: float


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Everything the deliverables show of a fitted model on its split, computed once.

    Class indices (0..K-1, in the order of ``classes``) are used throughout; ``class_names``
    are what a reader sees. Renderers take this object and decide what to draw from it.
    """

    classes: np.ndarray  # (K,) the labels as the data has them
    class_names: tuple  # (K,) what the report calls them
    true_index: np.ndarray  # (n_test,) true class of every test row
    predicted_index: np.ndarray  # (n_test,) argmax of the K one-vs-all outputs
    scores: np.ndarray  # (n_test, K) the outputs divided by their sum (the notebook's "probabilities")
    binary_scores: np.ndarray  # (n_test, K) each model's own sigmoid output
    train_accuracy: np.ndarray  # (K,) each binary model's accuracy at 0.5, training rows
    test_accuracy: np.ndarray  # (K,) the same on the test rows
    n_iter: np.ndarray  # (K,) iterations each model ran
    cost_history: tuple  # K arrays: the cost before each update
    confusion: np.ndarray  # (K, K) counts, rows = true class
    roc: tuple  # K RocCurve, one per one-vs-all model
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray

    @property
    def n_classes(self):
        return self.classes.size

    @property
    def multiclass_accuracy(self):
        return float(np.mean(self.predicted_index == self.true_index))

    @property
    def one_vs_all_accuracy(self):
        """The mean of the binary test accuracies, as the notebook reports it."""
        return float(np.mean(self.test_accuracy))

    @property
    def confusion_normalised(self):
        return normalise_rows(self.confusion)

    @property
    def misclassified(self):
        """Test-row positions whose prediction is wrong, in test order."""
        return np.flatnonzero(self.predicted_index != self.true_index)

    def final_cost(self, k):
        """Model k's last cost, or None when it needed no step."""
        return float(self.cost_history[k][-1]) if len(self.cost_history[k]) else None

    @functools.cached_property
    def analysis(self):
        """Calibration, precision-recall and intervals (``trainer.statistics``), computed on first use."""
        from mnist_ova.trainer.statistics import analyse

        return analyse(self)

    def most_confused(self, top=3):
        """(true index, predicted index, count) of the ``top`` largest off-diagonal cells, and any tied with the last."""
        return most_confused_pairs(self.confusion, top)

    def to_dict(self):
        """The figures of ``metrics.json``, as plain JSON values."""
        labels = [label.item() if hasattr(label, "item") else label for label in self.classes]
        return {
            "per_model": [
                {"label": labels[k], "train_accuracy": float(self.train_accuracy[k]),
                 "test_accuracy": float(self.test_accuracy[k]), "iterations": int(self.n_iter[k]),
                 "final_cost": self.final_cost(k), "auc": self.roc[k].auc,
                 "average_precision": self.analysis.precision_recall[k].average_precision}
                for k in range(self.n_classes)
            ],
            "one_vs_all_accuracy": self.one_vs_all_accuracy,
            "multiclass_accuracy": self.multiclass_accuracy,
            "confusion_matrix": self.confusion.tolist(),
            "confusion_matrix_normalised": self.confusion_normalised.tolist(),
            "per_class": [
                {"label": labels[k], "precision": float(self.precision[k]), "recall": float(self.recall[k]),
                 "f1": float(self.f1[k]), "support": int(self.support[k])}
                for k in range(self.n_classes)
            ],
            "most_confused": [{"true": labels[t], "predicted": labels[p], "count": c}
                              for t, p, c in self.most_confused()],
            **self.analysis.to_dict(),
        }


def evaluate(model, X_train, y_train, X_test, y_test, class_names):
    """The model's figures on its training and test rows."""
    classes = model.classes_
    binary = model.predict_binary_proba(X_test)
    true_index = np.searchsorted(classes, y_test)
    predicted_index = classes.searchsorted(model.predict(X_test))  # the estimator's own argmax
    labels = np.arange(classes.size)
    counts = sk.confusion_matrix(true_index, predicted_index, labels=labels)
    # zero_division=0: a class never predicted (or with no test rows) scores 0, not a warning and NaN.
    precision, recall, f1, support = sk.precision_recall_fscore_support(true_index, predicted_index, labels=labels,
                                                                        zero_division=0)
    return Evaluation(
        classes=classes, class_names=tuple(class_names), true_index=true_index, predicted_index=predicted_index,
        scores=model.predict_proba(X_test), binary_scores=binary,
        train_accuracy=binary_accuracies(model.predict_binary_proba(X_train), y_train, classes),
        test_accuracy=binary_accuracies(binary, y_test, classes), n_iter=np.asarray(model.n_iter_),
        cost_history=tuple(model.cost_history_), confusion=counts,
        roc=tuple(RocCurve(*roc_curve(binary[:, k], true_index == k)) for k in range(classes.size)),
        precision=precision, recall=recall, f1=f1, support=support)
