"""Video frames composed with numpy, OpenCV and Pillow: no matplotlib figure per frame.

Each example gets one still (title, digit, axes, labels, percentages) drawn once; the frames
in which the bars grow in are the still's background plus rectangles, and the frame that
holds the result is made once, with the time it is shown, so the cost per frame is a memory copy at most.
"""
import dataclasses
import functools
from pathlib import Path

import numpy as np

from mnist_ova.render.palette import RIGHT, WRONG

WHITE = (255, 255, 255)
INK = (33, 33, 33)
GRID = (225, 225, 225)
BAR = (176, 190, 197)
GROW_SECONDS = 0.3


@dataclasses.dataclass(frozen=True)
class Example:
    image: np.ndarray  # (side, side) raw pixels
    true: int  # class index
    predicted: int  # class index
    proba: np.ndarray  # (K,) sums to 1


@functools.lru_cache(maxsize=None)
def font(size, bold=False):
    """DejaVu Sans, the TrueType font matplotlib ships, so text is anti-aliased everywhere."""
    from pathlib import Path

    import matplotlib
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


def digit_pixels(image, size):
    """The digit scaled to ``size`` x ``size`` by nearest neighbour, from its own value range to 0..255.

    Raw pixels are mapped linearly (never cast with wrap-around), so standardised or float
    images look the same as uint8 ones.
    """
    import cv2

    image = np.asarray(image, dtype=np.float64)
    low, high = image.min(), image.max()
    scaled = np.zeros_like(image) if high == low else (image - low) * (255.0 / (high - low))
    gray = np.round(scaled).astype(np.uint8)
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_NEAREST)


def _fit(text, size, width, *, bold=False, smallest=None):
    """(text, size): ``text`` at the largest size from ``size`` down to ``smallest`` at which it is at
    most ``width`` pixels wide, else at ``smallest`` and cut with an ellipsis."""
    smallest = smallest or size
    for s in range(size, smallest - 1, -1):
        if font(s, bold).getlength(text) <= width:
            return text, s
    while text and font(smallest, bold).getlength(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…", smallest


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where everything goes on a width x height frame; every length scales with the height.

    ``orientation`` is "columns" (upright bars, names under them) when every name and percentage
    fits under its own bar, else "rows" (a bar per line, names to its left): chosen by measuring
    the names in ``for_names``.
    """

    width: int
    height: int
    n_classes: int
    orientation: str = "columns"
    label_width: int = 0  # rows: pixels kept left of the bars for the names

    @classmethod
    def for_names(cls, width, height, class_names):
        columns = cls(width, height, len(class_names))
        u = columns.unit
        slot = (columns.plot_box[2] - columns.plot_box[0]) / len(class_names)
        widest = max(font(round(24 * u), True).getlength(name) for name in class_names)
        # Neighbouring percentages must not meet either: the outputs sum to 1, so at most one bar
        # (the predicted one, in bold) has three digits.
        percents = (font(round(19 * u), True).getlength("100%") + font(round(16 * u)).getlength("00%")) / 2
        if widest <= slot - 4 * u and percents <= slot - 4 * u:
            return columns
        label_width = min(widest, width * 0.2)
        return cls(width, height, len(class_names), "rows", int(np.ceil(label_width + 12 * u)))

    @property
    def unit(self):
        return self.height / 720

    @property
    def digit_box(self):
        side = int(min(self.height * 0.62, self.width * (0.38 if self.orientation == "columns" else 0.3)))
        left = int(self.width * 0.05)
        top = int(self.height * 0.2)
        return left, top, side

    @property
    def plot_box(self):
        if self.orientation == "rows":
            left = int(self.width * 0.4) + self.label_width
            right = int(self.width * 0.96 - 60 * self.unit)  # room for "100%" after the longest bar
            return left, int(self.height * 0.2), right, int(self.height * 0.86)
        left = int(self.width * 0.5)
        right = int(self.width * 0.96)
        top = int(self.height * 0.24)
        bottom = int(self.height * 0.8)
        return left, top, right, bottom

    @property
    def band(self):
        """Rows: the height of one class's line."""
        _, top, _, bottom = self.plot_box
        return (bottom - top) / self.n_classes

    def bar_span(self, k):
        """Columns: the bar's left and right x; rows: its top and bottom y."""
        if self.orientation == "rows":
            top = self.plot_box[1]
            return int(top + self.band * (k + 0.15)), int(top + self.band * (k + 0.85))
        left, _, right, _ = self.plot_box
        slot = (right - left) / self.n_classes
        return int(left + slot * (k + 0.18)), int(left + slot * (k + 0.82))

    def bar_top(self, p):
        """Columns: the y of the top of a bar of probability ``p``."""
        _, top, _, bottom = self.plot_box
        return int(round(bottom - (bottom - top) * float(p)))

    def bar_end(self, p):
        """Rows: the x of the end of a bar of probability ``p``."""
        left, _, right, _ = self.plot_box
        return int(round(left + (right - left) * float(p)))

    def bar_rect(self, k, p):
        """(x0, y0, x1, y1) of class k's bar at probability ``p``, or None when it has no area."""
        a, b = self.bar_span(k)
        if self.orientation == "rows":
            left = self.plot_box[0]
            end = self.bar_end(p)
            return (left, a, end - 1, b - 1) if end > left else None
        bottom = self.plot_box[3]
        top = self.bar_top(p)
        return (a, top, b - 1, bottom - 1) if top < bottom else None

    @property
    def label_room(self):
        """Rows: the pixels a name may take, left of the bars."""
        return self.label_width - 12 * self.unit

    def label_size(self):
        """Rows: the name's font size, as large as its line allows."""
        return max(8, min(round(24 * self.unit), int(self.band * 0.8)))


AXIS_LABEL = "normalised score per class (true class in bold)"


def background(layout, example, class_names, axis_label=AXIS_LABEL):
    """Everything that does not move: title, digit, axes, class labels."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", (layout.width, layout.height), WHITE)
    draw = ImageDraw.Draw(canvas)
    u = layout.unit
    correct = example.true == example.predicted
    title = f"True: {class_names[example.true]} · Predicted: {class_names[example.predicted]}"
    title, size = _fit(title, round(46 * u), layout.width * 0.94, bold=True, smallest=round(26 * u))
    draw.text((layout.width / 2, 70 * u), title, fill=RIGHT if correct else WRONG, font=font(size, bold=True),
              anchor="mm")
    left, top, side = layout.digit_box
    canvas.paste(Image.fromarray(digit_pixels(example.image, side)).convert("RGB"), (left, top))
    draw.rectangle((left - 1, top - 1, left + side, top + side), outline=INK)
    plot_left, plot_top, plot_right, plot_bottom = layout.plot_box
    tick_font = font(round(15 * u))
    line = max(1, round(u))
    if layout.orientation == "rows":
        for fraction in (0.25, 0.5, 0.75, 1.0):
            x = layout.bar_end(fraction)
            draw.line((x, plot_top, x, plot_bottom), fill=GRID, width=line)
            draw.text((x, plot_top - 6 * u), f"{fraction:.0%}", fill=(117, 117, 117), anchor="md", font=tick_font)
        draw.line((plot_left, plot_top, plot_left, plot_bottom), fill=INK, width=max(1, round(2 * u)))
        size = layout.label_size()
        for k, name in enumerate(class_names):
            y0, y1 = layout.bar_span(k)
            bold = k == example.true
            text, _ = _fit(name, size, layout.label_room, bold=bold)
            draw.text((plot_left - 8 * u, (y0 + y1) / 2), text, fill=INK, anchor="rm", font=font(size, bold))
        draw.text(((plot_left + plot_right) / 2, plot_bottom + 14 * u), axis_label,
                  fill=(97, 97, 97), anchor="ma", font=font(round(18 * u)))
        return np.asarray(canvas).copy()
    for fraction in (0.25, 0.5, 0.75, 1.0):
        y = layout.bar_top(fraction)
        draw.line((plot_left, y, plot_right, y), fill=GRID, width=line)
        draw.text((plot_left - 8 * u, y), f"{fraction:.0%}", fill=(117, 117, 117), anchor="rm", font=tick_font)
    draw.line((plot_left, plot_bottom, plot_right, plot_bottom), fill=INK, width=max(1, round(2 * u)))
    for k, name in enumerate(class_names):
        x0, x1 = layout.bar_span(k)
        draw.text(((x0 + x1) / 2, plot_bottom + 10 * u), name, fill=INK, anchor="ma",
                  font=font(round(24 * u), bold=k == example.true))
    draw.text(((plot_left + plot_right) / 2, plot_bottom + 48 * u), axis_label,
              fill=(97, 97, 97), anchor="ma", font=font(round(18 * u)))
    return np.asarray(canvas).copy()


def draw_bars(frame, layout, example, growth):
    """The K bars at ``growth`` (0..1) of their lengths, the predicted one highlighted, in place."""
    import cv2

    highlight = RIGHT if example.true == example.predicted else WRONG
    for k, p in enumerate(example.proba):
        rect = layout.bar_rect(k, p * growth)
        if rect is not None:
            cv2.rectangle(frame, rect[:2], rect[2:], highlight if k == example.predicted else BAR,
                          thickness=cv2.FILLED)
    return frame


def final_frame(base, layout, example):
    """The bars at full length with their percentages."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(draw_bars(base.copy(), layout, example, 1.0))
    draw = ImageDraw.Draw(canvas)
    u = layout.unit
    for k, p in enumerate(example.proba):
        bold = k == example.predicted
        if layout.orientation == "rows":
            y0, y1 = layout.bar_span(k)
            size = min(round((19 if bold else 16) * u), layout.label_size())
            draw.text((layout.bar_end(p) + 6 * u, (y0 + y1) / 2), f"{100 * p:.0f}%", fill=INK, anchor="lm",
                      font=font(size, bold=bold))
            continue
        x0, x1 = layout.bar_span(k)
        draw.text(((x0 + x1) / 2, layout.bar_top(p) - 6 * u), f"{100 * p:.0f}%", fill=INK, anchor="md",
                  font=font(round((19 if bold else 16) * u), bold=bold))
    return np.asarray(canvas).copy()


BARS_LIMIT = 12  # up to this many classes the video shows every class's bar ...
TOP_BARS = 10  # ... past it, the highest this many, and the true class's


def shown_bars(example, class_names):
    """What an example's bars show: (the example with only the shown classes, their names, the layout's
    names). Up to ``BARS_LIMIT`` classes, every class in label order. Past it, the ``TOP_BARS`` highest
    scores, highest first, and the true class's bar after them when it is not among them; the layout is
    measured on every name, so that it does not change from one example to the next. (The predicted
    class, the highest score, comes first even when it ties with others.)"""
    if len(class_names) <= BARS_LIMIT:
        return example, list(class_names), list(class_names)
    ranked = [int(k) for k in np.argsort(-np.asarray(example.proba), kind="stable") if k != example.predicted]
    order = [example.predicted, *ranked[:TOP_BARS - 1]]
    if example.true not in order:
        order.append(example.true)
    shown = Example(example.image, order.index(example.true), order.index(example.predicted),
                    np.asarray(example.proba)[order])
    return shown, [class_names[k] for k in order], list(class_names)


def example_counts(fps, seconds):
    """How many frame times each of an example's frames is shown: the growing bars one each, then the
    final frame for the rest of the example's time."""
    total = max(1, round(fps * seconds))
    grow = min(round(fps * GROW_SECONDS), total - 1)
    return [1] * grow + [total - grow]


def example_frames(example, class_names, size, fps, seconds):
    """The frames of one example, as (frame, count) pairs in order, ``count`` the frame times it is
    shown (``example_counts``); a frame is drawn once however long it is held."""
    example, class_names, measured = shown_bars(example, class_names)
    layout = Layout.for_names(size[0], size[1], measured)
    if len(measured) != len(class_names):
        layout = dataclasses.replace(layout, n_classes=len(class_names))
    label = AXIS_LABEL if len(measured) == len(class_names) else \
        f"the {TOP_BARS} highest of {len(measured)} normalised scores (true class in bold)"
    base = background(layout, example, class_names, label)
    counts = example_counts(fps, seconds)
    grow = len(counts) - 1
    for i in range(grow):
        eased = 1 - (1 - (i + 1) / (grow + 1)) ** 3  # ease-out: fast at first, settling at the top
        yield draw_bars(base.copy(), layout, example, eased), 1
    yield final_frame(base, layout, example), counts[-1]


def frames(examples, class_names, size, fps, seconds):
    """The video's distinct frames, in order, each a (height, width, 3) uint8 array; ``frame_counts``
    says how long each is shown."""
    for example in examples:
        for frame, _ in example_frames(example, class_names, size, fps, seconds):
            yield frame


def frame_counts(n_examples, fps, seconds):
    """The frame times each of ``frames``'s frames is shown, for ``n_examples`` examples."""
    return example_counts(fps, seconds) * n_examples


def choose_examples(evaluation, n, *, source, seed):
    """Test rows to show: random (seeded), misclassified first, or the first n."""
    n_test = evaluation.true_index.size
    n = min(n, n_test)
    if source == "first":
        return np.arange(n)
    order = np.random.RandomState(seed).permutation(n_test)
    if source == "misclassified":
        wrong = evaluation.predicted_index[order] != evaluation.true_index[order]
        order = np.concatenate([order[wrong], order[~wrong]])  # fill up with right ones if too few are wrong
    return order[:n]


def examples_of(evaluation, test_images, rows):
    return [Example(test_images[i], int(evaluation.true_index[i]), int(evaluation.predicted_index[i]),
                    evaluation.scores[i]) for i in rows]


def poster_strip(examples, class_names, path, *, size=(1280, 720)):
    """Two of the video's final frames, one above the other, for the PDF, which cannot play video:
    the first right and the first wrong example (or the first two). Printed 5.2 in wide, the
    frame's class names print at 7 pt or more."""
    right = [i for i, e in enumerate(examples) if e.true == e.predicted]
    wrong = [i for i, e in enumerate(examples) if e.true != e.predicted]
    picks = sorted((right[:1] + wrong[:1]) if right and wrong else list(range(min(2, len(examples)))))
    stills = [list(example_frames(examples[i], class_names, size, 1, 1.0))[-1][0] for i in picks]
    gap = np.full((size[1] // 24, size[0], 3), 255, dtype=np.uint8)
    strip = np.concatenate([part for still in stills for part in (still, gap)][:-1], axis=0)
    write_png(strip, path)


def poster(examples, class_names, path, size):
    """The first example's final frame at the video's size: the HTML video's poster."""
    still = list(example_frames(examples[0], class_names, size, 1, 1.0))[-1][0]
    write_png(still, path)


def write_png(rgb, path):
    """An RGB image as a PNG file. Encoded in memory and written by Python, so that a write that fails
    (a full disk, a file-size limit) is an OSError naming the file: cv2.imwrite only returns False."""
    import cv2

    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"OpenCV could not encode the image {path} as PNG")
    Path(path).write_bytes(data.tobytes())


def timestamp(seconds):
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


def captions(examples, class_names, seconds, fps):
    """WebVTT captions for the video: one cue per example, "true 7, predicted 7, 98 %", timed to
    the frames (each example lasts round(fps * seconds) frame times, as ``example_counts`` says)."""
    def escape(text):
        return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    per_example = max(1, round(fps * seconds)) / fps
    cues = ["WEBVTT", ""]
    for i, e in enumerate(examples):
        cues += [str(i + 1), f"{timestamp(i * per_example)} --> {timestamp((i + 1) * per_example)}",
                 f"true {escape(class_names[e.true])}, predicted {escape(class_names[e.predicted])}, "
                 f"{100 * e.proba[e.predicted]:.0f} %", ""]
    return "\n".join(cues)
