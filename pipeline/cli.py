"""``run.py`` / ``mnist-ova``: parse, run, and turn every failure into one line and an exit code."""
import argparse
import json
import sys

from mnist_ova.pipeline import config
from mnist_ova.pipeline.run import COMMANDS
from mnist_ova.errors import ExitCode, InputError, ToolError



class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse's own exit code (2) is ours too, but its usage dump is not one line.
        raise InputError(f"{message} (see --help)")


def build_parser():
    parser = _Parser(prog="run.py", description="Train one-vs-all logistic-regression digit classifiers the "
                     "course notebook's way and build its report, plots and prediction videos.",
                     )
    parser.add_argument("command", nargs="?", default="all", choices=COMMANDS,
                        help="; ".join(f"{name}: {command.help}" for name, command in COMMANDS.items()))
    parser.add_argument("--config", metavar="FILE.toml", help="options from a TOML file (keys are the flag names)")
    parser.add_argument("--model", metavar="PATH", help="render: the saved model (default OUT/model.npz)")
    parser.add_argument("--force", action="store_true", help="retrain even if the saved model matches the data "
                        "and config")
    parser.add_argument("--json", action="store_true", help="print the final summary (artifacts, key metrics, "
                        "timings) as JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no summary on stderr")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback of an error")
    groups = {}
    for option in config.OPTIONS:
        group = groups.setdefault(option.group, parser.add_argument_group(option.group))
        # Defaults stay None so that a flag not given does not override the config file.
        group.add_argument(f"--{option.name}", type=option.type, default=None, metavar=option.name.upper()
                           .replace("-", "_") if not option.choices else None,
                           choices=option.choices or None, help=f"{option.help} (default: {option.default_text})")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    show_traceback = "--traceback" in argv
    as_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
        flags = {o.name: getattr(args, o.attr) for o in config.OPTIONS}
        settings = config.settings_from(flags, args.config)
        if COMMANDS[args.command].trains:  # the kernel compiles on another core while the rest loads
            from mnist_ova.pipeline import jobs

            jobs.start_compiling(settings, force=args.force)
        from mnist_ova.pipeline import run

        summary = run.execute(args.command, settings, model_path=args.model, force=args.force, quiet=args.quiet)
        if as_json:
            print(json.dumps(summary, indent=2))
        return ExitCode.OK
    except Exception as exc:
        if show_traceback:
            raise
        code, message = describe(exc)
    except KeyboardInterrupt:
        code, message = ExitCode.INTERRUPTED, "interrupted; the previous outputs are unchanged"
    print(f"error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"status": "error", "exit_code": int(code), "message": message}, indent=2))
    return code


def describe(exc):
    """(exit code, one-line message) for any failure."""
    if isinstance(exc, ToolError):
        return exc.exit_code, str(exc)
    if isinstance(exc, MemoryError):
        return ExitCode.INTERNAL_ERROR, "out of memory: use less data, or --dtype float32"
    if isinstance(exc, OSError):
        target = f" {exc.filename!r}" if exc.filename else ""
        return ExitCode.BAD_INPUT, (f"cannot write or read{target}: {exc.strerror or exc}; check that the path "
                                    "is a folder you may write to")
    # A bug: still one line, with the way to see more.
    return ExitCode.INTERNAL_ERROR, (f"internal error ({type(exc).__name__}: {exc}); rerun with --traceback and "
                                     "report it")
