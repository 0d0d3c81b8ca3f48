"""Everything the tool reads from its environment, in one place: the variables that change what it
writes (``SOURCE_DATE_EPOCH``), where it caches (``MNIST_OVA_CACHE``, ``XDG_CACHE_HOME``), how many
threads train (``MNIST_OVA_THREADS``) with which of the kernel's passes, or NumPy (``MNIST_OVA_KERNEL_TARGET``),
how the run's jobs start (``MNIST_OVA_START_METHOD``),
and where a CI job wants its summary (``GITHUB_STEP_SUMMARY``);
and the caches made usable for a run where the environment's cannot be written (``usable_caches``).

A bottom module like ``errors``: every layer may import it, it imports nothing of the tool's but the
errors. Each function takes the mapping to read, ``os.environ`` by default, so tests pass their own.
"""
import contextlib
import datetime
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path

from mnist_ova.errors import InputError

LATEST_EPOCH = 253402300799  # 9999-12-31T23:59:59Z, the last second a four-digit year can show


def source_date_epoch(environ: Mapping[str, str] = os.environ) -> int | None:
    """SOURCE_DATE_EPOCH as an int, or None when unset or empty. A malformed value is an error, as the
    reproducible-builds specification asks: a build must not silently fall back to the time of day.
    The command line calls this first, before any library that reads the variable is imported."""
    text = environ.get("SOURCE_DATE_EPOCH", "")
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > LATEST_EPOCH:
        raise InputError(f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970-01-01 (for example "
                         f"1700000000); got {text[:40]!r}: fix or unset it")
    return int(text)


def reproducible(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this is a reproducible build (SOURCE_DATE_EPOCH set): its outputs then hold no time of day nor
    any timing, so two builds of the same inputs give the same bytes."""
    return source_date_epoch(environ) is not None


def run_time(environ: Mapping[str, str] = os.environ) -> datetime.datetime:
    """The time a run's outputs carry, in UTC to the second: SOURCE_DATE_EPOCH when set, else now."""
    epoch = source_date_epoch(environ)
    if epoch is not None:
        return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def dependencies(distribution: str = "mnist-ova") -> tuple[str, ...]:
    """The names of the packages the tool needs at run time, in the order of its installed metadata
    (pyproject.toml's dependencies; the extras' left out); empty where it runs without being installed."""
    from importlib import metadata

    try:
        requirements = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return ()
    names = (re.split(r"[\s<>=!~;\[(@]", requirement, maxsplit=1)[0] for requirement in requirements
             if not re.search(r"\bextra\s*==", requirement.partition(";")[2]))
    return tuple(dict.fromkeys(names))


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$MNIST_OVA_CACHE``, else ``$XDG_CACHE_HOME/mnist-ova``, else ``~/.cache/mnist-ova``."""
    if environ.get("MNIST_OVA_CACHE"):
        return Path(environ["MNIST_OVA_CACHE"])
    return Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnist-ova"


def training_threads(environ: Mapping[str, str] = os.environ) -> int:
    """Worker threads per pass: MNIST_OVA_THREADS if set, else the CPUs this process may use."""
    value = environ.get("MNIST_OVA_THREADS", "").strip()
    if value:
        # isdigit() alone accepts '²' and other digits that int() refuses.
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise InputError(f"MNIST_OVA_THREADS must be a whole number of at least 1; got {value!r}")
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def kernel_target(environ: Mapping[str, str] = os.environ) -> str | None:
    """The training path that MNIST_OVA_KERNEL_TARGET names (lower case): ``numpy`` for the NumPy path
    (trainer.steps), else one of the kernel's passes (trainer.kernels checks it); or None: the kernel's best
    pass for this CPU where it is built."""
    return environ.get("MNIST_OVA_KERNEL_TARGET", "").strip().lower() or None


START_METHODS = ("fork", "spawn", "inline")  # how the run's jobs may start (children.start_method decides)


def start_method_asked(environ: Mapping[str, str] = os.environ) -> str | None:
    """The start method MNIST_OVA_START_METHOD asks for (lower case), checked; None when unset."""
    asked = environ.get("MNIST_OVA_START_METHOD", "").strip().lower()
    if asked and asked not in START_METHODS:
        raise InputError(f"MNIST_OVA_START_METHOD must be one of {', '.join(START_METHODS)}; got {asked!r:.40}")
    return asked or None


def step_summary_path(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The file GitHub Actions shows on a run's page (``$GITHUB_STEP_SUMMARY``), when set."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    return Path(target) if target else None


def writable_folder(path: Path) -> bool:
    """Whether ``path`` is a folder this process may write in, or could be made as one (its nearest
    existing parent is such a folder). Nothing is made here: the home may be the user's --out."""
    for folder in (path, *path.parents):
        if os.path.lexists(folder):
            return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
    return False


def matplotlib_folders(environ: Mapping[str, str] = os.environ) -> list[Path]:
    """Where matplotlib keeps its configuration and its font cache (its own rules)."""
    if environ.get("MPLCONFIGDIR"):
        return [Path(environ["MPLCONFIGDIR"])]
    home = Path(environ.get("HOME") or Path.home())
    return [Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "matplotlib",
            Path(environ.get("XDG_CACHE_HOME") or home / ".cache") / "matplotlib"]


@contextlib.contextmanager
def usable_caches(environ: MutableMapping[str, str] = os.environ) -> Iterator[list[str]]:
    """The tool's cache (data) and matplotlib's folders, made usable: one that cannot
    be written is replaced, for this run, by a temporary folder of the tool's own, removed at the end
    (matplotlib would make /tmp/matplotlib-* folders that a helper process never removes, and say so on
    stderr). Yields the one-line notes to show; the variables come back as they were."""
    replaced: dict[str, str | None] = {}
    notes: list[str] = []
    for variable, folders, what in (("MNIST_OVA_CACHE", [cache_dir(environ)], "the tool's cache"),
                                    ("MPLCONFIGDIR", matplotlib_folders(environ), "matplotlib's cache")):
        unusable = next((folder for folder in folders if not writable_folder(folder)), None)
        if unusable is None:
            continue
        replaced[variable] = environ.get(variable)
        environ[variable] = tempfile.mkdtemp(prefix=f"mnist-ova-{variable.lower()}-")
        notes.append(f"note: {what} {str(unusable)!r} cannot be written; this run goes without it")
    try:
        yield notes
    finally:
        for variable, earlier in replaced.items():
            shutil.rmtree(environ[variable], ignore_errors=True)
            if earlier is None:
                environ.pop(variable, None)
            else:
                environ[variable] = earlier
