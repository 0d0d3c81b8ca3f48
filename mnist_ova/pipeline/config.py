"""Every option of the tool, declared once: flags, TOML keys, defaults, types and checks come from here.

A TOML file's keys are the flag names (``learning-rate = 0.05``); flags given on the command line override
the file, and the file overrides the defaults. Settings are made in two steps: each value given is parsed
into its field's type (a number, a pair of sides, a data set's profile), so a ``Settings`` always holds its
declared types; ``check`` then holds each value to its option's rules and the options to each other. What
takes files to check (the notes, the history, the templates) is the run's pre-flight
(``pipeline.run.preflight``), still before any work.
"""
import dataclasses
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mnist_ova.errors import InputError
from mnist_ova.fileio import MiB, read_bounded
from mnist_ova.pipeline import gates
from mnist_ova.pipeline.outputs import FORMATS
from mnist_ova.trainer import profiles, validation
from mnist_ova.trainer.choices import DEFAULT_L2, DTYPES, SOLVERS
from mnist_ova.trainer.data import SOURCES
from mnist_ova.trainer.preprocess import SPLITS

EXAMPLE_SOURCES = ("random", "misclassified", "first")
HTML_ASSETS = ("inline", "external")
TEXT_LIMIT = 200  # characters in a title-page field or a class name
VIDEO_SIDES = ((320, 3840), (240, 2160))  # the (smallest, largest) width and height of a video
BASELINE_PREFIX = "history:"  # --baseline history:SELECTOR picks a run of --history
SELECTORS = ("last", "best")  # and a run id


@dataclasses.dataclass(frozen=True)
class Number:
    """A number option's kind and range: ``parse`` takes any finite number of its kind (its message states
    the range too), ``check`` holds it to the range."""

    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    include_minimum: bool = True
    include_maximum: bool = True

    def parse(self, name, raw):
        return validation.as_number(name, raw, **dataclasses.asdict(self))

    def check(self, name, value):
        return validation.check_number(name, value, **dataclasses.asdict(self))


def _text(name, raw):
    if not isinstance(raw, str):
        raise InputError(f"{name} must be text; got {raw!r}")
    return raw


def _page_text(name, value):
    """Text shown on the report's pages: bounded, so a runaway value fails before any work, and free of
    control characters; the error names its option, which the command line words as its flag."""
    option = name.replace("-", "_")
    validation.check_text(name, value, option=option)
    if len(value) > TEXT_LIMIT:
        raise InputError(f"{name} must be at most {TEXT_LIMIT} characters; got {len(value)} ({value[:40]!r}...)",
                         option=option)
    return value


def _names(name, raw):
    """Comma-separated text, or a TOML list of texts, as a tuple of names (spaces around each trimmed)."""
    names = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(names, (list, tuple)):
        raise InputError(f"{name} must be comma-separated text or a list of names; got {raw!r}")
    return tuple(_text(name, n).strip() for n in names)


def _formats(name, raw):
    """The deliverables named, in the order of ``outputs.FORMATS``."""
    names = [n for n in _names(name, raw) if n]
    if not names:
        raise InputError(f"{name} must name at least one of {', '.join(FORMATS)}; got {raw!r}")
    for format_name in names:
        validation.check_choice(name, format_name, FORMATS)
    return tuple(f for f in FORMATS if f in names)


def _class_names(name, names):
    return tuple(validation.check_class_names(name, [_page_text(name, n) for n in names], len(names),
                                              option="class_names"))


def _video_size(name, raw):
    """'WIDTHxHEIGHT' as (width, height)."""
    try:
        width, height = (int(part) for part in _text(name, raw).lower().split("x"))
    except (InputError, ValueError):
        raise InputError(f"{name} must be WIDTHxHEIGHT between {_sides(0)} and {_sides(1)}; got {raw!r}") from None
    return width, height


def _sides(end):
    return f"{VIDEO_SIDES[0][end]}x{VIDEO_SIDES[1][end]}"


def _check_video_size(name, size):
    text = "x".join(map(str, size))
    if not all(low <= side <= high for side, (low, high) in zip(size, VIDEO_SIDES)):
        raise InputError(f"{name} must be WIDTHxHEIGHT between {_sides(0)} and {_sides(1)}; got {text!r}")
    if any(side % 2 for side in size):  # never a silently smaller video
        even = "x".join(str(side - side % 2) for side in size)
        raise InputError(f"{name} must have even sides (H.264 in yuv420p halves both for colour); got {text!r}: "
                         f"use {even}")
    return size


def _dataset(name, raw):
    """A built-in profile's name, or (in the config file) a [dataset] table, as a Profile."""
    if isinstance(raw, dict):
        return profiles.from_table(raw)
    if not isinstance(raw, str):
        raise InputError(f"{name} must be one of {', '.join(profiles.BUILT_IN)}, or a [dataset] table in the "
                         f"config file; got {raw!r}")
    return profiles.builtin(raw)


def _check_dataset(name, profile):
    for field in ("name", "title", "item"):
        validation.check_text(f"[{name}] {field}", getattr(profile, field), option="dataset")
    if profile.class_names:
        validation.check_class_names(f"[{name}] class-names", profile.class_names, len(profile.class_names),
                                     option="dataset")
    return profile


def parse_selector(text):
    """'history:last' -> 'last'; None when ``text`` names no history baseline; an ``InputError`` for
    a selector that is neither last, best nor a run id."""
    if not isinstance(text, str) or not text.startswith(BASELINE_PREFIX):
        return None
    selector = text[len(BASELINE_PREFIX):]
    if selector not in SELECTORS and not (selector.isascii() and selector.isdigit()):
        raise InputError(f"baseline {text!r}: after {BASELINE_PREFIX} give last, best or a run id (a number); "
                         f"got {selector!r}")
    return selector


def _baseline(name, raw):
    parse_selector(_text(name, raw))
    return raw


def _choice(choices):
    return lambda name, raw: validation.check_choice(name, raw, choices)


def _option(default, help, *, parse: "Callable[[str, Any], Any] | Number" = _text, check=None, choices=(),
            group="training", flag_type: type = str, default_text=None, repeatable=False, title_page=False):
    """A field of ``Settings`` with what its flag needs and how its value is made: ``parse(name, raw)`` turns
    the text of a flag or a TOML value into the field's type, ``check(name, value)`` holds it to its rules
    (both say what is wrong as an ``InputError``; a ``Number`` gives both, and the flag's type);
    ``flag_type`` is what argparse converts the flag's text to; ``repeatable`` flags may be given more than
    once (each one adds); ``title_page`` fields are printed on the report's title page."""
    if isinstance(parse, Number):
        number = parse
        parse, check, flag_type = number.parse, number.check, int if number.integer else float
    if choices:
        parse = _choice(choices)
    return dataclasses.field(default=default, metadata={
        "help": help, "parse": parse, "check": check, "choices": tuple(choices), "group": group, "type": flag_type,
        "default_text": default_text if default_text is not None else default, "repeatable": repeatable,
        "title_page": title_page})


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every option of a run, declared once: the flags, the TOML keys (the flag names), the defaults, the help
    and how each value is parsed and checked come from these fields. Made by ``settings_from``; each field
    holds its declared type."""

    data: str = _option("auto", f"data: a .mat/.npz/IDX file or folder, or one of {', '.join(SOURCES)}")
    out: str = _option("outputs", "output folder")
    cache_dir: str | None = _option(None, "download and sample cache",
                                    default_text="$MNIST_OVA_CACHE or ~/.cache/mnist-ova")
    iterations: int = _option(1000, "gradient-descent iterations per model", parse=Number(minimum=1, integer=True))
    learning_rate: float = _option(0.01, "gradient-descent step size (alpha)",
                                   parse=Number(minimum=0, include_minimum=False))
    tol: float = _option(1e-5, "a model stops once the RMSE of its rounded training predictions is <= tol",
                         parse=Number(minimum=0))
    dtype: str = _option("float64", "arithmetic precision", choices=DTYPES)
    solver: str = _option("gd", "gd: the notebook's gradient descent; lbfgs: L-BFGS, all models in lockstep",
                          choices=SOLVERS)
    l2: float | None = _option(None, "L2 penalty weight", parse=Number(minimum=0),
                               default_text=f"{DEFAULT_L2['gd']} for gd, {DEFAULT_L2['lbfgs']} for lbfgs")
    split: str = _option("seed", "seed: shuffled split; official: the data files' own train/test parts",
                         choices=SPLITS)
    test_size: float = _option(0.2, "fraction of rows in the test set (split 'seed')",
                               parse=Number(minimum=0, maximum=1, include_minimum=False, include_maximum=False))
    seed: int = _option(42, "random seed of the split and of the example choice",
                        parse=Number(minimum=0, maximum=2**32 - 1, integer=True))
    class_names: tuple[str, ...] | None = _option(None, "comma-separated class names, in label order",
                                                  parse=_names, check=_class_names,
                                                  default_text="the data set profile's, else the labels")
    dataset: profiles.Profile | None = _option(
        None, f"the data set's profile (its words in the report, its class names): one of {', '.join(profiles.BUILT_IN)}",
        parse=_dataset, check=_check_dataset, default_text="recognised from the data's files")
    examples: int = _option(60, "examples in the prediction video", group="deliverables",
                            parse=Number(minimum=1, maximum=10_000, integer=True))
    examples_from: str = _option("random", "which test rows the video shows", choices=EXAMPLE_SOURCES,
                                 group="deliverables")
    seconds_per_example: float = _option(1.0, "how long each video example is shown", group="deliverables",
                                         parse=Number(minimum=0.1, maximum=60))
    fps: int = _option(30, "video frames per second", group="deliverables",
                       parse=Number(minimum=1, maximum=120, integer=True))
    video_size: tuple[int, int] = _option((1280, 720), "video WIDTHxHEIGHT", group="deliverables", parse=_video_size,
                                          check=_check_video_size, default_text="1280x720")
    formats: tuple[str, ...] = _option(FORMATS, f"comma-separated deliverables to make, of {', '.join(FORMATS)}",
                                       group="deliverables", parse=_formats, default_text=",".join(FORMATS))
    html_assets: str = _option("inline", "inline: one self-contained report.html; external: link the files",
                               choices=HTML_ASSETS, group="deliverables")
    template_dir: str | None = _option(None, "folder whose templates override the bundled ones",
                                       group="deliverables", default_text="the bundled templates")
    max_bundle_mb: float | None = _option(None, "bundle: leave out the heaviest optional files (MP4 first) to "
                                          "fit this size", group="deliverables",
                                          parse=Number(minimum=0, include_minimum=False), default_text="no limit")
    title: str = _option("", "report title", group="report", check=_page_text, title_page=True,
                         default_text="from the data set's profile, e.g. 'Handwritten Digit Recognition with a "
                         "Neural-Network Mindset'")
    author: str = _option("", "author on the title page", group="report", check=_page_text, title_page=True,
                          default_text="none")
    course: str = _option("", "course on the title page", group="report", check=_page_text, title_page=True,
                          default_text="none")
    institution: str = _option("", "institution on the title page", group="report", check=_page_text,
                               title_page=True, default_text="none")
    seat: str = _option("", "seat number on the title page", group="report", check=_page_text, title_page=True,
                        default_text="none")
    notes: str | None = _option(None, "a Markdown file of your own chapters, placed after the results",
                                group="report", default_text="none")
    baseline: str | None = _option(None, f"an earlier output folder, or {BASELINE_PREFIX}last, {BASELINE_PREFIX}best "
                                   f"or {BASELINE_PREFIX}RUN_ID (a run of --history): the report compares this run "
                                   "with it", parse=_baseline, group="analysis", default_text="none")
    fail_under: tuple[tuple[str, float], ...] = _option(
        (), "METRIC=VALUE: exit 4, after writing every output, when METRIC is below VALUE (repeatable)",
        parse=gates.parse, group="analysis", default_text="none", repeatable=True)
    max_drop: tuple[tuple[str, float], ...] = _option(
        (), "METRIC=VALUE: exit 4, after writing every output, when METRIC fell by more than VALUE from the "
        "baseline (repeatable; needs --baseline)", parse=gates.parse, group="analysis", default_text="none",
        repeatable=True)
    history: str | None = _option(None, "SQLite file of earlier runs: this run is added to it once its outputs are "
                                  "written, and the report shows the trend across builds", group="analysis",
                                  default_text="none")
    mlflow_uri: str | None = _option(None, "also log the run to this MLflow tracking URI (needs "
                                     "pip install \"mnist-ova[mlflow]\")", group="analysis", default_text="none")

    @property
    def history_baseline(self):
        """The selector of ``--baseline history:SELECTOR`` (last, best or a run id); None for a folder or none."""
        return parse_selector(self.baseline)


@dataclasses.dataclass(frozen=True)
class Option:
    """A field of ``Settings`` as the command line and the TOML file see it."""

    attr: str
    default: object
    help: str
    parse: Callable[[str, Any], Any]
    check: Callable[[str, Any], Any] | None
    choices: tuple
    group: str
    type: type
    default_text: object
    repeatable: bool = False
    title_page: bool = False

    @property
    def name(self):
        return self.attr.replace("_", "-")


OPTIONS = tuple(Option(f.name, f.default, **f.metadata) for f in dataclasses.fields(Settings))
BY_NAME = {option.name: option for option in OPTIONS}
TITLE_PAGE = tuple(option.attr for option in OPTIONS if option.title_page)  # the report's title page, in order

PATH_OPTIONS = ("data", "out", "cache-dir", "template-dir", "baseline", "notes", "history")
CONFIG_LIMIT = MiB  # a config file is a few hundred bytes; /dev/zero or a log passed by mistake is not read


def read_toml(path):
    """The options in a TOML file, keyed by flag name; unknown keys are an error naming the closest
    known one. Relative paths in the file are relative to the file's own folder, as a reader of the
    file expects, not to wherever the tool is started from."""
    import difflib

    path = Path(path)
    text = read_bounded(path, limit=CONFIG_LIMIT, what="config file", encoding="utf-8")
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"config file {str(path)!r} is no valid TOML: {exc}") from None
    values = {}
    for key, value in table.items():
        name = key.replace("_", "-")
        if name not in BY_NAME:
            close = difflib.get_close_matches(name, BY_NAME, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(f"config file {str(path)!r} has the unknown key {key!r}; {hint}known keys: "
                             f"{', '.join(BY_NAME)}")
        # A data source's name and a history baseline are names, not paths.
        if name in PATH_OPTIONS and isinstance(value, str) and value and not (name == "data" and value in SOURCES) \
                and not (name == "baseline" and value.startswith(BASELINE_PREFIX)):
            value = str(path.parent / Path(value).expanduser())
        values[name] = value
    return values


def settings_from(flags, config_file=None):
    """Defaults, overridden by the config file, overridden by the flags given (``flags`` is keyed by flag
    name; None is a flag not given); each value given parsed into its field's type, then all checked."""
    from_file = read_toml(config_file) if config_file else {}
    flagged = {name: value for name, value in flags.items() if value is not None}
    # A value the file gave (no flag overrode it) is the file's to fix: the line names the file, not a flag.
    file_only = set(from_file) - set(flagged)

    def named(exc, name):
        return InputError(f"config file {str(config_file)!r}: {exc}") if name in file_only else exc

    fields = {}
    for name, raw in {**from_file, **flagged}.items():
        option = BY_NAME[name]
        try:
            fields[option.attr] = option.parse(name, raw)
        except InputError as exc:
            raise named(exc, name) from None
    try:
        return check(Settings(**fields), given=frozenset(from_file) | frozenset(flagged))
    except InputError as exc:
        raise named(exc, (exc.option or "").replace("_", "-")) from None


def settings_of(values, *, given=frozenset()):
    """``Settings`` of ``values`` keyed by field name (a recorded config, say), each parsed, then all checked."""
    return check(Settings(**{attr: BY_NAME[attr.replace("_", "-")].parse(attr.replace("_", "-"), raw)
                             for attr, raw in values.items()}), given=given)


def check(settings, *, given=frozenset()):
    """Every value held to its option's rules (a value left at None, not set, has none), then the options to
    each other; returns the settings with the values as checked (class names trimmed). ``given`` names the
    options set explicitly (by a flag or the config file) rather than left at their defaults."""
    checked = dataclasses.replace(settings, **{
        option.attr: option.check(option.name, getattr(settings, option.attr)) for option in OPTIONS
        if option.check is not None and getattr(settings, option.attr) is not None})
    _check_solver_options(checked.solver, given)
    if checked.max_drop and not checked.baseline:
        raise InputError("max-drop compares with a baseline: give --baseline PATH, an earlier output folder")
    if checked.history_baseline is not None and not checked.history:
        raise InputError(f"baseline {checked.baseline!r} is read from the run history: give --history FILE too")
    return checked


GRADIENT_DESCENT_ONLY = ("learning-rate", "tol")  # L-BFGS picks its own steps and stops on the gradient


def _check_solver_options(solver, given):
    """An option the chosen solver does not use is an error when given explicitly, not ignored."""
    unused = [name for name in GRADIENT_DESCENT_ONLY if name in given]
    if solver != "gd" and unused:
        raise InputError(f"{' and '.join(unused)} {'do' if len(unused) > 1 else 'does'} not apply to solver "
                         f"{solver!r}, which chooses its own step lengths and stops on the gradient; leave "
                         f"{'them' if len(unused) > 1 else 'it'} out, or use solver 'gd'")
