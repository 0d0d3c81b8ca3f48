"""The figures with 2 to 26 classes and long, alike or non-ASCII names: typeset the way the PDF
typesets them (WeasyPrint), no two words may meet and no text may be under 7 pt."""
import html
import re

import numpy as np
import pytest

from mnist_ova.render import figures, palette, report, views
from mnist_ova.trainer import metrics
from mnist_ova.trainer.model import OneVsAllLogisticRegression
from tests.render.test_report_quality import overlaps, pdf_words, type_sizes

ALIKE = [f"Ankle boot, size {k} (left foot)" for k in range(26)]
MIXED = ["Ünïcödé café", "$\\alpha$_^{x}", "T-shirt/top", "Sandal", "a" * 60, "Trouser", "Pullover",
         "Dress", "Coat", "Shirt", "Sneaker", "Bag"]


def evaluation(names, side=8, seed=0):
    rng = np.random.RandomState(seed)
    K = len(names)
    y = np.repeat(np.arange(K), 12)
    X = rng.normal(size=(y.size, side * side)) + np.eye(K, side * side)[y] * 3
    model = OneVsAllLogisticRegression(max_iter=15).fit(X[::2], y[::2])
    return metrics.evaluate(model, X[::2], y[::2], X[1::2], y[1::2], names), model, X.reshape(-1, side, side)


def draw_all(names, folder):
    e, model, images = evaluation(names)
    paths = {name: folder / f"{name}.svg" for name in
             ("fig_accuracy", "fig_cost", "fig_confusion", "fig_per_class", "fig_roc", "fig_weights", "fig_samples",
              "fig_examples", "fig_misclassified", *figures.EQUATIONS)}
    figures.chart_figures(views.of(e), paths)
    figures.image_figures(e, weights=model.coef_, images=images, class_index=np.arange(len(images)) % len(names),
                          train_rows=np.arange(12), test_images=images[1::2], example_rows=np.arange(6), paths=paths)
    return paths


@pytest.fixture(scope="module", params=[ALIKE, MIXED, ["yes", "no"]], ids=["26 alike", "12 mixed", "2"])
def typeset(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("figures")
    paths = {k: v for k, v in draw_all(request.param, folder).items() if k.startswith("fig_") and v.is_file()}
    urls = report.inline_assets(paths)
    html = "<style>@page { size: A4; margin: 18mm } img { display: block }</style>" + "".join(
        f'<div style="break-before: page"><img src="{urls[name]}" alt=""></div>' for name in paths)
    pdf = folder / "figures.pdf"
    report.write_pdf(html, pdf, base_url=folder)
    return request.param, paths, pdf


def test_figures_fit_the_text_column(typeset):
    _, paths, _ = typeset
    for name, path in paths.items():
        width, height = (float(v) for v in re.search(r'<svg[^>]*width="([\d.]+)pt" height="([\d.]+)pt"',
                                                      path.read_text()).groups())
        assert width <= figures.TEXT_WIDTH * 72 + 0.5, name
        assert height <= figures.MAX_HEIGHT * 72 + 0.5, name  # a page with its caption, heading and lead sentence


def test_no_two_words_meet(typeset):
    names, _, pdf = typeset
    pages = pdf_words(pdf)
    for number, words in pages.items():
        assert not overlaps(words, slack=0.3), f"page {number}"
    text = " ".join(w[4] for words in pages.values() for w in words)
    # Every class is named in words a reader can search for, non-ASCII and TeX-like ones literally; a
    # word too long for its place keeps its beginning, followed by an ellipsis.
    first_words = [name.split()[0] for name in names]
    missing = [w for w in first_words if w not in text and not re.search(re.escape(w[:8]) + r"\w*…", text)]
    assert not missing, missing


def test_no_text_under_7_points_and_every_word_is_text(typeset):
    _, paths, pdf = typeset
    sizes = type_sizes(pdf)
    assert not [s for s in sizes if s[0] < 6.95 and s[1].strip()]
    assert len({page for *_, page in sizes}) == len(paths), "every figure's words are selectable text"


def test_wrap_and_ellipsize_keep_to_the_width():
    for text in ("true Ankle boot,\npredicted T-shirt/top", "a" * 80, "one two three four five six seven"):
        wrapped = figures.wrap(text, 60, 7.5, max_lines=2)
        assert wrapped.count("\n") <= 1
        assert all(figures.text_width(line, 7.5) <= 60 for line in wrapped.split("\n"))
    assert figures.wrap("T-shirt/top", 200) == "T-shirt/top"
    assert figures.ellipsize("a" * 80, 40).endswith("…")
    assert figures.literal("$x_1$") == r"\$x_1\$"


def test_equations_have_words_for_alt_text():
    for name, (tex, words) in figures.EQUATIONS.items():
        assert len(words) > 30 and "\\" not in words and "$" not in words, name


@pytest.mark.parametrize("text, width, expected", [
    ("Ankle boot", 200, ["Ankle boot"]), ("Ankle boot", 30, ["Ankle", "boot"]),
    ("T-shirt/top", 40, ["T-shirt/", "top"]), ("T-shirt/top", 20, None), ("a b c", 10, None)])
def test_names_break_at_spaces_or_after_a_slash_never_inside_a_word(text, width, expected):
    assert figures.break_words(text, width, len_in_points, max_lines=2) == expected


def len_in_points(text):
    return 4 * len(text)


def test_a_grid_of_many_images_stays_within_the_page_and_keeps_its_type_size(tmp_path):
    rng = np.random.RandomState(0)
    figures.weights_grid(rng.normal(size=(62, 64)), (8, 8), [f"class {k}" for k in range(62)], tmp_path / "w.svg")
    svg = (tmp_path / "w.svg").read_text()
    height = float(re.search(r'<svg[^>]*height="([\d.]+)pt"', svg).group(1))
    assert height <= figures.MAX_HEIGHT * 72 + 0.5
    assert min(float(size) for size in re.findall(r"font-size:\s*([\d.]+)px", svg)) >= figures.MIN_FONT


@pytest.mark.parametrize("low, high", [(0.2, 0.26), (0.5, 0.55), (0.02, 0.3), (0.0011, 0.7), (1e-5, 10.0)])
def test_a_log_axis_labels_at_least_three_values_inside_its_range(low, high):
    ticks = figures.log_ticks(low, high)
    assert len(ticks) >= 3 and all(low <= t <= high for t in ticks) and ticks == sorted(set(ticks))


@pytest.mark.parametrize("final", [0.2, 0.02], ids=["narrow", "wide"])
def test_the_cost_figure_labels_enough_of_its_log_axis_to_read_a_curve_off(tmp_path, final):
    """Review finding 11: costs from 0.02 to 0.26 had one label on their axis, "0.1"."""
    histories = [np.geomspace(0.26 if k else 0.3, final * (1 + k / 10), 100) for k in range(3)]
    figures.cost_curves(histories, ["a", "b", "c"], tmp_path / "cost.svg")
    svg = (tmp_path / "cost.svg").read_text()
    # The y axis' labels end at the axis (text-anchor: end); the x axis' are centred, the key's start.
    labels = [html.unescape(t) for t in re.findall(r'<text style="[^"]*text-anchor: end"[^>]*>([^<]+)</text>', svg)]
    assert len(labels) >= 3, labels
    values = [float(label.replace("\u2212", "-")) for label in labels]
    assert min(values) >= final * 0.9 and max(values) <= 0.3 * 1.1


@pytest.mark.parametrize("limit", [0.1, 0.013, 0.06, 0.3, 2.5])
def test_the_weights_colour_bar_labels_stand_apart(tmp_path, limit):
    """At a largest weight of 0.1 matplotlib's default labelled the bar -0.100, -0.075, ... 0.100, 1.5 pt apart."""
    coef = np.linspace(-limit, limit, 10 * 784).reshape(10, 784)
    figures.weights_grid(coef, (28, 28), [str(k) for k in range(10)], tmp_path / "weights.svg")
    html = f'<img src="{report.inline_assets({"w": tmp_path / "weights.svg"})["w"]}" alt="">'
    report.write_pdf(html, tmp_path / "weights.pdf", base_url=tmp_path)
    words = pdf_words(tmp_path / "weights.pdf")[1]
    bottom = max(w[1] for w in words)
    ticks = sorted((w for w in words if re.fullmatch(r"[−-]?\d[\d.]*", w[4]) and w[1] > bottom - 30), key=lambda w: w[0])
    gaps = [b[0] - a[2] for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) >= 3 and min(gaps) >= 6, [(w[4], round(g, 1)) for w, g in zip(ticks, gaps)]


def test_past_the_key_limit_a_named_class_keeps_its_own_colour_in_every_chart():
    """The three classes a chart names past KEY_LIMIT took its first three colours by rank: on the 26-class set navy
    was model 8 in the cost chart and model 9 in the reliability panel. A class's colour and line style are now its
    own, and the film's colours follow the cost chart's."""
    from types import SimpleNamespace

    from mnist_ova.render import training_film

    names = [f"c{k}" for k in range(26)]
    cost = np.arange(26.0)  # names 25, 24 and 23
    error = np.zeros(26)
    error[[24, 5, 15]] = [3, 2, 1]  # names 24, 5 and 15: 5 and 15 share a colour
    charts = [{k: (style["color"], style["linestyle"]) for k, style, _, named in
               figures.class_lines(names, values, highest=True) if named} for values in (cost, error)]
    assert sorted(charts[0]) == [23, 24, 25] and sorted(charts[1]) == [5, 15, 24]
    assert charts[0][24] == charts[1][24] == (palette.class_colour(24), palette.class_dash(24))
    assert len(set(charts[1].values())) == 3, "two named classes of one colour differ in line style"
    film = training_film.model_colours(SimpleNamespace(cost=cost[None, :]), names)
    assert [palette.hex_colour(film[k]) for k in (23, 24, 25)] == [charts[0][k][0] for k in (23, 24, 25)]


def test_the_per_class_dots_have_guides_across_the_row_not_stems_from_the_cut_axis(tmp_path):
    """Figure 7's axis starts near its lowest value: a line from there to each dot read as a bar's length."""
    rng = np.random.RandomState(0)
    scores = [rng.uniform(0.6, 1.0, 10) for _ in range(3)]
    figures.per_class(*scores, [str(k) for k in range(10)], tmp_path / "per_class.svg")
    svg = (tmp_path / "per_class.svg").read_text()
    ends = [max(float(x) for x in re.findall(r"[ML] ([-\d.]+) [-\d.]+", d))
            for d in re.findall(r'<path d="([^"]+)"[^>]*style="[^"]*stroke: ?#eceff1', svg)]
    assert len(ends) == 30 and len({round(e) for e in ends}) == 3, ends  # one right end per panel
