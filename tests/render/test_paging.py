"""The PDF's paging as style.css sets it, read from WeasyPrint's page boxes on small synthetic chapters: a
figure and its caption share a page, even when the figure is drawn taller than a page; a chapter's heading and
lead sentence stay with the figure they introduce; a chapter's closing paragraph is never alone on a page; a long table keeps
at least five rows on each page; a chapter with a half-page figure fits below a short table."""
import logging

import pytest

from mnist_ova.render import report

PAGE_TEXT_HEIGHT = 255  # mm: A4 less the stylesheet's top and bottom margins


def stylesheet():
    return report.environment().get_template("style.css").render()


def tall_svg(width_in, height_in):
    import base64

    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{72 * width_in}pt" height="{72 * height_in}pt">'
           f'<rect width="100%" height="100%" fill="#888"/></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def paragraph(n, words=60):
    return f'<p id="p{n}">' + " ".join(f"word{n}x{i}" for i in range(words)) + "</p>"


def pages_of(body):
    """For each page, the ids of the elements that have a box on it (their own or one inside them)."""
    import weasyprint

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    html = f"<!DOCTYPE html><html><head><style>{stylesheet()}</style></head><body><main>{body}</main></body></html>"
    document = weasyprint.HTML(string=html).render()

    def ids(box, inside=()):
        element = getattr(box, "element", None)
        own = element.get("id") if element is not None and getattr(box, "element_tag", None) else None
        here = inside + ((own,) if own else ())
        found = set(here)
        for child in getattr(box, "children", []):
            found |= ids(child, here)
        return found

    return [ids(page._page_box) for page in document.pages]


def test_a_figure_taller_than_a_page_keeps_its_caption_heading_and_lead():
    body = ("<section><h2 id='h'>1. Chapter</h2>" + paragraph(1, 30) +
            f"<figure id='f'><img id='i' src='{tall_svg(6, 12)}' alt='x'><figcaption id='c'>Figure 1. A tall one."
            "</figcaption></figure></section>")
    pages = pages_of(body)
    assert [page for page in pages if {"i", "c"} & page] == [page for page in pages if {"i", "c"} <= page]
    assert len(pages) == 1 and {"h", "p1", "i", "c"} <= pages[0]


@pytest.mark.parametrize("before", range(4, 12))
def test_a_chapters_closing_paragraph_is_not_alone_on_a_page(before):
    """As the model card's "Fair use" paragraph after its table (which never breaks)."""
    rows = "".join(f"<tr><th>row {n}</th><td>{'text ' * 30}</td></tr>" for n in range(6))
    table = f"<table id='t'>{rows}</table>"
    body = "<section>" + "".join(paragraph(n) for n in range(before)) + table + paragraph(99, 40) + "</section>"
    pages = pages_of(body)
    last = next(page for page in pages if "p99" in page)
    alone = f"p99 alone on page {pages.index(last) + 1} of {len(pages)}"
    assert last & ({f"p{n}" for n in range(before)} | {"t"}), alone


@pytest.mark.parametrize("lead_paragraphs", range(10, 14))
def test_a_figure_that_moves_to_the_next_page_leaves_no_page_of_a_few_lines(lead_paragraphs):
    body = ("<section><h2 id='h'>1. Chapter</h2>" + "".join(paragraph(n) for n in range(lead_paragraphs)) + "</section>"
            "<section><h2 id='h2'>2. Next</h2>" + paragraph(50, 20) +
            f"<figure id='f'><img id='i' src='{tall_svg(6, 7)}' alt='x'><figcaption id='c'>Figure 1.</figcaption>"
            "</figure></section>")
    pages = pages_of(body)
    start = next(page for page in pages if "h2" in page)
    assert {"h2", "p50", "i", "c"} <= start, "the heading and lead sentence stay with their figure"


def rows_of(pages, n):
    return [sum(f"r{k}" in page for k in range(n)) for page in pages]


@pytest.mark.parametrize("lead", range(24))
def test_a_long_table_breaks_with_at_least_five_rows_on_each_page(lead):
    """As mix26's Table 3: its caption, header and two rows at the foot of a page, the other 24 on the next."""
    rows = "".join(f"<tr id='r{k}'><th>{k}</th><td>{k / 7:.4f}</td></tr>" for k in range(26))
    table = (f"<table id='t'><caption id='c'>Table 1. Rows.</caption><thead><tr><th>Class</th><th>Value</th></tr>"
             f"</thead><tbody>{rows}</tbody></table>")
    pages = pages_of("<section>" + paragraph(0, 40 * lead + 20) + table + "</section>")
    counts = [n for n in rows_of(pages, 26) if n]
    assert sum(counts) == 26 and all(n >= 5 for n in counts), counts
    assert "c" in next(page for page in pages if "r0" in page), "the caption stays with the first rows"


def test_a_chapter_with_a_half_page_figure_fits_below_a_short_table():
    """As Fashion-MNIST's page 6: Table 3 (10 rows) at the top of the page, then chapter 5's heading, its lead (three
    lines here, four there) and Figure 3 (6.5 x 4.675 in, a three-line caption). The tighter print spacing keeps them on the
    page; before, the chapter moved whole to the next page and left this one 29 % filled."""
    rows = "".join(f"<tr><th>Class {k}</th><td>50</td><td>0.14412</td><td>95.17%</td></tr>" for k in range(10))
    table = (f"<section><table id='t'><caption>Table 3. Where each model's training ended.</caption><thead><tr>"
             f"<th>Model</th><th>Iterations</th><th>Final cost</th><th>Train accuracy</th></tr></thead>"
             f"<tbody>{rows}</tbody></table></section>")
    chapter = ("<section><h2 id='h'>5. How the models learned</h2>" + paragraph(1, 22) +
               f"<figure id='f'><img id='i' src='{tall_svg(6.5, 4.675)}' alt='x'><figcaption id='c'>Figure 3. "
               + "caption " * 26 + "</figcaption></figure></section>")
    pages = pages_of(table + chapter)
    assert len(pages) == 1 and {"t", "h", "p1", "i", "c"} <= pages[0], [sorted(p) for p in pages]


@pytest.mark.parametrize("before", range(10, 16))
def test_an_equation_stays_with_the_sentence_that_introduces_it(before):
    """As the method chapter's "...the outputs divided by their sum:" at the foot of a page and its equation at
    the top of the next."""
    equation = f"<div class='equation' id='e'><img src='{tall_svg(3, 0.7)}' alt='x'></div>"
    body = "<section>" + "".join(paragraph(n) for n in range(before)) + paragraph(99, 30) + equation + "</section>"
    pages = pages_of(body)
    assert "p99" in next(page for page in pages if "e" in page)


@pytest.mark.parametrize("before", range(8, 14))
def test_a_tables_caption_of_several_lines_stays_whole_with_its_rows(before):
    """A three-line caption at the foot of a page: its lines and the table's first rows share one page."""
    rows = "".join(f"<tr id='r{k}'><th>Class {k}</th><td>100</td><td>0.14412</td></tr>" for k in range(10))
    table = (f"<table id='t'><caption id='c'>Table 3. " + "caption " * 45 + "</caption><thead><tr><th>Model</th>"
             f"<th>Iterations</th><th>Final cost</th></tr></thead><tbody>{rows}</tbody></table>")
    body = "<section>" + "".join(paragraph(n) for n in range(before)) + table + "</section>"
    pages = pages_of(body)
    assert [page for page in pages if "c" in page] == [page for page in pages if "r0" in page]
