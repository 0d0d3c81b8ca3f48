import numpy as np
import pytest

from mnist_ova.trainer import metrics
from mnist_ova.trainer.model import OneVsAllLogisticRegression
from mnist_ova.trainer.preprocess import standardise


def test_normalise_rows_keeps_a_class_without_rows_at_zero():
    np.testing.assert_array_equal(metrics.normalise_rows([[1, 3], [0, 0]]), [[0.25, 0.75], [0.0, 0.0]])


def mann_whitney_auc(scores, positive):
    """The area under the ROC curve as the chance that a positive outscores a negative, ties counting
    half: a reference that builds no curve."""
    pos, neg = scores[positive][:, None], scores[~positive][None, :]
    return np.mean((pos > neg) + 0.5 * (pos == neg))


def test_roc_curve_by_hand_with_ties():
    # Scores 0.9 (pos), 0.8 (pos, neg tied), 0.3 (neg): one point per distinct score, from (0, 0).
    fpr, tpr, auc = metrics.roc_curve(np.array([0.9, 0.8, 0.8, 0.3]), np.array([True, True, False, False]))
    np.testing.assert_array_equal(fpr, [0, 0, 0.5, 1])
    np.testing.assert_array_equal(tpr, [0, 0.5, 1, 1])
    assert auc == 0.875


def test_roc_auc_is_the_chance_a_positive_outscores_a_negative():
    rng = np.random.RandomState(4)
    positive = rng.rand(400) < 0.3
    scores = np.round(rng.rand(400) + positive * 0.4, 2)  # rounded: many ties
    fpr, tpr, auc = metrics.roc_curve(scores, positive)
    assert auc == pytest.approx(mann_whitney_auc(scores, positive), abs=1e-12)
    assert fpr.size == tpr.size == np.unique(scores).size + 1  # every distinct score kept: the figure's curve


@pytest.mark.filterwarnings("error")
def test_roc_curve_of_a_class_without_test_rows_is_zero_without_a_warning():
    fpr, tpr, auc = metrics.roc_curve(np.array([0.2, 0.7, 0.1]), np.zeros(3, dtype=bool))
    np.testing.assert_array_equal(tpr, 0)
    np.testing.assert_array_equal(fpr, [0, 1 / 3, 2 / 3, 1])
    assert auc == 0.0


def test_most_confused_pairs():
    counts = np.array([[5, 3, 0], [9, 5, 1], [0, 2, 5]])
    assert metrics.most_confused_pairs(counts, top=2) == [(1, 0, 9), (0, 1, 3)]


def test_most_confused_pairs_name_a_tie_whole():
    counts = np.array([[5, 2, 2], [9, 5, 2], [0, 1, 5]])
    assert metrics.most_confused_pairs(counts, top=2) == [(1, 0, 9), (0, 1, 2), (0, 2, 2), (1, 2, 2)]
    assert metrics.most_confused_pairs(np.eye(3, dtype=int), top=3) == [], "no mistakes: no confusions"


def test_evaluate_matches_plain_counts(small_digits):
    images, labels = small_digits
    X = standardise(images)
    model = OneVsAllLogisticRegression(max_iter=50).fit(X[:400], labels[:400])
    evaluation = metrics.evaluate(model, X[:400], labels[:400], X[400:], labels[400:], [str(k) for k in range(10)])
    result = evaluation.to_dict()
    truth, predicted = labels[400:], model.predict(X[400:])
    np.testing.assert_array_equal(evaluation.classes[evaluation.predicted_index], predicted)
    np.testing.assert_allclose(evaluation.scores, model.predict_proba(X[400:]))
    counts = np.zeros((10, 10), dtype=np.int64)
    for t, p in zip(truth, predicted):
        counts[t, p] += 1
    assert result["confusion_matrix"] == counts.tolist()
    np.testing.assert_allclose(evaluation.confusion_normalised, counts / counts.sum(axis=1, keepdims=True))
    hits = np.diag(counts)
    precision, recall = hits / counts.sum(axis=0), hits / counts.sum(axis=1)
    np.testing.assert_allclose(evaluation.precision, precision, rtol=1e-15)
    np.testing.assert_allclose(evaluation.recall, recall, rtol=1e-15)
    np.testing.assert_allclose(evaluation.f1, 2 * precision * recall / (precision + recall), rtol=1e-14)
    np.testing.assert_array_equal(evaluation.support, counts.sum(axis=1))
    assert result["multiclass_accuracy"] == pytest.approx(np.mean(predicted == truth))
    binary = model.predict_binary_proba(X[400:])
    per_model = [np.mean((truth == k) == (binary[:, k] > 0.5)) for k in range(10)]
    assert [row["test_accuracy"] for row in result["per_model"]] == pytest.approx(per_model)
    assert result["one_vs_all_accuracy"] == pytest.approx(np.mean(per_model))
    assert [row["auc"] for row in result["per_model"]] == pytest.approx(
        [mann_whitney_auc(binary[:, k], truth == k) for k in range(10)], abs=1e-12)


def test_a_class_never_predicted_scores_zero_precision():
    model = OneVsAllLogisticRegression(max_iter=5).fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 2]))
    X, y = np.array([[0.0], [0.1], [3.0]]), np.array([0, 0, 1])
    evaluation = metrics.evaluate(model, X, y, X, y, ["a", "b", "c"])
    never = np.flatnonzero(np.bincount(evaluation.predicted_index, minlength=3) == 0)
    assert never.size and np.all(evaluation.precision[never] == 0) and np.all(evaluation.f1[never] == 0)
