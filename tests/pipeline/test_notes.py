"""--notes through the whole run: the author's chapters in the HTML and the PDF (contents, bookmarks,
references resolved to the report's own numbers), checked before any training, never a reason to retrain."""
import json
import os
import re
import subprocess

import numpy as np
import pytest

from mnist_ova.pipeline.cli import main
from tests.render.test_report_quality import EPOCH, SMALL, axe_script, browser, need  # noqa: F401 (a fixture)

NOTES = r"""# My answers

The confusions of @fig-confusion_matrix agree with the recalls of @tbl-per_class.
The model is $\hat{y} = \sigma(w^{\mathsf{T}}x + b)$, and its cost is

$$
J = -\frac{1}{m}\sum_{i=1}^{m} y_i \log \hat{y}_i
$$

## Recall by hand

| class | recall |
|:--|--:|
| 4 | 0.91 |

Counted by hand.[^count]

[^count]: On the printed confusion matrix.

# A figure of my own

My sketch (@fig-sketch) is numbered among the report's figures.

![A sketch of my own](sketch.png){#fig-sketch}
"""


@pytest.fixture(scope="module")
def noted(tmp_path_factory, tiny_npz):
    """A run with a notes file beside its image."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("notes")
    (folder / "notes.md").write_text(NOTES, encoding="utf-8")
    Image.fromarray(np.tile(np.arange(0, 256, 8, dtype=np.uint8), (24, 1))).save(folder / "sketch.png")
    out = tmp_path_factory.mktemp("out")
    os.environ["SOURCE_DATE_EPOCH"] = str(EPOCH)
    try:
        assert main(["--data", str(tiny_npz), "--out", str(out), "--formats", "html,pdf",
                     "--notes", str(folder / "notes.md"), *SMALL]) == 0
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
    return folder, out


def numbers(html):
    """{figure or table id: "Figure 4"} as the report numbers them, and [(chapter id, "10. Title")]."""
    placed = dict(re.findall(r'<(?:figure|table) id="([^"]+)"[^>]*>\s*(?:<img[^>]*>\s*)?'
                             r'(?:<figcaption>|<caption>)<span class="label">([^<]+)\.</span>', html))
    contents = re.findall(r'<li><a href="#([^"]+)">([^<]+)</a></li>', html)
    return placed, contents


def test_notes_are_numbered_chapters_after_the_results_in_the_html(noted):
    folder, out = noted
    html = (out / "report.html").read_text(encoding="utf-8")
    placed, contents = numbers(html)
    ids = [id for id, _ in contents]
    assert ids.index("error-analysis") < ids.index("notes-1") < ids.index("notes-2") < ids.index("discussion")
    chapters = dict(contents)
    n = ids.index("notes-1") + 1
    assert chapters["notes-1"] == f"{n}. My answers" and chapters["notes-2"] == f"{n + 1}. A figure of my own"
    section = html[html.index('<section id="notes-1"'):html.index('<section id="discussion"')]
    assert f"<h2>{n}. My answers</h2>" in section and "<h3>Recall by hand</h3>" in section
    assert f'<a class="ref" href="#fig_confusion">{placed["fig_confusion"]}</a>' in section
    assert f'<a class="ref" href="#tab_per_class">{placed["tab_per_class"]}</a>' in section
    assert placed["fig_confusion"].startswith("Figure ") and placed["tab_per_class"].startswith("Table ")
    assert section.count('<img class="math"') == 1 and section.count('<div class="equation"><img') == 1
    table = re.search(r'<table id="(notes-table-\d+)">\s*<caption><span class="label">(Table \d+)\.</span>', section)
    assert table and placed[table[1]] == table[2], "the notes' own table is numbered among the report's"
    assert 'id="fn-notes-1"' in section
    assert f'<a class="ref" href="#fig-sketch">{placed["fig-sketch"]}</a>' in section
    assert re.search(r'<figure id="fig-sketch"><img src="data:image/png;base64,[^"]+" alt="A sketch of my own">',
                     section)
    figures = [int(label.split()[1]) for id, label in placed.items() if label.startswith("Figure")]
    assert figures == list(range(1, len(figures) + 1)), "the notes' figure is numbered in order with the report's"


def test_every_numbered_figure_and_table_has_a_label(noted):
    """A table or figure added to the report without a name in render/notes.TABLES fails here."""
    from mnist_ova.pipeline import outputs
    from mnist_ova.render import notes

    html = (noted[1] / "report.html").read_text(encoding="utf-8")
    report_only = html[:html.index('<section id="notes-1"')] + html[html.index('<section id="discussion"'):]
    placed, _ = numbers(report_only)
    reachable = {id for ids in notes.labels(outputs.FIGURES).values() for id in ids}
    assert len(placed) > 15 and set(placed) - reachable == set()


def test_notes_are_chapters_and_bookmarks_of_the_pdf(noted):
    need("pdftotext")
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfparser import PDFParser

    folder, out = noted
    placed, contents = numbers((out / "report.html").read_text(encoding="utf-8"))
    chapters = dict(contents)
    text = subprocess.run(["pdftotext", "-layout", str(out / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    body = text[text.index(chapters["notes-1"], text.index("Appendix")):]  # past the contents page
    notes_text = " ".join(body[:body.index(chapters["discussion"])].split())
    assert notes_text.startswith(chapters["notes-1"]) and chapters["notes-2"] in notes_text
    expected = (f"The confusions of {placed['fig_confusion']} agree with the recalls of "
                f"{placed['tab_per_class']}.")
    assert expected in notes_text and "Recall by hand" in notes_text
    assert "On the printed confusion matrix." in notes_text
    # The PDF numbers its figures on its own (it shows the video's frames where the web page has none).
    sketch = re.search(r"(Figure \d+)\. A sketch of my own", notes_text).group(1)
    assert f"My sketch ({sketch}) is numbered" in notes_text
    with open(out / "report.pdf", "rb") as f:
        outline = [(level, title) for level, title, *_ in PDFDocument(PDFParser(f)).get_outlines()]
    at = outline.index((2, chapters["notes-1"]))
    assert outline[at + 1:at + 3] == [(3, "Recall by hand"), (2, chapters["notes-2"])]
    assert outline[at + 3] == (2, chapters["discussion"])


def test_axe_finds_no_violations_in_the_notes_and_they_fit_a_phone(noted, browser):
    script = axe_script()
    page = browser.new_page()
    page.goto((noted[1] / "report.html").as_uri())
    page.add_script_tag(path=script)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        violations = page.evaluate("""async () => (await axe.run(
            [...document.querySelectorAll('section.notes')].map(s => '#' + s.id),
            {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}}))
            .violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))""")
        assert violations == [], width
        assert page.evaluate("document.documentElement.scrollWidth") <= width, "nothing scrolls sideways"
    page.close()


def test_the_image_is_carried_inside_the_report_and_written_nowhere(noted):
    from mnist_ova.pipeline import outputs

    folder, out = noted
    written = {path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file()}
    assert written and written <= set(outputs.ARTIFACTS)


def test_changed_notes_reuse_the_trained_model(noted, tiny_npz, tmp_path):
    folder, out = noted
    changed = tmp_path / "other.md"
    changed.write_text("# Other words\n\nNothing about @fig-cost_curves.\n", encoding="utf-8")
    assert main(["--data", str(tiny_npz), "--out", str(out), "--formats", "html", "--notes", str(changed),
                 *SMALL]) == 0
    assert json.loads((out / "timings.json").read_text())["reused_model"] is True
    assert "Other words" in (out / "report.html").read_text(encoding="utf-8")


def refused_before_training(tiny_npz, tmp_path, notes_path, monkeypatch, capsys):
    from mnist_ova.pipeline import jobs

    monkeypatch.setattr(jobs, "train", lambda *a, **k: pytest.fail("trained before the notes were checked"))
    out = tmp_path / "out"
    code = main(["--data", str(tiny_npz), "--out", str(out), "--notes", str(notes_path), *SMALL])
    error = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists() and len(error.splitlines()) == 1
    return error


def test_an_unknown_label_fails_before_training_naming_it_and_the_valid_ones(tiny_npz, tmp_path, monkeypatch, capsys):
    path = tmp_path / "notes.md"
    path.write_text("# Mine\n\nAs @fig-confusion_matrix and @tbl-recall show.\n", encoding="utf-8")
    error = refused_before_training(tiny_npz, tmp_path, path, monkeypatch, capsys)
    assert error.startswith(f"error: notes file {str(path)!r} line 3: unknown cross-reference @tbl-recall")
    assert "@fig-{accuracy, across_builds, confusion_matrix," in error and "learning" in error and "per_class" in error and error.endswith("} (--notes)")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes (FIFOs) on this platform")
def test_a_fifo_as_notes_fails_before_training(tiny_npz, tmp_path, monkeypatch, capsys):
    os.mkfifo(tmp_path / "notes.md")
    assert "named pipe" in refused_before_training(tiny_npz, tmp_path, tmp_path / "notes.md", monkeypatch, capsys)


def test_notes_over_a_megabyte_fail_before_training(tiny_npz, tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.md").write_text("word " * 210_000)
    assert "larger than the 1 MiB read for it" in refused_before_training(tiny_npz, tmp_path, tmp_path / "notes.md", monkeypatch, capsys)


@pytest.mark.parametrize("name, source, rule", [
    ("absolute path", "{outside}", "outside the notes folder"),
    ("parent folder", "../outside.png", "outside the notes folder"),
    ("encoded slash", "..%2Foutside.png", "outside the notes folder"),
    ("link outside", "link.png", "outside the notes folder"),
    ("svg of a file", "file.svg", "refers to 'file:///etc/hostname'; an SVG in the notes may refer only inside itself"),
    ("svg of a server", "server.svg", "refers to 'http://127.0.0.1:9/'"),
    ("use bomb", "bomb.svg", "is too complex to typeset: it draws more than 100,000 elements"),
])
def test_a_hostile_image_fails_before_training_naming_the_file_and_the_rule(tiny_npz, tmp_path, monkeypatch, capsys,
                                                                             name, source, rule):
    from PIL import Image

    from tests.render.test_notes import BOMB, SVG

    folder = tmp_path / "notes"
    folder.mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "outside.png")
    if hasattr(os, "symlink"):
        os.symlink(tmp_path / "outside.png", folder / "link.png")
    elif name == "link outside":
        pytest.skip("no symbolic links on this platform")
    (folder / "file.svg").write_text(SVG.format('<image href="file:///etc/hostname" width="9" height="9"/>'))
    (folder / "server.svg").write_text(SVG.format('<image href="http://127.0.0.1:9/" width="9" height="9"/>'))
    (folder / "bomb.svg").write_text(SVG.format(BOMB))
    path = folder / "notes.md"
    path.write_text(f"# Mine\n\n![x]({source.format(outside=tmp_path / 'outside.png')})\n", encoding="utf-8")
    error = refused_before_training(tiny_npz, tmp_path, path, monkeypatch, capsys)
    assert error.startswith(f"error: notes file {str(path)!r} line 3: the image ") and rule in error, error
    assert "(--notes)" in error


def test_thirty_kilobytes_of_formulas_fail_before_training(tiny_npz, tmp_path, monkeypatch, capsys):
    """30 KB of $x$ took 137 s and made a 34 MB report.html."""
    path = tmp_path / "notes.md"
    path.write_text("$x$ " * 7_500, encoding="utf-8")
    error = refused_before_training(tiny_npz, tmp_path, path, monkeypatch, capsys)
    assert "holds 7500 formulas; at most 500 are typeset" in error and "(--notes)" in error


def test_every_image_of_the_report_is_one_the_pdf_build_serves(noted):
    """report.write_pdf serves only images notes.check_image accepts (else leaves them out): the report's own
    figures, formulas and the notes' image, each a data: URL of report.html here, must all be served."""
    from mnist_ova.render import report

    html = (noted[1] / "report.html").read_text(encoding="utf-8")
    urls = set(re.findall(r'src="(data:image/[^"]+)"', html))
    assert len(urls) > 20
    refused = {}
    for url in urls:
        try:
            report.serve(url)
        except ValueError as exc:
            refused[url[:60]] = str(exc)
    assert refused == {}
