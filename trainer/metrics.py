"""Accuracy figures, confusion matrix and per-class scores, with numpy alone."""
import numpy as np


def binary_accuracies(binary_proba, y, classes):
    """Each one-vs-all model's own accuracy at its 0.5 threshold, as the notebook reports it."""
    Y = np.asarray(y)[:, None] == np.asarray(classes)[None, :]
    return np.mean((binary_proba > 0.5) == Y, axis=0)


def confusion_matrix(y_true, y_pred, classes):
    """Counts, rows = true class, columns = predicted class, in the order of ``classes``."""
    classes = np.asarray(classes)
    true_index = np.searchsorted(classes, y_true)
    pred_index = np.searchsorted(classes, y_pred)
    K = classes.size
    return np.bincount(true_index * K + pred_index, minlength=K * K).reshape(K, K)


def normalise_rows(counts):
    """Each row divided by its total; a class with no test rows keeps a row of zeros."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def per_class_scores(counts):
    """Precision, recall, F1 and support per class from a confusion matrix.

    A ratio with nothing to divide by is 0, as scikit-learn's ``zero_division=0``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    true_positive = np.diag(counts)
    predicted = counts.sum(axis=0)
    support = counts.sum(axis=1)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
    recall = np.divide(true_positive, support, out=np.zeros_like(true_positive), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(both), where=both > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def most_confused_pairs(counts, top=3):
    """The ``top`` off-diagonal (true, predicted, count) cells, largest first."""
    off_diagonal = np.array(counts, dtype=np.int64)
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(off_diagonal, axis=None, kind="stable")[::-1][:top]
    pairs = [(*np.unravel_index(i, off_diagonal.shape), off_diagonal.flat[i]) for i in order]
    return [(int(t), int(p), int(c)) for t, p, c in pairs if c > 0]


def roc_curve(scores, positive):
    """False- and true-positive rates over every threshold, and the area under the curve."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    scores, positive = scores[order], positive[order]
    # One point per distinct score, so tied scores do not draw a staircase.
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    tp = np.cumsum(positive)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    tpr = np.r_[0.0, tp / max(positive.sum(), 1)]
    fpr = np.r_[0.0, fp / max((~positive).sum(), 1)]
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


def evaluate(model, X_train, y_train, X_test, y_test):
    """Every figure the report and ``metrics.json`` give, as plain Python values."""
    classes = model.classes_
    test_binary = model.predict_binary_proba(X_test)
    train_accuracy = binary_accuracies(model.predict_binary_proba(X_train), y_train, classes)
    test_accuracy = binary_accuracies(test_binary, y_test, classes)
    predicted = classes[np.argmax(test_binary, axis=1)]
    counts = confusion_matrix(y_test, predicted, classes)
    scores = per_class_scores(counts)
    return {
        "per_model": [
            {"label": int(label), "train_accuracy": float(train_accuracy[k]),
             "test_accuracy": float(test_accuracy[k]), "iterations": int(model.n_iter_[k]),
             "final_cost": float(model.cost_history_[k][-1]) if len(model.cost_history_[k]) else None,
             "auc": roc_curve(test_binary[:, k], y_test == label)[2]}
            for k, label in enumerate(classes)
        ],
        "one_vs_all_accuracy": float(np.mean(test_accuracy)),
        "multiclass_accuracy": float(np.mean(predicted == y_test)),
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_normalised": normalise_rows(counts).tolist(),
        "per_class": [
            {"label": int(label), "precision": float(scores["precision"][k]), "recall": float(scores["recall"][k]),
             "f1": float(scores["f1"][k]), "support": int(scores["support"][k])}
            for k, label in enumerate(classes)
        ],
        "most_confused": [
            {"true": int(classes[t]), "predicted": int(classes[p]), "count": c}
            for t, p, c in most_confused_pairs(counts)
        ],
    }
