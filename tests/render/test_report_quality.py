"""The report as a reader, a printer and a screen reader get it: built once with long, alike and
non-ASCII class names, then checked in its PDF (metadata, tags, word boxes, type sizes, numbering)
and in Chromium (axe-core, a phone-wide screen, the captions track)."""
import datetime
import html.parser
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

from mnist_ova.pipeline.cli import main
from tests.conftest import REPO

EPOCH = 1700000000
LONG_NAMES = ["T-shirt/top", "Trouser", "Pullover with a very long hood", "Dress", "Coat", "Sandal $x_1$",
              "Shirt", "Sneaker", "Bag ñ & <b>", "Ankle boot"]
SMALL = ["--iterations", "30", "--examples", "4", "--fps", "10", "--seconds-per-example", "0.5",
         "--video-size", "320x240", "--quiet"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def need(tool):
    if not shutil.which(tool):
        if os.environ.get("CI"):
            pytest.fail(f"CI must install {tool} (.ci/run does)")
        pytest.skip(f"{tool} is not installed")


@pytest.fixture(scope="module")
def long_names(tmp_path_factory, small_digits):
    """A run with long class names (one with $…$ that mathtext would typeset, one with HTML), described
    as Fashion-MNIST (--dataset)."""
    data = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(data, X=small_digits[0], y=small_digits[1])
    out = tmp_path_factory.mktemp("long")
    os.environ["SOURCE_DATE_EPOCH"] = str(EPOCH)
    try:
        assert main(["--data", str(data), "--out", str(out), "--class-names", ",".join(LONG_NAMES), "--dataset", "fashion-mnist",
                     "--formats", "html,pdf,mp4,figures,training", "--author", "Zoë O'Brien", "--course", "ML 101",
                     *SMALL]) == 0
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
    return out


def tiny_data(out):
    """The data file the ``long_names`` run read, as its model records it."""
    from mnist_ova.trainer.persist import load_model

    return load_model(out / "model.npz")[1]["data"]


def pdf_words(pdf):
    """{page number: [(xmin, ymin, xmax, ymax, word)]} from poppler's word boxes."""
    need("pdftotext")
    xhtml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout
    pages = {}
    for number, page in enumerate(xhtml.split("<page ")[1:], start=1):
        pages[number] = [(float(a), float(b), float(c), float(d), html.unescape(w)) for a, b, c, d, w in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', page)]
    return pages


def overlaps(words, slack=0.5):
    """Pairs of words whose boxes overlap by more than ``slack`` points both ways."""
    if len(words) < 2:
        return []
    box = np.array([w[:4] for w in words])
    wide = np.minimum(box[:, None, 2], box[None, :, 2]) - np.maximum(box[:, None, 0], box[None, :, 0])
    tall = np.minimum(box[:, None, 3], box[None, :, 3]) - np.maximum(box[:, None, 1], box[None, :, 1])
    hit = np.triu((wide > slack) & (tall > slack), k=1)
    return [(words[i][4], words[j][4]) for i, j in zip(*np.nonzero(hit))]


def type_sizes(pdf):
    """(size in points, character, page) of every character in the PDF's text layer; the size read
    across the text line, so turned text counts as well."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTChar

    found = []

    def walk(item, page):
        if isinstance(item, LTChar):
            a, b = item.matrix[:2]
            found.append((item.width if abs(b) > abs(a) else item.height, item.get_text(), page))
        elif hasattr(item, "__iter__"):
            for child in item:
                walk(child, page)

    for number, page in enumerate(extract_pages(str(pdf)), start=1):
        walk(page, number)
    return found


def test_pdf_metadata_is_the_title_page_and_the_build_date(long_names):
    need("pdfinfo")
    info = dict(line.split(":", 1) for line in subprocess.run(
        ["pdfinfo", "-isodates", str(long_names / "report.pdf")], capture_output=True, text=True,
        check=True).stdout.splitlines() if ":" in line)
    info = {k: v.strip() for k, v in info.items()}
    assert info["Title"] == "Fashion-Product Image Recognition with a Neural-Network Mindset"  # the profile's
    assert info["Author"] == "Zoë O'Brien"
    assert "one-vs-all logistic regression" in info["Subject"] and "fashion-product images" in info["Subject"]
    assert info["Keywords"] == ("fashion-product image recognition, Fashion-MNIST, logistic regression, one-vs-all, "
                                "gradient descent")
    when = datetime.datetime.fromtimestamp(EPOCH, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    assert info["CreationDate"].startswith(when) and info["ModDate"].startswith(when)
    assert info["Tagged"] == "yes"


def test_pdf_keeps_a_bookmark_per_section(long_names):
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfparser import PDFParser

    with open(long_names / "report.pdf", "rb") as f:
        titles = [title for _, title, *_ in PDFDocument(PDFParser(f)).get_outlines()]
    for section in ("Abstract", "1. Introduction", "5. How the models learned", "6. Results", "9. Error analysis",
                    "10. Discussion and limitations", "12. Model card", "13. References", "14. Appendix"):
        assert section in titles


def test_no_two_words_overlap_in_the_pdf(long_names):
    pages = pdf_words(long_names / "report.pdf")
    assert sum(len(words) for words in pages.values()) > 2000
    words = " ".join(w[4] for page in pages.values() for w in page)
    assert "$x_1$" in words and "ñ" in words and "<b>" in words  # names shown literally, not typeset
    for number, page in pages.items():
        assert not overlaps(page), f"page {number}"


def test_no_text_in_the_pdf_is_under_7_points(long_names):
    sizes = type_sizes(long_names / "report.pdf")
    figure_text = [s for s in sizes if s[0] < 10]
    assert len(figure_text) > 1000  # the charts' words are text, not pictures
    small = [s for s in sizes if s[0] < 6.95 and s[1].strip()]
    assert not small, small[:5]


class _Numbers(html.parser.HTMLParser):
    """Figures, tables, their captions' numbers and the references to them, from report.html."""

    def __init__(self):
        super().__init__()
        self.stack, self.numbered, self.refs, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("figure", "table"):
            self.stack.append([tag, attrs.get("id"), ""])
        if tag == "a" and "ref" in (attrs.get("class") or ""):
            self.refs.append([attrs["href"][1:], ""])
            self.text = self.refs[-1]

    def handle_data(self, data):
        for entry in self.stack:
            if entry[2].count(".") < 1:
                entry[2] += data
        if self.text:
            self.text[1] += data

    def handle_endtag(self, tag):
        if tag == "a":
            self.text = []
        if tag in ("figure", "table") and self.stack:
            self.numbered.append(self.stack.pop())


def test_figures_and_tables_are_numbered_in_order_and_referenced_in_the_text(long_names):
    parser = _Numbers()
    parser.feed((long_names / "report.html").read_text())
    numbers = {}
    for kind, word in (("figure", "Figure"), ("table", "Table")):
        placed = [(id, label.strip()) for tag, id, label in parser.numbered if tag == kind]
        placed = sorted(placed, key=lambda p: int(re.match(rf"{word} (\d+)", p[1]).group(1)))
        assert [label.split(".")[0] for _, label in placed] == [f"{word} {n}" for n in range(1, len(placed) + 1)]
        numbers.update({id: label.split(".")[0] for id, label in placed})
    assert len(numbers) >= 18
    referenced = {id for id, _ in parser.refs}
    assert referenced == set(numbers), "every figure and table is referred to in the text, and nothing else"
    for id, text in parser.refs:
        assert text == numbers[id]
    pdf_text = " ".join(w[4] for page in pdf_words(long_names / "report.pdf").values() for w in page)
    for label in numbers.values():
        if label != "Figure 11":  # the HTML's GIF figure
            assert label in pdf_text


def test_captions_track_is_valid_webvtt_with_one_cue_per_example(long_names):
    text = (long_names / "predictions.vtt").read_text(encoding="utf-8")
    assert text.startswith("WEBVTT\n\n")
    cues = re.findall(r"(\d+)\n(\d\d:\d\d:\d\d\.\d\d\d) --> (\d\d:\d\d:\d\d\.\d\d\d)\n(.+)\n", text)
    assert len(cues) == 4
    seconds = [sum(float(p) * m for p, m in zip(t.split(":"), (3600, 60, 1))) for c in cues for t in c[1:3]]
    assert seconds == sorted(seconds) and seconds[0] == 0 and seconds[-1] == pytest.approx(2.0)
    names = "|".join(re.escape(n.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")) for n in LONG_NAMES)
    for cue in cues:
        assert re.fullmatch(rf"true ({names}), predicted ({names}), \d+ %", cue[3]), cue[3]


def axe_script():
    for path in (os.environ.get("AXE_CORE_JS"), REPO / "node_modules" / "axe-core" / "axe.min.js"):
        if path and os.path.isfile(path):
            return str(path)
    if os.environ.get("CI"):
        pytest.fail("CI must install axe-core (.ci/run does: npm install axe-core)")
    pytest.skip("axe-core is not installed (npm install --no-save axe-core)")


@pytest.fixture(scope="module")
def browser():
    need("chromium")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS, headless=True,
            viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


def test_axe_finds_no_wcag_or_best_practice_violations(long_names, browser):
    script = axe_script()
    page = browser.new_page()
    page.goto((long_names / "report.html").as_uri())
    page.add_script_tag(path=script)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        violations = page.evaluate("""async () => (await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})).violations
            .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))""")
        assert violations == [], width
    page.close()


def test_html_has_landmarks_and_reads_on_a_phone(long_names, browser):
    page = browser.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto((long_names / "report.html").as_uri())
    assert page.evaluate("document.querySelectorAll('main').length") == 1
    assert page.evaluate("document.querySelector('nav a[href=\"#introduction\"]') !== null")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing scrolls sideways"
    assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('main p')).fontSize)") >= 15
    # A table wider than the phone scrolls in its box; its caption stays the box's width (it was cut mid-line).
    boxes = page.evaluate("[...document.querySelectorAll('.wide')].map(w => [w.clientWidth, w.scrollWidth, "
                          "w.querySelector('caption') ? w.querySelector('caption').getBoundingClientRect().width : 0])")
    assert any(wide > box for box, wide, _ in boxes), f"the case: a table wider than the phone {boxes}"
    assert all(caption <= box + 1 for box, _, caption in boxes), boxes
    # A keyed table's heads sit over their left-aligned values ("Value" was right-aligned over them).
    heads = page.evaluate("[...document.querySelectorAll('table.keyed th[scope=col]')].map(t => getComputedStyle(t).textAlign)")
    assert heads and set(heads) == {"left"}, heads
    alts = page.evaluate("[...document.querySelectorAll('img')].map(i => i.alt)")
    assert all(alt and not alt.startswith(("eq_", "fig_")) for alt in alts)
    assert any(alt.startswith("x prime equals") for alt in alts)
    page.close()


def test_video_has_a_poster_and_its_captions_load(long_names, browser):
    page = browser.new_page()
    page.goto((long_names / "report.html").as_uri())
    assert page.evaluate("document.querySelector('#fig_video video').poster.startsWith('data:image/png')")
    page.wait_for_function("document.querySelector('#fig_video video').textTracks.length === 1 && "
                           "document.querySelector('#fig_video video').textTracks[0].cues && "
                           "document.querySelector('#fig_video video').textTracks[0].cues.length === 4", timeout=20_000)
    track = page.evaluate("(() => { const t = document.querySelector('#fig_video video').textTracks[0]; "
                          "return [t.kind, t.language, t.cues[0].text]; })()")
    assert track[0] == "captions" and track[1] == "en" and track[2].startswith("true ")
    page.close()


def pdf_text(pdf):
    need("pdftotext")
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_the_pdf_speaks_of_fashion_mnist_and_of_no_other_data_set(long_names):
    text = " ".join(pdf_text(long_names / "report.pdf").split())
    for foreign in ("digit", "Census", "handwrit", "LeCun", "crossed seven", "writer", "ink"):
        assert not re.search(rf"\b{foreign}", text, re.IGNORECASE), foreign
    assert not re.search(r"(?<![\w-])MNIST(?![\w-])", text), "MNIST named on its own"
    references = text[text.rindex("References"):]
    assert "[1] H. Xiao, K. Rasul and R. Vollgraf. Fashion-MNIST: a novel image dataset" in references
    assert "Fashion-MNIST was made by H. Xiao" in text and "Licence: MIT." in text
    assert text.count("Fashion-Product Image Recognition with a Neural-Network Mindset") > 10  # the page headers


def test_rendering_again_keeps_the_title_page_of_the_run(long_names, tmp_path):
    assert main(["render", "--model", str(long_names / "model.npz"), "--out", str(tmp_path), "--formats", "pdf",
                 *SMALL]) == 0
    text = pdf_text(tmp_path / "report.pdf")
    assert "Zoë O'Brien" in text and "ML 101" in text
    assert main(["render", "--model", str(long_names / "model.npz"), "--out", str(tmp_path), "--formats", "pdf",
                 "--author", "Someone Else", *SMALL]) == 0
    assert "Someone Else" in pdf_text(tmp_path / "report.pdf")


def test_the_timings_say_when_the_model_was_reused_and_how_long_it_took(long_names, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    args = ["--out", str(tmp_path), "--formats", "pdf", *SMALL]
    model_data = tiny_data(long_names)
    assert main(["train", "--data", str(model_data), *args]) == 0
    assert main(["--data", str(model_data), *args]) == 0  # the same data and config: the model is reused
    text = " ".join(pdf_text(tmp_path / "report.pdf").split())
    assert re.search(r"Training reused from the saved model, trained in \d+\.\d\d s", text), text[-800:]
    assert "Loading the data" in text and "load_s" not in text


def test_timing_rows_name_each_stage():
    from mnist_ova.render import report

    rows = report.timing_rows({"load_s": 0.5, "train_s": 2.0, "snapshots_s": 0.25, "evaluate_s": 0.1}, None)
    assert rows == [("Loading the data", "0.50 s"), ("Training", "2.00 s"),
                    ("Scoring the snapshots of training", "0.25 s"), ("Evaluating the models", "0.10 s")]
    reused = report.timing_rows({"load_s": 0.5, "evaluate_s": 0.1}, {"reused": True, "train_seconds": 7.5})
    assert reused[1] == ("Training", "reused from the saved model, trained in 7.50 s")


def test_no_body_page_is_more_than_half_empty_unless_a_chapter_follows(long_names, tmp_path):
    need("pdftoppm")
    from PIL import Image

    subprocess.run(["pdftoppm", "-r", "20", "-gray", "-png", str(long_names / "report.pdf"), str(tmp_path / "p")],
                   check=True)
    pages = sorted(tmp_path.glob("p-*.png"))
    words = pdf_words(long_names / "report.pdf")
    for number, path in enumerate(pages[1:-1], start=2):  # the title page and the last page may end early
        ink = np.asarray(Image.open(path)) < 200
        body = ink[int(0.05 * ink.shape[0]):int(0.93 * ink.shape[0])]  # below the running head, above the folio
        filled = (np.flatnonzero(body.any(axis=1)).max() + 1) / body.shape[0]
        following = [w[4] for w in words[number + 1] if w[1] > 40][:2]  # the next page's first words
        chapter = re.fullmatch(r"\d+\.", following[0]) and following[1][:1].isupper()
        assert filled > 0.5 or chapter, f"page {number} is {filled:.0%} full and the next begins {following}"


# -- many classes ----------------------------------------------------------------------------------

MANY = 47  # EMNIST Balanced's count, past every limit (12 in a key or the video, 15 in a PDF matrix)
MANY_NAMES = [f"Q{k:02d}" if k % 5 else f"Quiteverylongname{k:02d}" for k in range(MANY)]


@pytest.fixture(scope="module")
def many_classes(tmp_path_factory, small_digits):
    """47 classes: the 600 small digits relabelled by digit and stroke weight, as an .npz file."""
    images, labels = small_digits
    ink = images.reshape(len(images), -1).mean(axis=1)
    weight = np.zeros(len(images), dtype=np.int64)
    for digit in range(10):
        rows = labels == digit
        weight[rows] = np.argsort(np.argsort(ink[rows])) * 5 // rows.sum()
    data = tmp_path_factory.mktemp("data") / "many.npz"
    np.savez(data, X=images, y=(labels * 5 + weight) % MANY)
    out = tmp_path_factory.mktemp("many")
    os.environ["SOURCE_DATE_EPOCH"] = str(EPOCH)
    try:
        assert main(["--data", str(data), "--out", str(out), "--class-names", ",".join(MANY_NAMES),
                     "--formats", "pdf,figures", "--test-size", "0.4", *SMALL]) == 0
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
    return out


def page_sizes(pdf):
    xhtml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [(float(w), float(h)) for w, h in re.findall(r'<page width="([\d.]+)" height="([\d.]+)"', xhtml)]


def test_every_pdf_table_shows_every_class_within_the_page(many_classes):
    pdf = many_classes / "report.pdf"
    pages = pdf_words(pdf)
    (width, _), = set(page_sizes(pdf))
    words = [w for page in pages.values() for w in page]
    # Each class in each table with a row per class (training, accuracy, per-class scores, intervals,
    # areas), besides the figures' labels.
    for name in MANY_NAMES:
        assert sum(w[4] == name for w in words) >= 5, name
    outside = [w for w in words if w[0] < 0 or w[2] > width]
    assert not outside, outside[:5]
    # The 47-column matrix is the table of the largest confusions; the heat map shows it all.
    text = pdf_text(pdf)
    assert "The largest confusions of the test set" in text and "wider than the page" in text


def text_boxes(pdf):
    """{page: [(y0 from the bottom, largest type size, text)]} of pdfminer's text boxes."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTChar, LTTextBox

    def sizes(item):
        if isinstance(item, LTChar):
            yield item.size
        elif hasattr(item, "__iter__"):
            for child in item:
                yield from sizes(child)

    return {number: [(box.y0, max(sizes(box), default=0), box.get_text().strip()) for box in page
                     if isinstance(box, LTTextBox)]
            for number, page in enumerate(extract_pages(str(pdf)), start=1)}


def test_no_table_caption_or_heading_ends_a_page(many_classes):
    boxes = text_boxes(many_classes / "report.pdf")
    for number, page in list(boxes.items())[1:-1]:
        body = [box for box in page if box[0] > 70]  # above the folio
        y0, size, text = min(body)
        assert not re.match(r"Table \d+\.", text), f"page {number} ends with the caption {text[:40]!r}"
        assert size < 11.5, f"page {number} ends with the heading {text[:40]!r}"


def test_many_class_pdf_text_is_at_least_7_points(many_classes):
    small = [s for s in type_sizes(many_classes / "report.pdf") if s[0] < 6.95 and s[1].strip()]
    assert not small, small[:5]


@pytest.mark.parametrize("chart", ["cost_curves", "roc_curves", "reliability", "roc_precision_recall"])
def test_a_key_never_lists_dozens_of_classes(many_classes, chart):
    text = (many_classes / "figures" / f"{chart}.svg").read_text()
    named = [name for name in MANY_NAMES if f">{name}" in text or f"{name} " in text]
    assert 1 <= len(named) <= 3, named
    assert f"the other {MANY - 3}" in text
