"""The views of one ``Evaluation`` that the report, its figures and ``summary.md`` show, built once.

Each class's row (its one-vs-all model's figures and the class's own, with their 95 % Wilson
intervals), each class's share of the test images, and the headline metrics with their intervals
are worked out here and nowhere else, as plain values a template can print.
"""
import dataclasses

import numpy as np

from mnist_ova.trainer.metrics import Evaluation


def interval(pair):
    """A (low, high) pair as a template reads it."""
    return {"low": float(pair[0]), "high": float(pair[1])}


@dataclasses.dataclass(frozen=True)
class EvaluationViews:
    evaluation: Evaluation
    names: list[str]  # the classes, as the report calls them
    class_shares: np.ndarray  # (K,) each class's share of the test images
    # One row per class: {name, train_accuracy, test_accuracy, iterations, final_cost, auc, average_precision,
    # brier, ece (of its model), precision, recall, f1, support (of its class), and the *_interval of
    # test_accuracy, recall and precision ({low, high})}.
    classes: list[dict]
    # The headline metrics by trainer.statistics.HEADLINE name: {value, interval ({low, high}) or None}.
    headline: dict[str, dict]

    def share_of_class(self, count, k):
        """``count`` test images of class ``k`` as a share of that class's test images."""
        return count / max(self.classes[k]["support"], 1)

    @property
    def by_recall(self):
        """The classes' rows in groups of recall equal as printed, from the lowest to the highest (``ranking``)."""
        return ranking(self.classes, "recall", printed=PRINTED["recall"])

    @property
    def always_no_accuracy(self):
        """The mean binary accuracy of models that always answer "no": what the real ones must beat."""
        return float(np.mean(1 - self.class_shares))

    @property
    def always_no_span(self):
        """The lowest and highest binary accuracy of a model that always answers "no", class by class."""
        levels = 1 - np.asarray(self.class_shares)
        return {"low": float(levels.min()), "high": float(levels.max())}


# How the report prints each ranked value (a recall as a percentage to two decimals, as macros.html.j2's
# percent does; an AUC to four): values that print alike are tied, so no ranking reads "1.0000, then 1.0000".
PRINTED = {"recall": "{:.2f}", "auc": "{:.4f}"}
PERCENT = {"recall"}  # printed as 100 times the value


def ranking(rows, key, descending=False, printed=None):
    """``rows`` in groups of equal ``key``, lowest first (highest, ``descending``); a tie keeps the rows'
    own order (the classes' label order, the confusion matrix's row-major order). With ``printed`` (a
    format such as ``PRINTED[key]``) rows whose values print alike are one group. The one rule by which
    the report, its error analysis and its model card rank classes, models and confusions, so that each
    names a tie as a tie and orders it alike."""
    def value(row):
        if printed is None:
            return row[key]
        return float(printed.format(100 * row[key] if key in PERCENT else row[key]))

    groups: list[list] = []
    for row in sorted(rows, key=lambda r: -value(r) if descending else value(r)):
        if groups and value(groups[-1][0]) == value(row):
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def groups_apart(a, b):
    """Whether two groups of classes' rows (``ranking``) are kept apart by their 95 % recall intervals:
    no interval of one overlaps one of the other."""
    return not any(recalls_overlap(x, y) for x in a for y in b)


def recalls_overlap(a, b):
    """Whether two classes' rows have 95 % recall intervals that overlap: then neither class is shown to be
    recognised more often than the other."""
    from mnist_ova.trainer.statistics import intervals_overlap

    return intervals_overlap(*((c["recall_interval"]["low"], c["recall_interval"]["high"]) for c in (a, b)))


def of(evaluation):
    """The views of ``evaluation``."""
    e, a, names = evaluation, evaluation.analysis, list(evaluation.class_names)
    classes = [{"name": names[k], "train_accuracy": float(e.train_accuracy[k]),
                "test_accuracy": float(e.test_accuracy[k]), "test_accuracy_interval": interval(a.test_accuracy_intervals[k]),
                "iterations": int(e.n_iter[k]), "final_cost": e.final_cost(k), "auc": e.roc[k].auc,
                "average_precision": a.precision_recall[k].average_precision, "brier": float(a.binary_brier[k]),
                "ece": a.per_model[k].expected_calibration_error,
                "precision": float(e.precision[k]), "precision_interval": interval(a.precision_intervals[k]),
                "recall": float(e.recall[k]), "recall_interval": interval(a.recall_intervals[k]),
                "f1": float(e.f1[k]), "support": int(e.support[k])} for k in range(e.n_classes)]
    headline = {"multiclass_accuracy": {"value": e.multiclass_accuracy, "interval": interval(a.multiclass_interval)},
                "one_vs_all_accuracy": {"value": e.one_vs_all_accuracy, "interval": interval(a.one_vs_all_interval)},
                "expected_calibration_error": {"value": a.expected_calibration_error, "interval": None},
                "brier_score": {"value": a.brier, "interval": None},
                "log_loss": {"value": a.log_loss, "interval": None}}
    shares = np.bincount(e.true_index, minlength=e.n_classes) / max(e.true_index.size, 1)
    return EvaluationViews(evaluation, names, shares, classes, headline)
