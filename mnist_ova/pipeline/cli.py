"""``run.py`` / ``mnist-ova``: parse, run, and turn every failure into one line and an exit code (``main``; the
entry point ``run`` also exits).

Only light modules are imported here at first: ``main`` checks the environment (a malformed
``SOURCE_DATE_EPOCH`` would otherwise fail inside a library's import) and installs the signal
handlers before the numeric and drawing libraries are loaded, and checks the settings and that the
files they name exist before the run's modules (scikit-learn, matplotlib: 1.5 s) are imported, so a
mistake is said at once.
"""
import argparse
import atexit
import contextlib
import os
import shlex
import sys
import traceback

from mnist_ova import children
from mnist_ova.errors import ExitCode, InputError, Terminated, ToolError

MESSAGE_LIMIT = 600  # characters of the one error line


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse's own exit code (2) is ours too, but its usage dump is not one line.
        raise InputError(f"{message} (see --help)")


def build_parser(*, commands=True):
    """The command line's parser; ``commands=False`` leaves out the commands' choices and help, which live in
    ``pipeline.run`` (a heavy import): ``main`` checks the command against them once the settings are."""
    from mnist_ova.pipeline import config

    parser = _Parser(prog="run.py", description="Train one-vs-all logistic-regression image classifiers the "
                     "course notebook's way (MNIST digits by default, or any labelled images) and build "
                     "their report, plots and videos.",
                     epilog="run.py history FILE [--json] lists the runs recorded with --history FILE.")
    if commands:
        from mnist_ova.pipeline.run import COMMANDS

        parser.add_argument("command", nargs="?", default="all", choices=COMMANDS,
                            help="; ".join(f"{name}: {command.help}" for name, command in COMMANDS.items()))
    else:
        parser.add_argument("command", nargs="?", default="all")
    parser.add_argument("--config", metavar="FILE.toml", help="options from a TOML file (keys are the flag names)")
    parser.add_argument("--model", metavar="PATH", help="render: the saved model (default OUT/model.npz)")
    parser.add_argument("--force", action="store_true", help="retrain even if the saved model matches the data "
                        "and config")
    parser.add_argument("--force-out", action="store_true", help="write into an --out that looks wrong for "
                        "outputs (the root or home folder, a source checkout)")
    parser.add_argument("--json", action="store_true", help="print the final summary (artifacts, key metrics, "
                        "timings) as JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no summary on stderr")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback of an error")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for option in config.OPTIONS:
        group = groups.setdefault(option.group, parser.add_argument_group(option.group))
        # Defaults stay None so that a flag not given does not override the config file.
        group.add_argument(f"--{option.name}", type=option.type, default=None, metavar=option.name.upper()
                           .replace("-", "_") if not option.choices else None,
                           choices=option.choices or None, help=f"{option.help} (default: {option.default_text})",
                           action="append" if option.repeatable else "store")
    return parser


def history_command(argv):
    """``mnist-ova history FILE [--json]``: the runs of a ``--history`` file, as a table or JSON."""
    from mnist_ova.pipeline import history, trends

    parser = _Parser(prog="run.py history", description="List the runs recorded in a --history file.")
    parser.add_argument("file", metavar="FILE", help="the history (an SQLite file written with --history)")
    parser.add_argument("--json", action="store_true", help="every run as JSON on stdout")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback of an error")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.file):
        raise InputError(f"history {args.file!r} does not exist or is no file: give a file written with --history")
    runs = history.open_history(args.file, warn=lambda message: None).runs
    if args.json:
        _print_json({"history": args.file, "runs": list(runs)})
    else:
        _print_text(trends.runs_table(runs))
    return ExitCode.OK


def check_input_paths(settings, args):
    """The files a run reads, there before the run's modules are imported (the readers say the rest)."""
    from mnist_ova.trainer import data

    if settings.data not in data.SOURCES:
        data.check_data_path(settings.data)
    paths = [("model", "model", args.model, "give a model.npz a run wrote") if args.model else None,
             ("baseline", "baseline", settings.baseline, "give an earlier output folder, or history:last, "
              "history:best or history:ID") if settings.baseline and settings.history_baseline is None
             else None]
    for what, option, path, advice in filter(None, paths):
        if not os.path.lexists(path):
            raise InputError(f"{what} {str(path)!r} does not exist: {advice}", option=option)


def _print_text(text):
    try:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _silence(sys.stdout)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    show_traceback = "--traceback" in argv
    as_json = "--json" in argv
    _reopen_closed_streams()
    from mnist_ova import environment

    # Caches first (before matplotlib is imported); children are stopped before they go.
    with environment.usable_caches() as notes, children.handling_signals():
        try:
            environment.source_date_epoch()  # before any library that reads it is imported
            for note in notes:
                _print_line(note)
            if argv[:1] == ["history"]:
                return history_command(argv[1:])
            from mnist_ova.pipeline import config

            parser = build_parser(commands=bool({"-h", "--help"} & set(argv)))
            args = parser.parse_args(argv)
            flags = {o.name: getattr(args, o.attr) for o in config.OPTIONS}
            settings = config.settings_from(flags, args.config)
            check_input_paths(settings, args)
            from mnist_ova.pipeline import run

            if args.command not in run.COMMANDS:  # as argparse words it
                parser.error(f"argument command: invalid choice: {args.command!r} (choose from "
                             f"{', '.join(map(repr, run.COMMANDS))})")
            summary = run.execute(args.command, settings, model_path=args.model, force=args.force,
                                  force_out=args.force_out, quiet=args.quiet,
                                  command_line=shlex.join(["mnist-ova", *argv]))
            if as_json:
                _print_json(summary)
            return ExitCode.OK
        except Exception as exc:
            if show_traceback:  # the whole story, and still the exit code the error has
                traceback.print_exc()
            code, message = describe(exc)
        except KeyboardInterrupt:
            code, message = ExitCode.INTERRUPTED, "interrupted (SIGINT); no output was half-written"
        except Terminated as stop:  # SIGTERM, or SIGHUP (HungUp)
            code, message = stop.exit_code, f"terminated ({stop.signal_name}); no output was half-written"
        _print_error(message)
        if as_json:
            _print_json({"status": "error", "exit_code": int(code), "message": message})
        return code


def run(argv=None):
    """The command line's entry point (``mnist-ova``, ``run.py``, ``python -m mnist_ova``): ``main``, then the
    exit with its code, without the interpreter's teardown. That teardown frees, one by one, what the run is
    done with (WeasyPrint's Pango font map, the parsed SVG trees, every module of scikit-learn and scipy)
    while the user waits and the run is over, its outputs committed and its children stopped: seconds, well
    past the 0.3 s an optimisation must save to stay (bench/NOTES.md). What a normal exit does that matters
    still happens: the exit handlers run (the children's table, the libraries' own) and the standard
    streams are flushed."""
    code = main(argv)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a reader gone: the exit code stays the run's
            stream.flush()
    os._exit(int(code))


def _reopen_closed_streams():
    """A standard stream the caller closed (``--json >&-``, ``2>&-``) becomes /dev/null: writing to it
    is no error, and no file the run opens takes its number (a report written through what a library
    thinks is stderr)."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, None)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, encoding="utf-8", closefd=False))


def _print_json(document):
    """On stdout; a reader that has gone away (``--json | head -c1``) or a stream that cannot be written
    is no error: the outputs are in place, and printing does not change the exit code."""
    from mnist_ova.fileio import json_text

    try:
        sys.stdout.write(json_text(document))
        sys.stdout.flush()
    except (OSError, ValueError):
        _silence(sys.stdout)


def _print_error(message):
    _print_line(f"error: {message}")


def _print_line(text):
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        _silence(sys.stderr)


def _silence(stream):
    """Point a closed stream at /dev/null, so that Python's flush at exit does not complain about it."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def describe(exc):
    """(exit code, one-line message) for any failure."""
    code, message = _describe(exc)
    message = " ".join(str(message).split())  # one line, whatever a library put in it
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT - 3] + "..."
    return code, message


def _describe(exc):
    if isinstance(exc, ToolError):
        # The layers below name the setting; the command line words it as its flag.
        flag = f" (--{exc.option.replace('_', '-')})" if exc.option else ""
        return exc.exit_code, f"{exc}{flag}"
    if isinstance(exc, MemoryError):
        # The data (rows x pixels x dtype) and the weights (classes x pixels) use it; the snapshots are bounded.
        return ExitCode.INTERNAL_ERROR, "out of memory: use fewer or smaller images, or --dtype float32"
    if isinstance(exc, OSError):
        from mnist_ova.pipeline.staging import os_error

        error = os_error(exc)
        return error.exit_code, str(error)
    # A bug: still one line, with the way to see more.
    return ExitCode.INTERNAL_ERROR, (f"internal error ({type(exc).__name__}: {exc}); rerun with --traceback and "
                                     "report it")
