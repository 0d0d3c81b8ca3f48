"""The author's notes (render/notes.py): Markdown read, checked and rendered as chapters of the report."""
import base64
import os
import re

import numpy as np
import pytest

from mnist_ova.errors import InputError
from mnist_ova.render import figures, notes

FIGURES = {"fig_confusion": "confusion_matrix.svg", "fig_cost": "cost_curves.svg", "fig_posters": "video_posters.png",
           "video_poster": "video_poster.png"}
LABELS = notes.labels(FIGURES)
NOTES = r"""Before any heading.

# My answers

The confusions are in @fig-confusion_matrix and the recalls in @tbl-per_class.
Inline $\sigma(z) = \frac{1}{1 + e^{-z}}$ and displayed:

$$
J = \frac{1}{m}\sum_{i=1}^{m} \mathcal{L}_i
$$

## A table of mine

| class | recall |
|:--|--:|
| 4 | 0.91 |

A claim.[^why]

[^why]: Because of @fig-cost_curves.

# Second thoughts

![My own plot](plots/mine.png)
"""


def write(folder, text, name="notes.md"):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def image(tmp_path):
    from PIL import Image

    (tmp_path / "plots").mkdir()
    path = tmp_path / "plots" / "mine.png"
    Image.fromarray(np.arange(12 * 16, dtype=np.uint8).reshape(12, 16)).save(path)
    return path


def body(document, id, placed=None):
    """A chapter rendered with stand-ins for the report's ref() ('REF <id>' links) and number() ('NUMBER <id>')."""
    return str(document.body(id, lambda id: f'<a class="ref" href="#{id}">REF {id}</a>',
                             lambda id: placed is None or id in placed, lambda kind, id: f"NUMBER {kind} {id}"))


def test_labels_are_the_figure_stems_and_the_documented_table_names():
    assert LABELS["fig-confusion_matrix"] == ("fig_confusion",)
    assert LABELS["tbl-per_class"] == ("tab_per_class",)
    assert "fig-video_poster" not in LABELS, "the HTML video's poster is no numbered figure"
    assert LABELS["fig-video_posters"] == ("fig_posters", "fig_video", "fig_gif")
    assert {label for label in LABELS if label.startswith("tbl-")} == {f"tbl-{name}" for name in notes.TABLES}


def test_headings_make_chapters_and_sections(tmp_path, image):
    document = notes.load(write(tmp_path, NOTES), LABELS)
    assert document.sections() == [("notes-1", "Notes"), ("notes-2", "My answers"), ("notes-3", "Second thoughts")]
    html = body(document, "notes-2")
    assert "<h3>A table of mine</h3>" in html and "<h1" not in html and "<h2" not in html
    assert "Before any heading." in body(document, "notes-1")


def test_a_chapter_title_is_the_heading_without_its_markup(tmp_path):
    document = notes.load(write(tmp_path, "# The *role* of $\\alpha$ and `tol`\n"), LABELS)
    assert document.sections() == [("notes-1", "The role of $\\alpha$ and tol")]


def test_references_math_table_footnote_and_image_render(tmp_path, image):
    document = notes.load(write(tmp_path, NOTES), LABELS)
    html = body(document, "notes-2")
    assert '<a class="ref" href="#fig_confusion">REF fig_confusion</a>' in html
    assert '<a class="ref" href="#tab_per_class">REF tab_per_class</a>' in html
    inline = re.search(r'<img class="math" src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)" style="([^"]+)"',
                       html)
    assert inline and inline.group(2) == r"\sigma(z) = \frac{1}{1 + e^{-z}}"
    assert "vertical-align:-" in inline.group(3), "an inline formula sits on the baseline"
    assert b"<svg" in base64.b64decode(inline.group(1))
    assert re.search(r'<div class="equation"><img src="data:image/svg\+xml;base64,[^"]+" alt="J = \\frac', html)
    assert '<th style="text-align:right">recall</th>' in html and "<td style=\"text-align:left\">4</td>" in html
    assert 'href="#fn-notes-1"' in html
    # The marker is a superscript number, not "[1]", which reads as a citation of reference [1].
    assert re.search(r'<sup class="footnote-ref"><a href="#fn-notes-1" id="fnref-notes-1">1</a></sup>', html)
    assert "[1]" not in re.sub(r"<[^>]+>", "", html)
    last = body(document, "notes-3")
    assert 'id="fn-notes-1"' in last and "REF fig_cost" in last, "the footnotes close the last chapter"
    assert f'src="data:image/png;base64,{base64.b64encode(image.read_bytes()).decode()}" alt="My own plot"' in last


def test_an_image_alone_is_a_numbered_figure_with_its_text_as_caption(tmp_path, image):
    text = ("# A\n\nAs @fig-mine shows.\n\n![My *own* plot](plots/mine.png){#fig-mine onclick=\"alert(1)\" .wide}\n\n"
            "![Unlabelled](plots/mine.png)\n\nInline ![icon](plots/mine.png) in a sentence.\n")
    html = body(notes.load(write(tmp_path, text), LABELS), "notes-1")
    assert '<a class="ref" href="#fig-mine">REF fig-mine</a>' in html, "referred to before it is placed"
    assert re.search(r'<figure id="fig-mine"><img src="data:image/png;base64,[^"]+" alt="My own plot">\s*'
                     r'<figcaption><span class="label">NUMBER figure fig-mine\.</span> '
                     r'My <em>own</em> plot</figcaption>',
                     html)
    assert '<figure id="notes-figure-2">' in html and "NUMBER figure notes-figure-2." in html
    assert html.count("<figure") == 2 and "in a sentence" in html
    assert "onclick" not in html and "wide" not in html, "a label is the only attribute the notes may set"


@pytest.mark.parametrize("text, reason", [
    ("![x](plots/mine.png){#fig-cost_curves}\n", "the label #fig-cost_curves is taken"),
    ("![x](plots/mine.png){#fig-a}\n\n![y](plots/mine.png){#fig-a}\n", "line 3: the label #fig-a is taken"),
    ("![x](plots/mine.png){#tbl-a}\n", "a figure's label is #fig-NAME"),
    ("Text ![x](plots/mine.png){#fig-a}\n", "belongs to an image alone in its paragraph")])
def test_a_figure_label_that_cannot_be_used_is_refused(tmp_path, image, text, reason):
    with pytest.raises(InputError, match=reason):
        notes.load(write(tmp_path, text), LABELS)


def test_every_table_is_numbered_and_its_caption_may_label_it(tmp_path):
    text = ("# A\n\nAs @tbl-mine shows.\n\n| a | b |\n|--|--|\n| 1 | 2 |\n\n: My *own* table {#tbl-mine}\n\n"
            "Between.\n\n| c |\n|--|\n| 3 |\n\n: Unlabelled.\n\n| d |\n|--|\n| 4 |\n\nAfter.\n")
    html = body(notes.load(write(tmp_path, text), LABELS), "notes-1")
    assert '<a class="ref" href="#tbl-mine">REF tbl-mine</a>' in html, "referred to before it is placed"
    assert re.search(r'<table id="tbl-mine">\s*<caption><span class="label">NUMBER table tbl-mine\.</span> '
                     r'My <em>own</em> table</caption>\s*<thead>', html)
    assert '<caption><span class="label">NUMBER table notes-table-2.</span> Unlabelled.</caption>' in html
    assert ('<table id="notes-table-3">\n<caption><span class="label">NUMBER table notes-table-3.</span></caption>'
            in html)
    assert ": My" not in html and "{#" not in html and "After.</p>" in html, "a caption is no paragraph of its own"


def test_notes_tables_and_figures_number_on_among_the_reports(tmp_path, image):
    from mnist_ova.render import report

    text = ("# A\n\nSee @tbl-mine, @fig-mine and @tbl-data.\n\n![Plot](plots/mine.png){#fig-mine}\n\n"
            "| a |\n|--|\n| 1 |\n\n: Mine {#tbl-mine}\n")
    document = notes.load(write(tmp_path, text), LABELS)
    known = None
    for _ in range(2):  # as render_html: the first pass learns the numbers, the second uses them
        numbering = report.Numbering(known)
        numbering.number("table", "tab_data")  # the report's own before the notes
        numbering.number("figure", "fig_samples")
        html = str(document.body("notes-1", numbering.ref, numbering.has, numbering.number))
        known = numbering.placed
    assert '<a class="ref" href="#tbl-mine">Table 2</a>' in html
    assert '<a class="ref" href="#fig-mine">Figure 2</a>' in html
    assert '<a class="ref" href="#tab_data">Table 1</a>' in html
    assert '<span class="label">Table 2.</span> Mine</caption>' in html
    assert '<span class="label">Figure 2.</span>' in html


@pytest.mark.parametrize("caption, reason", [
    (": x {#tbl-data}", "line 5: the label #tbl-data is taken"),
    (": x {#fig-a}", "a table's label is #tbl-NAME"),
    (": x {#tbl-a b}", "a table's label is #tbl-NAME")])
def test_a_table_label_that_cannot_be_used_is_refused(tmp_path, caption, reason):
    with pytest.raises(InputError, match=reason):
        notes.load(write(tmp_path, f"| a |\n|--|\n| 1 |\n\n{caption}\n"), LABELS)


def test_two_tables_may_not_share_a_label(tmp_path):
    table = "| a |\n|--|\n| 1 |\n\n: x {#tbl-a}\n\n"
    with pytest.raises(InputError, match="line 11: the label #tbl-a is taken"):
        notes.load(write(tmp_path, table * 2), LABELS)


def test_a_label_this_report_lacks_is_marked_not_linked(tmp_path, image):
    document = notes.load(write(tmp_path, NOTES), LABELS)
    html = body(document, "notes-2", placed={"tab_per_class"})
    assert "@fig-confusion_matrix (not in this report)</mark>" in html and "REF tab_per_class" in html


def test_the_video_figure_is_the_one_the_format_shows(tmp_path):
    document = notes.load(write(tmp_path, "# V\n\nSee @fig-video_posters.\n"), LABELS)
    assert "REF fig_posters" in body(document, "notes-1", placed={"fig_posters"})
    assert "REF fig_gif" in body(document, "notes-1", placed={"fig_gif"})


def test_the_roc_curves_label_is_the_figure_the_report_draws_them_in(tmp_path):
    """The report draws the ROC curves once, beside the precision-recall curves (issue 19)."""
    from mnist_ova.pipeline import outputs

    document = notes.load(write(tmp_path, "# R\n\nSee @fig-roc_curves.\n"), notes.labels(outputs.FIGURES))
    assert "REF fig_roc_pr" in body(document, "notes-1", placed={"fig_roc_pr"})


def test_an_unknown_label_is_named_with_the_valid_ones(tmp_path):
    path = write(tmp_path, "# A\n\nFine @fig-cost_curves.\n\nSee @fig-confusion here.\n")
    with pytest.raises(InputError) as error:
        notes.load(path, LABELS)
    message = str(error.value)
    assert "line 5" in message and "@fig-confusion " in message and "did you mean @fig-confusion_matrix?" in message
    listed = re.findall(r"@(\w+)-\{([^}]*)\}", message)
    assert {f"{kind}-{name}" for kind, names in listed for name in names.split(", ")} == set(LABELS)
    assert "\n" not in message


def test_what_only_looks_like_a_label_stays_text(tmp_path):
    document = notes.load(write(tmp_path, "Mail ada@fig-x.org, `@fig-none`, \\@tbl-none, @sec-intro, $5 and $10.\n"),
                          LABELS)
    html = body(document, "notes-1")
    assert "ada@fig-x.org" in html and "<code>@fig-none</code>" in html and "@tbl-none" in html
    assert "@sec-intro" in html and "$5 and $10" in html and "<img" not in html


def test_raw_html_is_shown_as_text(tmp_path):
    document = notes.load(write(tmp_path, "<script>alert(1)</script>\n\nA <b>bold</b> <img src=x onerror=y> claim.\n"),
                          LABELS)
    html = body(document, "notes-1")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<script" not in html and "<b>" not in html and "<img" not in html


def test_a_script_link_is_no_link(tmp_path):
    html = body(notes.load(write(tmp_path, "[click](javascript:alert(1)) and <https://example.org>\n"), LABELS),
                "notes-1")
    assert 'href="javascript' not in html and "[click](javascript:alert(1))" in html, "shown as the text it is"
    assert '<a href="https://example.org">' in html


def test_an_empty_notes_file_adds_no_chapter(tmp_path):
    assert notes.load(write(tmp_path, "\n\n"), LABELS).sections() == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes (FIFOs) on this platform")
def test_a_fifo_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "notes.md"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="named pipe"):
        notes.load(fifo, LABELS)


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        notes.load(tmp_path, LABELS)


def test_over_one_megabyte_is_refused_and_one_megabyte_is_read(tmp_path):
    assert notes.load(write(tmp_path, "a" * notes.LIMIT), LABELS).sections() == [("notes-1", "Notes")]
    with pytest.raises(InputError, match="larger than the 1 MiB read for it"):
        notes.load(write(tmp_path, "a" * (notes.LIMIT + 1)), LABELS)


def test_text_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "notes.md"
    path.write_bytes("caf\u00e9".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        notes.load(path, LABELS)


def test_a_formula_mathtext_cannot_read_is_named_with_its_line(tmp_path):
    with pytest.raises(InputError, match=r"line 3: matplotlib's mathtext cannot typeset \$\\undefinedmacro x\$"):
        notes.load(write(tmp_path, "# A\n\nSee $\\undefinedmacro x$.\n"), LABELS)


def test_a_formula_with_a_control_character_is_one_printable_line(tmp_path):
    """Found by the fuzz test: mathtext's refusal quoted the formula, and with it the raw character."""
    with pytest.raises(InputError, match=r"line 3: a formula holds the unprintable character '\\x1b'") as caught:
        notes.load(write(tmp_path, "# A\n\nSee $x\x1b[2J$.\n"), LABELS)
    assert str(caught.value).isprintable()


def test_an_image_without_alt_text_is_a_figure_without_caption(tmp_path, image):
    """Found by the fuzz test: ![](file) alone in its paragraph has no inline children (None, not [])."""
    html = body(notes.load(write(tmp_path, "# A\n\n![](plots/mine.png)\n"), LABELS), "notes-1")
    assert '<figure id="notes-figure-1"><img src="data:image/png;base64,' in html and 'alt=""' in html


@pytest.mark.parametrize("source, reason", [
    ("missing.png", "does not exist"), ("https://example.org/a.png", "is no file"),
    ("notes.md", "is not one of"), ("fake.png", "is no image/png file that can be read")])
def test_an_image_that_cannot_be_carried_is_refused(tmp_path, source, reason):
    (tmp_path / "fake.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match=reason):
        notes.load(write(tmp_path, f"# A\n\n![x]({source})\n"), LABELS)


def test_an_svg_image_is_carried(tmp_path):
    (tmp_path / "a b.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    html = body(notes.load(write(tmp_path, "![drawn](<a b.svg>)\n"), LABELS), "notes-1")
    assert 'src="data:image/svg+xml;base64,' in html


def test_the_readme_example_is_valid_notes(tmp_path):
    from mnist_ova.pipeline import outputs
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Your own words in the report"):]
    example = section[section.index("```markdown\n") + len("```markdown\n"):section.index("\n```\n")]
    from PIL import Image

    Image.new("L", (4, 4)).save(tmp_path / "sketch.png")
    document = notes.load(write(tmp_path, example), notes.labels(outputs.FIGURES))
    assert document.sections() == [("notes-1", "Answers to the questions")]
    html = body(document, "notes-1")
    assert html.count("<img") == 3 and "REF fig_confusion" in html and "REF fig_cost" in html
    assert '<figure id="fig-sketch">' in html and "REF fig-sketch" in html
    listed = section[section.index("`@tbl-NAME` with NAME one of"):section.index("Each becomes the report's own link")]
    assert set(re.findall(r"`(\w+)`", listed)) == set(notes.TABLES), "the README names every table's label"


def test_an_inline_formula_is_placed_at_its_measured_size():
    """The SVG is the size mathtext measures, and its depth below the baseline is what the report shifts by."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    import matplotlib

    from mnist_ova.render.figures import MATH_RC, math_svg

    svg, width, height, depth = math_svg(r"y_{i}^{2}", fontsize=11.5)
    assert f'width="{width:g}pt" height="{height:g}pt"'.encode() in svg
    with matplotlib.rc_context(MATH_RC):  # measured at 72 dpi: each of height and depth rounded up to a point
        reference = MathTextParser("path").parse(r"$y_{i}^{2}$", dpi=72, prop=FontProperties(size=11.5))
    assert abs(width - reference.width) <= 1 and abs(height - reference.height) <= 2
    assert 0 < depth and abs(depth - reference.depth) <= 1
    assert math_svg(r"y_{i}^{2}", fontsize=11.5)[0] == svg, "the same formula gives the same bytes"


@pytest.fixture
def beside(tmp_path):
    """A notes folder, and an image outside it (in its parent)."""
    from PIL import Image

    folder = tmp_path / "notes"
    folder.mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "outside.png")
    return folder


@pytest.mark.parametrize("source", ["{outside}", "../outside.png", "..%2Foutside.png", "sub/..%2F..%2Foutside.png",
                                    "link.png", "linked/outside.png"])
def test_an_image_outside_the_notes_folder_is_refused(beside, source):
    if hasattr(os, "symlink"):
        os.symlink(beside.parent / "outside.png", beside / "link.png")
        os.symlink(beside.parent, beside / "linked")
    elif "link" in source:
        pytest.skip("no symbolic links on this platform")
    (beside / "sub").mkdir()
    source = source.format(outside=(beside.parent / "outside.png").as_posix())
    with pytest.raises(InputError, match=r"line 3: the image .* lies outside the notes folder \(symbolic links "
                                         r"resolved\); images are read only from inside it"):
        notes.load(write(beside, f"# A\n\n![x]({source})\n"), LABELS)


def test_a_link_inside_the_notes_folder_is_followed(beside):
    if not hasattr(os, "symlink"):
        pytest.skip("no symbolic links on this platform")
    (beside / "plots").mkdir()
    (beside.parent / "outside.png").rename(beside / "plots" / "real.png")
    os.symlink(beside / "plots", beside / "here")
    assert "data:image/png;base64," in body(notes.load(write(beside, "![x](here/real.png)\n"), LABELS), "notes-1")


SVG = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="9" height="9">{}</svg>'
BOMB = ('<defs><g id="a"><path d="M0 0h1v1z"/></g>' + "".join(
    f'<g id="{b}">' + f'<use href="#{a}"/>' * 10 + "</g>" for a, b in zip("abcdefgh", "bcdefghi")) +
    '</defs><use href="#i"/>')


@pytest.mark.parametrize("inside, reason", [
    ('<image href="file:///etc/hostname" width="9" height="9"/>', r"refers to 'file:///etc/hostname'; an SVG in the "
                                                                   r"notes may refer only inside itself \(#id\)"),
    ('<image xlink:href="http://127.0.0.1:9/a.png"/>', "refers to 'http://127.0.0.1:9/a.png'"),
    ('<use href="other.svg#a"/>', "refers to 'other.svg#a'"),
    ('<rect fill="url(/etc/x#p)" width="9" height="9"/>', "refers to '/etc/x#p'"),
    ('<rect style="fill: url(\'http://x/p\')" width="9" height="9"/>', "refers to 'http://x/p'"),
    ('<style>@import "http://x/a.css";</style>', "refers to '@import'"),
    ('<image href="data:image/svg+xml;base64,PHN2Zy8+"/>', "refers to 'data:image/svg"),
    (BOMB, r"too complex to typeset: it draws more than 100,000 elements"),
    ('<g id="a"><use href="#a"/></g>', "a reference leads to an element that holds it"),
    ('<g id="a"/><g id="b"><use href="#a"/></g><g id="a">' + '<path d="M0 0"/>' * 10 + "</g>" + '<use href="#b"/>' * 2,
     None),  # a duplicated id counts whichever element it may mean
    ("<g>" * 201 + "</g>" * 201, "more than 200 deep"),
    ('<marker id="m"><path d="M0 0h1v1z"/></marker><path marker-mid="url(#m)" d="' + "1 " * 60_000 + '"/>',
     "more than 100,000 elements"),
    ('<style>path { marker-mid: url(#m) }</style>', r"sets markers in a <style>; give them as attributes"),
])
def test_an_svg_that_refers_outside_or_draws_too_much_is_refused(tmp_path, inside, reason):
    (tmp_path / "drawn.svg").write_text(SVG.format(inside))
    if reason is None:
        notes.load(write(tmp_path, "![x](drawn.svg)\n"), LABELS)
        return
    with pytest.raises(InputError, match=f"the image 'drawn.svg' (.* )?{reason}"):
        notes.load(write(tmp_path, "![x](drawn.svg)\n"), LABELS)


def test_an_svg_declaring_entities_is_refused(tmp_path):
    laughs = ('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {b} "{("&" + a + ";") * 10}">' for a, b in zip("abcdefgh", "bcdefghi")) +
        ']><svg xmlns="http://www.w3.org/2000/svg"><text>&i;</text></svg>')
    (tmp_path / "laughs.svg").write_text(laughs)
    with pytest.raises(InputError, match="it declares an entity"):
        notes.load(write(tmp_path, "![x](laughs.svg)\n"), LABELS)


def test_matplotlib_svgs_with_glyphs_markers_clips_and_pictures_are_carried(tmp_path):
    """What a user's plots hold: <use> glyphs, clip paths, markers, a raster image inside (data:image/png)."""
    from matplotlib.figure import Figure

    figure = Figure()
    axes = figure.subplots()
    axes.plot(np.arange(500), np.sin(np.arange(500)), marker="o")
    axes.imshow(np.arange(64).reshape(8, 8), extent=(0, 100, -1, 1), aspect="auto")
    axes.set_title(r"$\sigma(z) = \frac{1}{1 + e^{-z}}$")
    figure.savefig(tmp_path / "plot.svg", format="svg")
    assert "data:image/png" in (tmp_path / "plot.svg").read_text()
    assert "data:image/svg+xml" in body(notes.load(write(tmp_path, "![plot](plot.svg)\n"), LABELS), "notes-1")


def test_a_raster_image_of_too_many_pixels_is_refused(tmp_path, image, monkeypatch):
    monkeypatch.setattr(notes, "PIXEL_LIMIT", 12 * 16 - 1)
    with pytest.raises(InputError, match="the image 'plots/mine.png' has 16×12 pixels; at most 191 are shown"):
        notes.load(write(tmp_path, "![x](plots/mine.png)\n"), LABELS)


def test_more_formulas_than_the_limit_are_refused_before_any_is_typeset(tmp_path, monkeypatch):
    from mnist_ova.render import figures

    monkeypatch.setattr(figures, "math_svg", lambda *a, **k: pytest.fail("typeset before counting"))
    path = write(tmp_path, "$x$ " * (notes.FORMULA_LIMIT + 1))
    with pytest.raises(InputError, match=f"holds {notes.FORMULA_LIMIT + 1} formulas; at most {notes.FORMULA_LIMIT} "
                                         "are typeset"):
        notes.load(path, LABELS)


def test_formulas_past_the_time_allowed_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(notes, "FORMULA_SECONDS", -1)
    with pytest.raises(InputError, match=r"line 1: the notes' formulas took over -1 s to typeset"):
        notes.load(write(tmp_path, "$x$ and $y$\n"), LABELS)


@pytest.mark.parametrize("tex, reason", [
    ("x+" * 600 + "x", "a formula of 1201 characters; at most 1000 are typeset"),
    ("{" * 200 + "x" + "}" * 200, "a formula nested too deeply for matplotlib's mathtext"),
    (r"\frac{1}{" * 60 + "x" + "}" * 60, "a formula nested too deeply for matplotlib's mathtext")])
def test_a_formula_too_long_or_too_deep_is_refused(tmp_path, tex, reason):
    with pytest.raises(InputError, match=f"line 3: {re.escape(reason)}"):
        notes.load(write(tmp_path, f"# A\n\n${tex}$\n"), LABELS)


@pytest.mark.parametrize("tex", [r"\,", r"\quad", "{}"])
def test_a_formula_of_spacing_alone_typesets_with_no_height(tex):
    """Found by the fuzz test: a formula with no height divided its depth by zero (a RuntimeWarning, a NaN
    baseline in the SVG)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg, width, height, depth = figures.math_svg(tex, fontsize=10)
    assert height == 0 and depth == 0 and b"nan" not in svg.lower()
