"""The error analysis as drawn and worded: vector charts with readable text, and a confusion matrix
whose every mistake links to its digits and back, in the HTML and (the few featured) in the PDF."""
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from mnist_ova.render import diagnostics, report, views
from mnist_ova.trainer import metrics
from mnist_ova.trainer.statistics import confusion_cells
from mnist_ova.trainer.model import OneVsAllLogisticRegression
from mnist_ova.trainer.preprocess import standardise


@pytest.fixture(scope="module")
def evaluation(small_digits):
    images, labels = small_digits
    X = standardise(images)
    model = OneVsAllLogisticRegression(max_iter=15).fit(X[:480], labels[:480])
    return metrics.evaluate(model, X[:480], labels[:480], X[480:], labels[480:], [f"c{k}" for k in range(10)])


class Links(HTMLParser):
    """Every id and every in-page link (with the id of the element it sits in, when it has one)."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.open = set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag in ("div", "table", "section"):
            self.open.append(attrs.get("id"))
        if tag == "a" and attrs.get("href", "").startswith("#"):
            inside = next((i for i in reversed(self.open) if i), None)
            self.links.append((attrs["href"][1:], inside))

    def handle_endtag(self, tag):
        if tag in ("div", "table", "section") and self.open:
            self.open.pop()


def render_partial(evaluation, target):
    env = report.environment()
    test_rows = np.arange(evaluation.true_index.size) + 1000
    context = {"analysis": diagnostics.context(views.of(evaluation), test_rows=test_rows), "target": target,
               "asset": lambda name: f"{name}.png",
               "dataset": {"image_shape": [28, 28], "source": "test", "n_train": 480, "n_test": 120,
                           "sha256": "0" * 64, "name": "tiny"}, "config": {"solver": "gd"}}
    return env.get_template("analysis.html.j2").render(**context)


@pytest.mark.parametrize("target", ["html", "pdf"])
def test_every_confusion_links_to_its_gallery_and_back(evaluation, target):
    html = render_partial(evaluation, target)
    parsed = Links()
    parsed.feed(html)
    counts = evaluation.confusion.copy()
    np.fill_diagonal(counts, 0)
    cells = {f"confusion-{t}-{p}" for t, p in zip(*np.nonzero(counts))}
    from_matrix = {href for href, inside in parsed.links if inside == "confusion-table"}
    if target == "html":
        assert from_matrix == cells  # every non-empty off-diagonal cell, nothing else
    else:  # the PDF: the few most frequent
        top = {f"confusion-{t}-{p}" for t, p, _ in confusion_cells(evaluation)[:diagnostics.FEATURED]}
        assert from_matrix == top and len(top) == diagnostics.FEATURED
    assert from_matrix <= parsed.ids  # each link has its gallery
    back = {inside for href, inside in parsed.links if href == "confusion-table"}
    assert back == from_matrix and "confusion-table" in parsed.ids  # and each gallery links back
    for t, p in zip(*np.nonzero(counts)):
        link = f'<a href="#confusion-{t}-{p}">{counts[t, p]}</a>'
        assert (link in html) == (f"confusion-{t}-{p}" in from_matrix)


def test_a_gallery_shows_its_digits_with_scores(evaluation):
    html = render_partial(evaluation, "html")
    t, p, rows = confusion_cells(evaluation)[0]
    gallery = html[html.index(f'id="confusion-{t}-{p}"'):]
    gallery = gallery[:gallery.index("Back to the confusion matrix")]
    assert gallery.count("<img") == min(rows.size, diagnostics.GALLERY_LIMIT)
    first = rows[0]
    assert f'src="digit_{first}.png"' in gallery and f"row {1000 + first}<br>" in gallery
    assert f"{100 * evaluation.scores[first, p]:.0f}%" in gallery


@pytest.mark.parametrize("target", ["html", "pdf"])
def test_both_reports_feature_a_handful_and_the_html_folds_the_rest(evaluation, target):
    html = render_partial(evaluation, target)
    cells = confusion_cells(evaluation)
    featured, folded = cells[:diagnostics.FEATURED], cells[diagnostics.FEATURED:]
    open_part = re.sub(r"<details.*?</details>", "", html, flags=re.S)  # what shows before any click
    for t, p, rows in featured:
        start = open_part.index(f'id="confusion-{t}-{p}"')
        gallery = open_part[start:open_part.index("Back to the confusion matrix", start)]
        assert gallery.count("<img") == min(rows.size, diagnostics.HANDFUL)
    assert all(f'id="confusion-{t}-{p}"' not in open_part for t, p, _ in folded)
    if target == "html":  # the rest of each gallery, and every other confusion, one click away
        assert re.search(r'<details class="folded"><summary>The other ' + str(len(folded)) + " confusions", html)
        assert all(f'id="confusion-{t}-{p}"' in html for t, p, _ in folded)
    else:
        assert "<details" not in html and "<summary" not in html


def test_a_class_name_in_a_table_breaks_at_spaces_and_slashes_never_after_a_hyphen(evaluation):
    import dataclasses

    names = ["T-shirt/top", "Ankle boot"] + [f"c{k}" for k in range(2, 10)]
    html = render_partial(dataclasses.replace(evaluation, class_names=names), "html")
    head = re.search(r'<table class="confusion".*?<thead>(.*?)</thead>', html, flags=re.S)[1]
    assert '<th scope="col"><span class="word">T-shirt/</span><wbr>top</th>' in head
    assert '<th scope="col">Ankle boot</th>' in head
    assert '<th scope="row"><span class="word">T-shirt/</span><wbr>top</th>' in html
    assert "span.word { white-space: nowrap; }" in report.environment().get_template("style.css").render()


@pytest.mark.parametrize("target", ["html", "pdf"])
def test_the_flipped_images_show_a_handful_and_the_html_folds_the_rest(evaluation, target):
    analysis = diagnostics.context(views.of(evaluation), test_rows=np.arange(evaluation.true_index.size))
    example = analysis["galleries"][0]["examples"][0]
    flips = {"right_to_wrong": {"count": 40, "examples": [example] * 30},
             "wrong_to_right": {"count": 0, "examples": []}}
    analysis["comparison"] = {"label": "old", "differences": [], "changes": [], "recall_changes": [], "verdict": "none",
                              "main": {"change": 0.0}, "alpha": 0.05, "p_value": 1.0, "pairing_problem": None,
                              "flips": flips}
    html = report.environment().get_template("analysis.html.j2").render(
        analysis=analysis, target=target, asset=lambda name: f"{name}.png", n_test=120)
    gallery = html[html.index('id="flipped-right-to-wrong"'):html.index('id="flipped-wrong-to-right"')]
    shown = re.sub(r"<details>.*?</details>", "", gallery, flags=re.S)
    assert shown.count("<img") == diagnostics.HANDFUL
    assert gallery.count("<img") == (30 if target == "html" else diagnostics.HANDFUL)
    assert ("The first 30 of 40 are\n  shown." if target == "html" else
            f"The first {diagnostics.HANDFUL} of 40 are\n  shown (the HTML report holds 30).") in gallery


def test_a_link_to_a_folded_gallery_opens_it_in_a_browser(evaluation, tmp_path):
    """Chromium (headless) follows the matrix's link to a confusion the HTML folds: its <details> opens, no script."""
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.skip("chromium is not installed")
    css = report.environment().get_template("style.css").render()
    page = tmp_path / "analysis.html"
    page.write_text(f"<!DOCTYPE html><html><head><style>{css}</style></head><body>"
                    f"{render_partial(evaluation, 'html')}</body></html>")
    t, p, _ = confusion_cells(evaluation)[diagnostics.FEATURED]  # the first folded one
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", "--dump-dom",
                          f"{page.as_uri()}#confusion-{t}-{p}"], capture_output=True, text=True, timeout=60).stdout
    assert '<details class="folded" open="">' in dom
    assert '<details class="folded">' in render_partial(evaluation, "html"), "closed until a reader opens it"


def test_context_never_calls_overlapping_recalls_different(evaluation):
    context = diagnostics.context(views.of(evaluation), test_rows=np.arange(evaluation.true_index.size))
    # Groups of tied classes (views.ranking); this data has no tie at either end.
    low, high = context["lowest_recall"][0]["recall_interval"], context["highest_recall"][0]["recall_interval"]
    assert context["recall_gap_real"] == (low["high"] < high["low"])
    html = render_partial(evaluation, "html")
    assert ("larger than the test set's noise" in html) == context["recall_gap_real"]


def svg_font_sizes(path):
    text = path.read_text()
    assert "<text" in text  # text kept as text (svg.fonttype "none"), not paths
    return [float(size) for size in re.findall(r"font-size:\s*([\d.]+)px", text)] + \
           [float(size) for size in re.findall(r"font:\s*(?:[a-z]+\s+)*([\d.]+)px", text)]


def test_charts_are_vector_with_text_of_at_least_7_pt(evaluation, tmp_path):
    names = evaluation.class_names
    diagnostics.reliability(evaluation.analysis, names, tmp_path / "reliability.svg")
    diagnostics.roc_and_precision_recall(views.of(evaluation), tmp_path / "pr.svg")
    for name in ("reliability.svg", "pr.svg"):
        sizes = svg_font_sizes(tmp_path / name)
        assert sizes and min(sizes) >= 7, (name, sorted(set(sizes)))
        width = re.search(r'<svg[^>]* width="([\d.]+)pt"', (tmp_path / name).read_text()).group(1)
        assert float(width) == pytest.approx(16 / 2.54 * 72, rel=0.01)  # drawn at the size it is placed
    again = tmp_path / "again.svg"
    diagnostics.reliability(evaluation.analysis, names, again)
    assert again.read_bytes() == (tmp_path / "reliability.svg").read_bytes()  # reproducible bytes


def test_reliability_draws_only_bins_of_enough_images_and_writes_their_counts(tmp_path):
    from types import SimpleNamespace

    from mnist_ova.trainer.statistics import reliability

    rng = np.random.RandomState(0)
    top = np.concatenate([rng.uniform(0.2, 1.0, 3000), rng.uniform(0.1, 0.2, 40)])  # a bin of fewer than 50
    curve = reliability(top, rng.uniform(size=top.size) < top)
    models = [reliability(rng.uniform(size=800), rng.uniform(size=800) < 0.5) for _ in range(3)]
    analysis = SimpleNamespace(confidence=curve, expected_calibration_error=curve.expected_calibration_error,
                               per_model=models)
    diagnostics.reliability(analysis, ["a", "b", "c"], tmp_path / "r.svg")
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", (tmp_path / "r.svg").read_text()) or \
        re.findall(r"<!-- ([\d,]+) -->", (tmp_path / "r.svg").read_text())
    drawn = {f"{n:,}" for n in curve.count if n >= diagnostics.MIN_BIN}
    left_out = {f"{n:,}" for n in curve.count if n < diagnostics.MIN_BIN}
    assert drawn and left_out and drawn <= set(texts) and not left_out & set(texts)


def test_the_calibration_example_is_a_bin_the_figure_draws(evaluation, monkeypatch):
    monkeypatch.setattr(diagnostics, "MIN_BIN", 5)  # 120 test images: bins of 5 and more are drawn
    a = diagnostics.context(views.of(evaluation), test_rows=np.arange(evaluation.true_index.size))["calibration"]
    curve = evaluation.analysis.confidence
    bin = a["telling_bin"]
    assert bin is not None and bin["count"] >= 5
    i = list(curve.bin_low).index(bin["low"])
    gap = (curve.mean_predicted - curve.observed)[curve.count >= 5]
    assert (curve.mean_predicted[i] - curve.observed[i]) == (gap.max() if a["overconfident"] > 0 else gap.min())
    html = render_partial(evaluation, "html")
    if a["ece"] > 0.05:
        assert (f"of the {bin['count']} test images whose top score lies\nbetween {100 * bin['low']:.0f} and "
                f"{100 * bin['high']:.0f}&nbsp;%, {100 * bin['observed']:.2f}%\nare right") in html
    assert "60&nbsp;%" not in html


def test_a_digit_image_keeps_its_pixels_square(tmp_path):
    from PIL import Image

    image = np.zeros((28, 28), dtype=np.uint8)
    image[3, 5] = 255
    diagnostics.digit(image, tmp_path / "d.png")
    pixels = np.asarray(Image.open(tmp_path / "d.png"))
    assert pixels.shape == (84, 84) and pixels[9:12, 15:18].min() == 255 and pixels.sum() == 9 * 255


def test_strongest_weakest_hardest_and_easiest_name_their_measure(evaluation):
    from sklearn.metrics import roc_auc_score
    from statsmodels.stats.proportion import proportion_confint

    e = evaluation
    context = report.context(views.of(e), title_page={}, dataset={}, config={"iterations": 15}, video={},
                             timings=None, test_rows=np.arange(e.true_index.size))
    auc = [roc_auc_score(e.true_index == k, e.binary_scores[:, k]) for k in range(10)]
    # The weakest model by its AUC, not by its binary accuracy (which flatters every model alike).
    assert context["worst"][0]["name"] == e.class_names[int(np.argmin(auc))]
    assert context["best"][0]["name"] == e.class_names[int(np.argmax(auc))]
    assert context["worst_next"][0]["auc"] == pytest.approx(sorted(auc)[1], rel=1e-12)
    # The hardest class by recall, and whether its Wilson interval keeps it apart from the runner-up.
    order = np.argsort(e.recall, kind="stable")
    found = np.diag(e.confusion)
    low, high = (proportion_confint(found[order[k]], e.support[order[k]], method="wilson") for k in (0, 1))
    assert context["hardest"][0]["name"] == e.class_names[int(order[0])]
    assert context["hardest_shown"] == (low[1] < high[0])
    low, high = (proportion_confint(found[order[k]], e.support[order[k]], method="wilson") for k in (-2, -1))
    assert context["easiest_shown"] == (low[1] < high[0])


def caption_of(html, id):
    match = re.search(r'<table[^>]*id="' + id + r'"[^>]*>\s*<caption>(.*?)</caption>(.*?)</table>', html, flags=re.S)
    return match[1], re.sub(r'<a href="#[^"]*">|</a>', "", match[2])


@pytest.mark.parametrize("counts", [True, False])
def test_past_the_pdf_matrix_limit_a_table_number_means_one_table_in_both_reports(evaluation, monkeypatch, counts):
    """The table the number names is the list of the largest confusions in the PDF and in the HTML alike (the
    HTML's whole matrix, one click away, takes no number); what the text says of the confusion figure follows
    from whether the figure prints the counts."""
    monkeypatch.setattr(diagnostics, "PDF_MATRIX_LIMIT", 5)
    monkeypatch.setattr(diagnostics, "confusion_shows_counts", lambda counts_, names: counts)
    html, pdf = render_partial(evaluation, "html"), render_partial(evaluation, "pdf")
    assert caption_of(html, "confusion-table") == caption_of(pdf, "confusion-table")
    assert "The largest confusions of the test set" in caption_of(pdf, "confusion-table")[0]
    # The whole matrix sits in a <details>; its table has no id, so that nothing can take it for a numbered one.
    matrix = re.search(r'<details class="matrix" id="confusion-matrix">.*?<table class="confusion">\s*<caption>(.*?)'
                       r'</caption>', html, flags=re.S)[1]
    assert "Table" not in matrix and "confusion-matrix" not in pdf
    assert len(re.findall(r'<span class="label">Table \d+\.</span>', html)) == len(
        re.findall(r'<span class="label">Table \d+\.</span>', pdf))
    for report_html in (html, pdf):
        lead = re.search(r"<p>([^<]*<a class=\"ref\" href=\"#fig_confusion\".*?)</p>", report_html, flags=re.S)[1]
        said_shades = "as shades" in lead or "wider than the page" in lead
        assert said_shades == (not counts), lead
        assert ("prints every count" in lead) == counts, lead


def test_the_model_card_names_classes_and_files_without_breaking_after_a_hyphen(evaluation):
    import dataclasses

    names = ["T-shirt/top", "Ankle boot"] + [f"c{k}" for k in range(2, 10)]
    views_ = views.of(dataclasses.replace(evaluation, class_names=names))
    env = report.environment()
    html = env.get_template("model_card.html.j2").render(
        analysis=diagnostics.context(views_, test_rows=np.arange(120)), cite=lambda key: "[1]",
        dataset={"image_shape": [28, 28], "source": "IDX files train-images-idx3-ubyte.gz, t10k-images-idx3-ubyte.gz",
                 "n_train": 480, "n_test": 120, "sha256": "0" * 64, "name": "tiny"},
        config={"solver": "gd"}, profile={"items": "images", "title": "", "not_for": "", "limitations": ""})
    data = re.search(r'<th scope="row">Data</th><td>(.*?)</td>', html, flags=re.S)[1]
    assert '<span class="word">T-shirt/</span><wbr>top, Ankle boot' in data
    assert ('<span class="word">train-images-idx3-ubyte.gz,</span> <span class="word">t10k-images-idx3-ubyte.gz</span>:'
            in data)
