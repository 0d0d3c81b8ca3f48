"""The report's figure "How the models learned" (``learning.svg``): every model's weights at up to five
iterations of training (as many rows as fit a page), spaced evenly on a log scale from the first snapshot
to the last, each row with the iteration, the models' mean cost and the test accuracy then; and what the
report says about it.

Each row's weights are one mosaic image (the models side by side) on the film's diverging scale, a
row's own scale (the weights grow as training goes on), so one axes per row, not one per model.
"""
import dataclasses
import re

import numpy as np

from mnist_ova.render import figures
from mnist_ova.render.training_film import diverging_rgb, weight_limit

ROWS = 5  # iterations shown
MAX_COLUMNS = 12  # models per line of a row; more classes wrap onto further lines
GAP = 2  # image pixels between two models in a mosaic


LABEL_WIDTH = 1.25  # inches for the row labels


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where ``learning_figure`` puts things, in inches: ``columns`` models to a line of ``lines``, each model a
    ``tile`` wide with its name (``names``, each fitted to the tile on one or two lines; ``names_h`` their
    height), ``inch`` per image pixel. With one line a row the names head the columns once (``header_h``, the
    figure's top); with more, every line is named (``line_names_h`` above each), so each tile says whose it
    is. A row of the figure (one snapshot) is ``row_h`` tall, and ``rows`` of them fit in figures.MAX_HEIGHT
    with the heads (at most ROWS, at least 2), so print never shrinks the figure's words below their size."""
    names: tuple
    columns: int
    lines: int
    tile: float
    inch: float
    names_h: float
    header_h: float
    line_names_h: float
    line_h: float
    row_h: float
    rows: int


def layout(names, image_shape):
    K = len(names)
    most = min(K, MAX_COLUMNS)
    # As many models to a line as leave each tile room for the widest word of a name, so that a name breaks
    # between words (or after a '/'), never inside one; more where that would make two snapshots taller than
    # a page (a name then gives way, shortened by figures.fit_name, rather than the figure's type size).
    widest = max(figures.text_width(word, figures.SMALL_FONT) for name in names
                 for word in re.split(r"\s+|(?<=/)", figures.literal(name)))
    fewest = max(1, min(most, int((figures.TEXT_WIDTH - LABEL_WIDTH) * 72 // (widest + 2))))
    for columns in range(fewest, most + 1):
        fit = _layout(names, image_shape, columns)
        if fit.header_h + 2 * fit.row_h <= figures.MAX_HEIGHT:
            return fit
    return fit


def _layout(names, image_shape, columns):
    h, w = image_shape
    lines = -(-len(names) // columns)
    tile = min((figures.TEXT_WIDTH - LABEL_WIDTH) / columns, 0.62)  # inches per model, its gap included
    inch = tile / (w + GAP)
    fitted = tuple(figures.fit_name(name, tile * 72 - 2, figures.SMALL_FONT, 2) for name in names)
    names_h = figures.line_height(figures.SMALL_FONT, max(name.count("\n") + 1 for name in fitted)) + 0.04
    # One line a row: the same models in every row, named once above the first, as a table's column heads
    # (names on every row took a fifth of the figure's height at 10 classes).
    header_h, line_names_h = (names_h, 0.0) if lines == 1 else (0.0, names_h)
    line_h = line_names_h + (h + GAP) * inch  # a line of models, with their names above it where it has them
    row_h = max(lines * line_h, line_names_h + figures.line_height(figures.SMALL_FONT, 4)) + 0.12
    rows = int(min(ROWS, max(2, (figures.MAX_HEIGHT - header_h) // row_h)))
    return Layout(fitted, columns, lines, tile, inch, names_h, header_h, line_names_h, line_h, row_h, rows)


def square(pixels):
    """The (side, side) shape of ``pixels`` pixels: the image shape when none is given."""
    side = int(round(np.sqrt(pixels)))
    return side, side


def picks(iterations, rows=ROWS):
    """Indices of up to ``rows`` snapshots spaced evenly on a log scale, the first and the last included."""
    iterations = np.asarray(iterations, dtype=np.float64)
    targets = np.geomspace(max(iterations[0], 1), max(iterations[-1], 1), rows)
    chosen = {int(np.argmin(np.abs(np.log(np.maximum(iterations, 1)) - np.log(t)))) for t in targets}
    return sorted(chosen | {0, len(iterations) - 1})


def mosaic(coef, image_shape, columns, limit):
    """The weights ``coef`` (K, pixels) side by side, ``columns`` to a line, as one RGB image; white between."""
    h, w = image_shape
    K = coef.shape[0]
    lines = -(-K // columns)
    image = np.full((lines * (h + GAP) - GAP, columns * (w + GAP) - GAP, 3), 255, dtype=np.uint8)
    for k in range(K):
        r, c = divmod(k, columns)
        image[r * (h + GAP):r * (h + GAP) + h, c * (w + GAP):c * (w + GAP) + w] = \
            diverging_rgb(coef[k].reshape(h, w), limit)
    return image


def row_label(shots, s):
    lines = [f"iteration {int(shots.iterations[s]):,}", f"mean cost {np.nanmean(shots.cost[s]):.3f}"]
    if shots.test_multiclass is not None:
        lines.append(f"test accuracy {100 * shots.test_multiclass[s]:.1f} %")
    lines.append(f"scale ±{weight_limit(shots.coef[s]):.2g}")
    return lines


def learning_figure(shots, names, image_shape, path):
    """Write ``learning.svg``: rows of the models' weights at the snapshots ``picks`` chooses."""
    K = shots.coef.shape[1]
    fit = layout(names, image_shape)
    rows = picks(shots.iterations, fit.rows)
    columns, lines, tile, inch, names_h, line_h, row_h = (fit.columns, fit.lines, fit.tile, fit.inch, fit.names_h,
                                                          fit.line_h, fit.row_h)
    label_w = LABEL_WIDTH
    width = label_w + columns * tile
    height = fit.header_h + len(rows) * row_h
    with figures.svg_figure(path, (width, height), layout=False) as (fig, _):
        for i, s in enumerate(rows):
            top = height - fit.header_h - i * row_h
            limit = weight_limit(shots.coef[s])  # one scale for the row, all its lines
            for line in range(lines):
                first, stop = line * columns, min(K, (line + 1) * columns)
                line_top = top - line * line_h
                image = mosaic(shots.coef[s][first:stop], image_shape, columns, limit)
                image_h, image_w = image.shape[0] * inch, image.shape[1] * inch
                image_top = line_top - fit.line_names_h
                ax = fig.add_axes([label_w / width, (image_top - image_h) / height, image_w / width, image_h / height])
                ax.imshow(image, interpolation="nearest", aspect="auto")
                ax.set_axis_off()
                if fit.line_names_h == 0 and i > 0:
                    continue  # named once, above the first row
                for k in range(first, stop):
                    for j, part in enumerate(reversed(fit.names[k].split("\n"))):  # each line placed on its own
                        fig.text((label_w + (k - first + 0.5) * tile) / width,
                                 (image_top + 0.04 + figures.line_height(figures.SMALL_FONT, j)) / height,
                                 part, ha="center", va="baseline", fontsize=figures.SMALL_FONT, color="#212121")
            for j, text in enumerate(row_label(shots, s)):
                baseline = top - fit.line_names_h - figures.SMALL_FONT * (0.95 + 1.2 * j) / 72
                fig.text(0.02 / width, baseline / height, text, ha="left", va="baseline",
                         fontsize=figures.SMALL_FONT, color="#212121" if j == 0 else figures.MUTED,
                         weight="bold" if j == 0 else "normal")


def spacing(iterations):
    """How the snapshots' ``iterations`` are spaced, for the report to say: ("every", step) when evenly;
    ("log", None) when, from iteration 20 on (below it rounding to whole iterations bends any scale), they
    span a factor of 4 or more and lie within one iteration or 5 % of a geometric sequence between their
    ends; else (None, None)."""
    iterations = np.asarray(iterations, dtype=np.int64)
    steps = np.diff(iterations)
    if steps.size and np.all(steps == steps[0]):
        return "every", int(steps[0])
    past = iterations[iterations >= 20].astype(np.float64)
    if past.size >= 3 and past[-1] >= 4 * past[0]:
        ideal = np.geomspace(past[0], past[-1], past.size)
        if np.all(np.abs(past - ideal) <= np.maximum(1, 0.05 * ideal)):
            return "log", None
    return None, None


def kept(iterations):
    """When the snapshots were taken, in words that cannot be read as "at iteration N" (finding 12 of the
    review: "at 100 iterations, from 1 to 300" read so): how many times, then the leading evenly spaced run
    ("at every iteration from 1 to 36"), then the rest as a count and the span of its gaps, or the whole as
    a log scale where ``spacing`` finds one."""
    iterations = [int(i) for i in iterations]
    n = len(iterations)
    times = "once" if n == 1 else "twice" if n == 2 else f"{n:,} times"
    if n <= 2:
        return f"{times}, at iteration{'s' if n == 2 else ''} {' and '.join(f'{i:,}' for i in iterations)}"
    spaced, _ = spacing(iterations)
    if spaced == "log":
        return f"{times}, at iterations spaced evenly on a log scale from {iterations[0]:,} to {iterations[-1]:,}"
    steps = np.diff(iterations)
    run = 1 + int(np.argmax(steps != steps[0])) if np.any(steps != steps[0]) else n  # the leading run's length
    if run == 2 and n > 2:  # two snapshots are no run: the gaps say it all
        run = 1
    if run >= 2:
        step = int(steps[0])
        head = (f"at every iteration from {iterations[0]:,} to {iterations[run - 1]:,}" if step == 1 else
                f"once every {step:,} iterations from {iterations[0]:,} to {iterations[run - 1]:,}")
    else:
        head = f"first at iteration {iterations[0]:,}"
    if run == n:
        return f"{times}: {head}"
    gaps = steps[run - 1:]
    low, high = int(gaps.min()), int(gaps.max())
    more = n - run
    gap = f"{low:,} iterations apart" if low == high else f"at gaps of {low:,} to {high:,} iterations"
    return f"{times}: {head}, then {more:,} {'time' if more == 1 else 'times'} more, {gap}, up to iteration {iterations[-1]:,}"


def context(shots, *, film_mp4, film_gif, film_seconds, image_shape=None, names=None):
    """What the report's chapter says about the snapshots and the film; None without snapshots. ``image_shape``
    (default: square) and ``names`` (default: the models' numbers) set how many snapshots the figure has room
    for, as ``learning_figure`` draws them."""
    if shots is None:
        return None
    _, K, pixels = shots.coef.shape
    fit = layout(names if names is not None else [str(k) for k in range(K)], image_shape or square(pixels))
    shown = [int(shots.iterations[s]) for s in picks(shots.iterations, fit.rows)]
    scored = shots.test_multiclass is not None
    spaced, step = spacing(shots.iterations)
    return {"n_snapshots": int(len(shots.iterations)), "first": int(shots.iterations[0]),
            "last": int(shots.iterations[-1]), "shown": shown, "spacing": spaced, "step": step,
            "kept": kept(shots.iterations),
            "first_accuracy": float(shots.test_multiclass[0]) if scored else None,
            "last_accuracy": float(shots.test_multiclass[-1]) if scored else None,
            "film": {"mp4": film_mp4, "gif": film_gif, "seconds": film_seconds}}
