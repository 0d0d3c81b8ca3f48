"""Video frames composed with numpy, OpenCV and Pillow: no matplotlib figure per frame.

Each example gets one still (title, digit, axes, labels, percentages) drawn once; the frames
in which the bars grow in are the still's background plus rectangles, and the frames that
hold the result are the same array again, so the cost per frame is a memory copy at most.
"""
import dataclasses
import functools

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


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where everything goes on a width x height frame; every length scales with the height."""

    width: int
    height: int
    n_classes: int

    @property
    def unit(self):
        return self.height / 720

    @property
    def digit_box(self):
        side = int(min(self.height * 0.62, self.width * 0.38))
        left = int(self.width * 0.05)
        top = int(self.height * 0.2)
        return left, top, side

    @property
    def plot_box(self):
        left = int(self.width * 0.5)
        right = int(self.width * 0.96)
        top = int(self.height * 0.24)
        bottom = int(self.height * 0.8)
        return left, top, right, bottom

    def bar_span(self, k):
        left, _, right, _ = self.plot_box
        slot = (right - left) / self.n_classes
        return int(left + slot * (k + 0.18)), int(left + slot * (k + 0.82))

    def bar_top(self, p):
        _, top, _, bottom = self.plot_box
        return int(round(bottom - (bottom - top) * float(p)))


def background(layout, example, class_names):
    """Everything that does not move: title, digit, axes, class labels."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", (layout.width, layout.height), WHITE)
    draw = ImageDraw.Draw(canvas)
    u = layout.unit
    correct = example.true == example.predicted
    title = f"True: {class_names[example.true]} · Predicted: {class_names[example.predicted]}"
    draw.text((layout.width / 2, 70 * u), title, fill=RIGHT if correct else WRONG,
              font=font(round(46 * u), bold=True), anchor="mm")
    left, top, side = layout.digit_box
    canvas.paste(Image.fromarray(digit_pixels(example.image, side)).convert("RGB"), (left, top))
    draw.rectangle((left - 1, top - 1, left + side, top + side), outline=INK)
    plot_left, plot_top, plot_right, plot_bottom = layout.plot_box
    tick_font = font(round(15 * u))
    for fraction in (0.25, 0.5, 0.75, 1.0):
        y = layout.bar_top(fraction)
        draw.line((plot_left, y, plot_right, y), fill=GRID, width=max(1, round(u)))
        draw.text((plot_left - 8 * u, y), f"{fraction:.0%}", fill=(117, 117, 117), anchor="rm", font=tick_font)
    draw.line((plot_left, plot_bottom, plot_right, plot_bottom), fill=INK, width=max(1, round(2 * u)))
    label_font = font(round(24 * u))
    for k, name in enumerate(class_names):
        x0, x1 = layout.bar_span(k)
        is_true = k == example.true
        draw.text(((x0 + x1) / 2, plot_bottom + 10 * u), name, fill=INK, anchor="ma",
                  font=font(round(24 * u), bold=True) if is_true else label_font)
    draw.text(((plot_left + plot_right) / 2, plot_bottom + 48 * u), "probability per class (true class in bold)",
              fill=(97, 97, 97), anchor="ma", font=font(round(18 * u)))
    return np.asarray(canvas).copy()


def draw_bars(frame, layout, example, growth):
    """The K bars at ``growth`` (0..1) of their heights, the predicted one highlighted, in place."""
    import cv2

    _, _, _, bottom = layout.plot_box
    highlight = RIGHT if example.true == example.predicted else WRONG
    for k, p in enumerate(example.proba):
        x0, x1 = layout.bar_span(k)
        top = layout.bar_top(p * growth)
        if top < bottom:
            cv2.rectangle(frame, (x0, top), (x1 - 1, bottom - 1), highlight if k == example.predicted else BAR,
                          thickness=cv2.FILLED)
    return frame


def final_frame(base, layout, example):
    """The bars at full height with their percentages."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(draw_bars(base.copy(), layout, example, 1.0))
    draw = ImageDraw.Draw(canvas)
    u = layout.unit
    for k, p in enumerate(example.proba):
        x0, x1 = layout.bar_span(k)
        bold = k == example.predicted
        draw.text(((x0 + x1) / 2, layout.bar_top(p) - 6 * u), f"{100 * p:.0f}%", fill=INK, anchor="md",
                  font=font(round((19 if bold else 16) * u), bold=bold))
    return np.asarray(canvas).copy()


def example_frames(example, class_names, size, fps, seconds):
    """The frames of one example, as (frame, repeat count) pairs in order.

    Frames that repeat are yielded once with their count, so a writer can send the same
    array again without drawing it again.
    """
    layout = Layout(size[0], size[1], len(class_names))
    base = background(layout, example, class_names)
    total = max(1, round(fps * seconds))
    grow = min(round(fps * GROW_SECONDS), total - 1)
    for i in range(grow):
        eased = 1 - (1 - (i + 1) / (grow + 1)) ** 3  # ease-out: fast at first, settling at the top
        yield draw_bars(base.copy(), layout, example, eased), 1
    yield final_frame(base, layout, example), total - grow


def frames(examples, class_names, size, fps, seconds):
    """Every frame of the video, in order, each a (height, width, 3) uint8 array."""
    for example in examples:
        for frame, count in example_frames(example, class_names, size, fps, seconds):
            for _ in range(count):
                yield frame


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


def poster_strip(examples, class_names, path, *, count=4, size=(640, 360)):
    """A strip of the video's final frames, for the PDF, which cannot play video."""
    import cv2

    picks = np.linspace(0, len(examples) - 1, min(count, len(examples))).round().astype(int)
    stills = [list(example_frames(examples[i], class_names, size, 1, 1.0))[-1][0] for i in picks]
    rows = [np.concatenate(stills[i:i + 2], axis=1) for i in range(0, len(stills), 2)]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
