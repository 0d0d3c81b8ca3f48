"""The error analysis drawn and put into words' reach: reliability diagrams, ROC beside precision-recall,
one small image per test digit for the drill-down galleries, and the report context of it all.

The charts follow ``figures.py``: SVG with text kept as text, drawn at the size the report places
them (``WIDTH``, 16 cm, inside the text column) with no text under 7 pt, one colour per class from
``palette.py``, and the key of the classes outside the data, below the panels, its columns and
labels fitted by measuring the names (shortened with an ellipsis where they must be; the report's
tables name every class in full). Arrays in, one file out each.
"""
import numpy as np

from mnist_ova.render.figures import (KEY_LIMIT, SMALL_FONT, TEXT_WIDTH, svg_figure, class_lines,
                                      confusion_shows_counts, fit_name, key_title, line_height, literal, text_width)
from mnist_ova.render.palette import ACCENT, WRONG, hex_colour
from mnist_ova.render.views import groups_apart, interval

ACCENT, WRONG = hex_colour(ACCENT), hex_colour(WRONG)
GUIDE = "#9e9e9e"  # the diagonal and the guessing level
CM = 1 / 2.54
WIDTH = 16 * CM  # inches: the width the report places these charts at, inside figures.TEXT_WIDTH
assert WIDTH <= TEXT_WIDTH
PANEL = 2.75  # inches: the height of a row of two square panels with their titles and axis labels
# A reliability bin is drawn only when it holds this many images: the share right among fewer would be
# uncertain by more than BIN_MARGIN either way (the 95 % margin of a share of one half), too much to read.
MIN_BIN = 50
BIN_MARGIN = 1.96 * (0.25 / MIN_BIN) ** 0.5
DIGIT_SCALE = 3  # a 28 x 28 digit becomes an 84 x 84 PNG, pixels kept square and sharp
GALLERY_LIMIT = 30  # digits the HTML holds per confusion cell or flip list; the rest are counted
# Both reports show the few most frequent confusions with a handful of images each, so that the galleries
# inform rather than fill pages; the HTML keeps the others, and the rest of each gallery, folded one click away.
FEATURED = 3
HANDFUL = 6  # one row of the PDF's column, two of a phone's
PDF_MATRIX_LIMIT = 15  # past this many classes the PDF lists the largest confusions instead of the matrix ...
PDF_CONFUSION_ROWS = 20  # ... this many

# The class key's geometry, in points at SMALL_FONT (matplotlib's legend spacings are in font sizes).
HANDLE, HANDLE_PAD, COLUMN_GAP = 1.8, 0.5, 1.4
KEY_LABEL_LIMIT = 1.6 * 72  # no key label is wider than this, however few the classes


def class_key(names, width=WIDTH * 72 - 12, size=SMALL_FONT):
    """The classes' key for a legend ``width`` points wide: (labels, columns). As many columns as the
    names allow, the rows balanced; each name fitted into its column (``figures.fit_name``: on two lines
    before it is shortened, and then after a whole word)."""
    K = len(names)
    extra = (HANDLE + HANDLE_PAD + COLUMN_GAP) * size
    widest = min(max(text_width(literal(n), size) for n in names), KEY_LABEL_LIMIT)
    columns = max(1, min(K, int((width + COLUMN_GAP * size) // (widest + extra))))
    if columns < K:  # at least four rows' worth per column before names are cut to fit more
        columns = max(columns, min(K, -(-K // 8)))
    rows = -(-K // columns)
    columns = -(-K // rows)
    room = (width + COLUMN_GAP * size) / columns - extra
    return [fit_name(n, min(room, KEY_LABEL_LIMIT), size) for n in names], columns


def _key_height(names, title=True):
    labels, columns = class_key(names)
    lines = max(label.count("\n") + 1 for label in labels)  # a row as tall as its tallest label
    rows = -(-len(names) // columns) * lines + (1 if title else 0)
    return line_height(SMALL_FONT, rows, 1.4) + 0.12


def _legend(fig, handles, names, title):
    labels, columns = class_key(names)
    fig.legend(handles, labels, loc="outside lower center", ncol=columns, title=title, handlelength=HANDLE,
               handletextpad=HANDLE_PAD, columnspacing=COLUMN_GAP, borderaxespad=0.2)


def _keyed(lines):
    """The key's labels of ``figures.class_lines``: the named classes and "the other N"."""
    return [label for _, _, label, _ in lines if label is not None]


def _diagonal(ax):
    ax.plot([0, 1], [0, 1], color=GUIDE, linestyle=":", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.grid(alpha=0.8)
    ax.set_axisbelow(True)


def _panels(path, names):
    return svg_figure(path, (WIDTH, PANEL + _key_height(names)), ncols=2)


def _model_points(per_model):
    """How many points the per-model reliability panel draws (bins of at least MIN_BIN outputs) and the largest
    mean output among them."""
    drawn = [model.mean_predicted[model.count >= MIN_BIN] for model in per_model]
    return {"model_points": int(sum(d.size for d in drawn)),
            "model_points_top": float(max((d.max() for d in drawn if d.size), default=0.0))}


def reliability(analysis, names, path):
    """Left: the top-label reliability diagram of the normalised scores (bars: share right in each
    of the equal-width bins, its number of images written in it; hatched: the gap up or down to the bin's
    mean score, the miscalibration). Right: each model's own sigmoid output against the share of its
    class; the key below. Only bins of at least ``MIN_BIN`` images are drawn, in both."""
    curve = analysis.confidence
    width = 1 / curve.n_bins
    models = class_lines(names, [m.expected_calibration_error for m in analysis.per_model], highest=True)
    kept = curve.count >= MIN_BIN
    with _panels(path, _keyed(models)) as (fig, (left, right)):
        left.bar(curve.bin_low[kept], curve.observed[kept], width=width, align="edge", color=ACCENT, alpha=0.85,
                 edgecolor="white", linewidth=0.5)
        left.bar(curve.bin_low[kept], (curve.mean_predicted - curve.observed)[kept], bottom=curve.observed[kept],
                 width=width, align="edge", color="none", edgecolor=WRONG, hatch="////", linewidth=0.5)
        for low, observed, count in zip(curve.bin_low[kept], curve.observed[kept], curve.count[kept]):
            inside = observed > 0.3  # white on the bar, else ink above its foot
            left.text(low + width / 2, 0.02, f"{count:,}", rotation=90, ha="center", va="bottom", fontsize=SMALL_FONT,
                      color="white" if inside else "#212121")
        _diagonal(left)
        left.set_xlabel("largest normalised score")
        left.set_ylabel("share of these predictions right")
        left.set_title(f"normalised scores: ECE {100 * analysis.expected_calibration_error:.1f} %")
        lines: list = []  # the key's handles
        for k, style, label, _ in models:
            model = analysis.per_model[k]
            enough = model.count >= MIN_BIN
            drawn = right.plot(model.mean_predicted[enough], model.observed[enough], marker="o", markersize=2.2,
                               **style)
            lines += drawn if label is not None else []
        _diagonal(right)
        right.set_xlabel("the model's sigmoid output")
        right.set_ylabel("share of these images of its class")
        right.set_title("each one-vs-all model's own output")
        _legend(fig, lines, _keyed(models), key_title("one-vs-all model (right)", names, "least calibrated"))


def roc_and_precision_recall(views, path):
    """Left: every model's ROC curve. Right: its precision-recall curve; the dotted level is the
    share of a class, the precision of a model that guesses. One key below both (the areas are in
    the report's table). ``views`` are the evaluation's (``render.views``)."""
    evaluation, analysis, names = views.evaluation, views.evaluation.analysis, views.names
    models = class_lines(names, [roc.auc for roc in evaluation.roc], highest=False)
    with _panels(path, _keyed(models)) as (fig, (left, right)):
        lines: list = []  # the key's handles
        for k, style, label, _ in models:
            style = {"linewidth": 1.0, **style}
            roc = evaluation.roc[k]
            drawn = left.plot(roc.false_positive_rate, roc.true_positive_rate, **style)
            lines += drawn if label is not None else []
            pr = analysis.precision_recall[k]
            right.step(pr.recall, pr.precision, where="post", **style)
        _diagonal(left)
        left.set_xlabel("false-positive rate")
        left.set_ylabel("true-positive rate (recall)")
        left.set_title("ROC")
        right.axhline(float(np.mean(views.class_shares)), color=GUIDE, linestyle=":", linewidth=0.8)
        right.set_xlim(0, 1)
        right.set_ylim(0, 1.01)
        right.set_aspect("equal")
        right.grid(alpha=0.8)
        right.set_axisbelow(True)
        right.set_xlabel("recall")
        right.set_ylabel("precision")
        right.set_title("precision-recall")
        _legend(fig, lines, _keyed(models), key_title("one-vs-all model", names, "lowest by ROC AUC"))


def digit(image, path, scale=DIGIT_SCALE):
    """One test digit as a small grayscale PNG, as the other figures show digits (light on dark),
    each pixel a ``scale`` x ``scale`` block."""
    from PIL import Image

    from mnist_ova.render.frames import digit_pixels

    grey = digit_pixels(image, np.shape(image)[0] * scale)
    Image.fromarray(grey, mode="L").save(path, format="PNG", optimize=True)


# -- what the report shows -------------------------------------------------------------------------


def shown_positions(evaluation, comparison=None, limit=GALLERY_LIMIT):
    """Test positions whose digit images the report shows: the first ``limit`` of every confusion
    cell, and of each list of flipped examples."""
    from mnist_ova.trainer.statistics import confusion_cells

    shown = [rows[:limit] for _, _, rows in confusion_cells(evaluation)]
    if comparison is not None and comparison.pairing is not None:
        shown += [comparison.pairing.right_to_wrong[:limit], comparison.pairing.wrong_to_right[:limit]]
    return np.unique(np.concatenate(shown)) if shown else np.zeros(0, dtype=np.int64)


def digit_asset(position):
    return f"digit_{int(position)}"


def _example(evaluation, position, rows):
    e, names = evaluation, evaluation.class_names
    p, t = int(e.predicted_index[position]), int(e.true_index[position])
    return {"asset": digit_asset(position), "row": int(rows[position]), "true_name": names[t],
            "predicted_name": names[p], "predicted_score": float(e.scores[position, p]),
            "true_score": float(e.scores[position, t])}


def context(views, *, test_rows, comparison=None, gates=(), baseline_label=None):
    """The template context of ``templates/analysis.html.j2``, from one evaluation's views
    (``render.views``), and optionally its comparison with a baseline (``trainer.statistics.Comparison``)
    and the gates' results. ``test_rows`` are the data rows of the test set, as ``predictions.csv`` names them."""
    from mnist_ova.trainer.statistics import ALPHA, confusion_cells, verdict

    e, a, names = views.evaluation, views.evaluation.analysis, views.names
    K = e.n_classes
    cells = confusion_cells(e)
    galleries = [{"id": f"confusion-{t}-{p}", "true_name": names[t], "predicted_name": names[p],
                  "count": int(rows.size), "share": views.share_of_class(rows.size, t),
                  "examples": [_example(e, i, test_rows) for i in rows[:GALLERY_LIMIT]],
                  "rank": rank} for rank, (t, p, rows) in enumerate(cells)]
    by_cell = {(g["true_name"], g["predicted_name"]): g["id"] for g in galleries}
    matrix = [[{"count": int(e.confusion[t, p]), "diagonal": t == p,
                "link": by_cell.get((names[t], names[p]))} for p in range(K)] for t in range(K)]
    per_model = views.classes
    overconfident = float(np.sum(a.confidence.count * (a.confidence.mean_predicted - a.confidence.observed))
                          / max(a.confidence.count.sum(), 1))
    lowest, highest = views.by_recall[0], views.by_recall[-1]
    result = {
        "n_test": int(e.true_index.size),
        "multiclass": views.headline["multiclass_accuracy"],
        "one_vs_all": views.headline["one_vs_all_accuracy"],
        "per_model": per_model,
        # Groups of tied classes (views.ranking); with every recall alike the two are one group.
        "lowest_recall": lowest, "highest_recall": highest,
        "recall_gap_real": lowest is not highest and groups_apart(lowest, highest),
        "calibration": {"brier": a.brier, "log_loss": a.log_loss, "ece": a.expected_calibration_error,
                        "bins": a.confidence.n_bins, "overconfident": overconfident,
                        "min_bin": MIN_BIN, "bin_margin": BIN_MARGIN,
                        # the per-model panel's points: on a small test set few bins reach MIN_BIN, and the
                        # caption says how few and how far up they go, not only the rule
                        **_model_points(a.per_model),
                        "telling_bin": telling_bin(a.confidence, over=overconfident > 0),
                        "chance_log_loss": float(np.log(K)), "mean_confidence": float(
                            np.sum(a.confidence.count * a.confidence.mean_predicted) / max(a.confidence.count.sum(), 1))},
        "matrix": matrix, "names": names,
        "galleries": galleries, "featured": galleries[:FEATURED], "folded": galleries[FEATURED:],
        "handful": HANDFUL, "featured_tie": _tie_at_cut(galleries, FEATURED),
        "pdf_matrix_limit": PDF_MATRIX_LIMIT, "pdf_confusion_rows": PDF_CONFUSION_ROWS,
        # Whether the results' confusion figure prints every cell's count (else shades alone): what the text says of it.
        "confusion_counts": confusion_shows_counts(e.confusion, names),
        "named_only": K > KEY_LIMIT,  # the charts' keys name a few classes, the rest are grey
        "comparison": None, "gates": [{"kind": g.kind, "metric": g.metric, "bound": g.bound, "value": g.value,
                                        "baseline": g.baseline, "limit": g.limit, "passed": g.passed,
                                        "decimals": g.decimals, "text": g.describe()} for g in gates],
    }
    if comparison is not None:
        c = comparison
        main = c.change("multiclass_accuracy")
        flips = None
        if c.pairing is not None:
            flips = {kind: {"count": int(positions.size),
                            "examples": [_example(e, i, test_rows) for i in positions[:GALLERY_LIMIT]]}
                     for kind, positions in (("right_to_wrong", c.pairing.right_to_wrong),
                                             ("wrong_to_right", c.pairing.wrong_to_right))}
        result["comparison"] = {
            "label": baseline_label, "changes": [_change(ch) for ch in c.changes],
            "recall_changes": [_change(ch) for ch in c.recall_changes],
            "verdict": verdict(main), "main": _change(main), "alpha": ALPHA,
            "p_value": main.p_value, "pairing_problem": c.pairing_problem, "flips": flips,
            "baseline_config": c.baseline_config, "differences": c.config_differences,
        }
    return result


def telling_bin(curve, *, over):
    """The drawn bin (at least ``MIN_BIN`` images) of a top-label reliability ``curve`` whose share right
    falls furthest below its mean score (``over``: the scores claim too much) or rises furthest above it:
    {low, high, observed, count}, or None when no drawn bin leans that way."""
    gap = (curve.mean_predicted - curve.observed) * (1 if over else -1)
    gap = np.where(curve.count >= MIN_BIN, gap, -np.inf)
    if not gap.size or gap.max() <= 0:
        return None
    i = int(np.argmax(gap))
    return {"low": float(curve.bin_low[i]), "high": float(curve.bin_low[i] + 1 / curve.n_bins),
            "observed": float(curve.observed[i]), "count": int(curve.count[i])}


def _tie_at_cut(cells, shown):
    """When the first ``shown`` of ``cells`` (most frequent first) end inside a tie of equal counts:
    {"count", "shown" (of the tie), "tied" (in all)}; else None."""
    if len(cells) <= shown or cells[shown - 1]["count"] != cells[shown]["count"]:
        return None
    count = cells[shown - 1]["count"]
    tied = sum(c["count"] == count for c in cells)
    return {"count": count, "shown": sum(c["count"] == count for c in cells[:shown]), "tied": tied}


def _change(change):
    from mnist_ova.trainer.statistics import verdict

    return {"name": change.name, "label": change.label, "before": change.before, "after": change.after,
            "change": change.change, "proportion": change.before_interval is not None,
            "share": change.before_interval is not None or change.name == "expected_calibration_error",
            "before_interval": interval(change.before_interval) if change.before_interval else None,
            "after_interval": interval(change.after_interval) if change.after_interval else None,
            "overlap": change.overlap, "better": change.better, "verdict": verdict(change),
            "p_value": change.p_value, "raw_p_value": change.raw_p_value}
