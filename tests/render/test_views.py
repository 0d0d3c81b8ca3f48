"""The views of an evaluation against references: scikit-learn's per-class scores, statsmodels'
Wilson intervals, numpy's class counts."""
import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support
from statsmodels.stats.proportion import proportion_confint

from mnist_ova.render import views
from mnist_ova.trainer import metrics
from mnist_ova.trainer.model import OneVsAllLogisticRegression


@pytest.fixture(scope="module")
def evaluation():
    rng = np.random.RandomState(3)
    y = rng.randint(0, 4, 240)
    X = rng.normal(size=(240, 16)) + np.eye(4, 16)[y] * 1.5
    model = OneVsAllLogisticRegression(max_iter=40).fit(X[:160], y[:160])
    return metrics.evaluate(model, X[:160], y[:160], X[160:], y[160:], ["a", "b", "c", "d"])


def test_the_rows_and_shares_match_the_references(evaluation):
    v = views.of(evaluation)
    truth, predicted = evaluation.true_index, evaluation.predicted_index
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=range(4), zero_division=0)
    assert [row["name"] for row in v.classes] == ["a", "b", "c", "d"]
    np.testing.assert_allclose([row["precision"] for row in v.classes], precision)
    np.testing.assert_allclose([row["recall"] for row in v.classes], recall)
    np.testing.assert_allclose([row["f1"] for row in v.classes], f1)
    assert [row["support"] for row in v.classes] == list(support)
    np.testing.assert_allclose(v.class_shares, support / support.sum())
    assert v.always_no_accuracy == pytest.approx(np.mean(1 - support / support.sum()))
    for k, row in enumerate(v.classes):
        right = round(evaluation.test_accuracy[k] * truth.size)  # model k's own answers at 0.5, right
        low, high = proportion_confint(right, truth.size, method="wilson")
        assert row["test_accuracy_interval"] == pytest.approx({"low": low, "high": high})
        low, high = proportion_confint(int(np.sum((truth == k) & (predicted == k))), int(support[k]), method="wilson")
        assert row["recall_interval"] == pytest.approx({"low": low, "high": high})


def test_the_headline_is_the_evaluations(evaluation):
    v = views.of(evaluation)
    right = int(np.sum(evaluation.true_index == evaluation.predicted_index))
    low, high = proportion_confint(right, evaluation.true_index.size, method="wilson")
    assert v.headline["multiclass_accuracy"]["value"] == pytest.approx(right / evaluation.true_index.size)
    assert v.headline["multiclass_accuracy"]["interval"] == pytest.approx({"low": low, "high": high})
    assert v.headline["brier_score"] == {"value": evaluation.analysis.brier, "interval": None}
