"""``report.html`` and ``report.pdf`` from one set of Jinja2 templates.

The words and the layout live in ``templates/``; this module only loads them, fills them
with a context of numbers and asset references, and writes the two files.
"""
import base64
import contextlib
import mimetypes
import os
import traceback
from importlib import metadata as package_metadata
from pathlib import Path


from mnist_ova.errors import InputError
from mnist_ova.environment import dependencies, reproducible, run_time
from mnist_ova.fileio import MiB, read_bounded

ENTRY = "report.html.j2"


def bundled_templates():
    """The folder of the templates shipped with the package (package data, so a wheel has them)."""
    from importlib import resources

    return resources.files("mnist_ova.templates")


def environment(template_dir=None):
    """Templates from ``template_dir`` first (any file there overrides its bundled twin)."""
    import jinja2

    folders = [str(template_dir)] if template_dir else []
    if template_dir and not Path(template_dir).is_dir():
        raise InputError(f"template-dir {str(template_dir)!r} is not a folder")
    folders.append(str(bundled_templates()))
    # HTML is escaped; the Markdown of summary.md is not (a Markdown template says what it marks up).
    env = jinja2.Environment(loader=_bounded_loader(folders),
                             autoescape=lambda name: not (name or "").endswith(".md.j2"),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["breakable"] = breakable
    env.filters["thousands"] = "{:,}".format  # a count in running text: 14,000, not 14000
    env.filters["first_upper"] = lambda text: text[:1].upper() + text[1:]  # capitalize lowers a name's other letters
    env.globals["name_limit"] = NAME_LIMIT
    env.filters.update(md=markdown_text, md_code=markdown_code, md_link=markdown_link)
    # A template rendered on its own (a section, in a test) numbers its figures and tables from 1;
    # render_html replaces these with the numbering of the whole report.
    numbering = Numbering()
    env.globals.update(number=numbering.number, ref=numbering.ref, numbered=numbering.has)
    return env


NAME_LIMIT = 5  # a sentence names a group of tied classes up to this many; a larger one it counts

TEMPLATE_LIMIT = 4 * MiB  # a template is text of a few KiB; a FIFO or a huge file put there is not read


def _bounded_loader(folders):
    """Jinja2's FileSystemLoader, but a template is read only when it is a regular file of at most
    TEMPLATE_LIMIT bytes (``fileio.read_bounded``): a FIFO does not hang the run, /dev/zero is not read."""
    import jinja2

    class BoundedLoader(jinja2.FileSystemLoader):
        def get_source(self, environment, template):
            pieces = jinja2.loaders.split_template_path(template)
            for folder in self.searchpath:
                path = os.path.join(folder, *pieces)
                if os.path.exists(path):
                    text = read_bounded(path, limit=TEMPLATE_LIMIT, what="template", encoding="utf-8")
                    mtime = os.path.getmtime(path)
                    return text, os.path.normpath(path), lambda: os.path.exists(path) and \
                        os.path.getmtime(path) == mtime
            raise jinja2.TemplateNotFound(template)

    return BoundedLoader(folders)


def breakable(text, every=None):
    """``text`` HTML-escaped, with line-break opportunities (<wbr>) after the characters at which an
    identifier, path or URL may break ( _ / . , = ( ), or every ``every`` characters (for hashes)."""
    import re

    import markupsafe

    text = str(text)
    if every:
        parts = [text[i:i + every] for i in range(0, len(text), every)]
    else:
        parts = re.split(r"(?<=[_/.,=(])(?=.)", text)
    return markupsafe.Markup("<wbr>").join(markupsafe.escape(p) for p in parts)


# What can start markup inside a line of Markdown (GitHub's tables and strike-through included); an
# underscore inside a word (test_size) starts nothing and stays as it is.
MARKDOWN_SPECIAL = r"[\\`*\[\]<>&|~]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])"


def markdown_text(text):
    """``text`` as literal Markdown text inside a line (a table cell too): each character that could start
    markup (emphasis, a link, a code span, raw HTML, an entity, a table's cell border, strike-through)
    is escaped with a backslash; a line break becomes a space."""
    import re

    return re.sub(MARKDOWN_SPECIAL, lambda m: "\\" + m.group(), " ".join(str(text).splitlines()))


def markdown_code(text, in_table=False):
    """``text`` as a Markdown code span: fenced with one backtick more than its longest run of them,
    padded when it begins or ends with one; ``in_table``, ``|`` is escaped (a table's cell ends there
    even inside code, and there only the escape is taken out again)."""
    import re

    text = " ".join(str(text).splitlines())
    text = text.replace("|", "\\|") if in_table else text
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def markdown_link(url):
    """A link destination; one that holds spaces, parentheses or angle brackets (an output folder's path
    may) goes in angle brackets, where only those and the backslash need escaping."""
    text = " ".join(str(url).splitlines())
    if not any(c in text for c in " ()<>\\"):
        return text
    return "<" + "".join(f"\\{c}" if c in "<>\\" else c for c in text) + ">"


@contextlib.contextmanager
def template_errors(env, template_dir=None):
    """A template's failure as one ``InputError`` that names the file and line: a syntax error, a
    missing file, or anything a template of ``template_dir`` raises while it renders (the user's
    template dividing by zero). The bundled templates failing is a bug of the tool, raised as it is."""
    import jinja2

    try:
        yield
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"template {exc.filename or exc.name} line {exc.lineno}: {exc.message}; fix the "
                         "template or remove it from --template-dir") from None
    except jinja2.TemplateNotFound as exc:
        raise InputError(f"template {exc.name!r} was not found in {', '.join(env.loader.searchpath)}") from None
    except Exception as exc:
        place = _template_line(exc, template_dir) if template_dir else None
        if place is None or isinstance(exc, InputError):
            raise
        message = (str(exc).strip().splitlines() or [""])[0]
        raise InputError(f"template {place}: {type(exc).__name__}: {message}; fix the template or remove it "
                         "from --template-dir") from None


def check_templates(template_dir=None, names=(ENTRY,)):
    """Compile the templates ``names`` now, so a broken one fails the run before any training."""
    env = environment(template_dir)
    with template_errors(env, template_dir):
        for name in names:
            env.get_template(name)


class Numbering:
    """Figure and table numbers that work across the report template and every template it
    includes or imports: ``number(kind, id)`` numbers a figure or table where it is placed, in
    order of placement; ``ref(id)`` is a link "Figure 3" to it, wherever it is (before or after).

    ``render_html`` renders twice: the first pass learns the numbers, the second uses them, so a
    reference may come before the figure it names.
    """

    WORDS = {"figure": "Figure", "table": "Table"}

    def __init__(self, known=None):
        self.known = dict(known or {})
        self.placed = {}
        self.counts = {}
        self.referenced = []

    def number(self, kind, id):
        if kind not in self.WORDS:
            raise ValueError(f"number(): kind must be one of {', '.join(self.WORDS)}, not {kind!r}")
        if id in self.placed:
            raise ValueError(f"number(): {id!r} is placed twice")
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.placed[id] = (kind, self.counts[kind])
        return f"{self.WORDS[kind]} {self.counts[kind]}"

    def has(self, id):
        """Whether the report numbers ``id`` (known from the first pass)."""
        return id in self.known

    def ref(self, id):
        import markupsafe

        self.referenced.append(id)
        kind, n = self.known.get(id, ("figure", 0))
        return markupsafe.Markup('<a class="ref" href="#{}">{} {}</a>').format(id, self.WORDS[kind], n)

    def check(self):
        missing = sorted(set(self.referenced) - set(self.placed))
        if missing:
            raise ValueError(f"ref(): nothing is numbered {', '.join(map(repr, missing))}")


def render_html(context, *, target, assets, template_dir=None):
    """The report as HTML text. ``target`` is "html" or "pdf"; ``assets`` maps names to URLs."""
    env = environment(template_dir)
    known = None
    with template_errors(env, template_dir):
        for _ in range(2):
            numbering = Numbering(known)
            env.globals.update(number=numbering.number, ref=numbering.ref, numbered=numbering.has,
                               asset=assets.__getitem__, target=target)
            html = env.get_template(ENTRY).render(**context, target=target, asset=assets.__getitem__)
            known = numbering.placed
    try:
        numbering.check()
    except ValueError as exc:
        if not template_dir:
            raise  # the bundled templates refer to nothing that is not there: a bug
        raise InputError(f"template {ENTRY}: {exc}; fix the template or remove it from --template-dir") from None
    return html


def _template_line(exc, template_dir):
    """'file line N' of the innermost frame of a template in ``template_dir`` through which ``exc``
    passed, or None when no such template was involved."""
    folder = os.path.realpath(template_dir)
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.endswith((".j2", ".html", ".css"))
              and os.path.realpath(f.filename).startswith(folder + os.sep)]
    return f"{frames[-1].filename} line {frames[-1].lineno}" if frames else None


def inline_assets(paths):
    """Each asset as a data: URL, for one self-contained HTML file."""
    urls = {}
    for name, path in paths.items():
        mime = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
        urls[name] = f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"
    return urls


def linked_assets(paths, folder):
    """Each asset as a path relative to the report's folder."""
    return {name: Path(path).relative_to(folder).as_posix() for name, path in paths.items()}


def write_pdf(html, path, *, base_url):
    """Typeset ``html`` with WeasyPrint; relative URLs resolve against ``base_url``. The PDF is
    tagged (its structure and the images' alt texts reach screen readers), takes its Title, Author,
    Subject, Keywords and dates from the HTML's head, and has a bookmark per heading.

    WeasyPrint fetches only through ``serve``: the report carries every image as a data: URL, so no
    file, no network and no image it cannot typeset in bounded time (an SVG of the notes referring to
    /etc or to a server, a FIFO, a <use> bomb) is ever read; what is refused is left out of the PDF."""
    import logging

    import weasyprint

    # WeasyPrint reports every CSS property it skips at WARNING; they are not the user's concern.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    weasyprint.HTML(string=html, base_url=str(base_url), url_fetcher=_fetcher()).write_pdf(str(path), pdf_tags=True)


DATA_LIMIT = 64 * MiB  # characters of one data: URL served to WeasyPrint; the report's largest image is a few MiB


def serve(url):
    """(bytes, type) of ``url`` when it is a data: URL of at most DATA_LIMIT characters carrying an image
    ``notes.check_image`` accepts; ValueError for anything else (WeasyPrint then leaves it out)."""
    from urllib.parse import unquote_to_bytes

    from mnist_ova.render import notes

    if url[:5].lower() != "data:":
        raise ValueError(f"the report fetches nothing; refused {url[:80]!r}")
    if len(url) > DATA_LIMIT:
        raise ValueError(f"a data: URL of {len(url)} characters; at most {DATA_LIMIT} are read")
    header, _, body = url[5:].partition(",")
    mime, *parameters = header.lower().split(";")
    data = unquote_to_bytes(body)
    data = base64.b64decode(data) if "base64" in parameters else data
    reason = (notes.check_image(data, mime) if mime in notes.IMAGE_TYPES.values()
              else f"is of type {mime!r}, no image")
    if reason:
        raise ValueError(f"the image of a data: URL {reason}")
    return data, mime


def _fetcher():
    """``serve`` as the url_fetcher this WeasyPrint takes: a URLFetcher where it has that class, else (older
    versions) a function returning a dict."""
    from weasyprint import urls

    if not hasattr(urls, "URLFetcher"):
        return lambda url: dict(zip(("string", "mime_type"), serve(url)))

    class Fetcher(urls.URLFetcher):
        def fetch(self, url, headers=None):
            data, mime = serve(url)
            return urls.URLFetcherResponse(url, data, {"Content-Type": mime})

    return Fetcher()


# Stage keys of timings.json as the report names them, in the order they run.
STAGES = {"load_s": "Loading the data", "preprocess_s": "Standardising and splitting",
          "train_s": "Training", "snapshots_s": "Scoring the snapshots of training",
          "evaluate_s": "Evaluating the models"}


def timing_rows(timings, training):
    """(stage, seconds or words) rows for the report's timings table."""
    rows = [(STAGES.get(key, key.removesuffix("_s").replace("_", " ")), f"{seconds:.2f} s")
            for key, seconds in sorted(timings.items(), key=lambda item: list(STAGES).index(item[0])
                                       if item[0] in STAGES else len(STAGES))]
    if training and training.get("reused"):
        seconds = training.get("train_seconds")
        words = "reused from the saved model" + (f", trained in {seconds:.2f} s" if seconds is not None else "")
        at = next((i for i, (stage, _) in enumerate(rows) if stage == STAGES["evaluate_s"]), len(rows))
        rows.insert(at, (STAGES["train_s"], words))
    return rows


def video_context(views, *, examples, seconds_per_example, shown, gif_bytes=0, rows=None):
    """What the report says of the prediction videos: ``examples`` asked for (at most the test set),
    ``shown`` maps each video format the report shows ("mp4", "gif") to its file, ``gif_bytes`` is
    the GIF's size, ``rows`` the test positions the video shows (``frames.choose_examples``), whose
    highest normalised score the report quotes (None: no score is quoted)."""
    e = views.evaluation
    top = (None if rows is None or not len(rows)
           else float(e.scores[rows, e.predicted_index[rows]].max()))
    return {"examples": min(examples, e.true_index.size), "seconds_per_example": seconds_per_example,
            "top_score": top,
            "mp4": "mp4" in shown, "gif": "gif" in shown, "captions": "mp4" in shown, "gif_kib": gif_bytes // 1024,
            "files": list(shown.values())}


TIE_LIMIT = 6  # a tie of more confusions than this is counted, not listed, in the conclusion
SMALL_SPLIT = 0.02  # width of the accuracy's 95 % interval past which the report calls the test split small
CONFUSIONS = 3  # the conclusion names the most frequent confusions, this many and any tied with the last


def context(views, *, title_page, dataset, config, video, timings, training=None, profile=None, test_rows,
            comparison=None, gates=(), baseline_label=None, data=None):
    """What the report says, from one evaluation's views (``render.views``). ``profile``
    (``trainer.profiles.Profile``) gives every word about the data, and the title when ``title_page``
    has none; ``title_page`` holds the title-page fields, ``dataset``/``config`` the run's recorded
    summaries, ``video`` what the videos show (``video_context``), ``timings`` the stages' seconds (None leaves them out), ``training``
    whether the model was reused ({"reused", "train_seconds"}); ``test_rows``, ``comparison`` (with
    the baseline ``baseline_label``) and ``gates`` are the error analysis's (``diagnostics.context``).
    ``data`` is the data set as loaded (``trainer.data.Dataset``), for what the recorded summary lacks: the
    pixels' range and the split the files came with (without it the report states the pixels' type only,
    and the files' split only where the profile knows it)."""
    from mnist_ova.render import diagnostics
    from mnist_ova.render.figures import EQUATIONS, KEY_LIMIT, confusion_shows_counts
    from mnist_ova.render.frames import BARS_LIMIT, TOP_BARS
    from mnist_ova.render.views import PRINTED, groups_apart, ranking
    from mnist_ova.trainer.statistics import confusion_cells
    from mnist_ova.trainer.profiles import NEUTRAL

    profile = profile or NEUTRAL
    e, names, classes = views.evaluation, views.names, views.classes
    by_auc, by_recall = ranking(classes, "auc", printed=PRINTED["auc"]), views.by_recall
    cells = [{"true_name": names[t], "predicted_name": names[p], "count": int(rows.size),
              "share": views.share_of_class(rows.size, t)} for t, p, rows in confusion_cells(e)]
    confused: list[list] = []  # the groups of equal count that hold the CONFUSIONS most frequent, whole
    for group in ranking(cells, "count", descending=True):
        if sum(map(len, confused)) >= CONFUSIONS:
            break
        confused.append(group)
    accuracy = views.headline["multiclass_accuracy"]
    falling = still_falling(e.cost_history, [m["iterations"] for m in classes], config["iterations"])
    split = files_split(dataset, profile, None if data is None else data.official_n_train)
    when = run_time()
    versions = package_versions()
    return {
        "meta": dict(title_page, title=title_page.get("title") or profile.default_title,
                     date=when.strftime("%d %B %Y").lstrip("0"),
                     created=when.strftime("%Y-%m-%dT%H:%M:%SZ")),
        "dataset": dataset,
        "profile": profile,
        "config": config,
        "models": classes,
        "per_class": classes,
        "one_vs_all_accuracy": e.one_vs_all_accuracy,
        "multiclass_accuracy": e.multiclass_accuracy,
        "chance_accuracy": 1 / e.n_classes,
        "always_no_accuracy": views.always_no_accuracy, "always_no_span": views.always_no_span,
        # The strongest and weakest models by ROC AUC, its own threshold-free measure (binary accuracy
        # flatters every model alike); the hardest and easiest classes by recall, each with the runner-up
        # and whether their 95 % intervals keep them apart (if not, the ranking is not shown). Each is a
        # group of tied rows (views.ranking); with all alike there is one group and no runner-up.
        "best": by_auc[-1], "best_next": by_auc[-2] if len(by_auc) > 1 else None,
        "worst": by_auc[0], "worst_next": by_auc[1] if len(by_auc) > 1 else None,
        "hardest": by_recall[0], "hardest_next": by_recall[1] if len(by_recall) > 1 else None,
        "easiest": by_recall[-1], "easiest_next": by_recall[-2] if len(by_recall) > 1 else None,
        "hardest_shown": len(by_recall) > 1 and groups_apart(by_recall[0], by_recall[1]),
        "easiest_shown": len(by_recall) > 1 and groups_apart(by_recall[-1], by_recall[-2]),
        "confused": confused, "tie_limit": TIE_LIMIT,
        "key_limit": KEY_LIMIT, "named_only": e.n_classes > KEY_LIMIT,  # the charts' keys name a few classes
        "confusion_counts": confusion_shows_counts(e.confusion, names),
        "bars_limit": BARS_LIMIT, "top_bars": TOP_BARS,
        "n_misclassified": int(e.misclassified.size),
        # What the accuracy and confusion figures' alt texts may say: the span of the models' binary accuracies and
        # how many lie below answering "no" every time; how many classes have most of their images found.
        "accuracy_span": {
            "low": min(min(m["test_accuracy"], m["train_accuracy"]) for m in classes),
            "high": max(max(m["test_accuracy"], m["train_accuracy"]) for m in classes),
            "above_always_no": all(m["test_accuracy"] >= 1 - share for m, share in zip(classes, views.class_shares)),
            "below_always_no": sum(m["test_accuracy"] < 1 - share for m, share in zip(classes, views.class_shares))},
        "recall_span": {"low": min(m["recall"] for m in classes),
                        "above_half": sum(m["recall"] > 0.5 for m in classes)},
        "stopped_early": [m for m in classes if m["iterations"] < config["iterations"]],
        # Whose cost still fell over its last ten iterations, and the last iteration drawn: only then may
        # the report say the curves still fall, and at which iteration.
        "still_falling": falling and dict(falling, rows=[classes[k] for k in falling["models"]]),
        "video": video,
        # Timings differ from run to run: a reproducible build (SOURCE_DATE_EPOCH set) leaves them out.
        "timings": None if reproducible() else timing_rows(timings or {}, training),
        "versions": versions,
        "version_of": dict(versions),
        # The multiclass accuracy's 95 % Wilson interval as it is, the interval the error analysis states
        # (asymmetric: its two sides are given apart, never as one ±); a test split is called small when
        # that interval is wider than SMALL_SPLIT.
        "accuracy_interval": accuracy["interval"],
        "accuracy_below": accuracy["value"] - accuracy["interval"]["low"],
        "accuracy_above": accuracy["interval"]["high"] - accuracy["value"],
        "small_split": accuracy["interval"]["high"] - accuracy["interval"]["low"] > SMALL_SPLIT,
        "small_split_limit": SMALL_SPLIT,
        # The narrowest per-class recall interval: recalls closer than that are within chance of each other.
        "chance_gap": min(m["recall_interval"]["high"] - m["recall_interval"]["low"] for m in classes),
        "pixels": pixel_values(dataset.get("pixel_dtype"), None if data is None else data.images),
        "files_split": split,
        "official_part": official_part(dataset, profile, None if data is None else data.official_n_train),
        "published": published(profile, accuracy, same_test_set=config.get("split") == "official" and split == {
            "train": profile.files_train, "test": profile.files_test}),
        "failing": failing(views, cells),
        "equations": {name: words for name, (_, words) in EQUATIONS.items()},
        "analysis": diagnostics.context(views, test_rows=test_rows, comparison=comparison, gates=gates,
                                        baseline_label=baseline_label),
    }


def pixel_values(dtype, images=None):
    """What the Data chapter says of the pixels: {"type": the stored type in words, "low", "high": the smallest
    and largest value as printed (None without ``images``), "whole": whether every value is a whole number};
    None when neither the recorded ``dtype`` nor ``images`` is known."""
    import numpy as np

    if dtype is None and images is None:
        return None
    kind = np.dtype(dtype if dtype is not None else images.dtype)
    bits = 8 * kind.itemsize
    words = {"u": f"{bits}-bit unsigned integers", "i": f"{bits}-bit signed integers",
             "f": f"{bits}-bit floating-point numbers", "b": "booleans"}.get(kind.kind, f"values of type {kind.name}")
    if images is None or not np.size(images):
        return {"type": words, "low": None, "high": None, "whole": kind.kind in "uib"}
    low, high = np.min(images), np.max(images)
    whole = bool(kind.kind in "uib" or np.array_equal(images, np.round(images)))
    shown = "{:,.0f}" if whole else "{:.4g}"
    return {"type": words, "low": shown.format(low), "high": shown.format(high), "whole": whole}


def files_split(dataset, profile, files_train=None):
    """{"train", "test"}: the sizes of the training and test parts the data's files came in, when known (the
    loader's ``files_train``, else the profile's published split where this data set is exactly that
    many images), else None."""
    n = dataset.get("n_train", 0) + dataset.get("n_test", 0)
    if files_train is not None and 0 < files_train < n:
        return {"train": int(files_train), "test": int(n - files_train)}
    if profile.files_train and profile.files_train + profile.files_test == n:
        return {"train": profile.files_train, "test": profile.files_test}
    return None


def official_part(dataset, profile, files_train=None):
    """"test" or "training": the data are one of the profile's published parts alone (read from one file, and
    exactly as many images as that part holds), which this run splits again; else None. MNIST's t10k files
    alone are "test": a published result measured on that test set was then measured on images this run
    trains on."""
    n = dataset.get("n_train", 0) + dataset.get("n_test", 0)
    if files_train is not None or not profile.files_train or profile.files_train == profile.files_test:
        return None
    return {profile.files_test: "test", profile.files_train: "training"}.get(n)


def published(profile, accuracy, same_test_set=False):
    """The profile's published result of a linear model beside this run's multiclass accuracy: {"result": its
    words, "accuracy", "citation": its place in the profile's references (from 1), "relation": where the
    published figure lies against this run's 95 % interval, "below", "within" or "above", "same_test_set":
    whether this run was tested on the published test set (else the two are a guide to each other, no test)};
    None when the profile knows none (or a recorded profile's figure is not a share with a reference of its own)."""
    value, cited = profile.published_accuracy, profile.published_citation
    if not (profile.published_result and isinstance(value, (int, float)) and 0 < value < 1
            and isinstance(cited, int) and 1 <= cited <= len(profile.citation)):
        return None
    low, high = accuracy["interval"]["low"], accuracy["interval"]["high"]
    relation = "below" if value < low else "above" if value > high else "within"
    return {"result": profile.published_result, "accuracy": float(value), "citation": cited, "relation": relation,
            "same_test_set": same_test_set}


def failing(views, cells):
    """The classes that fail, by the rule the discussion states: even the upper end of a class's 95 % recall
    interval lies below the low fence of the classes' recalls (Tukey's: the first quartile less 1.5 times the
    interquartile range), so it is recognised less often than the rest by more than the spread of the classes
    and by more than chance. Each row with "read_as", the class its images are most often taken for, and
    "count", how many (None when none was misread); "fence", the fence; "read_as", the class all of them are
    most often taken for, when there are two or more and it is one."""
    import numpy as np

    classes = views.classes
    first, third = np.percentile([m["recall"] for m in classes], [25, 75])
    fence = float(first - 1.5 * (third - first))
    rows = []
    for m in classes:
        if m["recall_interval"]["high"] < fence:
            worst = next((c for c in cells if c["true_name"] == m["name"]), None)  # cells: most frequent first
            rows.append(dict(m, read_as=worst and worst["predicted_name"], count=worst and worst["count"]))
    shared = {r["read_as"] for r in rows}
    return {"rows": rows, "fence": fence, "read_as": shared.pop() if len(rows) > 1 and len(shared) == 1 else None}


def still_falling(histories, iterations, budget, window=10):
    """{"models": indices of the models that ran all ``budget`` iterations and whose cost fell by more than
    0.1 % over their last ``window``, "at": the last iteration of those} or None when none still falls. A
    model that stopped early fits its training images: its falling cost asks for no more iterations."""
    falling = [k for k, h in enumerate(histories)
               if iterations[k] >= budget and len(h) > window and h[-1] < h[-1 - window] * 0.999]
    return {"models": falling, "at": max(iterations[k] for k in falling)} if falling else None


def package_versions():
    import platform

    versions = [("python", platform.python_version())]
    for name in dependencies():
        try:
            versions.append((name, package_metadata.version(name)))
        except package_metadata.PackageNotFoundError:
            versions.append((name, "not installed"))
    return versions
