"""The figure "How the models learned" fits a page at the size it was drawn, so print never shrinks its words,
and the chapter names the iterations the figure shows."""
import re

import pytest

from mnist_ova.render import figures, learning

from tests.render.test_training_film import fake_snapshots


@pytest.mark.parametrize("K, shape, rows", [(10, (28, 28), 5), (10, (8, 8), 5), (26, (28, 28), 3), (62, (28, 28), 2)])
def test_the_figure_shows_as_many_snapshots_as_fit_a_page(tmp_path, K, shape, rows):
    shots = fake_snapshots(K=K, image_shape=shape, last=300)
    names = [f"c{k:02d}" for k in range(K)]
    learning.learning_figure(shots, names, shape, tmp_path / "learning.svg")
    svg = (tmp_path / "learning.svg").read_text()
    height = float(re.search(r'<svg[^>]* height="([\d.]+)pt"', svg)[1]) / 72
    assert learning.layout(names, shape).rows == rows and height <= figures.MAX_HEIGHT + 0.01
    # One line of models a row: the names head the columns once; more lines: every line names its tiles.
    assert svg.count(">c00<") == (1 if K <= learning.MAX_COLUMNS else rows)
    said = learning.context(shots, film_mp4=False, film_gif=False, film_seconds=10, image_shape=shape)
    assert len(said["shown"]) == rows and said["shown"][0] == 1 and said["shown"][-1] == 300
    # Without the shape, a square image of the weights' pixel count is assumed.
    assert learning.context(shots, film_mp4=False, film_gif=False, film_seconds=10)["shown"] == said["shown"]


def test_long_names_break_between_words_on_two_lines_and_the_chapter_counts_the_rows_drawn(tmp_path):
    """26 long names: each tile's name in full on two lines (never 'rotat…'), and the chapter names as many
    snapshots as the figure, with its taller name lines, draws."""
    from tests.render.test_training_film import TWENTY_SIX

    shots = fake_snapshots(K=26, last=300)
    learning.learning_figure(shots, TWENTY_SIX, (28, 28), tmp_path / "long.svg")
    svg = (tmp_path / "long.svg").read_text()
    fit = learning.layout(TWENTY_SIX, (28, 28))
    assert "…" not in svg and svg.count(">rotated<") == 6 * fit.rows and svg.count(">five<") == fit.rows
    assert svg.count(">digit five<") == fit.rows, "a name that fits one line stays on one"
    assert fit.names_h > learning.layout([f"c{k}" for k in range(26)], (28, 28)).names_h
    said = learning.context(shots, film_mp4=False, film_gif=False, film_seconds=10, names=TWENTY_SIX)
    assert len(said["shown"]) == fit.rows


def test_names_too_long_for_any_tile_give_way_before_the_figure_outgrows_a_page(tmp_path):
    """47 models, some with one 17-letter word: tiles wide enough for it would need 12 lines a row, taller than a
    page for two snapshots; the names are shortened instead, and the figure stays within figures.MAX_HEIGHT."""
    names = [f"Q{k:02d}" if k % 5 else f"Quiteverylongname{k:02d}" for k in range(47)]
    shots = fake_snapshots(K=47, last=300)
    learning.learning_figure(shots, names, (28, 28), tmp_path / "many.svg")
    svg = (tmp_path / "many.svg").read_text()
    height = float(re.search(r'<svg[^>]* height="([\d.]+)pt"', svg)[1]) / 72
    fit = learning.layout(names, (28, 28))
    assert height <= figures.MAX_HEIGHT + 0.01 and fit.rows == 2 and fit.columns > 4
    assert svg.count(">Q01<") == 2, "the short names stay whole"
