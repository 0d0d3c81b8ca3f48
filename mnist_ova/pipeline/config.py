"""Every option of the tool, declared once: flags, TOML keys, defaults and checks come from here.

A TOML file's keys are the flag names (``learning-rate = 0.05``); flags given on the
command line override the file, and the file overrides the defaults.
"""
import dataclasses
from typing import Any
import tomllib
from pathlib import Path

from mnist_ova.trainer import profiles, validation
from mnist_ova.trainer.data import SOURCES
from mnist_ova.errors import InputError
from mnist_ova.fileio import MiB, read_bounded
from mnist_ova.trainer.choices import DEFAULT_L2, DTYPES, SOLVERS
from mnist_ova.trainer.preprocess import SPLITS
from mnist_ova.pipeline.outputs import FORMATS

EXAMPLE_SOURCES = ("random", "misclassified", "first")
HTML_ASSETS = ("inline", "external")


def _option(default, help, *, choices=(), group="training", flag_type=str, default_text=None, repeatable=False):
    """A field of ``Settings`` with what its flag needs: help, choices, group, the type argparse
    converts the flag's text to, and whether the flag may be given more than once (each one adds)."""
    return dataclasses.field(default=default, metadata={
        "help": help, "choices": tuple(choices), "group": group, "type": flag_type,
        "default_text": default_text if default_text is not None else default, "repeatable": repeatable})


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every option of a run, declared once: the flags, the TOML keys (the flag names), the defaults
    and the help come from these fields. ``check`` validates and normalises them, in one place."""

    data: str = _option("auto", f"data: a .mat/.npz/IDX file or folder, or one of {', '.join(SOURCES)}")
    out: str = _option("outputs", "output folder")
    cache_dir: str | None = _option(None, "download and sample cache",
                                    default_text="$MNIST_OVA_CACHE or ~/.cache/mnist-ova")
    iterations: int = _option(1000, "gradient-descent iterations per model", flag_type=int)
    learning_rate: float = _option(0.01, "gradient-descent step size (alpha)", flag_type=float)
    tol: float = _option(1e-5, "a model stops once the RMSE of its rounded training predictions is <= tol",
                         flag_type=float)
    dtype: str = _option("float64", "arithmetic precision", choices=DTYPES)
    solver: str = _option("gd", "gd: the notebook's gradient descent; lbfgs: L-BFGS, all models in lockstep",
                          choices=SOLVERS)
    l2: float | None = _option(None, "L2 penalty weight", flag_type=float,
                               default_text=f"{DEFAULT_L2['gd']} for gd, {DEFAULT_L2['lbfgs']} for lbfgs")
    split: str = _option("seed", "seed: shuffled split; official: the data files' own train/test parts",
                         choices=SPLITS)
    test_size: float = _option(0.2, "fraction of rows in the test set (split 'seed')", flag_type=float)
    seed: int = _option(42, "random seed of the split and of the example choice", flag_type=int)
    class_names: tuple | None = _option(None, "comma-separated class names, in label order",
                                        default_text="the data set profile's, else the labels")
    # A built-in profile's name, or (in the config file) a [dataset] table: check() makes either a Profile.
    dataset: "str | dict | profiles.Profile | None" = _option(
        None, f"the data set's profile (its words in the report, its class names): one of {', '.join(profiles.BUILT_IN)}",
        default_text="recognised from the data's files")
    examples: int = _option(60, "examples in the prediction video", group="deliverables", flag_type=int)
    examples_from: str = _option("random", "which test rows the video shows", choices=EXAMPLE_SOURCES,
                                 group="deliverables")
    seconds_per_example: float = _option(1.0, "how long each video example is shown", group="deliverables",
                                         flag_type=float)
    fps: int = _option(30, "video frames per second", group="deliverables", flag_type=int)
    video_size: tuple = _option("1280x720", "video WIDTHxHEIGHT", group="deliverables")
    formats: tuple = _option(",".join(FORMATS), f"comma-separated deliverables to make, of {', '.join(FORMATS)}",
                             group="deliverables")
    html_assets: str = _option("inline", "inline: one self-contained report.html; external: link the files",
                               choices=HTML_ASSETS, group="deliverables")
    template_dir: str | None = _option(None, "folder whose templates override the bundled ones",
                                       group="deliverables", default_text="the bundled templates")
    max_bundle_mb: float | None = _option(None, "bundle: leave out the heaviest optional files (MP4 first) to "
                                          "fit this size", group="deliverables", flag_type=float,
                                          default_text="no limit")
    title: str = _option("", "report title", group="report",
                         default_text="from the data set's profile, e.g. 'Handwritten Digit Recognition with a "
                         "Neural-Network Mindset'")
    author: str = _option("", "author on the title page", group="report", default_text="none")
    course: str = _option("", "course on the title page", group="report", default_text="none")
    institution: str = _option("", "institution on the title page", group="report", default_text="none")
    seat: str = _option("", "seat number on the title page", group="report", default_text="none")
    notes: str | None = _option(None, "a Markdown file of your own chapters, placed after the results",
                                group="report", default_text="none")
    baseline: str | None = _option(None, "an earlier output folder, or history:last, history:best or history:RUN_ID "
                                   "(a run of --history): the report compares this run with it", group="analysis",
                                   default_text="none")
    fail_under: tuple = _option((), "METRIC=VALUE: exit 4, after writing every output, when METRIC is below "
                                "VALUE (repeatable)", group="analysis", default_text="none", repeatable=True)
    max_drop: tuple = _option((), "METRIC=VALUE: exit 4, after writing every output, when METRIC fell by more "
                              "than VALUE from the baseline (repeatable; needs --baseline)", group="analysis",
                              default_text="none", repeatable=True)
    history: str | None = _option(None, "SQLite file of earlier runs: this run is added to it once its outputs are "
                                  "written, and the report shows the trend across builds", group="analysis",
                                  default_text="none")
    mlflow_uri: str | None = _option(None, "also log the run to this MLflow tracking URI (needs "
                                     "pip install \"mnist-ova[mlflow]\")", group="analysis", default_text="none")


@dataclasses.dataclass(frozen=True)
class Option:
    """A field of ``Settings`` as the command line and the TOML file see it."""

    attr: str
    default: object
    help: str
    choices: tuple
    group: str
    type: type
    default_text: object
    repeatable: bool = False

    @property
    def name(self):
        return self.attr.replace("_", "-")


OPTIONS = tuple(Option(f.name, f.default, **f.metadata) for f in dataclasses.fields(Settings))
BY_NAME = {option.name: option for option in OPTIONS}


PATH_OPTIONS = ("data", "out", "cache-dir", "template-dir", "baseline", "notes", "history")
TEXT_LIMIT = 200  # characters in a title-page field or a class name
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
        if name in PATH_OPTIONS and isinstance(value, str) and value and not (name == "data" and value in SOURCES) \
                and not (name == "baseline" and value.startswith("history:")):
            value = str(path.parent / Path(value).expanduser())
        values[name] = value
    return values


def settings_from(flags, config_file=None):
    """Defaults, overridden by the config file, overridden by the flags given; then checked."""
    values = {o.name: o.default for o in OPTIONS}
    given = {name for name, value in flags.items() if value is not None}
    if config_file:
        from_file = read_toml(config_file)
        values.update(from_file)
        given |= set(from_file)
    flagged = {name for name, value in flags.items() if value is not None}
    values.update({name: flags[name] for name in flagged})
    fields: dict[str, Any] = {BY_NAME[name].attr: value for name, value in values.items()}
    try:
        return check(Settings(**fields), given=given)
    except InputError as exc:
        # A value the file gave (no flag overrode it) is the file's to fix: the line names the file, not a flag.
        if exc.option is not None and exc.option.replace("_", "-") in given - flagged:
            raise InputError(f"config file {str(config_file)!r}: {exc}") from None
        raise


def check(settings, *, given=frozenset()):
    """Every option's value checked, once, before any work starts; ``given`` names the options set
    explicitly (by a flag or the config file) rather than left at their defaults."""
    s = settings
    for option in OPTIONS:
        value = getattr(s, option.attr)
        if option.choices:
            validation.check_choice(option.name, value, option.choices)
        elif option.type is str and option.attr not in ("formats", "class_names", "dataset") and value is not None \
                and not option.repeatable and not isinstance(value, str):
            raise InputError(f"{option.name} must be text; got {value!r}", option=option.attr)
    _check_solver_options(s.solver, given)
    if s.mlflow_uri:
        from mnist_ova.pipeline import tracking

        tracking.check_available()
    changes = {
        "iterations": validation.check_number("iterations", s.iterations, minimum=1, integer=True),
        "learning_rate": validation.check_number("learning-rate", s.learning_rate, minimum=0,
                                                 include_minimum=False),
        "tol": validation.check_number("tol", s.tol, minimum=0),
        "test_size": validation.check_number("test-size", s.test_size, minimum=0, maximum=1,
                                             include_minimum=False, include_maximum=False),
        "seed": validation.check_number("seed", s.seed, minimum=0, maximum=2**32 - 1, integer=True),
        "examples": validation.check_number("examples", s.examples, minimum=1, maximum=10_000, integer=True),
        "seconds_per_example": validation.check_number("seconds-per-example", s.seconds_per_example,
                                                       minimum=0.1, maximum=60),
        "fps": validation.check_number("fps", s.fps, minimum=1, maximum=120, integer=True),
        "video_size": _video_size(s.video_size),
        "formats": _formats(s.formats),
        "class_names": _class_names(s.class_names),
        "dataset": _dataset_profile(s.dataset),
        **{field: _text(field.replace("_", "-"), getattr(s, field))
           for field in ("title", "author", "course", "institution", "seat")},
        "l2": None if s.l2 is None else validation.check_number("l2", s.l2, minimum=0),
        "max_bundle_mb": None if s.max_bundle_mb is None else validation.check_number(
            "max-bundle-mb", s.max_bundle_mb, minimum=0, include_minimum=False),
        **_gates(s),
        "notes": _notes(s.notes),
    }
    return dataclasses.replace(s, **changes)


GRADIENT_DESCENT_ONLY = ("learning-rate", "tol")  # L-BFGS picks its own steps and stops on the gradient


def _check_solver_options(solver, given):
    """An option the chosen solver does not use is an error when given explicitly, not ignored."""
    unused = [name for name in GRADIENT_DESCENT_ONLY if name in given]
    if solver != "gd" and unused:
        raise InputError(f"{' and '.join(unused)} {'do' if len(unused) > 1 else 'does'} not apply to solver "
                         f"{solver!r}, which chooses its own step lengths and stops on the gradient; leave "
                         f"{'them' if len(unused) > 1 else 'it'} out, or use solver 'gd'")


def _gates(s):
    from mnist_ova.pipeline import gates

    from mnist_ova.pipeline import history

    checked = {"fail_under": gates.parse("fail-under", s.fail_under), "max_drop": gates.parse("max-drop", s.max_drop)}
    if checked["max_drop"] and not s.baseline:
        raise InputError("max-drop compares with a baseline: give --baseline PATH, an earlier output folder")
    if history.parse_selector(s.baseline) is not None and not s.history:
        raise InputError(f"baseline {s.baseline!r} is read from the run history: give --history FILE too")
    return checked


def _notes(path):
    """The notes file read and checked now (its labels, formulas and images), so that a mistake in it fails
    before any training; the report reads it again when it is rendered."""
    if path is not None:
        from mnist_ova.pipeline.deliverables import load_notes

        load_notes(path)
    return path


def _video_size(value):
    try:
        width, height = (int(part) for part in str(value).lower().split("x"))
    except ValueError:
        width = height = 0
    if not (320 <= width <= 3840 and 240 <= height <= 2160):
        raise InputError(f"video-size must be WIDTHxHEIGHT between 320x240 and 3840x2160; got {value!r}")
    from mnist_ova.render.video import even_size

    if even_size((width, height)) != (width, height):  # never a silently smaller video
        even = "x".join(map(str, even_size((width, height))))
        raise InputError(f"video-size must have even sides (H.264 in yuv420p halves both for colour); got "
                         f"{value!r}: use {even}")
    return width, height


def _formats(value):
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise InputError(f"formats must be comma-separated text or a list of names; got {value!r}", option="formats")
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise InputError(f"formats must name at least one of {', '.join(FORMATS)}; got {value!r}")
    for name in names:
        validation.check_choice("formats", name, FORMATS)
    return tuple(f for f in FORMATS if f in names)


def _dataset_profile(value):
    """None (recognise the data), a built-in profile's name, or a user's [dataset] table: as a Profile."""
    if value is None or isinstance(value, profiles.Profile):
        return value
    if isinstance(value, dict):
        profile = profiles.from_table(value)
        for field in ("name", "title", "item"):
            validation.check_text(f"[dataset] {field}", getattr(profile, field), option="dataset")
        if profile.class_names:
            validation.check_class_names("[dataset] class-names", profile.class_names, len(profile.class_names),
                                         option="dataset")
        return profile
    if not isinstance(value, str):
        raise InputError(f"dataset must be one of {', '.join(profiles.BUILT_IN)}, or a [dataset] table in the "
                         f"config file; got {value!r}", option="dataset")
    return profiles.builtin(value)


def _class_names(value):
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)):
        raise InputError(f"class-names must be comma-separated text or a list of names; got {value!r}",
                         option="class_names")
    names = [_text("class-names", n) for n in names]
    return tuple(validation.check_class_names("class-names", names, len(names), option="class_names"))


def _text(name, value):
    """Text shown on the report's pages: bounded, so a runaway value fails before any work, and free of
    control characters."""
    option = name.replace("-", "_")
    validation.check_text(name, value, option=option)
    if len(value) > TEXT_LIMIT:
        raise InputError(f"{name} must be at most {TEXT_LIMIT} characters; got {len(value)} ({value[:40]!r}...)",
                         option=option)
    return value
