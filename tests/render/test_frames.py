import dataclasses

import numpy as np
import pytest

from mnist_ova.render import frames

NAMES = [str(k) for k in range(10)]


def example(true=3, predicted=3, image=None):
    proba = np.full(10, 0.02)
    proba[predicted] = 0.82
    if image is None:
        image = np.zeros((28, 28), dtype=np.uint8)
        image[8:20, 12:16] = 255
    return frames.Example(image, true, predicted, proba)


def test_digit_is_upscaled_by_nearest_neighbour_without_wrap_around():
    image = np.array([[0, 255], [128, 64]], dtype=np.uint8)
    big = frames.digit_pixels(image, 8)
    np.testing.assert_array_equal(big, np.kron(image, np.ones((4, 4), dtype=np.uint8)))
    standardised = np.array([[-1.5, 2.0], [0.0, -0.5]])  # negative values must not wrap into bright pixels
    out = frames.digit_pixels(standardised, 2)
    assert out[0, 0] == 0 and out[0, 1] == 255 and out[1, 1] < out[1, 0]


def test_digit_constant_image_is_black_not_an_error():
    assert frames.digit_pixels(np.full((3, 3), 7.0), 6).max() == 0


@pytest.mark.parametrize("true, predicted, colour", [(3, 3, frames.RIGHT), (3, 5, frames.WRONG)])
def test_title_colour_and_highlighted_bar(true, predicted, colour):
    size = (1280, 720)
    shots = list(frames.example_frames(example(true, predicted), NAMES, size, fps=30, seconds=1.0))
    final, count = shots[-1]
    assert final.shape == (720, 1280, 3) and final.dtype == np.uint8
    title = final[40:100, 300:980].reshape(-1, 3)
    assert np.any(np.all(title == colour, axis=1)), "the title is drawn in the verdict's colour"
    layout = frames.Layout(1280, 720, 10)
    x0, x1 = layout.bar_span(predicted)
    bottom = layout.plot_box[3]
    assert tuple(final[bottom - 5, (x0 + x1) // 2]) == colour
    other = (predicted + 1) % 10
    x0, x1 = layout.bar_span(other)
    assert tuple(final[bottom - 2, (x0 + x1) // 2]) == frames.BAR


def test_bars_grow_in_then_hold_for_the_rest_of_the_example():
    shots = list(frames.example_frames(example(), NAMES, (640, 360), fps=30, seconds=1.0))
    assert sum(count for _, count in shots) == 30
    assert [count for _, count in shots[:-1]] == [1] * (len(shots) - 1) and len(shots) > 2
    layout = frames.Layout(640, 360, 10)
    x0, x1 = layout.bar_span(3)
    column = [np.sum(np.all(f[:, (x0 + x1) // 2] == frames.RIGHT, axis=1)) for f, _ in shots]
    assert column == sorted(column) and column[0] < column[-1]


def test_frames_streams_each_distinct_frame_once_and_the_counts_fill_examples_times_fps_times_seconds():
    stream = list(frames.frames([example(), example(1, 2)], NAMES, (320, 240), fps=10, seconds=0.5))
    counts = frames.frame_counts(2, fps=10, seconds=0.5)
    assert len(stream) == len(counts) == 2 * 4  # 3 frames of growing bars and the held one, per example
    assert counts == [1, 1, 1, 2] * 2 and sum(counts) == 2 * 10 * 0.5
    assert all(not np.array_equal(a, b) for a, b in zip(stream, stream[1:]))


def test_class_names_are_used_and_more_classes_fit():
    names = [f"class {k}" for k in range(12)]
    ex = frames.Example(np.eye(5), 0, 11, np.full(12, 1 / 12))

    def final_frame(class_names):
        return list(frames.example_frames(ex, class_names, (1280, 720), fps=2, seconds=1))[-1][0]

    final = final_frame(names)
    assert final.shape == (720, 1280, 3)
    layout = frames.Layout.for_names(1280, 720, names)
    centres = [((y0 + y1) // 2, (x0 + x1) // 2) for x0, y0, x1, y1 in (layout.bar_rect(k, 1 / 12) for k in range(12))]
    assert [tuple(final[y, x]) for y, x in centres] == [frames.BAR] * 11 + [frames.WRONG]  # all 12 bars, 11 predicted
    renamed = [*names[:5], "class X", *names[6:]]
    assert frames.Layout.for_names(1280, 720, renamed) == layout
    changed_y, changed_x = np.nonzero(np.any(final_frame(renamed) != final, axis=2))
    top, bottom = layout.bar_span(5)
    assert changed_y.size and top <= changed_y.min() and changed_y.max() <= bottom  # the name of class 5 is drawn
    assert changed_x.max() < layout.plot_box[0]  # ... at its bar's left, and nowhere else


FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@pytest.mark.parametrize("names, size, orientation", [
    (NAMES, (1280, 720), "columns"), (NAMES, (640, 360), "columns"), (FASHION, (1280, 720), "rows"),
    (FASHION, (640, 360), "rows"), ([f"Ankle boot, size {k} (left foot)" for k in range(26)], (640, 360), "rows"),
])
def test_the_bars_turn_to_rows_when_the_names_do_not_fit_under_them(names, size, orientation):
    layout = frames.Layout.for_names(*size, names)
    assert layout.orientation == orientation
    u = layout.unit
    if orientation == "columns":
        slot = (layout.plot_box[2] - layout.plot_box[0]) / len(names)
        assert max(frames.font(round(24 * u), True).getlength(n) for n in names) <= slot
        return
    assert layout.label_size() <= layout.band, "a name is no taller than its line"
    digit_right = layout.digit_box[0] + layout.digit_box[2]
    assert layout.plot_box[0] - layout.label_width >= digit_right, "names stay clear of the digit"
    proba = np.full(len(names), 1 / len(names))
    ex = frames.Example(np.eye(5), 0, len(names) - 1, proba)
    final = list(frames.example_frames(ex, names, size, fps=2, seconds=1))[-1][0]
    assert final.shape == (size[1], size[0], 3)
    # the predicted class's bar is drawn in its row (past BARS_LIMIT classes, the first), from the axis
    many = len(names) > frames.BARS_LIMIT
    drawn = dataclasses.replace(layout, n_classes=frames.TOP_BARS + 1) if many else layout
    y0, y1 = drawn.bar_span(0 if many else len(names) - 1)
    assert tuple(final[(y0 + y1) // 2, layout.plot_box[0] + 2]) == frames.WRONG


@pytest.mark.parametrize("K", [13, 26, 47, 62])
def test_past_12_classes_the_video_shows_the_top_10_bars_and_the_true_class(K):
    names = [f"class {k}" for k in range(K)]
    proba = np.random.RandomState(K).dirichlet(np.full(K, 0.5))
    order = np.argsort(-proba, kind="stable")
    predicted, true = int(order[0]), int(order[-1])  # the true class scored lowest of all
    shown, shown_names, measured = frames.shown_bars(frames.Example(np.eye(5), true, predicted, proba), names)
    assert measured == names
    assert shown_names == [names[k] for k in order[:frames.TOP_BARS]] + [names[true]]
    np.testing.assert_array_equal(shown.proba, proba[[*order[:frames.TOP_BARS], true]])
    assert shown_names[shown.true] == names[true] and shown_names[shown.predicted] == names[predicted]
    # Among the top ten already, the true class is not drawn twice.
    shown, shown_names, _ = frames.shown_bars(frames.Example(np.eye(5), int(order[3]), predicted, proba), names)
    assert len(shown_names) == frames.TOP_BARS and shown_names[shown.true] == names[order[3]]
    # Every frame keeps the same layout: the names are measured over all the classes, not the shown ones.
    final = list(frames.example_frames(frames.Example(np.eye(5), true, predicted, proba), names, (640, 360), 2, 1))
    rows_with_bars = np.flatnonzero(np.any(np.all(final[-1][0] == frames.BAR, axis=2), axis=1))
    assert rows_with_bars.size  # grey bars are drawn
    layout = dataclasses.replace(frames.Layout.for_names(640, 360, names), n_classes=frames.TOP_BARS + 1)
    assert rows_with_bars.max() < layout.bar_span(frames.TOP_BARS)[1]
    label = final[-1][0][int(layout.plot_box[3] + 3):int(layout.plot_box[3] + 30)]
    assert np.any(np.all(label != 255, axis=2)), "the axis says which bars these are"


def test_up_to_12_classes_every_bar_is_shown_in_label_order():
    names = [f"c{k}" for k in range(12)]
    proba = np.linspace(1, 2, 12) / np.linspace(1, 2, 12).sum()
    shown, shown_names, _ = frames.shown_bars(frames.Example(np.eye(5), 0, 11, proba), names)
    assert shown_names == names and shown.true == 0 and shown.predicted == 11


@pytest.mark.parametrize("size", [(1280, 720), (640, 360), (1920, 1080), (320, 240)])
def test_a_name_that_fits_in_the_rows_is_never_cut_in_bold_or_regular(size):
    """Each name is fitted in the weight it is drawn in (bold: the true class): none of Fashion-MNIST's
    names is cut in either weight at any video size."""
    layout = frames.Layout.for_names(*size, FASHION)
    assert layout.orientation == "rows"
    for name in FASHION:
        for bold in (False, True):
            assert frames._fit(name, layout.label_size(), layout.label_room, bold=bold)[0] == name, (name, bold)


def test_a_title_too_long_for_the_frame_is_shrunk_then_cut():
    names = ["a" * 120, "b"]
    ex = frames.Example(np.eye(5), 0, 1, np.array([0.3, 0.7]))
    final = list(frames.example_frames(ex, names, (640, 360), fps=2, seconds=1))[-1][0]
    title_rows = final[10:60]
    ink = np.flatnonzero(np.any(np.all(title_rows == frames.WRONG, axis=2), axis=0))
    assert ink.min() > 0 and ink.max() < 639, "the title stays inside the frame"


def test_captions_name_each_example_in_order_and_escape_markup():
    shown = [example(3, 3), example(3, 5)]
    vtt = frames.captions(shown, [*NAMES[:5], "<5 & up>", *NAMES[6:]], seconds=0.5, fps=10)
    assert vtt.splitlines()[:6] == ["WEBVTT", "", "1", "00:00:00.000 --> 00:00:00.500", "true 3, predicted 3, 82 %", ""]
    assert "true 3, predicted &lt;5 &amp; up&gt;, 82 %" in vtt
    assert "00:00:00.500 --> 00:00:01.000" in vtt


def test_a_png_that_cannot_be_written_is_an_error_naming_the_file(tmp_path):
    """cv2.imwrite would return False and leave the report to fail later on a missing picture."""
    image = np.zeros((4, 6, 3), dtype=np.uint8)
    frames.write_png(image, tmp_path / "still.png")
    assert (tmp_path / "still.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(OSError) as raised:
        frames.write_png(image, tmp_path / "no-folder" / "still.png")
    assert raised.value.filename == str(tmp_path / "no-folder" / "still.png")
