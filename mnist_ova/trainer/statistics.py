"""Statistics: calibration, precision-recall, Wilson intervals, McNemar's exact test (scikit-learn's and
scipy's where they have them) and the comparison with an earlier run. The CI gates' decisions live in
``pipeline/gates.py``.

Everything here is numbers in, numbers out; what to draw and say about them is decided in
``render/`` and ``templates/``.
"""
import dataclasses
import math
import warnings

import numpy as np
from scipy.stats import binomtest
from sklearn import metrics as sk
from sklearn.calibration import calibration_curve

CALIBRATION_BINS = 15  # equal-width bins over [0, 1], for the reliability diagrams and the ECE
Z_95 = 1.959963984540054  # the standard normal's 97.5 % quantile


# -- uncertainty -----------------------------------------------------------------------------------


def wilson_interval(successes, n, z=Z_95):
    """The Wilson score interval of a binomial proportion: (low, high), 95 % by default.

    Unlike the normal approximation p ± z·sqrt(p(1-p)/n) it stays inside [0, 1] and does not
    shrink to a point when every trial succeeds. With no trials it is (0, 1): nothing is known.
    """
    n = int(n)
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At p = 0 or 1 one end is exactly 0 or 1; rounding would leave it a hair inside.
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return low, high


def intervals_overlap(a, b):
    """Whether two (low, high) intervals share any point."""
    return a[0] <= b[1] and b[0] <= a[1]


def mcnemar_exact(b, c):
    """Two-sided exact McNemar p-value from the discordant counts: ``b`` pairs right only in the
    first run, ``c`` right only in the second. Under "the runs are equally good" each discordant
    pair goes either way with probability ½: the binomial test of b successes in b + c. With no
    discordant pairs it is 1 (scipy refuses n = 0)."""
    b, c = int(b), int(c)
    return binomtest(b, b + c, 0.5).pvalue if b + c else 1.0


def holm(p_values):
    """Holm's step-down adjustment of ``p_values`` (one family of tests): the smallest p is multiplied
    by m, the next by m − 1, and so on, each kept at least as large as the one before and at most 1.
    A test is rejected at level alpha when its adjusted p-value is below alpha; the chance of any false
    rejection in the family stays under alpha.

    Hand-written: statsmodels has it (``multipletests(method="holm")``, the tests' reference) but is no
    runtime dependency, and scipy has only the Benjamini-Hochberg/Yekutieli adjustments."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (p.size - np.arange(p.size))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


# -- calibration -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Reliability:
    """A reliability curve over equal-width bins: only bins holding at least one prediction."""

    mean_predicted: np.ndarray  # the mean predicted probability in each bin
    observed: np.ndarray  # the share of positives (or of right answers) in each bin
    count: np.ndarray  # predictions in each bin
    bin_low: np.ndarray  # each bin's lower edge
    n_bins: int

    @property
    def expected_calibration_error(self):
        """Σ over bins of (share of predictions in the bin) · |observed − mean predicted|."""
        total = self.count.sum()
        if not total:
            return 0.0
        return float(np.sum(self.count / total * np.abs(self.observed - self.mean_predicted)))


def reliability(probability, positive, n_bins=CALIBRATION_BINS):
    """The reliability curve of predicted probabilities against what happened (``positive``)."""
    probability = np.asarray(probability, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    observed, mean_predicted = calibration_curve(positive, probability, n_bins=n_bins, strategy="uniform")
    # calibration_curve keeps the non-empty bins but does not say how many predictions each holds (the ECE
    # weighs by it): counted here on its edges, as it bins (1.0 in the last bin).
    count = np.bincount(np.searchsorted(edges[1:-1], probability), minlength=n_bins)
    kept = count > 0
    return Reliability(mean_predicted=mean_predicted, observed=observed, count=count[kept], bin_low=edges[:-1][kept],
                       n_bins=n_bins)


def one_hot(true_index, n_classes):
    return np.arange(n_classes)[None, :] == np.asarray(true_index)[:, None]


BRIER_FORM = "squared error summed over the classes, averaged over the images (0 to 2)"


def brier_score(scores, true_index):
    """Multiclass Brier score in its original (Brier 1950, and scikit-learn's) form: the mean over rows
    of the sum Σ_k (p_k − [k is the true class])², from 0 (perfect) to 2; K times the mean over the
    classes. For one column of binary probabilities it is the usual binary Brier score."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        return sk.brier_score_loss(true_index, scores)
    # scale_by_half=False: the sum form for two classes too, where scikit-learn's "auto" would halve it.
    return sk.brier_score_loss(true_index, scores, labels=np.arange(scores.shape[1]), scale_by_half=False)


def log_loss(scores, true_index):
    """Mean negative log of the probability given to the true class; scikit-learn clips probabilities to
    [eps, 1 − eps] (float64's eps) so a confident mistake costs ~36, not ∞."""
    scores = np.asarray(scores, dtype=np.float64)
    return sk.log_loss(true_index, scores, labels=np.arange(scores.shape[1]))


# -- precision-recall ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PrecisionRecall:
    precision: np.ndarray  # from the highest threshold down, starting at recall 0 with precision 1
    recall: np.ndarray
    average_precision: float  # Σ (R_n − R_{n−1}) · P_n, scikit-learn's definition (no interpolation)


def precision_recall(scores, positive):
    """Precision and recall at every distinct score taken as the threshold, and the average precision."""
    positive = np.asarray(positive, dtype=bool)
    with warnings.catch_warnings():
        # A class with no test rows: scikit-learn warns and sets its recall to 1; it is 0 here, as the AP.
        warnings.filterwarnings("ignore", "No positive class found")
        precision, recall, _ = sk.precision_recall_curve(positive, scores)
        average_precision = float(sk.average_precision_score(positive, scores))
    if not positive.any():
        recall = np.zeros_like(recall)
    return PrecisionRecall(precision=precision[::-1], recall=recall[::-1], average_precision=average_precision)


# -- the analysis of one evaluation ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Analysis:
    """What the error analysis shows of one ``Evaluation``, computed once."""

    n_test: int
    confidence: Reliability  # top label: the largest normalised score against "the prediction is right"
    per_model: tuple  # K Reliability: each model's own sigmoid output against "the row is its class"
    brier: float  # multiclass Brier score of the normalised scores, in the BRIER_FORM
    log_loss: float  # of the normalised scores
    binary_brier: np.ndarray  # (K,) each model's sigmoid output
    precision_recall: tuple  # K PrecisionRecall, each model's sigmoid output
    multiclass_interval: tuple  # Wilson (low, high)
    one_vs_all_interval: tuple  # Wilson over the K · n binary decisions (they are not independent)
    test_accuracy_intervals: tuple  # K (low, high)
    recall_intervals: tuple  # K (low, high), over each class's support
    precision_intervals: tuple  # K (low, high), over each class's predictions

    @property
    def expected_calibration_error(self):
        return self.confidence.expected_calibration_error

    @property
    def average_precision(self):
        return np.array([curve.average_precision for curve in self.precision_recall])

    def to_dict(self):
        """The figures added to ``metrics.json``."""
        return {
            "calibration": {
                "brier_score": self.brier, "brier_score_form": BRIER_FORM, "log_loss": self.log_loss,
                "expected_calibration_error": self.expected_calibration_error, "bins": self.confidence.n_bins,
                "binning": "equal-width; the top score (largest normalised score) against accuracy",
            },
            "intervals": {
                "method": "Wilson score, 95 %",
                "multiclass_accuracy": list(self.multiclass_interval),
                "one_vs_all_accuracy": list(self.one_vs_all_interval),
                "test_accuracy": [list(i) for i in self.test_accuracy_intervals],
                "recall": [list(i) for i in self.recall_intervals],
                "precision": [list(i) for i in self.precision_intervals],
            },
        }


def analyse(evaluation, n_bins=CALIBRATION_BINS):
    """Calibration, precision-recall and intervals of an ``Evaluation`` (the split leaves it at least
    2 test rows, which scikit-learn's metrics need)."""
    e = evaluation
    n, K = e.true_index.size, e.n_classes
    right = e.predicted_index == e.true_index
    truth = one_hot(e.true_index, K)
    confidence = e.scores[np.arange(n), e.predicted_index]
    diagonal = np.diag(e.confusion)
    predicted = e.confusion.sum(axis=0)
    binary_right = np.rint(e.test_accuracy * n).astype(np.int64)
    return Analysis(
        n_test=n,
        confidence=reliability(confidence, right, n_bins),
        per_model=tuple(reliability(e.binary_scores[:, k], truth[:, k], n_bins) for k in range(K)),
        brier=brier_score(e.scores, e.true_index),
        log_loss=log_loss(e.scores, e.true_index),
        binary_brier=np.array([brier_score(e.binary_scores[:, k], truth[:, k]) for k in range(K)]),
        precision_recall=tuple(precision_recall(e.binary_scores[:, k], truth[:, k]) for k in range(K)),
        multiclass_interval=wilson_interval(int(right.sum()), n),
        one_vs_all_interval=wilson_interval(int(binary_right.sum()), n * K),
        test_accuracy_intervals=tuple(wilson_interval(int(binary_right[k]), n) for k in range(K)),
        recall_intervals=tuple(wilson_interval(int(diagonal[k]), int(e.support[k])) for k in range(K)),
        precision_intervals=tuple(wilson_interval(int(diagonal[k]), int(predicted[k])) for k in range(K)),
    )


def confusion_cells(evaluation):
    """Every non-empty off-diagonal cell of the confusion matrix, most frequent first (ties in
    row-major order): (true index, predicted index, test-row positions in test order)."""
    e = evaluation
    wrong = e.misclassified
    cells: dict[tuple[int, int], list[int]] = {}
    for position in wrong:
        cells.setdefault((int(e.true_index[position]), int(e.predicted_index[position])), []).append(int(position))
    order = sorted(cells, key=lambda cell: (-len(cells[cell]), cell))
    return [(t, p, np.array(cells[(t, p)], dtype=np.int64)) for t, p in order]


# -- comparison with a baseline run -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pairing:
    """The two runs' correctness on the same test rows, when they can be paired."""

    rows: np.ndarray  # data-row indices of the paired test rows, in the current run's test order
    positions: np.ndarray  # their positions in the current run's test set
    baseline_right: np.ndarray  # bool
    current_right: np.ndarray  # bool

    @property
    def right_to_wrong(self):
        """Positions (in the current test set) that the baseline got right and this run gets wrong."""
        return self.positions[self.baseline_right & ~self.current_right]

    @property
    def wrong_to_right(self):
        return self.positions[~self.baseline_right & self.current_right]

    @property
    def p_value(self):
        return mcnemar_exact(self.right_to_wrong.size, self.wrong_to_right.size)

    def p_value_within(self, mask):
        """McNemar's exact p-value on the rows where ``mask`` (by current position) holds: for one
        class's recall, the rows of that class."""
        mask = np.asarray(mask, dtype=bool)
        before, now = self.baseline_right[mask], self.current_right[mask]
        return mcnemar_exact(int(np.sum(before & ~now)), int(np.sum(~before & now)))


def pair(current_rows, current_right, baseline_rows, baseline_right):
    """Match the two runs' predictions by data row. Returns the ``Pairing``, or None when the runs
    did not score the same set of rows."""
    current_rows = np.asarray(current_rows, dtype=np.int64)
    baseline_rows = np.asarray(baseline_rows, dtype=np.int64)
    if current_rows.size != baseline_rows.size or not np.array_equal(np.sort(current_rows), np.sort(baseline_rows)):
        return None
    by_row = dict(zip(baseline_rows.tolist(), np.asarray(baseline_right, dtype=bool).tolist()))
    return Pairing(rows=current_rows, positions=np.arange(current_rows.size),
                   baseline_right=np.array([by_row[r] for r in current_rows.tolist()], dtype=bool),
                   current_right=np.asarray(current_right, dtype=bool))


ALPHA = 0.05  # the level at which a paired test calls a change real


@dataclasses.dataclass(frozen=True)
class Change:
    """One metric before and after, with (for proportions) both runs' intervals, and the p-value of
    the paired test that may call the change real (None: no such test)."""

    name: str
    before: float
    after: float
    before_interval: tuple | None = None
    after_interval: tuple | None = None
    higher_is_better: bool = True
    label: str = ""
    p_value: float | None = None  # McNemar's exact test on the paired rows; Holm-adjusted for a class's recall
    raw_p_value: float | None = None  # a class's recall: its own test's p-value before Holm's adjustment

    @property
    def change(self):
        return self.after - self.before

    @property
    def overlap(self):
        """Whether the two intervals overlap (shown to the reader; never the basis of a verdict);
        None when the metric has none."""
        if self.before_interval is None or self.after_interval is None:
            return None
        return intervals_overlap(self.before_interval, self.after_interval)

    @property
    def better(self):
        if self.change == 0:
            return None
        return (self.change > 0) == self.higher_is_better


def proportion_change(name, before, n_before, after, n_after, label=""):
    """A ``Change`` of a proportion with each run's Wilson interval."""
    return Change(name, float(before), float(after), wilson_interval(round(before * n_before), n_before),
                  wilson_interval(round(after * n_after), n_after), label=label or name)


def verdict(change, alpha=ALPHA):
    """What may be said of a change: "none" (no change), "untested" (no paired test on the same test
    rows: nothing can be concluded, whatever the intervals), "within-noise" (the paired test does not
    reject equal performance at ``alpha``) or "real". Intervals are never the basis: a multiclass
    accuracy's intervals ignore the pairing, and the one-vs-all accuracy's answers are not independent."""
    if change.change == 0:
        return "none"
    if change.p_value is None:
        return "untested"
    return "real" if change.p_value < alpha else "within-noise"


# The headline metrics of a comparison: (name, what a reader calls it, higher is better). The first two
# are proportions with intervals; the calibration figures come from metrics.json's "calibration".
HEADLINE = (("multiclass_accuracy", "multiclass accuracy", True), ("one_vs_all_accuracy", "one-vs-all accuracy", True),
            ("expected_calibration_error", "expected calibration error", False),
            ("brier_score", "Brier score (summed over the classes)", False), ("log_loss", "log loss", False))
SPLIT_KEYS = ("split", "test_size", "seed")


@dataclasses.dataclass(frozen=True)
class Comparison:
    changes: tuple  # Change of each HEADLINE metric both runs have
    recall_changes: tuple  # Change of each class's recall, for the classes both runs name
    pairing: Pairing | None  # None when the test rows cannot be paired ...
    pairing_problem: str | None  # ... and this says why
    baseline_config: dict
    config_differences: tuple  # (key, baseline value, current value) of every differing config entry

    def change(self, name):
        return next(c for c in self.changes if c.name == name)


def tested(changes, recall_changes, pairing, true_names):
    """The changes with their paired tests: McNemar's exact test of the multiclass accuracy on every
    paired row, and of each class's recall on the rows of that class, Holm-adjusted across the classes.
    ``true_names`` is each current test position's true class name."""
    changes = tuple(dataclasses.replace(c, p_value=pairing.p_value) if c.name == "multiclass_accuracy" else c
                    for c in changes)
    true_names = np.asarray(true_names)
    raw = [pairing.p_value_within(true_names == c.name.removeprefix("recall:")) for c in recall_changes]
    adjusted = holm(raw) if raw else []
    return changes, tuple(dataclasses.replace(c, p_value=float(a), raw_p_value=float(r))
                          for c, r, a in zip(recall_changes, raw, adjusted))


def compare(current, baseline, current_predictions, baseline_predictions):
    """This run against a baseline run. ``current``/``baseline`` are ``metrics.json`` documents;
    ``current_predictions`` are (data rows, right, true class name) of each test row and
    ``baseline_predictions`` (data rows, right), None where the baseline has none."""
    n_now, n_then = current["dataset"]["n_test"], baseline.get("dataset", {}).get("n_test", 0)
    k_now = len(current["per_class"])
    k_then = len(baseline.get("per_class", [])) or k_now
    changes = []
    for name, label, higher in HEADLINE:
        now = current.get(name, current.get("calibration", {}).get(name))
        then = baseline.get(name, baseline.get("calibration", {}).get(name))
        if now is None or then is None:
            continue
        if name == "multiclass_accuracy":
            changes.append(proportion_change(name, then, n_then, now, n_now, label))
        elif name == "one_vs_all_accuracy":
            changes.append(proportion_change(name, then, n_then * k_then, now, n_now * k_now, label))
        else:
            changes.append(Change(name, float(then), float(now), higher_is_better=higher, label=label))
    then_rows = dict(zip(baseline.get("dataset", {}).get("class_names", []), baseline.get("per_class", [])))
    recall_changes = tuple(
        proportion_change(f"recall:{name}", then_rows[name]["recall"], then_rows[name]["support"], row["recall"],
                          row["support"], f"recall of {name}")
        for name, row in zip(current["dataset"]["class_names"], current["per_class"]) if name in then_rows)
    pairing, problem = None, None
    sha_now, sha_then = current["dataset"]["sha256"], baseline.get("dataset", {}).get("sha256")
    split_now = {k: current["config"].get(k) for k in SPLIT_KEYS}
    split_then = {k: baseline.get("config", {}).get(k) for k in SPLIT_KEYS}
    if sha_now != sha_then:
        problem = (f"the two runs used different data (sha256 {str(sha_then)[:12]}... against {sha_now[:12]}...), so "
                   "their test rows are not the same images")
    elif split_now != split_then:
        problem = (f"the two runs split the data differently ({_settings(split_then)} against "
                   f"{_settings(split_now)}), so their test rows are not the same images")
    elif baseline_predictions is None:
        problem = ("the baseline folder has no predictions.csv (it was made before that file existed), so its "
                   "predictions cannot be paired row by row")
    else:
        rows, right, true_names = current_predictions
        pairing = pair(rows, right, *baseline_predictions)
        if pairing is None:
            problem = "the baseline's predictions.csv lists other test rows than this run's"
        else:
            changes, recall_changes = tested(changes, recall_changes, pairing, true_names)
    config_now, config_then = current.get("config", {}), baseline.get("config", {})
    differences = tuple((key, config_then.get(key), config_now.get(key)) for key in sorted(set(config_now) |
                        set(config_then)) if config_now.get(key) != config_then.get(key))
    return Comparison(tuple(changes), recall_changes, pairing, problem, config_then, differences)


def _settings(values):
    return ", ".join(f"{key} {value}" for key, value in values.items())
