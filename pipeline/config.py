"""Every option of the tool, declared once: flags, TOML keys, defaults and checks come from here.

A TOML file's keys are the flag names (``learning-rate = 0.05``); flags given on the
command line override the file, and the file overrides the defaults.
"""
import dataclasses
import tomllib
from pathlib import Path

from mnist_ova.trainer import validation
from mnist_ova.trainer.data import SOURCES
from mnist_ova.errors import InputError
from mnist_ova.trainer.model import DTYPES, SOLVERS
from mnist_ova.trainer.preprocess import SPLITS

FORMATS = ("html", "pdf", "mp4", "gif", "figures")
EXAMPLE_SOURCES = ("random", "misclassified", "first")
HTML_ASSETS = ("inline", "external")


@dataclasses.dataclass(frozen=True)
class Option:
    name: str
    default: object
    help: str
    type: type = str
    choices: tuple = ()
    group: str = "training"

    @property
    def attr(self):
        return self.name.replace("-", "_")


OPTIONS = (
    Option("data", "auto", f"data: a .mat/.npz/IDX file or folder, or one of {', '.join(SOURCES)}"),
    Option("out", "outputs", "output folder"),
    Option("cache-dir", None, "download and sample cache (default $MNIST_OVA_CACHE or ~/.cache/mnist-ova)"),
    Option("iterations", 1000, "gradient-descent iterations per model", int),
    Option("learning-rate", 0.01, "gradient-descent step size (alpha)", float),
    Option("tol", 1e-5, "a model stops once the RMSE of its rounded training predictions is <= tol", float),
    Option("dtype", "float64", "arithmetic precision", str, DTYPES),
    Option("solver", "gd", "gd: the notebook's gradient descent; lbfgs: L-BFGS, all models in lockstep",
           str, SOLVERS),
    Option("l2", None, "L2 penalty weight (default: 0 for gd, 1e-3 for lbfgs)", float),
    Option("split", "seed", "seed: shuffled split; official: the data files' own train/test parts", str, SPLITS),
    Option("test-size", 0.2, "fraction of rows in the test set (split 'seed')", float),
    Option("seed", 42, "random seed of the split and of the example choice", int),
    Option("class-names", None, "comma-separated class names, in label order (default: the labels)"),
    Option("examples", 60, "examples in the prediction video", int, group="deliverables"),
    Option("examples-from", "random", "which test rows the video shows", str, EXAMPLE_SOURCES,
           group="deliverables"),
    Option("seconds-per-example", 1.0, "how long each video example is shown", float, group="deliverables"),
    Option("fps", 30, "video frames per second", int, group="deliverables"),
    Option("video-size", "1280x720", "video WIDTHxHEIGHT", group="deliverables"),
    Option("formats", ",".join(FORMATS), f"comma-separated deliverables to make, of {', '.join(FORMATS)}",
           group="deliverables"),
    Option("html-assets", "inline", "inline: one self-contained report.html; external: link the files", str,
           HTML_ASSETS, group="deliverables"),
    Option("template-dir", None, "folder whose templates override the bundled ones", group="deliverables"),
    Option("max-bundle-mb", None, "bundle: leave out the heaviest optional files (MP4 first) to fit this size",
           float, group="deliverables"),
    Option("title", "Handwritten Digit Recognition with a Neural-Network Mindset", "report title",
           group="report"),
    Option("author", "", "author on the title page", group="report"),
    Option("course", "", "course on the title page", group="report"),
    Option("institution", "", "institution on the title page", group="report"),
    Option("seat", "", "seat number on the title page", group="report"),
)
BY_NAME = {option.name: option for option in OPTIONS}

Settings = dataclasses.make_dataclass(
    "Settings", [(o.attr, object, dataclasses.field(default=o.default)) for o in OPTIONS], frozen=True)


def read_toml(path):
    """The options in a TOML file, keyed by flag name; unknown keys are an error."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except FileNotFoundError:
        raise InputError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"config file {str(path)!r} is no valid TOML: {exc}") from None
    values = {}
    for key, value in table.items():
        name = key.replace("_", "-")
        if name not in BY_NAME:
            raise InputError(f"config file {str(path)!r} has the unknown key {key!r}; known keys: "
                             f"{', '.join(BY_NAME)}")
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
    values.update({name: value for name, value in flags.items() if value is not None})
    return check(Settings(**{BY_NAME[name].attr: value for name, value in values.items()}), given=given)


def check(settings, *, given=frozenset()):
    """Every option's value checked, once, before any work starts; ``given`` names the options set
    explicitly (by a flag or the config file) rather than left at their defaults."""
    s = settings
    for option in OPTIONS:
        value = getattr(s, option.attr)
        if option.choices:
            validation.check_choice(option.name, value, option.choices)
        elif option.type is str and value is not None and not isinstance(value, str):
            raise InputError(f"{option.name} must be text; got {value!r}")
    _check_solver_options(s.solver, given)
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
        "l2": None if s.l2 is None else validation.check_number("l2", s.l2, minimum=0),
        "max_bundle_mb": None if s.max_bundle_mb is None else validation.check_number(
            "max-bundle-mb", s.max_bundle_mb, minimum=0, include_minimum=False),
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


def _video_size(value):
    try:
        width, height = (int(part) for part in str(value).lower().split("x"))
    except ValueError:
        width = height = None
    if width is None or not (320 <= width <= 3840 and 240 <= height <= 2160):
        raise InputError(f"video-size must be WIDTHxHEIGHT between 320x240 and 3840x2160; got {value!r}")
    return (width - width % 2, height - height % 2)  # H.264 in yuv420p needs even sides


def _formats(value):
    names = [n.strip() for n in (value.split(",") if isinstance(value, str) else value) if n.strip()]
    if not names:
        raise InputError(f"formats must name at least one of {', '.join(FORMATS)}; got {value!r}")
    for name in names:
        validation.check_choice("formats", name, FORMATS)
    return tuple(f for f in FORMATS if f in names)


def _class_names(value):
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else value
    return tuple(str(n).strip() for n in names)
