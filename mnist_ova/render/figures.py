"""The report's figures, drawn with matplotlib: arrays in, one SVG file out each.

Every figure is drawn at the size it is printed: at most ``TEXT_WIDTH`` inches wide (the page's text
column), its SVG says its size in points, and the report places it at that size, so 8 pt here is
8 pt on paper; nothing is smaller than ``MIN_FONT``. Words stay text (``svg.fonttype = "none"``), so
they can be selected and searched in the PDF. Only pixel images (digits, weights) are rasters,
resampled by nearest neighbour at ``IMAGE_PPI``. Labels are laid out by measuring them: names
that do not fit are wrapped, then shortened with an ellipsis (the report's class table is the key),
and axis labels turn to run vertically rather than collide.

Class names and other user text are shown literally: ``literal`` escapes the one character ($)
with which matplotlib would start typesetting mathematics. SVGs carry no time stamp and a fixed
hash salt, so the same numbers give the same bytes.
"""
import contextlib
import functools
from typing import Any

import numpy as np

from mnist_ova.render.palette import ACCENT, MUTED, OTHERS, RIGHT, WRONG, class_colour, class_dash, hex_colour

TEXT_WIDTH = 6.5  # inches: the page's text column is 174 mm (6.85 in); figures keep a little air
FONT = 8.0  # points: chart text
SMALL_FONT = 7.5  # tick labels, legends, panel titles
MIN_FONT = 7.0
IMAGE_PPI = 300
RIGHT, WRONG, ACCENT, MUTED = (hex_colour(c) for c in (RIGHT, WRONG, ACCENT, MUTED))

# name -> (mathtext, the equation read aloud: the image's alt text)
EQUATIONS = {
    "eq_standardise": (r"x' = \dfrac{x - \mu_x}{\sigma_x}",
                       "x prime equals x minus mu x, all over sigma x: each pixel minus the image's mean pixel "
                       "value, divided by the standard deviation of its pixels."),
    "eq_forward": (r"z = w^{\mathsf{T}}x + b, \qquad \hat{y} = \sigma(z) = \dfrac{1}{1 + e^{-z}}",
                   "z equals w transpose x plus b; y hat equals sigma of z, which is 1 over 1 plus e to the "
                   "minus z."),
    "eq_loss": (r"\mathcal{L}(\hat{y}, y) = -\left(y\,\log\hat{y} + (1 - y)\,\log(1 - \hat{y})\right)",
                "The loss L of y hat and y equals minus the sum of y times log y hat and 1 minus y times log of "
                "1 minus y hat."),
    "eq_cost": (r"J(w, b) = \dfrac{1}{m}\sum_{i=1}^{m}\mathcal{L}(\hat{y}^{(i)}, y^{(i)})",
                "The cost J of w and b equals 1 over m times the sum, over the training images i from 1 to m, "
                "of the loss of y hat i and y i."),
    "eq_gradients": (r"\dfrac{\partial J}{\partial w} = \dfrac{1}{m}X^{\mathsf{T}}(\hat{Y} - Y), \qquad "
                     r"\dfrac{\partial J}{\partial b} = \dfrac{1}{m}\sum_{i=1}^{m}(\hat{y}^{(i)} - y^{(i)})",
                     "The partial derivative of J with respect to w equals 1 over m times X transpose times the "
                     "difference of Y hat and Y; the partial derivative of J with respect to b equals 1 over m "
                     "times the sum over i of y hat i minus y i."),
    "eq_update": (r"w \leftarrow w - \alpha\dfrac{\partial J}{\partial w}, \qquad "
                  r"b \leftarrow b - \alpha\dfrac{\partial J}{\partial b}",
                  "w becomes w minus alpha times the partial derivative of J with respect to w; b becomes b minus "
                  "alpha times the partial derivative of J with respect to b."),
    "eq_stop": (r"\mathrm{RMSE} = \sqrt{\dfrac{1}{m}\sum_{i=1}^{m}\left(\mathrm{round}(\hat{y}^{(i)}) - "
                r"y^{(i)}\right)^{2}} \leq \epsilon",
                "The RMSE, the square root of 1 over m times the sum over i of the squared difference between "
                "y hat i rounded and y i, is at most epsilon."),
    "eq_predict": (r"\hat{k} = \arg\max_{k}\,\hat{y}_{k}, \qquad p_{k} = \dfrac{\hat{y}_{k}}{\sum_{j}\hat{y}_{j}}",
                   "k hat is the k for which y hat k is largest; p k equals y hat k divided by the sum over j of "
                   "y hat j."),
}

RC = {
    "font.family": "DejaVu Sans", "font.size": FONT, "axes.titlesize": FONT, "axes.labelsize": FONT,
    "xtick.labelsize": SMALL_FONT, "ytick.labelsize": SMALL_FONT, "legend.fontsize": SMALL_FONT,
    "legend.title_fontsize": SMALL_FONT, "axes.spines.top": False, "axes.spines.right": False,
    "axes.edgecolor": "#616161", "axes.linewidth": 0.6, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
    "grid.color": "#e0e0e0", "grid.linewidth": 0.5, "legend.frameon": False, "lines.linewidth": 1.2,
    "svg.fonttype": "none", "svg.hashsalt": "mnist-ova", "svg.image_inline": True,
    "image.interpolation": "nearest", "figure.dpi": 72, "savefig.dpi": IMAGE_PPI,
    "axes.formatter.use_mathtext": False, "figure.constrained_layout.use": True,
    "figure.constrained_layout.h_pad": 0.03, "figure.constrained_layout.w_pad": 0.03,
}


def literal(text):
    """``text`` as matplotlib should show it, character for character (no mathtext)."""
    return str(text).replace("$", r"\$")


@functools.lru_cache(maxsize=1)
def _measurer():
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(8, 8, 72)  # at 72 dpi a pixel is a point


@functools.lru_cache(maxsize=8192)
def text_width(text, size=FONT, weight="normal"):
    """Width of ``text`` in points, set in the figures' font at ``size`` points."""
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(family="DejaVu Sans", size=size, weight=weight)
    return _measurer().get_text_width_height_descent(str(text), prop, ismath=False)[0]


def ellipsize(text, width, size=FONT):
    """``text``, cut with an ellipsis where it is wider than ``width`` points."""
    text = str(text)
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def break_words(text, width, measure, max_lines=2):
    """``text`` as at most ``max_lines`` lines, each at most ``width`` wide by ``measure`` (a function of a
    string), broken at spaces and, inside a word too wide for a line, after a '/': never inside a word nor
    after its hyphen ("T-shirt/" "top", never "T-" "shirt/top"). None when it does not fit so."""
    import re

    pieces = []  # (what joins it to the piece before, the piece)
    for word in str(text).split():
        parts = re.split(r"(?<=/)(?=.)", word) if measure(word) > width else [word]
        pieces += [(" " if i == 0 else "", part) for i, part in enumerate(parts)]
    lines: list[str] = []
    for glue, piece in pieces:
        if lines and measure(lines[-1] + glue + piece) <= width:
            lines[-1] += glue + piece
        else:
            lines.append(piece)
    return lines if len(lines) <= max_lines and all(measure(line) <= width for line in lines) else None


def fit_name(text, width, size=SMALL_FONT, max_lines=2):
    """A name for a label ``width`` points wide: on one line, else broken into ``max_lines`` by
    ``break_words``; only a name that cannot fit so is shortened, with an ellipsis after a whole word (inside
    one only when its first word alone is wider than the label)."""
    text = literal(text)

    def broken(words):
        lines = break_words(words, width, lambda t: text_width(t, size), max_lines)
        return "\n".join(lines) if lines else None

    words = text.split()
    shortened = (broken(" ".join(words[:n]) + "…") for n in range(len(words) - 1, 0, -1))
    return broken(text) or next((name for name in shortened if name), None) or ellipsize(text, width, size)


def label_lines(pitch, size=SMALL_FONT):
    """How many lines of ``size`` a label may take in a row ``pitch`` points high (1 or 2)."""
    return 2 if pitch >= 2 * size * 1.2 else 1


def wrap(text, width, size=FONT, max_lines=2):
    """``text`` broken at its newlines, at spaces (and inside a long word after '/') into lines
    at most ``width`` points wide; a word wider than a line, or the rest past ``max_lines``, ends in an ellipsis."""
    import re

    lines = []
    for part in str(text).split("\n"):
        current = ""
        words = []
        for word in re.split(r"(?<= )", part):  # a word too wide for a line may break after / (not after -)
            words += re.split(r"(?<=/)(?=.)", word) if text_width(word.rstrip(), size) > width else [word]
        for word in (w for w in words if w):
            if not current or text_width((current + word).rstrip(), size) <= width:
                current += word
            else:
                lines.append(current.rstrip())
                current = word
        lines.append(current.rstrip())
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and text_width(last + "…", size) > width:
            last = last[:-1]
        lines = lines[:max_lines - 1] + [last.rstrip() + "…"]
    return "\n".join(ellipsize(line, width, size) for line in lines)


def line_height(size, lines=1, spacing=1.2):
    """Inches that ``lines`` lines of text at ``size`` points take."""
    return lines * size * spacing / 72


@contextlib.contextmanager
def svg_figure(path, figsize, *, layout=True, **subplots):
    """A figure of exactly ``figsize`` inches saved as SVG to ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    settings: dict[str, Any] = dict(RC, **{"figure.constrained_layout.use": layout})
    with matplotlib.rc_context(settings):  # type: ignore[arg-type]  # matplotlib types its keys as literals
        fig, axes = plt.subplots(figsize=figsize, **subplots) if layout else (plt.figure(figsize=figsize), None)
        try:
            yield fig, axes
            fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            plt.close(fig)


def _label_column(names, size=SMALL_FONT, limit=1.9, pitch=0.0):
    """Names for a y axis of rows ``pitch`` points apart: each fitted into ``limit`` inches (``fit_name``, on
    two lines where the rows leave room); returns (labels, width in inches)."""
    labels = [fit_name(n, limit * 72, size, label_lines(pitch, size)) for n in names]
    return labels, max(text_width(line, size) for label in labels for line in label.split("\n")) / 72


# inches: a figure fits on a page of the PDF (its text is 10 in tall) with its caption and its chapter's heading
# and lead sentence; style.css scales a taller one (another module's) down to it
MAX_HEIGHT = 7.5


def _rows_height(K, per_row=0.2, extra=0.9):
    """The height of a chart with a row per class: ``per_row`` inches each, closer together past the
    number that fits in ``MAX_HEIGHT`` (at 62 classes a row is still 7.7 pt, over the 7.5 pt labels)."""
    return max(2.2, min(K * per_row + extra, MAX_HEIGHT))


def _row_pitch(K, extra=0.9):
    """Points from one class's row to the next in a chart of ``_rows_height``."""
    return (_rows_height(K, extra=extra) - extra) * 72 / K


def accuracy(train_accuracy, test_accuracy, names, path, *, always_no=None):
    """Binary accuracy of every one-vs-all model as a dot plot: one row per class, test (filled) and
    train (open) dots, and what answering "not this class" every time would score (grey bar). The
    values differ in the second decimal, so the axis spans only their range, and says so."""
    K = len(names)
    labels, _ = _label_column(names, pitch=_row_pitch(K))
    y = np.arange(K)
    with svg_figure(path, (TEXT_WIDTH, _rows_height(K))) as (fig, ax):
        if always_no is not None:
            ax.scatter(always_no, y, marker="|", s=90, color="#9e9e9e", linewidths=1.4,
                       label='always "not this class"', zorder=2)
        ax.scatter(train_accuracy, y, marker="o", s=26, facecolors="white", edgecolors=MUTED, linewidths=1.0,
                   label="training set", zorder=3)
        ax.scatter(test_accuracy, y, marker="o", s=22, color=ACCENT, label="test set", zorder=4)
        values = np.concatenate([np.asarray(train_accuracy), np.asarray(test_accuracy),
                                 [] if always_no is None else np.asarray(always_no)])
        low = max(0.0, float(values.min()) - 0.01)
        ax.set_xlim(low, 1.0 + (1.0 - low) * 0.02)
        ax.set_yticks(y, labels)
        ax.set_ylim(K - 0.4, -0.6)
        ax.grid(axis="x")
        ax.set_axisbelow(True)
        ax.xaxis.set_major_formatter(percent_formatter())
        ax.set_xlabel(f"binary accuracy (axis from {100 * low:.0f} %, not from zero)")
        ax.set_ylabel("one-vs-all model")
        right = ax.secondary_yaxis("right")
        right.set_yticks(y, [f"{100 * v:.1f} %" for v in test_accuracy])
        right.tick_params(length=0, labelcolor=ACCENT)
        right.spines["right"].set_visible(False)
        right.set_ylabel("test", color=ACCENT, rotation=0, ha="left", va="bottom")
        right.yaxis.set_label_coords(1.0, 1.0)
        fig.legend(loc="outside upper center", ncol=3, handletextpad=0.3, columnspacing=1.5)


def percent_formatter(decimals=0):
    import matplotlib.ticker

    return matplotlib.ticker.FuncFormatter(lambda v, _: f"{100 * v:.{decimals}f} %")


def _legend_labels(labels, limit=1.7, size=SMALL_FONT):
    return [fit_name(label, limit * 72, size) for label in labels]


KEY_LIMIT = 12  # past this many classes a key would list dozens of names: it names a few instead
NAMED = 3  # ... the classes a chart names past KEY_LIMIT
OTHERS = hex_colour(OTHERS)  # the unnamed classes' lines


def named_classes(values, *, highest):
    """The ``NAMED`` classes a chart of more than ``KEY_LIMIT`` names: those with the highest (``highest``)
    or lowest ``values``, in that order (a tie in label order)."""
    values = np.asarray(values, dtype=np.float64)
    return [int(k) for k in np.argsort(-values if highest else values, kind="stable")[:NAMED]]


def class_lines(names, values, *, highest):
    """Each class's line in a chart with a key: (class index, line style, key label or None, whether the
    label is the class's own name), in drawing order. Up to ``KEY_LIMIT`` classes, each in its own
    colour and named. Past it, only the ``NAMED`` classes with the highest (``highest``) or lowest
    ``values`` keep their colour and line style (the class's own, as in every chart: by its rank here,
    navy was model 8 in one figure and model 9 in the next) and a name, drawn last so they stay on top;
    the others are thin grey lines under one entry, "the other N"."""
    K = len(names)
    if K <= KEY_LIMIT:
        return [(k, {"color": class_colour(k), "linestyle": class_dash(k)}, names[k], True) for k in range(K)]
    chosen = named_classes(values, highest=highest)
    named = [(k, {"color": class_colour(k), "linestyle": class_dash(k), "linewidth": 1.3, "zorder": 3}, names[k], True)
             for k in chosen]
    grey = {"color": OTHERS, "linewidth": 0.6, "zorder": 2}
    others = [(k, grey, None if i else f"the other {K - NAMED}", False)
              for i, k in enumerate(k for k in range(K) if k not in chosen)]
    return named + others


def key_title(title, names, measure):
    """A key's title, saying which classes it names when it cannot name them all."""
    return title if len(names) <= KEY_LIMIT else f"{title}: the {NAMED} {measure}"


LOG_TICKS = 3  # labels on a log axis, at least


def log_ticks(low, high):
    """The labelled values of a log axis from ``low`` to ``high`` (both > 0): the coarsest of 1, 2, 5 or every
    digit times a power of ten that gives ``LOG_TICKS`` or more inside the range, else (a range narrower than
    one step of those) round values evenly spaced in it."""
    import matplotlib.ticker

    decades = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
    for subs in ((1,), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [float(f"{s * 10.0 ** e:.3g}") for e in decades for s in subs]
        ticks = [t for t in ticks if low <= t <= high]
        if len(ticks) >= LOG_TICKS:
            return ticks
    even = matplotlib.ticker.MaxNLocator(nbins=LOG_TICKS + 1, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
    return [float(f"{t:.3g}") for t in even if low <= t <= high]


def cost_curves(histories, names, path):
    """The cost of every model at every iteration, in one figure; one colour per class (past
    ``KEY_LIMIT`` classes, the three that ended highest), the key beside the plot."""
    import matplotlib.ticker

    final = [history[-1] for history in histories]
    lines = class_lines(_legend_labels(names), final, highest=True)
    entries = sum(label is not None for _, _, label, _ in lines)
    with svg_figure(path, (TEXT_WIDTH, max(3.0, line_height(SMALL_FONT, entries, 1.45) + 0.9))) as (fig, ax):
        for k, style, label, _ in lines:
            ax.plot(np.arange(1, len(histories[k]) + 1), histories[k], label=label, **style)
        ax.set_xlabel("iteration")
        ax.set_ylabel("cross-entropy cost J (log scale)")
        ax.set_yscale("log")
        # Labels enough to read a curve off: with the decades alone, costs from 0.02 to 0.26 had one, "0.1".
        low, high = ax.get_ylim()
        ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(log_ticks(low, high)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.3g}"))
        ax.yaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs="all"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_ylim(low, high)
        ax.grid(alpha=0.8)
        fig.legend(loc="outside right upper", title=key_title("model", names, "highest at the end"),
                   handlelength=1.8)


def _confusion_layout(counts, names):
    """(axis labels, side of the matrix in inches, type size of the counts or None when they would
    print under 7 pt)."""
    K = len(names)
    largest = 3.0 if K <= 12 else 4.6  # inches: the matrix with its labels and caption fits half a page
    # The rows' pitch with the widest label column, the least it can be: a label that takes two lines fits.
    labels, label_width = _label_column(names, limit=1.6, pitch=min(TEXT_WIDTH - 1.6 - 1.35, largest) * 72 / K)
    side = min(TEXT_WIDTH - label_width - 1.35, largest)
    cell = side * 72 / K  # points
    size = next((s for s in (8.0, 7.5, 7.0)
                 if text_width(str(np.max(counts)), s) <= cell - 3 and s * 1.2 <= cell), None)
    return labels, side, size


def confusion_shows_counts(counts, names):
    """Whether ``confusion`` prints each cell's count (else its shades alone)."""
    return _confusion_layout(counts, names)[2] is not None


def confusion(counts, normalised, names, path):
    """The confusion matrix in one panel: each cell's shade is its share of the true class (its
    row), its number the count. Numbers are left out when they would print under 7 pt."""
    counts = np.asarray(counts)
    normalised = np.asarray(normalised)
    K = len(names)
    labels, side, size = _confusion_layout(counts, names)
    cell = side * 72 / K  # points
    widest = max(text_width(line, SMALL_FONT) for label in labels for line in label.split("\n"))
    lines = max(label.count("\n") + 1 for label in labels)
    vertical = widest > cell - 2
    below = (widest / 72 if vertical else line_height(SMALL_FONT, lines)) + 0.45
    with svg_figure(path, (TEXT_WIDTH, side + below + 0.35)) as (fig, ax):
        image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        if size:
            for (i, j), v in np.ndenumerate(counts):
                ax.text(j, i, f"{v:d}", ha="center", va="center", fontsize=size,
                        color="white" if normalised[i, j] > 0.5 else "#212121")
        ax.set_xticks(range(K), labels, rotation=90 if vertical else 0)
        ax.set_yticks(range(K), labels)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02, shrink=0.8)
        bar.set_label("share of the true class's test images")
        bar.ax.yaxis.set_major_formatter(percent_formatter())
        bar.outline.set_visible(False)


def per_class(precision, recall, f1, names, path):
    """Precision, recall and F1 per class as three dot plots side by side on one shared axis."""
    K = len(names)
    labels, _ = _label_column(names, pitch=_row_pitch(K))
    y = np.arange(K)
    values = np.concatenate([precision, recall, f1])
    low = min(0.9, max(0.0, float(np.floor(values.min() * 20) / 20)))
    high = 1.0 + (1 - low) * 0.03
    with svg_figure(path, (TEXT_WIDTH, _rows_height(K)), ncols=3, sharey=True) as (fig, axes):
        for ax, scores, title in zip(axes, (precision, recall, f1), ("precision", "recall", "F1")):
            # a guide across the row, not a stem from the axis's cut start (a stem reads as a bar's length)
            ax.hlines(y, low, high, color="#eceff1", linewidth=1.0, zorder=1)
            ax.scatter(scores, y, s=20, color=ACCENT, zorder=3)
            ax.set_title(title)
            ax.set_xlim(low, high)
            ax.xaxis.set_major_locator(_few_ticks())
            ax.xaxis.set_major_formatter(percent_formatter())
            ax.grid(axis="x")
            ax.set_axisbelow(True)
        axes[0].set_yticks(y, labels)
        axes[0].set_ylim(K - 0.4, -0.6)
        axes[0].set_ylabel("class")
        fig.supxlabel(f"score (axes from {100 * low:.0f} %, not from zero)", fontsize=FONT)


def _few_ticks():
    import matplotlib.ticker

    return matplotlib.ticker.MaxNLocator(nbins=3, min_n_ticks=2)


def roc(curves, names, path):
    """One ROC curve per one-vs-all model, its AUC in the key beside the plot (past ``KEY_LIMIT``
    classes, the three weakest by AUC named, the others grey)."""
    lines = class_lines(_legend_labels(names, limit=1.4), [auc for _, _, auc in curves], highest=False)
    entries = sum(label is not None for _, _, label, _ in lines)
    side = 3.3
    with svg_figure(path, (TEXT_WIDTH, max(side + 0.5, line_height(SMALL_FONT, entries, 1.45) + 0.8))) as (fig, ax):
        for k, style, label, own in lines:
            fpr, tpr, auc = curves[k]
            ax.plot(fpr, tpr, label=f"{label}  {auc:.4f}" if own else label, **style)
        ax.plot([0, 1], [0, 1], color="#9e9e9e", linestyle=":", linewidth=0.8)
        ax.set_xlabel("false-positive rate")
        ax.set_ylabel("true-positive rate")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_aspect("equal")
        ax.grid()
        fig.legend(loc="outside right upper", title=key_title("model  AUC", names, "lowest"), handlelength=1.8)


def image_grid(images, titles, path, *, columns=6, colors=None, max_side=1.0, title_lines=2,
               cmap="gray", limits=None, colorbar_label=None):
    """A grid of pixel images, each with a title above it that is wrapped to its own column, so no
    two titles can meet. ``colors`` colours each title; ``limits`` fixes the colour range."""
    n = len(images)
    columns = max(1, min(columns, n))
    rows = max(1, -(-n // columns))
    cell = TEXT_WIDTH / columns
    titles = [wrap(literal(t), (cell - 0.06) * 72, SMALL_FONT, title_lines) for t in titles]
    lines = max((t.count("\n") + 1 for t in titles), default=1)
    title_h = line_height(SMALL_FONT, lines) + 0.05
    bar_h = 0.1 + line_height(SMALL_FONT, 2) + 0.12 + 0.08 if colorbar_label else 0
    # Many rows take smaller images, so that the grid stays within MAX_HEIGHT (its words keep their size).
    side = min(cell - 0.12, max_side, (MAX_HEIGHT - bar_h) / rows - title_h - 0.1)
    row_h = side + title_h + 0.1
    height = rows * row_h + bar_h
    with svg_figure(path, (columns * cell, height), layout=False) as (fig, _):
        for i, (image, title) in enumerate(zip(images, titles)):
            r, c = divmod(i, columns)
            top = height - r * row_h
            x = c * cell + (cell - side) / 2
            ax = fig.add_axes([x / (columns * cell), (top - title_h - side) / height,
                               side / (columns * cell), side / height])
            shown = ax.imshow(image, cmap=cmap, interpolation="nearest",
                              **({"vmin": limits[0], "vmax": limits[1]} if limits else {}))
            ax.set_axis_off()
            # One text per line at a fixed pitch: matplotlib spaces the lines of one text by their
            # own glyphs, so a line with "$" or "(" would sit closer to the next.
            for j, line in enumerate(title.split("\n")):
                baseline = top - 0.03 - SMALL_FONT * (0.95 + 1.2 * j) / 72
                fig.text((c + 0.5) / columns, baseline / height, line, ha="center", va="baseline",
                         fontsize=SMALL_FONT, color=colors[i] if colors else "#212121")
        if colorbar_label:
            # the bar, then its tick labels and its title below it, inside the figure
            bar = fig.add_axes([0.25, (bar_h - 0.1 - 0.04) / height, 0.5, 0.1 / height])
            colorbar = fig.colorbar(shown, cax=bar, orientation="horizontal")
            colorbar.set_label(colorbar_label, fontsize=SMALL_FONT)
            colorbar.ax.tick_params(labelsize=SMALL_FONT)
            # matplotlib's default puts 9 labels on a bar of +-0.1 ("-0.100" to "0.100", 1.5 pt apart): at most 5
            from matplotlib.ticker import MaxNLocator
            colorbar.ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=limits is not None))
            colorbar.outline.set_visible(False)


def weights_grid(coef, image_shape, names, path):
    """Each model's learned weights (``coef`` (K, pixels), one row per model) as an image; diverging
    colours with zero at the centre."""
    W = np.asarray(coef, dtype=np.float64)
    K = W.shape[0]
    limit = float(np.abs(W).max()) or 1.0
    columns = K if K <= 6 else (5 if K <= 10 else 7)
    image_grid([W[k].reshape(image_shape) for k in range(K)], list(names), path, columns=columns,
               max_side=1.1, cmap="RdBu_r", limits=(-limit, limit),
               colorbar_label="weight (red: a brighter pixel raises the score, blue: lowers it)")


# How the report typesets mathematics: matplotlib mathtext in Computer Modern, glyphs as outlines
# (the same look without the fonts installed), no time stamp, a fixed hash salt.
MATH_RC = {"mathtext.fontset": "cm", "svg.fonttype": "path", "svg.hashsalt": "mnist-ova", "text.color": "#212121"}
EQUATION_SIZE = 11.5  # points: a displayed equation


def _typesetting():
    """matplotlib set to typeset mathematics as ``MATH_RC`` says, for the duration of a ``with``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    return matplotlib.rc_context(MATH_RC)  # type: ignore[arg-type]  # matplotlib types its keys as literals


def equation(tex, path, *, fontsize=EQUATION_SIZE):
    """One typeset equation (matplotlib mathtext, Computer Modern) as a tight SVG; its glyphs are
    outlines, so it looks the same without the fonts installed (the alt text carries its words)."""
    import matplotlib.pyplot as plt

    with _typesetting():
        fig = plt.figure(figsize=(0.01, 0.01))
        try:
            fig.text(0, 0, f"${tex}$", fontsize=fontsize)
            fig.savefig(path, format="svg", bbox_inches="tight", pad_inches=0.02,
                        metadata={"Date": None, "Creator": None})
        finally:
            plt.close(fig)


def math_svg(tex, *, fontsize):
    """``tex`` typeset as ``equation`` does, for placing within a line of text: (SVG bytes, width,
    height, depth), in points; the depth is how far the formula reaches below the baseline. A
    formula mathtext cannot read raises ValueError with its reason."""
    import io

    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    with _typesetting():
        prop = FontProperties(size=fontsize)
        # Measured at 720 dpi, so that the sizes are exact to a tenth of a point (mathtext rounds to pixels).
        width, height, depth = (value / 10 for value in MathTextParser("path").parse(f"${tex}$", dpi=720,
                                                                                      prop=prop)[:3])
        # A figure exactly the formula's size, the baseline at its depth (as mathtext.math_to_image).
        fig = Figure(figsize=(width / 72, height / 72))
        fig.text(0, depth / height if height else 0.0, f"${tex}$", fontproperties=prop)  # spacing alone: no height
        buffer = io.BytesIO()
        fig.savefig(buffer, format="svg", dpi=72, metadata={"Date": None, "Creator": None})
    return buffer.getvalue(), width, height, depth


SAMPLES = 12  # training digits the report shows first: the first rows of the training set


def chart_figures(views, paths):
    """The report's charts of one evaluation's views (``render.views``) and its equations: ``paths`` maps
    figure names (those of ``EQUATIONS`` and the report's ``fig_*``) to files. With ``image_figures``,
    every figure of the report's main part; the two can be drawn at once, in two processes."""
    names, e = views.evaluation.class_names, views.evaluation
    accuracy(e.train_accuracy, e.test_accuracy, names, paths["fig_accuracy"], always_no=1 - views.class_shares)
    cost_curves(e.cost_history, names, paths["fig_cost"])
    confusion(e.confusion, e.confusion_normalised, names, paths["fig_confusion"])
    per_class(e.precision, e.recall, e.f1, names, paths["fig_per_class"])
    roc([(c.false_positive_rate, c.true_positive_rate, c.auc) for c in e.roc], names, paths["fig_roc"])
    for name, (tex, _) in EQUATIONS.items():
        equation(tex, paths[name])


def image_figures(evaluation, *, weights, images, class_index, train_rows, test_images, example_rows, paths):
    """The report's figures of images: the weights, training digits and test digits. ``images`` are the
    data set's digits (N, height, width), ``class_index`` their classes and ``train_rows`` the training
    rows (the first ``SAMPLES`` are shown); ``example_rows`` are the positions in ``test_images`` the
    video shows."""
    names, true, predicted = evaluation.class_names, evaluation.true_index, evaluation.predicted_index
    weights_grid(weights, images.shape[1:], names, paths["fig_weights"])
    sample = train_rows[:SAMPLES]
    image_grid(images[sample], [names[k] for k in class_index[sample]], paths["fig_samples"], max_side=0.85)
    shown = example_rows[:6]
    image_grid(test_images[shown], [f"true {names[true[i]]},\npredicted {names[predicted[i]]}" for i in shown],
               paths["fig_examples"], columns=6, title_lines=3,
               colors=[RIGHT if true[i] == predicted[i] else WRONG for i in shown])
    wrong = evaluation.misclassified[:18]
    if wrong.size:
        image_grid(test_images[wrong], [f"{names[true[i]]}\nread as {names[predicted[i]]}\n"
                                        f"score {100 * evaluation.scores[i, predicted[i]]:.0f} %" for i in wrong],
                   paths["fig_misclassified"], title_lines=4, colors=[WRONG] * wrong.size)
