"""The error analysis drawn and put into words' reach: reliability diagrams, ROC beside precision-recall,
one small image per test digit for the drill-down galleries, and the report context of it all.

Charts are SVG (vector, text kept as text: ``svg.fonttype`` "none"), drawn at the size the report
places them (16 cm wide), with no text under 7 pt. Arrays in, one file out each.
"""
import contextlib

import numpy as np

from mnist_ova.render.palette import ACCENT, NEUTRAL, RIGHT, WRONG, hex_colour

RIGHT, WRONG, NEUTRAL, ACCENT = (hex_colour(c) for c in (RIGHT, WRONG, NEUTRAL, ACCENT))
CM = 1 / 2.54
WIDTH = 16 * CM  # the report's text width
# Paul Tol's "muted" scheme, told apart with colour blindness, and a dark grey for a tenth class;
# every other class also gets a dashed line, so that two similar hues are never the only cue.
CLASS_COLOURS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
                 "#AA4499", "#555555")
DIGIT_SCALE = 3  # a 28 x 28 digit becomes an 84 x 84 PNG, pixels kept square and sharp
GALLERY_LIMIT = 30  # digits shown per confusion cell or flip list; the rest are counted
PDF_CONFUSIONS = 5  # the PDF shows the most frequent confusions only


def class_style(k):
    return {"color": CLASS_COLOURS[k % len(CLASS_COLOURS)], "linestyle": "-" if k % 2 == 0 else (0, (4, 1.5))}


@contextlib.contextmanager
def _svg(path, size, **subplots):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    style = {"font.family": "DejaVu Sans", "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8,
             "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7, "legend.title_fontsize": 7,
             "axes.spines.top": False, "axes.spines.right": False, "svg.fonttype": "none",
             "svg.hashsalt": "mnist-ova", "lines.linewidth": 1.0}
    with matplotlib.rc_context(style):
        fig, axes = plt.subplots(figsize=size, layout="constrained", **subplots)
        try:
            yield fig, axes
            fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            plt.close(fig)


def _diagonal(ax):
    ax.plot([0, 1], [0, 1], color="#888888", linestyle=":", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")


def reliability(analysis, names, path):
    """Left: the top-label reliability diagram of the normalised scores (bars: share right in each
    of the equal-width bins; the gap to the diagonal is the miscalibration). Right: each model's own
    sigmoid output against the share of its class."""
    curve = analysis.confidence
    width = 1 / curve.n_bins
    with _svg(path, (WIDTH, 7.6 * CM), ncols=2) as (fig, (left, right)):
        left.bar(curve.bin_low, curve.observed, width=width, align="edge", color=ACCENT, alpha=0.85,
                 edgecolor="white", linewidth=0.5, label="share right")
        left.bar(curve.bin_low, curve.mean_predicted - curve.observed, bottom=curve.observed, width=width,
                 align="edge", color="none", edgecolor=WRONG, hatch="////", linewidth=0.5, label="gap to the score")
        _diagonal(left)
        left.set_xlabel("largest normalised score (confidence)")
        left.set_ylabel("share of predictions that are right")
        left.set_title(f"normalised scores, ECE {100 * analysis.expected_calibration_error:.1f} %")
        left.legend(loc="upper left", frameon=False)
        for k, (model, name) in enumerate(zip(analysis.per_model, names)):
            right.plot(model.mean_predicted, model.observed, marker="o", markersize=2, label=name, **class_style(k))
        _diagonal(right)
        right.set_xlabel("model's sigmoid output")
        right.set_ylabel("share of rows of its class")
        right.set_title("each one-vs-all model's raw output")
        right.legend(title="model", loc="upper left", ncol=2, frameon=False, handlelength=2.2, columnspacing=0.8)


def roc_and_precision_recall(evaluation, analysis, names, path):
    """Left: every model's ROC curve with its AUC. Right: its precision-recall curve with its
    average precision; the dotted level is the share of the class, a model that guesses."""
    with _svg(path, (WIDTH, 8.4 * CM), ncols=2) as (fig, (left, right)):
        for k, name in enumerate(names):
            roc = evaluation.roc[k]
            left.plot(roc.false_positive_rate, roc.true_positive_rate, label=f"{name}: {roc.auc:.3f}",
                      **class_style(k))
            pr = analysis.precision_recall[k]
            right.step(pr.recall, pr.precision, where="post", label=f"{name}: {pr.average_precision:.3f}",
                       **class_style(k))
        _diagonal(left)
        left.set_xlabel("false-positive rate")
        left.set_ylabel("true-positive rate")
        left.set_title("ROC")
        left.legend(title="model: AUC", loc="lower right", ncol=2, frameon=False, handlelength=2.2,
                    columnspacing=0.8)
        share = np.bincount(evaluation.true_index, minlength=evaluation.n_classes) / max(evaluation.true_index.size, 1)
        right.axhline(float(np.mean(share)), color="#888888", linestyle=":", linewidth=0.8)
        right.set_xlim(0, 1)
        right.set_ylim(0, 1.02)
        right.set_aspect("equal")
        right.set_xlabel("recall")
        right.set_ylabel("precision")
        right.set_title("precision-recall")
        right.legend(title="model: average precision", loc="lower left", ncol=2, frameon=False, handlelength=2.2,
                     columnspacing=0.8)


def digit(image, path, scale=DIGIT_SCALE):
    """One test digit as a small grayscale PNG, as the other figures show digits (light on dark),
    each pixel a ``scale`` x ``scale`` block."""
    from PIL import Image

    pixels = np.asarray(image, dtype=np.float64)
    low, high = float(pixels.min()), float(pixels.max())
    grey = np.zeros_like(pixels) if high == low else (pixels - low) / (high - low)
    grey = np.kron(np.rint(grey * 255).astype(np.uint8), np.ones((scale, scale), dtype=np.uint8))
    Image.fromarray(grey, mode="L").save(path, format="PNG", optimize=True)


# -- what the report shows -------------------------------------------------------------------------


def shown_positions(evaluation, comparison=None, limit=GALLERY_LIMIT):
    """Test positions whose digit images the report shows: the first ``limit`` of every confusion
    cell, and of each list of flipped examples."""
    from mnist_ova.trainer.analysis import confusion_cells

    shown = [rows[:limit] for _, _, rows in confusion_cells(evaluation)]
    if comparison is not None and comparison.pairing is not None:
        shown += [comparison.pairing.right_to_wrong[:limit], comparison.pairing.wrong_to_right[:limit]]
    return np.unique(np.concatenate(shown)) if shown else np.zeros(0, dtype=np.int64)


def digit_asset(position):
    return f"digit_{int(position)}"


def _interval(pair):
    return {"low": float(pair[0]), "high": float(pair[1])}


def _example(evaluation, position, rows):
    e, names = evaluation, evaluation.class_names
    p, t = int(e.predicted_index[position]), int(e.true_index[position])
    return {"asset": digit_asset(position), "row": int(rows[position]), "true_name": names[t],
            "predicted_name": names[p], "predicted_score": float(e.scores[position, p]),
            "true_score": float(e.scores[position, t])}


def context(evaluation, *, test_rows, comparison=None, gates=(), baseline_label=None):
    """The template context of ``templates/analysis.html.j2``, from one evaluation, and optionally
    its comparison with a baseline (``trainer.analysis.Comparison``) and the gates' results.
    ``test_rows`` are the data rows of the test set, as ``predictions.csv`` names them."""
    from mnist_ova.trainer.analysis import confusion_cells, verdict

    e, a, names = evaluation, evaluation.analysis, list(evaluation.class_names)
    K = e.n_classes
    cells = confusion_cells(e)
    galleries = [{"id": f"confusion-{t}-{p}", "true_name": names[t], "predicted_name": names[p],
                  "count": int(rows.size), "share": rows.size / max(int(e.support[t]), 1),
                  "examples": [_example(e, i, test_rows) for i in rows[:GALLERY_LIMIT]],
                  "rank": rank} for rank, (t, p, rows) in enumerate(cells)]
    by_cell = {(g["true_name"], g["predicted_name"]): g["id"] for g in galleries}
    matrix = [[{"count": int(e.confusion[t, p]), "diagonal": t == p,
                "link": by_cell.get((names[t], names[p]))} for p in range(K)] for t in range(K)]
    per_model = [{"name": names[k], "test_accuracy": float(e.test_accuracy[k]),
                  "test_accuracy_interval": _interval(a.test_accuracy_intervals[k]),
                  "recall": float(e.recall[k]), "recall_interval": _interval(a.recall_intervals[k]),
                  "precision": float(e.precision[k]), "precision_interval": _interval(a.precision_intervals[k]),
                  "support": int(e.support[k]), "auc": e.roc[k].auc,
                  "average_precision": a.precision_recall[k].average_precision,
                  "brier": float(a.binary_brier[k]), "ece": a.per_model[k].expected_calibration_error}
                 for k in range(K)]
    overconfident = float(np.sum(a.confidence.count * (a.confidence.mean_predicted - a.confidence.observed))
                          / max(a.confidence.count.sum(), 1))
    recall_order = sorted(per_model, key=lambda m: m["recall"])
    lowest, highest = recall_order[0], recall_order[-1]
    result = {
        "n_test": int(e.true_index.size),
        "multiclass": {"value": e.multiclass_accuracy, "interval": _interval(a.multiclass_interval)},
        "one_vs_all": {"value": e.one_vs_all_accuracy, "interval": _interval(a.one_vs_all_interval)},
        "per_model": per_model,
        "lowest_recall": lowest, "highest_recall": highest,
        "recall_gap_real": not (lowest["recall_interval"]["high"] >= highest["recall_interval"]["low"]),
        "calibration": {"brier": a.brier, "log_loss": a.log_loss, "ece": a.expected_calibration_error,
                        "bins": a.confidence.n_bins, "overconfident": overconfident,
                        "chance_log_loss": float(np.log(K)), "mean_confidence": float(
                            np.sum(a.confidence.count * a.confidence.mean_predicted) / max(a.confidence.count.sum(), 1))},
        "matrix": matrix, "names": names,
        "galleries": galleries, "pdf_galleries": galleries[:PDF_CONFUSIONS], "gallery_limit": GALLERY_LIMIT,
        "comparison": None, "gates": [{"kind": g.kind, "metric": g.metric, "bound": g.bound, "value": g.value,
                                        "baseline": g.baseline, "limit": g.limit, "passed": g.passed,
                                        "text": g.describe()} for g in gates],
    }
    if comparison is not None:
        c = comparison
        main = c.change("multiclass_accuracy")
        p_value = c.pairing.p_value if c.pairing is not None else None
        flips = None
        if c.pairing is not None:
            flips = {kind: {"count": int(positions.size),
                            "examples": [_example(e, i, test_rows) for i in positions[:GALLERY_LIMIT]]}
                     for kind, positions in (("right_to_wrong", c.pairing.right_to_wrong),
                                             ("wrong_to_right", c.pairing.wrong_to_right))}
        result["comparison"] = {
            "label": baseline_label, "changes": [_change(ch) for ch in c.changes],
            "recall_changes": [_change(ch) for ch in c.recall_changes],
            "verdict": verdict(main, p_value), "main": _change(main),
            "p_value": p_value, "pairing_problem": c.pairing_problem, "flips": flips,
            "baseline_config": c.baseline_config, "differences": c.config_differences,
        }
    return result


def _change(change):
    from mnist_ova.trainer.analysis import verdict

    return {"name": change.name, "label": change.label, "before": change.before, "after": change.after,
            "change": change.change, "proportion": change.before_interval is not None,
            "share": change.before_interval is not None or change.name == "expected_calibration_error",
            "before_interval": _interval(change.before_interval) if change.before_interval else None,
            "after_interval": _interval(change.after_interval) if change.after_interval else None,
            "overlap": change.overlap, "better": change.better, "verdict": verdict(change)}
