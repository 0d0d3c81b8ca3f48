"""The PDF's paging as style.css sets it, read from WeasyPrint's page boxes on small synthetic chapters: a
figure and its caption share a page, even when the figure is drawn taller than a page; a chapter's heading and
lead sentence stay with the figure they introduce; a chapter's closing paragraph is never alone on a page."""
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
