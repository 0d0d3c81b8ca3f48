import numpy as np
import pytest

from mnist_ova.render import learning, training_film
from mnist_ova.trainer.snapshots import Snapshots, snapshot_iterations
from tests.render.test_video import probe


def fake_snapshots(K=10, image_shape=(28, 28), last=1000, seed=0):
    """Snapshots that look like a run: weights growing from zero, costs falling, accuracy rising."""
    rng = np.random.RandomState(seed)
    iterations = snapshot_iterations(last)
    growth = np.log1p(iterations)[:, None, None] / np.log1p(last)
    final = rng.randn(K, int(np.prod(image_shape))) * 0.1
    cost = 0.7 * np.exp(-growth[:, :, 0] * np.linspace(1, 3, K))
    accuracy = 0.5 + 0.4 * growth[:, 0, 0]
    return Snapshots(iterations, growth * final, growth[:, :, 0] * 0.01 * np.ones(K), cost,
                     train_accuracy=np.tile(accuracy[:, None], (1, K)), test_accuracy=np.tile(accuracy[:, None], (1, K)),
                     train_multiclass=accuracy, test_multiclass=accuracy)


NAMES = [str(k) for k in range(10)]


def test_the_film_lasts_about_ten_seconds_holds_the_end_and_skips_nothing():
    counts = training_film.schedule(103, training_film.FPS)
    assert counts.sum() == round(training_film.FPS * training_film.SECONDS)
    assert counts[-1] >= training_film.FPS * training_film.HOLD_SECONDS
    assert counts[:-1].min() >= 0 and np.count_nonzero(counts) >= 100, "about every snapshot gets a frame"
    few = training_film.schedule(5, 12)
    assert few.sum() == 120 and few[:-1].min() > 0


def test_mp4_is_h264_yuv420p_with_the_scheduled_frames_and_the_same_bytes_again(tmp_path):
    shots = fake_snapshots(last=50)
    paths = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for path in paths:
        written = training_film.write_mp4(shots, NAMES, (28, 28), path, size=(320, 180), fps=6, solver_note="gd")
    counts = training_film.schedule(len(shots.iterations), 6)
    assert written == counts.sum()
    # Each snapshot's frame stored once, at its time (the last once more, just before the end).
    assert probe(paths[0]) == ("h264", "yuv420p", (320, 180), np.count_nonzero(counts) + 1,
                               pytest.approx(training_film.SECONDS, abs=1e-3))
    data = paths[0].read_bytes()
    assert data == paths[1].read_bytes() and data.index(b"moov") < data.index(b"mdat")


def test_frames_show_the_weights_on_a_scale_centred_on_zero(tmp_path):
    shots = fake_snapshots()
    size = (1280, 720)
    pairs = list(training_film.film_frames(shots, NAMES, (28, 28), size, training_film.FPS, solver_note="gd"))
    assert all(frame.shape == (720, 1280, 3) and frame.dtype == np.uint8 for frame, _ in pairs)
    assert sum(count for _, count in pairs) == training_film.schedule(len(shots.iterations), training_film.FPS).sum()
    last = pairs[-1][0]
    np.testing.assert_array_equal(last, training_film.frame_of(shots, NAMES, (28, 28), size, len(shots.iterations) - 1,
                                                               solver_note="gd"))
    layout = training_film.Layout.make(*size, 10, (28, 28))
    x, y, w, h = layout.tiles[0]
    tile = last[y:y + h, x:x + w].reshape(-1, 3).astype(int)
    weights = shots.coef[-1, 0]
    colours = training_film.diverging_rgb(weights, training_film.weight_limit(shots.coef[-1])).reshape(-1, 3)
    assert {tuple(c) for c in tile} <= {tuple(c) for c in colours}, "the tile shows exactly the weights' colours"
    assert tuple(training_film.diverging_rgb(0.0, 1.0)) == tuple(training_film.diverging_colours()[128])
    red, blue = training_film.diverging_rgb(1.0, 1.0), training_film.diverging_rgb(-1.0, 1.0)
    assert red[0] > red[2] and blue[2] > blue[0]
    assert not np.array_equal(pairs[0][0], last), "the frames change as training goes on"


@pytest.mark.parametrize("K, image_shape", [(10, (28, 28)), (47, (28, 28)), (10, (20, 40)), (3, (40, 16))])
def test_the_tiles_keep_the_images_shape_and_never_overlap(K, image_shape):
    for size in ((1280, 720), (640, 360)):
        layout = training_film.Layout.make(*size, K, image_shape)
        boxes = layout.tiles
        assert len(boxes) == K
        for x, y, w, h in boxes:
            assert abs(w / h - image_shape[1] / image_shape[0]) < 0.1
            assert 0 <= x and x + w <= size[0] * 0.6 and 0 <= y and y + h <= size[1]
        for i, (x, y, w, h) in enumerate(boxes):
            for x2, y2, w2, h2 in boxes[i + 1:]:
                assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y


def test_tiles_are_named_as_large_as_they_allow_down_to_a_legible_size():
    """30 classes keep their names (smaller ones); only where even 16 pixels a name do not fit are they left out."""
    sizes = {K: training_film.Layout.make(1280, 720, K, (28, 28)).label_size for K in (10, 30, 200)}
    assert sizes[10] == 26 and 16 <= sizes[30] < 26 and sizes[200] == 0
    layout = training_film.Layout.make(1280, 720, 30, (28, 28))
    assert all(w >= 3.2 * layout.label_size for _, _, w, _ in layout.tiles)


def test_many_class_film_renders(tmp_path):
    shots = fake_snapshots(K=47, last=30)
    names = [f"class {k}" for k in range(47)]
    frame = training_film.frame_of(shots, names, (28, 28), (640, 360), 10, solver_note="gd")
    assert frame.shape == (360, 640, 3)


def test_gif_is_small_holds_the_end_and_keeps_white(tmp_path):
    from PIL import Image

    shots = fake_snapshots(last=200)
    path = tmp_path / "t.gif"
    stored = training_film.write_gif(shots, NAMES, (28, 28), path, solver_note="gd")
    with Image.open(path) as image:
        assert image.size == training_film.GIF_SIZE and image.n_frames == stored
        durations = []
        for i in range(image.n_frames):
            image.seek(i)
            durations.append(image.info["duration"])
        corner = np.asarray(image.convert("RGB"))[2, 2]
    assert sum(durations) == pytest.approx(1000 * training_film.SECONDS, abs=10 * len(durations))
    assert durations[-1] >= 1000 * training_film.HOLD_SECONDS
    assert tuple(corner) == (255, 255, 255)


def test_captions_are_webvtt_timed_to_the_film(tmp_path):
    shots = fake_snapshots()
    text = training_film.captions(shots, training_film.FPS)
    lines = text.split("\n")
    assert lines[0] == "WEBVTT"
    cues = [i for i, line in enumerate(lines) if "-->" in line]
    assert 8 <= len(cues) <= 12
    assert [lines[i - 1] for i in cues] == [str(n) for n in range(1, len(cues) + 1)]
    assert lines[cues[0]].startswith("00:00:00.000 --> ")
    assert lines[cues[-1]].endswith(f" --> 00:00:{training_film.SECONDS:02.0f}.000")
    assert lines[cues[0] + 1].startswith("iteration 1 of 1,000: test accuracy")
    assert lines[cues[-1] + 1].startswith("iteration 1,000 of 1,000")


def test_learning_figure_picks_five_log_spaced_iterations_and_is_reproducible(tmp_path):
    shots = fake_snapshots()
    chosen = [int(shots.iterations[s]) for s in learning.picks(shots.iterations)]
    assert chosen[0] == 1 and chosen[-1] == 1000 and len(chosen) == 5
    assert all(3 < b / a < 8 for a, b in zip(chosen, chosen[1:]))
    for name in ("a.svg", "b.svg"):
        learning.learning_figure(shots, NAMES, (28, 28), tmp_path / name)
    svg = (tmp_path / "a.svg").read_text()
    assert svg == (tmp_path / "b.svg").read_text()
    assert "iteration 1,000" in svg and "test accuracy 90.0 %" in svg


def test_learning_figure_names_every_tile_when_the_models_wrap_onto_more_lines(tmp_path):
    """30 models: three lines of tiles in each row, every tile under its own name (the first line only, before)."""
    shots = fake_snapshots(K=30, last=300)
    names = [f"c{k:02d}" for k in range(30)]  # short enough for a tile
    learning.learning_figure(shots, names, (28, 28), tmp_path / "many.svg")
    svg = (tmp_path / "many.svg").read_text()
    rows = learning.picks(shots.iterations, learning.layout(names, (28, 28)).rows)  # as many as fit a page
    assert all(svg.count(f">c{k:02d}<") == len(rows) for k in range(30))


FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
TWENTY_SIX = FASHION + [f"digit {w}" for w in ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                                "nine")] + [f"rotated {w}" for w in ("zero", "one", "two", "three",
                                                                                     "four", "five")]


@pytest.mark.parametrize("names, size", [(FASHION, (1280, 720)), (FASHION, (640, 360)), (TWENTY_SIX, (1280, 720))])
def test_every_tile_is_named_in_full_never_cut_inside_a_word(names, size):
    layout = training_film.Layout.make(*size, len(names), (28, 28), names=names)
    assert layout.label_size >= round(16 * size[1] / 720)
    for name in names:
        lines = layout.name_lines(name)
        assert lines and " ".join(lines).replace("/ ", "/") == name, (name, lines)
        assert not any(line.endswith("-") for line in lines)


def test_past_twelve_classes_the_film_colours_three_models_as_the_cost_chart_does_and_greys_the_rest():
    from mnist_ova.render import figures, palette

    shots = fake_snapshots(K=26, last=30)
    colours = training_film.model_colours(shots, TWENTY_SIX)
    chart = figures.class_lines(TWENTY_SIX, shots.cost[-1], highest=True)
    named = [k for k, _, _, own in chart if own]
    assert [colours[k] for k in named] == list(palette.CLASS_COLOURS[:3])
    assert all(colours[k] == palette.OTHERS for k in range(26) if k not in named)
    assert training_film.model_colours(fake_snapshots(K=10), FASHION) == list(palette.CLASS_COLOURS)
