"""The error analysis against scikit-learn and against cases checked by hand."""
import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, precision_recall_curve

from mnist_ova.trainer import metrics, statistics
from mnist_ova.trainer.model import OneVsAllLogisticRegression
from mnist_ova.trainer.preprocess import standardise


@pytest.fixture(scope="module")
def evaluation(small_digits):
    images, labels = small_digits
    X = standardise(images)
    model = OneVsAllLogisticRegression(max_iter=30).fit(X[:480], labels[:480])
    return metrics.evaluate(model, X[:480], labels[:480], X[480:], labels[480:], [str(k) for k in range(10)])


@pytest.fixture(scope="module")
def random_scores():
    rng = np.random.RandomState(3)
    scores = rng.dirichlet(np.full(4, 0.4), size=300)
    scores[:5] = np.eye(4)[[0, 1, 2, 3, 0]]  # exact 0s and 1s: the edges of the bins and the clipping
    return scores, rng.randint(0, 4, size=300)


def test_reliability_matches_calibration_curve(evaluation):
    a = evaluation.analysis
    right = evaluation.predicted_index == evaluation.true_index
    confidence = evaluation.scores.max(axis=1)
    prob_true, prob_pred = calibration_curve(right, confidence, n_bins=15, strategy="uniform")
    np.testing.assert_allclose(a.confidence.observed, prob_true, rtol=1e-12)
    np.testing.assert_allclose(a.confidence.mean_predicted, prob_pred, rtol=1e-12)
    assert a.confidence.n_bins == statistics.CALIBRATION_BINS == 15
    for k in range(10):
        prob_true, prob_pred = calibration_curve(evaluation.true_index == k, evaluation.binary_scores[:, k], n_bins=15)
        np.testing.assert_allclose(a.per_model[k].observed, prob_true, rtol=1e-12)
        np.testing.assert_allclose(a.per_model[k].mean_predicted, prob_pred, rtol=1e-12)


def test_reliability_bins_take_the_edges_as_scikit_learn_does():
    probability = np.array([0.0, 1 / 15, 2 / 15, 0.5, 14 / 15, 1.0, 1.0])
    positive = np.array([0, 1, 0, 1, 1, 1, 0])
    curve = statistics.reliability(probability, positive)
    prob_true, prob_pred = calibration_curve(positive, probability, n_bins=15)
    np.testing.assert_allclose(curve.observed, prob_true)
    np.testing.assert_allclose(curve.mean_predicted, prob_pred)
    assert curve.count.sum() == probability.size


def test_expected_calibration_error_by_hand():
    # Two bins: [0.9, 0.9] with 1 of 2 right (gap 0.4), and [0.2] with 0 of 1 right (gap 0.2).
    curve = statistics.reliability([0.9, 0.9, 0.2], [1, 0, 0])
    assert curve.expected_calibration_error == pytest.approx(2 / 3 * 0.4 + 1 / 3 * 0.2)
    assert statistics.reliability([0.7] * 10, [1] * 7 + [0] * 3).expected_calibration_error == pytest.approx(0)


def test_brier_and_log_loss_match_scikit_learn(random_scores, evaluation):
    scores, y = random_scores
    assert statistics.brier_score(scores, y) == pytest.approx(brier_score_loss(y, scores, labels=range(4)), rel=1e-12)
    assert statistics.log_loss(scores, y) == pytest.approx(log_loss(y, scores, labels=range(4)), rel=1e-12)
    a, e = evaluation.analysis, evaluation
    assert a.brier == pytest.approx(brier_score_loss(e.true_index, e.scores, labels=range(10)), rel=1e-12)
    assert a.log_loss == pytest.approx(log_loss(e.true_index, e.scores, labels=range(10)), rel=1e-12)
    for k in range(10):
        assert a.binary_brier[k] == pytest.approx(brier_score_loss(e.true_index == k, e.binary_scores[:, k]),
                                                  rel=1e-12)


def test_precision_recall_matches_scikit_learn(evaluation, random_scores):
    for k in range(10):
        positive, scores = evaluation.true_index == k, evaluation.binary_scores[:, k]
        curve = evaluation.analysis.precision_recall[k]
        assert curve.average_precision == pytest.approx(average_precision_score(positive, scores), rel=1e-12)
        precision, recall, _ = precision_recall_curve(positive, scores)
        # scikit-learn lists them from the lowest threshold up and ends at (recall 0, precision 1).
        np.testing.assert_allclose(curve.precision, precision[::-1], rtol=1e-12)
        np.testing.assert_allclose(curve.recall, recall[::-1], rtol=1e-12)
    tied = np.round(random_scores[0][:, 0], 1)  # many ties
    positive = random_scores[1] == 0
    assert statistics.precision_recall(tied, positive).average_precision == pytest.approx(
        average_precision_score(positive, tied), rel=1e-12)


def test_wilson_interval_by_hand():
    # Wilson's interval for 8 of 10, z = 1.96: centre (0.8 + 0.19208) / 1.38416, half-width ...
    low, high = statistics.wilson_interval(8, 10)
    assert (low, high) == pytest.approx((0.4901624, 0.9433178), abs=1e-6)
    assert statistics.wilson_interval(0, 10)[0] == 0 and statistics.wilson_interval(0, 10)[1] == pytest.approx(0.2775328,
                                                                                                           abs=1e-6)
    assert statistics.wilson_interval(10, 10)[1] == 1 and statistics.wilson_interval(10, 10)[0] < 1
    assert statistics.wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_interval_matches_scipy():
    from scipy.stats import binomtest

    for successes, n in ((1, 7), (93, 100), (870, 1000), (0, 3), (3, 3)):
        interval = binomtest(successes, n).proportion_ci(0.95, method="wilson")
        assert statistics.wilson_interval(successes, n) == pytest.approx((interval.low, interval.high), abs=1e-12)


def test_mcnemar_exact_by_hand():
    # b = 1, c = 6: n = 7, P(X <= 1) = (C(7,0) + C(7,1)) / 2^7 = 8/128; two-sided 16/128.
    assert statistics.mcnemar_exact(1, 6) == pytest.approx(0.125)
    assert statistics.mcnemar_exact(6, 1) == pytest.approx(0.125)
    # b = 0, c = 5: 2 / 32.
    assert statistics.mcnemar_exact(0, 5) == pytest.approx(0.0625)
    assert statistics.mcnemar_exact(3, 3) == 1.0 and statistics.mcnemar_exact(0, 0) == 1.0
    assert 0 < statistics.mcnemar_exact(1000, 1300) < 1e-8  # large counts: no underflow to 0 or overflow


def test_mcnemar_matches_a_binomial_test():
    from scipy import stats

    for b, c in ((2, 9), (12, 20), (40, 41)):
        assert statistics.mcnemar_exact(b, c) == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-12)


def test_intervals_in_the_analysis(evaluation):
    a, e = evaluation.analysis, evaluation
    right = int(np.sum(e.predicted_index == e.true_index))
    assert a.multiclass_interval == statistics.wilson_interval(right, e.true_index.size)
    low, high = a.multiclass_interval
    assert low < e.multiclass_accuracy < high
    for k in range(10):
        low, high = a.recall_intervals[k]
        assert low <= e.recall[k] <= high


def test_confusion_cells_cover_every_mistake_once(evaluation):
    cells = statistics.confusion_cells(evaluation)
    counts = evaluation.confusion.copy()
    np.fill_diagonal(counts, 0)
    assert sum(len(rows) for _, _, rows in cells) == evaluation.misclassified.size
    assert [len(rows) for _, _, rows in cells] == sorted((len(rows) for _, _, rows in cells), reverse=True)
    for t, p, rows in cells:
        assert counts[t, p] == len(rows) > 0 and t != p
        assert np.all(evaluation.true_index[rows] == t) and np.all(evaluation.predicted_index[rows] == p)


def test_pairing_finds_the_flips_and_refuses_other_rows():
    rows = np.array([10, 3, 7, 5])
    # The baseline lists the rows as [5, 7, 3, 10]: by row, 10 stays right, 3 and 5 go right -> wrong
    # (current positions 1 and 3), 7 goes wrong -> right (position 2).
    pairing = statistics.pair(rows, [True, False, True, False], rows[::-1], [True, False, True, True])
    assert pairing.right_to_wrong.tolist() == [1, 3]
    assert pairing.wrong_to_right.tolist() == [2]
    assert pairing.p_value == pytest.approx(statistics.mcnemar_exact(2, 1))
    assert statistics.pair(rows, [True] * 4, np.array([10, 3, 7, 6]), [True] * 4) is None


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.RandomState(5)
    for p_values in ([0.01, 0.04, 0.03, 0.5], [0.2, 0.2, 0.001], rng.uniform(0, 0.1, 47), [1.0], []):
        expected = multipletests(p_values, method="holm")[1] if len(p_values) else []
        np.testing.assert_allclose(statistics.holm(p_values), expected, rtol=1e-15)


def test_mcnemar_matches_statsmodels():
    from statsmodels.stats.contingency_tables import mcnemar

    for b, c in ((0, 7), (3, 19), (150, 210), (25, 25)):
        assert statistics.mcnemar_exact(b, c) == pytest.approx(mcnemar([[50, b], [c, 40]], exact=True).pvalue,
                                                               rel=1e-12)


def planted_runs(n_per_class=200, flips=None):
    """Two runs' metrics.json documents and predictions on the same 3 x ``n_per_class`` test rows:
    ``flips`` maps a class to (right -> wrong, wrong -> right) counts on its rows, the rest unchanged
    (all right but the first 40 of each class, wrong in both runs)."""
    names = ["cat", "dog", "emu"]
    true = np.repeat(names, n_per_class)
    before = np.ones(true.size, dtype=bool)
    before[np.arange(3) * n_per_class + np.arange(40)[:, None]] = False
    now = before.copy()
    for k, (worse, better) in (flips or {}).items():
        start = names.index(k) * n_per_class
        now[start + 40:start + 40 + worse] = False  # right before, wrong now
        now[start:start + better] = True  # wrong before, right now
    rows = np.arange(true.size) * 3 + 1  # data rows, listed in another order by the baseline

    def document(right):
        per_class = [{"recall": float(np.mean(right[true == k])), "support": n_per_class} for k in names]
        return {"dataset": {"n_test": true.size, "class_names": names, "sha256": "ab" * 32},
                "config": {"split": "seed", "test_size": 0.2, "seed": 42}, "per_class": per_class,
                "multiclass_accuracy": float(np.mean(right)), "one_vs_all_accuracy": 0.9}

    comparison = statistics.compare(document(now), document(before), (rows, now, true), (rows[::-1], before[::-1]))
    return comparison, true, before, now


def test_each_recall_change_is_tested_on_its_class_rows_with_holm_across_classes():
    from scipy.stats import binomtest
    from statsmodels.stats.multitest import multipletests

    comparison, true, before, now = planted_runs(flips={"cat": (30, 2), "dog": (9, 3), "emu": (0, 0)})
    raw = []
    for name in ("cat", "dog", "emu"):
        rows = true == name
        b, c = int(np.sum(before[rows] & ~now[rows])), int(np.sum(~before[rows] & now[rows]))
        raw.append(binomtest(min(b, c), b + c, 0.5).pvalue if b + c else 1.0)
    adjusted = multipletests(raw, method="holm")[1]
    for change, p_raw, p_adjusted in zip(comparison.recall_changes, raw, adjusted):
        assert change.raw_p_value == pytest.approx(p_raw, rel=1e-12)
        assert change.p_value == pytest.approx(p_adjusted, rel=1e-12)
    assert [statistics.verdict(c) for c in comparison.recall_changes] == ["real", "within-noise", "none"]
    main = comparison.change("multiclass_accuracy")
    b, c = int(np.sum(before & ~now)), int(np.sum(~before & now))
    assert main.p_value == pytest.approx(binomtest(min(b, c), b + c, 0.5).pvalue, rel=1e-12)


def test_a_change_is_real_by_the_paired_test_and_never_by_the_intervals():
    # 14 answers lost and 1 gained among 600 rows: the Wilson intervals overlap, McNemar rejects.
    comparison, *_ = planted_runs(flips={"cat": (7, 0), "dog": (7, 1)})
    main = comparison.change("multiclass_accuracy")
    assert main.overlap and main.p_value < 0.05 and statistics.verdict(main) == "real"
    # As many gained as lost: a zero change is "none"; an even split of the flips is noise.
    comparison, *_ = planted_runs(flips={"cat": (5, 5)})
    assert statistics.verdict(comparison.change("multiclass_accuracy")) == "none"
    comparison, *_ = planted_runs(flips={"cat": (6, 4)})
    assert statistics.verdict(comparison.change("multiclass_accuracy")) == "within-noise"
    # Intervals far apart, but no paired test: not tested, never "real".
    apart = statistics.proportion_change("multiclass_accuracy", 0.80, 5000, 0.90, 5000)
    assert not apart.overlap and statistics.verdict(apart) == "untested"
    # The one-vs-all accuracy's answers are not independent: it gets no test and so no verdict.
    assert statistics.verdict(comparison.change("one_vs_all_accuracy")) in ("none", "untested")


def test_without_paired_rows_nothing_is_tested():
    comparison, true, before, now = planted_runs(flips={"cat": (30, 0)})
    document = {"dataset": {"n_test": true.size, "class_names": ["cat", "dog", "emu"], "sha256": "cd" * 32},
                "config": {"split": "seed", "test_size": 0.2, "seed": 42},
                "per_class": [{"recall": 0.5, "support": 200}] * 3, "multiclass_accuracy": 0.5}
    other = statistics.compare(document, {**document, "dataset": {**document["dataset"], "sha256": "ef" * 32},
                                          "multiclass_accuracy": 0.9}, (np.arange(600), now, true), None)
    assert other.pairing is None and "different data" in other.pairing_problem
    assert statistics.verdict(other.change("multiclass_accuracy")) == "untested"
    assert all(c.p_value is None for c in other.recall_changes)


def test_brier_score_is_the_sum_over_classes_form(random_scores):
    scores, y = random_scores
    # The sum over the classes (scikit-learn's multiclass form) is K times the mean over them, which is
    # the mean of the K one-vs-rest binary Brier scores.
    per_class = [brier_score_loss(y == k, scores[:, k]) for k in range(4)]
    assert statistics.brier_score(scores, y) == pytest.approx(np.sum(per_class), rel=1e-12)
    assert statistics.brier_score(scores, y) == pytest.approx(brier_score_loss(y, scores, labels=range(4)),
                                                              rel=1e-12)
    assert "summed over the classes" in statistics.BRIER_FORM


def test_metrics_json_carries_the_analysis(evaluation):
    document = evaluation.to_dict()
    assert set(document["calibration"]) >= {"brier_score", "log_loss", "expected_calibration_error", "bins"}
    assert document["calibration"]["brier_score_form"] == statistics.BRIER_FORM
    assert document["calibration"]["bins"] == 15
    assert len(document["intervals"]["recall"]) == 10
    assert all("average_precision" in row for row in document["per_model"])
