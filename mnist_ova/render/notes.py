"""The author's own words (``--notes FILE.md``): a Markdown file as numbered chapters of the report.

CommonMark (markdown-it-py) with tables, footnotes and ``$…$`` / ``$$…$$`` mathematics
(mdit-py-plugins). Each level-1 heading starts a chapter (text before the first one is a chapter
"Notes"), deeper headings are its sections. Formulas are typeset as the report's own equations
(``figures.math_svg``, inline ones on the line of text); images are read from beside the notes file
and carried inside the report as data: URLs, never written as outputs; raw HTML is shown as text.
Cross-references use Quarto's syntax: ``@fig-NAME`` (NAME: a figure's file stem) and ``@tbl-NAME``
(a name of ``TABLES``) become the report's own "Figure 4" / "Table 2", linked. An image alone in its
paragraph is a numbered figure, its text the caption (as pandoc's implicit figures); Quarto's
``![caption](file.png){#fig-NAME}`` gives it a label of its own. Every table of the notes is a numbered
table; a paragraph right after it that begins with a colon is its caption, and Quarto's
``: caption {#tbl-NAME}`` gives it a label. The notes' figures and tables number on among the report's.

``load`` reads and checks it all at once, so that the settings check can refuse a notes file before
any training: an unknown label, a formula mathtext cannot read or an image that cannot be read is
one error line (exit 2).

A notes file is the user's, but it may come from anyone, so what it can make the run do is bounded:
images only from inside its folder (symbolic links resolved), each a regular file of at most
``IMAGE_LIMIT`` bytes and ``PIXEL_LIMIT`` pixels; an SVG only when ``check_image`` finds it refers to
nothing outside itself (raster ``data:`` images aside) and expands to at most ``SVG_ELEMENTS``
elements, ``<use>`` references included; at most ``FORMULA_LIMIT`` formulas of ``FORMULA_CHARS``
characters, typeset in ``FORMULA_SECONDS`` in all.
"""
import base64
import dataclasses
import difflib
import functools
import re
import time
from pathlib import Path
from typing import Any

from mnist_ova.errors import InputError
from mnist_ova.fileio import read_bounded

LIMIT = 2**20  # bytes of Markdown
IMAGE_LIMIT = 20 * 2**20  # bytes of one image
TEXT_SIZE = 10.5  # points: the report's body text (style.css); a formula's size is given in em of it
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp", ".svg": "image/svg+xml"}
PIXEL_LIMIT = 50_000_000  # pixels of one raster image: about 200 MB once decoded (Pillow refuses 179 M)
SVG_ELEMENTS = 100_000  # elements an SVG draws, each <use> counted as the elements it copies
SVG_DEPTH = 200  # elements nested in one another, through <use> references too
FORMULA_LIMIT = 500  # formulas in one notes file: each is an image in the report
FORMULA_CHARS = 1000  # characters of TeX in one formula (mathtext takes about a second for 2,000)
FORMULA_SECONDS = 60  # typesetting all of them; past it the notes are refused rather than the run held
UNTITLED = "Notes"  # the chapter of any text before the first level-1 heading

# @tbl-NAME: the documented name of each of the report's tables -> its id in the templates.
TABLES = {
    "data": "tab_data", "hyperparameters": "tab_hyper", "training": "tab_training", "models": "tab_models",
    "per_class": "tab_per_class", "intervals": "tab_intervals", "class_intervals": "tab_class_intervals",
    "confusion": "confusion-table", "calibration": "tab_calibration", "precision_recall": "tab_pr",
    "baseline": "tab_baseline", "baseline_recall": "tab_baseline_recall", "gates": "tab_gates",
    "model_card": "tab_model_card", "configuration": "tab_config", "files": "tab_files",
    "versions": "tab_versions", "timings": "tab_timings",
}
# A figure the two formats show differently: the PDF prints frames of the video, the web page plays it;
# and a figure file the report shows inside another figure: the ROC curves are drawn once in the report,
# beside the precision-recall curves (roc_curves.svg stays in figures/ on its own).
SAME_FIGURE = {"fig_posters": ("fig_posters", "fig_video", "fig_gif"), "fig_roc": ("fig_roc_pr",)}
NAME = r"(?:fig|tbl)-[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*"
LABEL = re.compile(f"@({NAME})")


def labels(figure_files):
    """{label: the report ids it stands for, the first one this report has wins}, for every figure in
    ``figure_files`` ({id: file name}, the report's figures are those whose id starts with fig_) and every
    table of ``TABLES``."""
    found = {f"fig-{Path(file).stem}": SAME_FIGURE.get(id, (id,))
             for id, file in figure_files.items() if id.startswith("fig_")}
    found.update({f"tbl-{name}": (id,) for name, id in TABLES.items()})
    return found


@dataclasses.dataclass(frozen=True, eq=False)
class Notes:
    """A notes file, read and checked: its chapters as (id, title, markdown-it tokens)."""

    chapters: tuple
    env: dict  # markdown-it's environment from the parse: the footnotes
    labels: dict

    def sections(self):
        """(id, title) of each chapter, for the report's chapter list."""
        return [(id, title) for id, title, _ in self.chapters]

    def body(self, id, ref, numbered, number):
        """Chapter ``id`` as HTML, without its heading. ``ref(id)`` is the report's link to a figure or
        table, ``numbered(id)`` whether this report has it (a video is in one format only, the gates'
        table only with gates): a label for one it lacks is shown marked, as the label. ``number(kind,
        id)`` numbers the notes' own figures among the report's."""
        import markupsafe

        tokens = next(tokens for key, _, tokens in self.chapters if key == id)
        md = _markdown()
        env = dict(self.env, crossref=functools.partial(_resolve, self.labels, ref, numbered), number=number)
        return markupsafe.Markup(md.renderer.render(list(tokens), md.options, env))


def load(path, labels):
    """The notes file at ``path`` read, parsed and checked against ``labels`` (from ``labels()``), its
    formulas typeset and its images read. A file that is no regular file or over ``LIMIT`` bytes, is not
    UTF-8, or holds an unknown label, a formula that cannot be typeset or an image that cannot be read
    is an ``InputError`` naming the file and line."""
    try:
        return _load(Path(path), labels)
    except InputError as exc:
        exc.option = exc.option or "notes"  # the run names the flag: (--notes)
        raise


def _load(path, labels):
    try:
        text = read_bounded(path, limit=LIMIT, what="notes file").decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"notes file {str(path)!r} is not UTF-8 text") from None
    env: dict[str, Any] = {"docId": "notes"}  # footnote ids fn-notes-1…, apart from the report's own ids
    tokens = _markdown().parse(text, env)
    figures = _figures(tokens, labels, where=str(path))
    tokens = [figures.get(i, token) for i, token in enumerate(tokens) if i - 1 not in figures and i - 2 not in figures]
    tokens = _tables(tokens, labels, {figure.meta["id"] for figure in figures.values()}, where=str(path))
    own = [token.meta["id"] for token in tokens if token.type in ("notes_figure", "notes_table_caption")]
    labels = {**labels, **{id: (id,) for id in own if id.startswith(("fig-", "tbl-"))}}
    formulas = sum(token.type in ("math_inline", "math_block") for token, _ in _walk(tokens))
    if formulas > FORMULA_LIMIT:
        raise InputError(f"notes file {str(path)!r} holds {formulas} formulas; at most {FORMULA_LIMIT} are typeset "
                         "(each is an image in the report)")
    deadline = time.monotonic() + FORMULA_SECONDS
    for token, line in _walk(tokens):
        at = f"notes file {str(path)!r} line {line}" if line else f"notes file {str(path)!r}"
        if token.type == "crossref" and token.meta["label"] not in labels:
            raise InputError(f"{at}: unknown cross-reference @{token.meta['label']}{_suggestion(token, labels)}; "
                             f"valid: {_listing(labels)}")
        if token.type in ("math_inline", "math_block"):
            if time.monotonic() > deadline:
                raise InputError(f"{at}: the notes' formulas took over {FORMULA_SECONDS} s to typeset; write "
                                 "fewer or shorter ones")
            token.meta.update(_typeset(token.content, display=token.type == "math_block", at=at))
        elif token.type == "image":
            token.attrSet("src", _image(path.parent, str(token.attrGet("src")), at=at))
    return Notes(tuple(_chapters(tokens)), env, labels)


def _figures(tokens, labels, *, where):
    """{index of its paragraph: a notes_figure token} for each image alone in its paragraph. Its id is its
    own label (``{#fig-NAME}``, checked against the report's labels and the other figures') or notes-figure-N."""
    from markdown_it.token import Token

    figures: dict[int, Any] = {}
    for i, token in enumerate(tokens):
        children = token.children or []
        image = next((child for child in children if child.type == "image" and child.attrGet("id")), None)
        line = f"{where!r} line {token.map[0] + 1}" if token.map else repr(where)
        alone = (len(children) == 1 and children[0].type == "image" and tokens[i - 1].type == "paragraph_open"
                 and tokens[i + 1].type == "paragraph_close")
        if image is not None and not alone:
            raise InputError(f"notes file {line}: a label {{#{image.attrGet('id')}}} belongs to an image alone in "
                             "its paragraph (a figure)")
        if not alone:
            continue
        id = children[0].attrGet("id")
        if id is not None and (not re.fullmatch(NAME, str(id)) or str(id).startswith("tbl-")):
            raise InputError(f"notes file {line}: a figure's label is #fig-NAME (letters, digits, _ and -); got #{id}")
        taken = set(labels) | {figure.meta["id"] for figure in figures.values()}
        if id in taken:
            raise InputError(f"notes file {line}: the label #{id} is taken (by the report or another figure); "
                             "choose another name")
        figure = Token("notes_figure", "figure", 0)
        figure.meta = {"id": id or f"notes-figure-{len(figures) + 1}", "image": children[0]}
        figure.children, figure.map = [children[0]], token.map  # where _walk finds the image and its line
        figures[i - 1] = figure
    return figures


CAPTION_LABEL = re.compile(r"\s*\{#([^}]*)\}\s*$")  # Quarto's label at the end of a table's caption


def _tables(tokens, labels, taken, *, where):
    """``tokens`` with a notes_table_caption token first inside each table, and the table given its id: the
    caption is the paragraph right after the table when it begins with ": " (taken out of the text), its id
    the caption's label ``{#tbl-NAME}`` (checked against ``labels`` and the ``taken`` ids) or notes-table-N."""
    from markdown_it.token import Token

    result: list = []
    moved: set[int] = set()  # the caption paragraphs' tokens, now inside their tables
    for i, token in enumerate(tokens):
        if i in moved:
            continue
        result.append(token)
        if token.type != "table_open":
            continue
        close = next(j for j in range(i, len(tokens)) if tokens[j].type == "table_close")
        caption = Token("notes_table_caption", "caption", 0)
        label, caption.children = None, []
        if close + 3 < len(tokens) and tokens[close + 1].type == "paragraph_open" and \
                tokens[close + 2].content.startswith(": "):
            label, caption.children = _caption(tokens[close + 2], labels, taken, where=where)
            caption.map = tokens[close + 2].map  # an error inside the caption names its line
            moved |= {close + 1, close + 2, close + 3}
        caption.meta = {"id": label or f"notes-table-{sum(t.type == 'table_open' for t in result)}"}
        taken = taken | {caption.meta["id"]}
        token.attrSet("id", caption.meta["id"])
        result.append(caption)
    return result


def _caption(inline, labels, taken, *, where):
    """(its label or None, the caption's inline tokens without the leading ": " and the label)."""
    import copy

    children = copy.copy(inline.children or [])
    line = f"{where!r} line {inline.map[0] + 1}" if inline.map else repr(where)
    first = copy.copy(children[0])
    first.content = first.content[2:]
    children[0] = first
    label = None
    match = CAPTION_LABEL.search(children[-1].content) if children[-1].type == "text" else None
    if match:
        label = match.group(1)
        if not re.fullmatch(NAME, label) or not label.startswith("tbl-"):
            raise InputError(f"notes file {line}: a table's label is #tbl-NAME (letters, digits, _ and -); "
                             f"got #{label}")
        if label in labels or label in taken:
            raise InputError(f"notes file {line}: the label #{label} is taken (by the report, a figure or another "
                             "table); choose another name")
        last = copy.copy(children[-1])
        last.content = last.content[:match.start()]
        children[-1] = last
    return label, children


@functools.lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.attrs import attrs_plugin
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from mdit_py_plugins.footnote import footnote_plugin

    # html=False: raw HTML in the notes is text. Dollars as pandoc (and so Quarto) reads them: no space
    # inside the delimiters, no digit after the closing one, so "$5 and $10" stays money.
    md = (MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
          .use(footnote_plugin).use(dollarmath_plugin, allow_labels=False, allow_space=False, allow_digits=False))
    md.use(attrs_plugin, after=("image",), allowed=["id"])  # Quarto's {#fig-NAME}, and no other attribute
    md.inline.ruler.before("link", "crossref", _crossref)
    # A footnote's marker is a bare superscript number, as pandoc writes it: markdown-it's "[1]" reads as a
    # citation of the report's reference [1], in the PDF (where the superscript is slight) above all.
    md.add_render_rule("footnote_caption", lambda self, tokens, i, options, env: str(tokens[i].meta["id"] + 1))
    md.add_render_rule("notes_figure", _figure)
    md.add_render_rule("notes_table_caption", _table_caption)
    md.add_render_rule("crossref", lambda self, tokens, i, options, env: env["crossref"](tokens[i].meta["label"]))
    md.add_render_rule("math_inline", lambda self, tokens, i, options, env: _formula(tokens[i], "math"))
    md.add_render_rule("math_block", lambda self, tokens, i, options, env:
                       f'<div class="equation">{_formula(tokens[i], "")}</div>\n')
    return md


def _crossref(state, silent):
    """Inline rule: ``@fig-NAME`` / ``@tbl-NAME`` at the start of a word (an e-mail address is no label)."""
    if state.src[state.pos] != "@" or (state.pos > 0 and (state.src[state.pos - 1].isalnum()
                                                           or state.src[state.pos - 1] == "_")):
        return False
    match = LABEL.match(state.src, state.pos)
    if not match:
        return False
    if not silent:
        token = state.push("crossref", "", 0)
        token.meta = {"label": match.group(1)}
        token.content = match.group(0)
    state.pos = match.end()
    return True


def _resolve(labels, ref, numbered, label):
    import markupsafe

    placed = [id for id in labels[label] if numbered(id)]
    if placed:
        return str(ref(placed[0]))
    return str(markupsafe.Markup('<mark class="unplaced">@{} (not in this report)</mark>').format(label))


def _figure(renderer, tokens, i, options, env):
    """A numbered figure of the notes: the image, its text as the caption."""
    import markupsafe

    figure = tokens[i]
    image = figure.meta["image"]
    caption = markupsafe.Markup(renderer.renderInline(image.children or [], options, env))  # ![](x.png): None
    return str(markupsafe.Markup('<figure id="{}"><img src="{}" alt="{}">\n<figcaption><span class="label">{}.</span> '
                                 '{}</figcaption>\n</figure>\n').format(
        figure.meta["id"], image.attrGet("src"), caption.striptags(), env["number"]("figure", figure.meta["id"]),
        caption))


def _table_caption(renderer, tokens, i, options, env):
    """A notes table's caption, the first thing inside its table, numbered among the report's tables; the
    table takes the caption's id (a ref() leads to it)."""
    import markupsafe

    caption = tokens[i]
    text = markupsafe.Markup(renderer.renderInline(caption.children, options, env))
    label = markupsafe.Markup('<span class="label">{}.</span>').format(env["number"]("table", caption.meta["id"]))
    return str(markupsafe.Markup("<caption>{}{}</caption>\n").format(label, " " + text if text.strip() else ""))


def _formula(token, css_class):
    import markupsafe

    return str(markupsafe.Markup('<img{} src="{}" alt="{}" style="{}">').format(
        markupsafe.Markup(f' class="{css_class}"') if css_class else "", token.meta["src"],
        " ".join(token.content.split()),
        token.meta["style"]))


def _typeset(tex, *, display, at):
    """The formula as a data: URL and its size in em of the text, the baseline where the text's is."""
    from mnist_ova.render.figures import EQUATION_SIZE, math_svg

    flat = " ".join(tex.split())  # mathtext reads one line
    if not flat:
        raise InputError(f"{at}: an empty formula ($$ $$); write one or remove the dollars")
    unprintable = [c for c in flat if not c.isprintable()]
    if unprintable:  # TeX has no use for one, and the line that quotes the formula would print it raw
        raise InputError(f"{at}: a formula holds the unprintable character {unprintable[0]!r}; remove it")
    if len(flat) > FORMULA_CHARS:
        raise InputError(f"{at}: a formula of {len(flat)} characters; at most {FORMULA_CHARS} are typeset")
    try:
        # Inline too at the size of the report's equations: Computer Modern's letters are smaller than
        # DejaVu Sans's at the same size, so this matches the text around it.
        svg, width, height, depth = math_svg(flat, fontsize=EQUATION_SIZE)
    except ValueError as exc:
        reason = next((line.strip() for line in reversed(str(exc).splitlines()) if line.strip()), "")
        raise InputError(f"{at}: matplotlib's mathtext cannot typeset ${flat}$ ({reason}); it reads a subset of "
                         "TeX, without environments") from None
    except RecursionError:  # mathtext's parser recurses once per level of braces
        raise InputError(f"{at}: a formula nested too deeply for matplotlib's mathtext; flatten it") from None
    em = [f"{value / TEXT_SIZE:.3f}em" for value in (width, height, depth)]
    # A displayed formula keeps its proportions when a narrow screen scales it down (the stylesheet's
    # height: auto); an inline one sits on the text's baseline.
    style = f"width:{em[0]}" if display else f"width:{em[0]};height:{em[1]};vertical-align:-{em[2]}"
    return {"src": "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii"), "style": style}


def _image(folder, src, *, at):
    """An image named in the notes, a file inside their folder (symbolic links resolved), as a data: URL."""
    from urllib.parse import unquote, urlsplit

    if urlsplit(src).scheme or src.startswith("//"):
        raise InputError(f"{at}: the image {src!r} is no file: the report carries its images inside it, so "
                         "name a file beside the notes")
    folder = folder.resolve()
    file = (folder / unquote(src)).resolve()  # an absolute name replaces the folder: refused below
    if not file.is_relative_to(folder):
        raise InputError(f"{at}: the image {src!r} lies outside the notes folder (symbolic links resolved); "
                         "images are read only from inside it")
    mime = IMAGE_TYPES.get(file.suffix.lower())
    if mime is None:
        raise InputError(f"{at}: the image {src!r} is not one of {', '.join(IMAGE_TYPES)}")
    content = read_bounded(file, limit=IMAGE_LIMIT, what=f"{at}: the image")
    reason = check_image(content, mime)
    if reason:
        raise InputError(f"{at}: the image {src!r} {reason}")
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


RASTER_DATA = re.compile(r"data:image/(?:png|jpeg|gif|webp)[;,]")
URL = re.compile(r"url\(\s*['\"]?([^'\")\s]*)", re.IGNORECASE)
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def check_image(content, mime):
    """Why ``content`` cannot be shown as an image of type ``mime`` (words after "the image NAME"), or None.

    The report's PDF is typeset from these bytes (``report.write_pdf``), so an SVG must not make that
    reach out or run long: it may refer only inside itself (``#id``) or to a raster image carried in it
    (``data:image/png``…), declare no entities, and draw at most ``SVG_ELEMENTS`` elements ``SVG_DEPTH``
    deep; a raster image has at most ``PIXEL_LIMIT`` pixels."""
    import io

    if mime == "image/svg+xml":
        return _check_svg(content)
    from PIL import Image

    try:
        with Image.open(io.BytesIO(content)) as image:
            image.verify()
            if Image.MIME.get(image.format or "") != mime:
                return f"is no {mime} file that can be read"
            width, height = image.size
    except Exception:  # Pillow raises many kinds for a file that is not what it says
        return f"is no {mime} file that can be read"
    if width * height > PIXEL_LIMIT:
        return f"has {width}×{height} pixels; at most {PIXEL_LIMIT:,} are shown"
    return None


def _check_svg(content):
    import xml.etree.ElementTree as ElementTree
    import xml.parsers.expat

    def declared(*_):  # an entity can expand a few bytes into gigabytes
        raise ValueError("it declares an entity")

    entities = xml.parsers.expat.ParserCreate()
    entities.EntityDeclHandler = declared
    try:
        entities.Parse(content, True)
        root = ElementTree.fromstring(content)
    except (xml.parsers.expat.ExpatError, ElementTree.ParseError, ValueError) as exc:
        return f"is no image/svg+xml file that can be read ({exc})"
    if _local(root.tag) != "svg":
        return "is no image/svg+xml file that can be read (its root is no <svg>)"
    ids: dict[str, list] = {}
    for element in root.iter():
        if identifier := element.get("id"):
            ids.setdefault(identifier, []).append(element)
        for reference, _ in _references(element):
            if not (reference.startswith("#") or RASTER_DATA.match(reference)):
                return f"refers to {reference[:80]!r}; an SVG in the notes may refer only inside itself (#id)"
        if _local(element.tag) == "style" and "marker" in (element.text or "").lower():
            # a style sheet's markers are drawn at every vertex of paths it selects: uncounted here
            return ("sets markers in a <style>; give them as attributes (marker-mid=\"url(#m)\"), where what they "
                    "draw is counted")
    try:
        _drawn(root, ids)
    except ValueError as exc:
        return f"is too complex to typeset: {exc}"
    return None


def _local(name):
    return name.rpartition("}")[2]


def _references(element):
    """(what, how many times it is drawn) for each reference of ``element``: its href, each url(…) of its
    attributes; a marker is drawn at each vertex (counted as the numbers of the path's points)."""
    vertices = len(NUMBER.findall(element.get("d", "") + element.get("points", ""))) or 1
    for name, value in element.items():
        if _local(name) == "href":
            yield value, 1
        for declaration in value.split(";") if name == "style" else [f"{name}:{value}"]:
            times = vertices if declaration.strip().lower().startswith("marker") else 1
            yield from ((url, times) for url in URL.findall(declaration))
    if _local(element.tag) == "style":
        text = element.text or ""
        if "@import" in text:
            yield "@import", 1
        yield from ((url, 1) for url in URL.findall(text))


def _drawn(root, ids):
    """The elements the SVG draws, each reference counted as what it copies as often as it is drawn:
    ValueError past SVG_ELEMENTS, SVG_DEPTH deep, or for a reference to an element that holds it."""
    counts: dict[int, int] = {}
    path: list[int] = []

    def count(element):
        key = id(element)
        if key in counts:
            return counts[key]
        if key in path:
            raise ValueError("a reference leads to an element that holds it")
        if len(path) >= SVG_DEPTH:
            raise ValueError(f"elements and references nest more than {SVG_DEPTH} deep")
        path.append(key)
        total = 1 + sum(count(child) for child in element)
        for reference, times in _references(element):
            targets = ids.get(reference[1:], []) if reference.startswith("#") else []
            total += times * sum(count(target) for target in targets)  # a duplicated id: whichever is picked
        if total > SVG_ELEMENTS:
            raise ValueError(f"it draws more than {SVG_ELEMENTS:,} elements (references counted as what they copy)")
        path.pop()
        counts[key] = total
        return total

    count(root)


def _walk(tokens):
    """Every token, the inline ones too, with the line (from 1) of the block it is in."""
    for token in tokens:
        line = token.map[0] + 1 if token.map else None
        yield token, line
        for child in token.children or ():
            yield child, line


def _chapters(tokens):
    """(id, title, tokens) per level-1 heading; deeper headings move one level down (## is a section, h3)."""
    chapters: list[tuple[str, list]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open" and token.tag == "h1":
            chapters.append((_plain(tokens[i + 1]) or UNTITLED, []))
            i += 3  # heading_open, inline, heading_close
            continue
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
        if not chapters:
            chapters.append((UNTITLED, []))
        chapters[-1][1].append(token)
        i += 1
    return [(f"notes-{n}", title, tuple(body)) for n, (title, body) in enumerate(chapters, 1)]


def _plain(inline):
    """A heading's words, without their markup (a formula as its TeX source, between dollars)."""
    words = {"softbreak": " ", "hardbreak": " "}
    return " ".join("".join(f"${child.content}$" if child.type == "math_inline"
                            else words.get(child.type, child.content) for child in inline.children or ()).split())


def _suggestion(token, labels):
    close = difflib.get_close_matches(token.meta["label"], labels, n=1, cutoff=0.6)
    return f" (did you mean @{close[0]}?)" if close else ""


def _listing(labels):
    """The valid labels, short enough for one error line: @fig-{a, b}, @tbl-{c, d}."""
    groups: dict[str, list[str]] = {}
    for label in sorted(labels):
        kind, _, name = label.partition("-")
        groups.setdefault(kind, []).append(name)
    return ", ".join(f"@{kind}-{{{', '.join(names)}}}" for kind, names in groups.items())
