"""``training.mp4`` and ``training.gif``, with their poster and WebVTT captions: a film of the models
learning, made from the training snapshots (``trainer.snapshots.Snapshots``).

Each frame shows every model's weights as an image on a diverging scale centred on zero (one scale
shared by the models of that frame, with its key), the cost curves drawn up to the frame's iteration,
the test accuracy of the models together (argmax) rising, and the iteration. Every snapshot gets an
equal share of the film, so the first iterations, where the pictures form, are not over in a blink.
Frames are composed with numpy, OpenCV and Pillow: the still parts (titles, axes, key) are drawn once.
Every tile is named in full (on two lines where one is too narrow, broken as ``figures.break_words`` does)
and coloured as the report's cost chart colours its model: past ``figures.KEY_LIMIT`` classes, the three
whose cost ended highest keep a colour and the others are grey.
"""
import dataclasses
import functools
import math

import numpy as np

from mnist_ova.render import video
from mnist_ova.render.figures import KEY_LIMIT, break_words, named_classes
from mnist_ova.render.frames import GRID, INK, WHITE, timestamp, font
from mnist_ova.render.palette import CLASS_COLOURS, MUTED, OTHERS, RIGHT

ACCURACY_HEADING = "test accuracy"
KEY_TITLE = "weight (each frame on its own scale)"
FPS = 12  # the film changes with each snapshot, about 12 a second: more frames would only repeat
SECONDS = 10.0  # the whole film
HOLD_SECONDS = 1.5  # the last frame, held at the end
GIF_SIZE, GIF_FPS = (640, 360), 5


@functools.lru_cache(maxsize=1)
def diverging_colours():
    """256 RGB colours from blue (negative) through white (zero) to red (positive): matplotlib's RdBu_r,
    the diverging map of the report's weight figures."""
    import matplotlib

    return np.round(matplotlib.colormaps["RdBu_r"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def diverging_rgb(values, limit):
    """``values`` as (…, 3) uint8 colours, -limit blue, 0 white, +limit red."""
    index = np.clip(np.round((np.asarray(values, np.float64) / (limit or 1.0) + 1) * 127.5), 0, 255)
    return diverging_colours()[index.astype(np.uint8)]


def weight_limit(coef):
    """The colour scale's end for weights ``coef`` (any shape): the 99.5th percentile of their magnitudes,
    so that a few extreme pixels do not wash every picture out (beyond it the colour stays the darkest)."""
    return float(np.percentile(np.abs(coef), 99.5)) or float(np.abs(coef).max()) or 1.0


def accuracy_floor(shots):
    """The accuracy chart's lowest value: a multiple of 10 % below the lowest test accuracy, so that the
    rise fills the chart."""
    if shots.test_multiclass is None:
        return 0.0
    return min(0.9, math.floor(float(np.min(shots.test_multiclass)) * 10) / 10)


def grid_shape(n, box_width, box_height, image_shape, label_height):
    """(columns, rows, tile scale) that make n images of ``image_shape`` (height, width), each with a label
    line above it, as large as they fit in the box."""
    h, w = image_shape
    best = (1, n, 0.0)
    for columns in range(1, n + 1):
        rows = -(-n // columns)
        scale = min(box_width / columns * 0.92 / w, (box_height / rows - label_height) * 0.94 / h)
        if scale > best[2]:
            best = (columns, rows, scale)
    return best


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where everything goes on a width x height frame; every length scales with the height."""

    width: int
    height: int
    image_shape: tuple  # (height, width) of one model's weight image
    tiles: tuple  # ((x, y, tile width, tile height), …) per model
    label_size: int  # 0: the tiles are too small for names even at the smallest size (about 100 models and more)
    label_lines: int  # lines of a name above its tile (1 or 2)
    label_width: float  # a name's room: its tile's cell, wider than the tile by the gap between tiles
    cost_box: tuple  # (left, top, right, bottom) of the cost chart's plot area
    accuracy_box: tuple

    @property
    def unit(self):
        return self.height / 720

    def name_lines(self, name):
        """``name`` as the lines drawn above its tile, beside its colour swatch (None: it does not fit)."""
        return _name_lines(name, self.label_size, self.label_width, self.unit, self.label_lines)

    @classmethod
    def make(cls, width, height, n_models, image_shape, names=None):
        u = height / 720
        left, top, right, bottom = 0.025 * width, 112 * u, 0.585 * width, height - 92 * u
        # The names as large as the tiles allow, from 26 down to 16 pixels of a 720-line frame (smaller ones are
        # not read at a video's pace), on one line or else two; none where even those would not fit over the
        # tiles. Without ``names``, a tile 3.2 names' heights wide is taken to hold one.
        for label_size, label_lines in ((size, lines) for size in range(round(26 * u), round(16 * u) - 1, -1)
                                        for lines in ((1,) if names is None else (1, 2))):
            columns, rows, scale = grid_shape(n_models, right - left, bottom - top, image_shape,
                                              label_size * 1.3 * label_lines)
            if (scale * image_shape[1] >= 3.2 * label_size if names is None else
                    all(_name_lines(name, label_size, (right - left) / columns - 4 * u, u, label_lines)
                        for name in names)):
                break
        else:
            label_size, label_lines = 0, 1
            columns, rows, scale = grid_shape(n_models, right - left, bottom - top, image_shape, 0)
        tile_w, tile_h = max(1, int(scale * image_shape[1])), max(1, int(scale * image_shape[0]))
        cell_w, cell_h = (right - left) / columns, (bottom - top) / rows
        tiles = []
        for k in range(n_models):
            r, c = divmod(k, columns)
            x = int(left + c * cell_w + (cell_w - tile_w) / 2)
            label_h = label_size * 1.3 * label_lines
            y = int(top + r * cell_h + label_h + (cell_h - label_h - tile_h) / 2)
            tiles.append((x, y, tile_w, tile_h))
        chart_left, chart_right = int(0.675 * width), int(0.97 * width)
        cost_box = (chart_left, int(150 * u), chart_right, int(370 * u))
        accuracy_box = (chart_left, int(470 * u), chart_right, int(height - 92 * u))
        return cls(width, height, tuple(image_shape), tuple(tiles), label_size, label_lines, cell_w - 4 * u, cost_box,
                   accuracy_box)


def _name_lines(name, size, width, unit, max_lines):
    """A name broken into at most ``max_lines`` lines that fit in ``width`` beside the colour swatch, or None."""
    room = width - round(size * 0.55) - 6 * unit
    return break_words(str(name), room, font(size, True).getlength, max_lines) if size else None


def model_colours(shots, names):
    """Each model's RGB colour, as the report's cost chart gives it (``figures.class_lines``): its class's own
    up to ``KEY_LIMIT`` classes; past that the ``NAMED`` models whose cost ended highest in colour, the rest grey."""
    K = len(names)
    if K <= KEY_LIMIT:
        return [CLASS_COLOURS[k % len(CLASS_COLOURS)] for k in range(K)]
    named = named_classes(shots.cost[-1], highest=True)
    return [CLASS_COLOURS[k % len(CLASS_COLOURS)] if k in named else OTHERS for k in range(K)]


class _Scales:
    """x (log of the iteration) and y of the two charts."""

    def __init__(self, layout, shots):
        self.layout, self.top_cost, self.floor = layout, _top_cost(shots), accuracy_floor(shots)
        self.log_last = math.log10(max(int(shots.iterations[-1]), 2))

    def x(self, iteration, box):
        left, _, right, _ = box
        return left + (right - left) * math.log10(max(iteration, 1)) / self.log_last

    @staticmethod
    def y(value, low, high, box):
        _, top, _, bottom = box
        return bottom - (bottom - top) * (value - low) / (high - low)


def _x_ticks(last):
    ticks = [t for t in (1, 10, 100, 1000, 10000, 100000) if t <= last]
    return ticks if last in ticks or last < 2 else ticks + [last]


def background(layout, shots, names, limit_note, colours):
    """The still parts: titles, chart axes and their ticks, each model's name with its colour (``colours``,
    ``model_colours``) and the key's bar."""
    from PIL import Image, ImageDraw

    u = layout.unit
    canvas = Image.new("RGB", (layout.width, layout.height), WHITE)
    draw = ImageDraw.Draw(canvas)
    line = max(1, round(u))
    last = int(shots.iterations[-1])
    scales = _Scales(layout, shots)
    size = layout.label_size
    swatch = round(size * 0.55)
    for k, (x, y, w, _) in enumerate(layout.tiles):
        lines = layout.name_lines(names[k]) if size else None
        if not lines:  # no room for names (about 100 models and more): Layout.make found none that fit
            continue
        width = max(font(size, True).getlength(text) for text in lines) + swatch + 6 * u
        start = x + (w - width) / 2
        for j, text in enumerate(lines):  # the last line just above the tile, the swatch beside the first
            base = y - 0.35 * size - (len(lines) - 1 - j) * 1.3 * size
            if j == 0:
                draw.rectangle((start, base - swatch, start + swatch, base), fill=colours[k])
            draw.text((start + swatch + 6 * u, base), text, fill=INK, font=font(size, True), anchor="ls")
    # The key: the colour bar with its ends and centre.
    key_left, key_right = layout.width * 0.12, layout.width * 0.42
    key_top = layout.height - 62 * u
    bar = diverging_rgb(np.linspace(-1, 1, max(2, int(key_right - key_left)))[None, :].repeat(max(2, int(16 * u)), 0),
                        1.0)
    canvas.paste(Image.fromarray(bar), (int(key_left), int(key_top)))
    small = font(round(20 * u))
    draw.text((key_left - 8 * u, key_top + 8 * u), "against", fill=MUTED, font=small, anchor="rm")
    draw.text((key_right + 8 * u, key_top + 8 * u), "for the class", fill=MUTED, font=small, anchor="lm")
    draw.text(((key_left + key_right) / 2, key_top + 22 * u), "0", fill=INK, font=small, anchor="ma")
    draw.text(((key_left + key_right) / 2, key_top - 4 * u), limit_note, fill=MUTED, font=small, anchor="md")
    # The charts' axes.
    title = font(round(24 * u), True)
    for box, heading, low, high, percent in (
            (layout.cost_box, "cost of each model", 0.0, scales.top_cost, False),
            (layout.accuracy_box, ACCURACY_HEADING, scales.floor, 1.0, True)):
        left, top, right, bottom = box
        draw.text((left - 70 * u, top - 24 * u), heading, fill=INK, font=title, anchor="ls")
        for value in (low, (low + high) / 2, high):
            y = scales.y(value, low, high, box)
            draw.line((left, y, right, y), fill=GRID, width=line)
            text = f"{100 * value:.0f} %" if percent else f"{value:.2f}"
            draw.text((left - 8 * u, y), text, fill=MUTED, font=small, anchor="rm")
        draw.line((left, bottom, right, bottom), fill=INK, width=max(1, round(2 * u)))
        for tick in _x_ticks(last):
            x = scales.x(tick, box)
            draw.line((x, bottom, x, bottom + 6 * u), fill=INK, width=line)
            draw.text((x, bottom + 8 * u), f"{tick:,}", fill=MUTED, font=small, anchor="ma")
    draw.text(((layout.accuracy_box[0] + layout.accuracy_box[2]) / 2, layout.height - 40 * u),
              "iteration (log scale)", fill=MUTED, font=small, anchor="ma")
    return np.asarray(canvas).copy()


def _top_cost(shots):
    finite = shots.cost[np.isfinite(shots.cost)]
    return float(finite.max()) * 1.05 if finite.size and finite.max() > 0 else 1.0


def draw_step(curves, layout, scales, shots, s, colours):
    """Extend the curves on ``curves`` (a frame, in place) from snapshot s - 1 to snapshot s, each model's in
    its colour (the grey ones first, under the others): drawn a step at a time, so a frame costs one segment
    per curve, not the whole curve again."""
    import cv2

    if s == 0:
        return curves
    u = layout.unit
    lines = [(layout.cost_box, 0.0, scales.top_cost, shots.cost[:, k], colours[k], max(1, round(3 * u)))
             for k in sorted(range(shots.cost.shape[1]), key=lambda k: colours[k] != OTHERS)]
    if shots.test_multiclass is not None:
        lines.append((layout.accuracy_box, scales.floor, 1.0, shots.test_multiclass, RIGHT, max(1, round(4 * u))))
    for box, low, high, values, colour, thickness in lines:
        if np.isfinite(values[s - 1]) and np.isfinite(values[s]):
            ends = [(scales.x(shots.iterations[i], box), scales.y(values[i], low, high, box)) for i in (s - 1, s)]
            a, b = (tuple(int(round(v * 16)) for v in end) for end in ends)
            cv2.line(curves, a, b, colour, thickness, cv2.LINE_AA, shift=4)
    return curves


def compose(layout, curves, shots, s, solver_note):
    """The frame of snapshot ``s``: its weights and numbers over ``curves`` (the still parts with the
    curves drawn up to s)."""
    import cv2
    from PIL import Image, ImageDraw

    u = layout.unit
    frame = curves.copy()
    coef, (h, w) = shots.coef[s], layout.image_shape
    limit = weight_limit(coef)
    for k, (x, y, tile_w, tile_h) in enumerate(layout.tiles):
        tile = diverging_rgb(coef[k].reshape(h, w), limit)
        frame[y:y + tile_h, x:x + tile_w] = cv2.resize(tile, (tile_w, tile_h), interpolation=cv2.INTER_NEAREST)
    last = int(shots.iterations[-1])
    canvas = Image.fromarray(frame)
    draw = ImageDraw.Draw(canvas)
    iteration = int(shots.iterations[s])
    draw.text((layout.width * 0.025, 62 * u), f"Iteration {iteration:,}", fill=INK, font=font(round(46 * u), True),
              anchor="ls")
    draw.text((layout.width * 0.025 + font(round(46 * u), True).getlength(f"Iteration {last:,}") + 16 * u, 62 * u),
              f"of {last:,} · {solver_note}", fill=MUTED, font=font(round(24 * u)), anchor="ls")
    key_left, key_right = layout.width * 0.12, layout.width * 0.42
    key_y = layout.height - 40 * u
    small = font(round(20 * u))
    draw.text((key_left, key_y), f"≤ −{limit:.2g}", fill=INK, font=small, anchor="ma")
    draw.text((key_right, key_y), f"≥ +{limit:.2g}", fill=INK, font=small, anchor="ma")
    if shots.test_multiclass is not None:
        left, top, _, _ = layout.accuracy_box
        x = left - 70 * u + font(round(24 * u), True).getlength(ACCURACY_HEADING) + 14 * u
        draw.text((x, top - 24 * u), f"{100 * shots.test_multiclass[s]:.1f} %", fill=RIGHT,
                  font=font(round(36 * u), True), anchor="ls")
    return np.asarray(canvas)


def _start(shots, names, image_shape, size):
    """(layout, the still parts to draw the curves on, the charts' scales, the models' colours) of a film."""
    layout = Layout.make(size[0], size[1], shots.coef.shape[1], image_shape, names=names)
    colours = model_colours(shots, names)
    return layout, background(layout, shots, names, KEY_TITLE, colours), _Scales(layout, shots), colours


def frame_of(shots, names, image_shape, size, s, *, solver_note):
    """The frame of snapshot ``s`` alone, the same pixels as the film's (a poster, a test)."""
    layout, curves, scales, colours = _start(shots, names, image_shape, size)
    for i in range(1, s + 1):
        draw_step(curves, layout, scales, shots, i, colours)
    return compose(layout, curves, shots, s, solver_note)


def schedule(n_snapshots, fps, seconds=SECONDS, hold=HOLD_SECONDS):
    """Frames per snapshot: an equal share of the moving part each (0 for some when there are more
    snapshots than frames), and the last one held ``hold`` seconds more."""
    moving = max(1, round(fps * (seconds - hold)))
    counts = np.diff(np.round(np.linspace(0, moving, n_snapshots + 1)).astype(np.int64))
    counts[-1] += max(1, round(fps * hold))
    return counts


def frame_counts(n_snapshots, fps):
    """The frame times of each of ``film_frames``'s frames: the schedule without the snapshots that get none."""
    return [int(count) for count in schedule(n_snapshots, fps) if count]


def film_frames(shots, names, image_shape, size, fps, *, solver_note):
    """(frame, repeat count) pairs, in order; a snapshot with no frame of its own is skipped."""
    layout, curves, scales, colours = _start(shots, names, image_shape, size)
    for s, count in enumerate(schedule(len(shots.iterations), fps)):
        draw_step(curves, layout, scales, shots, s, colours)
        if count:
            yield compose(layout, curves, shots, s, solver_note), int(count)


def write_mp4(shots, names, image_shape, path, *, size, fps, solver_note):
    """The film as H.264 with the predictions video's encoder settings, each frame encoded once with the
    time it is shown; returns the film's length in frame times."""
    pairs = film_frames(shots, names, image_shape, video.even_size(size), fps, solver_note=solver_note)
    return video.write_mp4((frame for frame, _ in pairs), path, size=video.even_size(size), fps=fps,
                           counts=frame_counts(len(shots.iterations), fps))


def write_gif(shots, names, image_shape, path, *, solver_note, size=GIF_SIZE, fps=GIF_FPS):
    """The film as an animated GIF; returns the number of frames stored."""
    from mnist_ova.render import gif

    pairs = list(film_frames(shots, names, image_shape, size, fps, solver_note=solver_note))
    return gif.write_stills([frame for frame, _ in pairs], [round(1000 * count / fps) for _, count in pairs], path,
                            exact=(WHITE, INK, GRID, RIGHT, MUTED, OTHERS, *CLASS_COLOURS))


def poster(shots, names, image_shape, path, *, size, solver_note):
    """The film's last frame as a PNG: the HTML video's poster and the PDF's still."""
    from mnist_ova.render.frames import write_png

    still = frame_of(shots, names, image_shape, size, len(shots.iterations) - 1, solver_note=solver_note)
    write_png(still, path)


def captions(shots, fps, *, cue_seconds=1.0):
    """WebVTT captions timed to the film's frames: every ``cue_seconds`` the iteration then shown, the
    test accuracy and the models' mean cost; the last cue holds the final numbers."""
    counts = schedule(len(shots.iterations), fps)
    starts = np.concatenate([[0], np.cumsum(counts)]) / fps
    end = starts[-1]
    cues = ["WEBVTT", ""]
    cue_starts = [t for t in np.arange(0, starts[-2], cue_seconds)] + [starts[-2]]
    last = int(shots.iterations[-1])
    for i, start in enumerate(cue_starts):
        stop = cue_starts[i + 1] if i + 1 < len(cue_starts) else end
        if stop <= start:
            continue
        s = int(np.searchsorted(starts, start, side="right") - 1)
        s = min(s, len(shots.iterations) - 1)
        iteration = int(shots.iterations[s])
        text = f"iteration {iteration:,} of {last:,}"
        if shots.test_multiclass is not None:
            text += f": test accuracy {100 * shots.test_multiclass[s]:.1f} %"
        text += f", mean cost {np.nanmean(shots.cost[s]):.3f}"
        cues += [str((len(cues) - 2) // 4 + 1), f"{timestamp(start)} --> {timestamp(stop)}", text, ""]
    return "\n".join(cues)
