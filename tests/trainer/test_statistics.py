"""The error analysis against plain formulas, statsmodels and cases checked by hand (the module calls
scikit-learn and scipy, so they are no reference for it)."""
import math
from fractions import Fraction

import numpy as np
import pytest

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


def binned(probability, positive, n_bins=15):
    """Reference reliability: bin i holds the probabilities in (i/n, (i+1)/n], the first bin 0 too."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = [(probability <= edges[1]) if i == 0 else (probability > edges[i]) & (probability <= edges[i + 1])
            for i in range(n_bins)]
    kept = [b for b in bins if b.any()]
    return ([probability[b].mean() for b in kept], [np.mean(positive[b]) for b in kept], [b.sum() for b in kept])


def test_reliability_matches_the_bins_by_hand(evaluation):
    a = evaluation.analysis
    right = evaluation.predicted_index == evaluation.true_index
    curves = [(a.confidence, evaluation.scores.max(axis=1), right)] + [
        (a.per_model[k], evaluation.binary_scores[:, k], evaluation.true_index == k) for k in range(10)]
    for curve, probability, positive in curves:
        mean, observed, count = binned(probability, positive)
        np.testing.assert_allclose(curve.mean_predicted, mean, rtol=1e-12)
        np.testing.assert_allclose(curve.observed, observed, rtol=1e-12)
        np.testing.assert_array_equal(curve.count, count)
    assert a.confidence.n_bins == statistics.CALIBRATION_BINS == 15


def test_reliability_bins_take_the_edges_into_the_bin_below():
    probability = np.array([0.0, 1 / 15, 2 / 15, 0.5, 14 / 15, 1.0, 1.0])
    positive = np.array([0, 1, 0, 1, 1, 1, 0])
    curve = statistics.reliability(probability, positive)
    # 0 and 1/15 in bin 0, 2/15 in bin 1, 0.5 in bin 7, 14/15 in bin 13, both 1.0 in bin 14.
    np.testing.assert_array_equal(curve.count, [2, 1, 1, 1, 2])
    np.testing.assert_allclose(curve.bin_low, np.array([0, 1, 7, 13, 14]) / 15)
    np.testing.assert_allclose(curve.observed, [0.5, 0, 1, 1, 0.5])
    np.testing.assert_allclose(curve.mean_predicted, [1 / 30, 2 / 15, 0.5, 14 / 15, 1.0])


def test_expected_calibration_error_by_hand():
    # Two bins: [0.9, 0.9] with 1 of 2 right (gap 0.4), and [0.2] with 0 of 1 right (gap 0.2).
    curve = statistics.reliability([0.9, 0.9, 0.2], [1, 0, 0])
    assert curve.expected_calibration_error == pytest.approx(2 / 3 * 0.4 + 1 / 3 * 0.2)
    assert statistics.reliability([0.7] * 10, [1] * 7 + [0] * 3).expected_calibration_error == pytest.approx(0)


def plain_brier(scores, y):
    return np.mean(np.sum((scores - np.eye(scores.shape[1])[y]) ** 2, axis=1))


def plain_log_loss(scores, y):
    eps = np.finfo(np.float64).eps
    return -np.mean(np.log(np.clip(scores[np.arange(y.size), y], eps, 1 - eps)))


def test_brier_and_log_loss_match_their_formulas(random_scores, evaluation):
    scores, y = random_scores
    assert statistics.brier_score(scores, y) == pytest.approx(plain_brier(scores, y), rel=1e-12)
    assert statistics.log_loss(scores, y) == pytest.approx(plain_log_loss(scores, y), rel=1e-12)
    assert statistics.log_loss(scores, y) < 40  # the exact 0s given to true classes are clipped, not infinite
    a, e = evaluation.analysis, evaluation
    assert a.brier == pytest.approx(plain_brier(e.scores, e.true_index), rel=1e-12)
    assert a.log_loss == pytest.approx(plain_log_loss(e.scores, e.true_index), rel=1e-12)
    for k in range(10):
        assert a.binary_brier[k] == pytest.approx(np.mean((e.binary_scores[:, k] - (e.true_index == k)) ** 2),
                                                  rel=1e-12)


def plain_precision_recall(scores, positive):
    """Reference: precision and recall with each distinct score as the threshold, highest first, and
    the average precision Σ (R_n − R_{n−1}) · P_n."""
    precision, recall = [1.0], [0.0]
    for threshold in sorted(set(scores.tolist()), reverse=True):
        chosen = scores >= threshold
        precision.append(np.sum(chosen & positive) / np.sum(chosen))
        recall.append(np.sum(chosen & positive) / np.sum(positive))
    return np.array(precision), np.array(recall), float(np.sum(np.diff(recall) * np.array(precision)[1:]))


def test_precision_recall_matches_the_definition(evaluation, random_scores):
    tied = np.round(random_scores[0][:, 0], 1)  # many ties
    cases = [(evaluation.binary_scores[:, k], evaluation.true_index == k) for k in range(10)]
    for scores, positive in cases + [(tied, random_scores[1] == 0)]:
        curve = statistics.precision_recall(scores, positive)
        precision, recall, average_precision = plain_precision_recall(scores, positive)
        np.testing.assert_allclose(curve.precision, precision, rtol=1e-12)
        np.testing.assert_allclose(curve.recall, recall, rtol=1e-12)
        assert curve.average_precision == pytest.approx(average_precision, rel=1e-12)
    for k in range(10):
        assert evaluation.analysis.precision_recall[k].average_precision == pytest.approx(
            plain_precision_recall(*cases[k])[2], rel=1e-12)


@pytest.mark.filterwarnings("error")
def test_precision_recall_of_a_class_without_test_rows_is_zero_without_a_warning():
    curve = statistics.precision_recall(np.array([0.2, 0.7, 0.1]), np.zeros(3, dtype=bool))
    np.testing.assert_array_equal(curve.recall, 0)
    np.testing.assert_array_equal(curve.precision, [1, 0, 0, 0])
    assert curve.average_precision == 0


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


def exact_mcnemar(b, c):
    """Reference: twice the exact Binomial(b + c, 1/2) lower tail at min(b, c), in fractions, capped at 1."""
    n = b + c
    tail = Fraction(sum(math.comb(n, i) for i in range(min(b, c) + 1)), 2**n)
    return float(min(Fraction(1), 2 * tail))


def test_mcnemar_matches_the_exact_binomial_tail():
    for b, c in ((2, 9), (12, 20), (40, 41), (0, 1), (1000, 1300)):
        assert statistics.mcnemar_exact(b, c) == pytest.approx(exact_mcnemar(b, c), rel=1e-12)


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
    from statsmodels.stats.multitest import multipletests

    comparison, true, before, now = planted_runs(flips={"cat": (30, 2), "dog": (9, 3), "emu": (0, 0)})
    raw = []
    for name in ("cat", "dog", "emu"):
        rows = true == name
        b, c = int(np.sum(before[rows] & ~now[rows])), int(np.sum(~before[rows] & now[rows]))
        raw.append(exact_mcnemar(b, c) if b + c else 1.0)
    adjusted = multipletests(raw, method="holm")[1]
    for change, p_raw, p_adjusted in zip(comparison.recall_changes, raw, adjusted):
        assert change.raw_p_value == pytest.approx(p_raw, rel=1e-12)
        assert change.p_value == pytest.approx(p_adjusted, rel=1e-12)
    assert [statistics.verdict(c) for c in comparison.recall_changes] == ["real", "within-noise", "none"]
    main = comparison.change("multiclass_accuracy")
    b, c = int(np.sum(before & ~now)), int(np.sum(~before & now))
    assert main.p_value == pytest.approx(exact_mcnemar(b, c), rel=1e-12)


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
    # The sum over the classes is K times the mean over them, i.e. the sum of the K one-vs-rest binary scores.
    per_class = [statistics.brier_score(scores[:, k], y == k) for k in range(4)]
    assert statistics.brier_score(scores, y) == pytest.approx(np.sum(per_class), rel=1e-12)
    # Two classes too (scikit-learn would halve it): 0.7² + (0.3 − 1)² = 0.98 for the one row.
    assert statistics.brier_score(np.array([[0.7, 0.3]]), np.array([1])) == pytest.approx(0.98)
    assert "summed over the classes" in statistics.BRIER_FORM


def test_metrics_json_carries_the_analysis(evaluation):
    document = evaluation.to_dict()
    assert set(document["calibration"]) >= {"brier_score", "log_loss", "expected_calibration_error", "bins"}
    assert document["calibration"]["brier_score_form"] == statistics.BRIER_FORM
    assert document["calibration"]["bins"] == 15
    assert len(document["intervals"]["recall"]) == 10
    assert all("average_precision" in row for row in document["per_model"])
