import numpy as np
import pytest
from sklearn import metrics as sk

from mnist_ova.trainer import metrics
from mnist_ova.trainer.model import OneVsAllLogisticRegression
from mnist_ova.trainer.preprocess import standardise


@pytest.fixture
def predictions():
    rng = np.random.RandomState(3)
    y_true = rng.randint(0, 5, 300)
    y_pred = np.where(rng.rand(300) < 0.7, y_true, rng.randint(0, 5, 300))
    y_pred[y_pred == 4] = 3  # class 4 is never predicted: precision has nothing to divide by
    return y_true, y_pred


def test_confusion_matrix_and_normalised(predictions):
    y_true, y_pred = predictions
    counts = metrics.confusion_matrix(y_true, y_pred, np.arange(5))
    np.testing.assert_array_equal(counts, sk.confusion_matrix(y_true, y_pred, labels=range(5)))
    np.testing.assert_allclose(metrics.normalise_rows(counts),
                               sk.confusion_matrix(y_true, y_pred, labels=range(5), normalize="true"))


def test_per_class_scores(predictions):
    y_true, y_pred = predictions
    scores = metrics.per_class_scores(metrics.confusion_matrix(y_true, y_pred, np.arange(5)))
    p, r, f, s = sk.precision_recall_fscore_support(y_true, y_pred, labels=range(5), zero_division=0)
    for mine, theirs in zip((scores["precision"], scores["recall"], scores["f1"], scores["support"]), (p, r, f, s)):
        np.testing.assert_allclose(mine, theirs)


def test_roc_curve_and_auc():
    rng = np.random.RandomState(4)
    positive = rng.rand(400) < 0.3
    scores = np.round(rng.rand(400) + positive * 0.4, 2)  # rounded: many ties
    fpr, tpr, auc = metrics.roc_curve(scores, positive)
    sk_fpr, sk_tpr, _ = sk.roc_curve(positive, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    assert auc == pytest.approx(sk.roc_auc_score(positive, scores), abs=1e-12)


def test_most_confused_pairs():
    counts = np.array([[5, 3, 0], [9, 5, 1], [0, 2, 5]])
    assert metrics.most_confused_pairs(counts, top=2) == [(1, 0, 9), (0, 1, 3)]


def test_evaluate_matches_scikit_learn(small_digits):
    images, labels = small_digits
    X = standardise(images)
    model = OneVsAllLogisticRegression(max_iter=50).fit(X[:400], labels[:400])
    evaluation = metrics.evaluate(model, X[:400], labels[:400], X[400:], labels[400:], [str(k) for k in range(10)])
    result = evaluation.to_dict()
    predicted = model.predict(X[400:])
    np.testing.assert_array_equal(evaluation.classes[evaluation.predicted_index], predicted)
    np.testing.assert_allclose(evaluation.scores, model.predict_proba(X[400:]))
    np.testing.assert_allclose(evaluation.confusion_normalised,
                               sk.confusion_matrix(labels[400:], predicted, normalize="true"))
    p, r, f, s = sk.precision_recall_fscore_support(labels[400:], predicted, zero_division=0)
    for mine, theirs in zip((evaluation.precision, evaluation.recall, evaluation.f1, evaluation.support), (p, r, f, s)):
        np.testing.assert_allclose(mine, theirs)
    assert result["multiclass_accuracy"] == pytest.approx(sk.accuracy_score(labels[400:], predicted))
    binary = model.predict_binary_proba(X[400:]) > 0.5
    per_model = [sk.accuracy_score(labels[400:] == k, binary[:, k]) for k in range(10)]
    assert [row["test_accuracy"] for row in result["per_model"]] == pytest.approx(per_model)
    assert result["one_vs_all_accuracy"] == pytest.approx(np.mean(per_model))
    assert result["confusion_matrix"] == sk.confusion_matrix(labels[400:], predicted).tolist()
    assert [row["auc"] for row in result["per_model"]] == pytest.approx(
        [sk.roc_auc_score(labels[400:] == k, model.predict_binary_proba(X[400:])[:, k]) for k in range(10)])
