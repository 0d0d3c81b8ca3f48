"""The tool's own error types and the exit codes they map to."""
import enum


class ExitCode(enum.IntEnum):
    OK = 0
    INTERNAL_ERROR = 1
    BAD_INPUT = 2
    DATA_UNAVAILABLE = 3  # a download failed: worth retrying later
    GATE_FAILED = 4  # every output was written, but a --fail-under/--max-drop gate was violated
    HUNG_UP = 129  # SIGHUP (a closed terminal or ssh session): 128 + 1
    INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2
    TERMINATED = 143  # SIGTERM (cron, systemd, CI runners): 128 + 15


class ToolError(Exception):
    """An error the tool reports as one line; ``exit_code`` says how the process ends.

    ``option`` names the setting the user can change to fix it (``"data"``, ``"test_size"``): the
    layers below the command line speak of settings, and the command line words them as its flags.
    """

    exit_code = ExitCode.INTERNAL_ERROR

    def __init__(self, message, *, option=None):
        super().__init__(message)
        self.option = option


class InputError(ToolError, ValueError):
    """Bad input or usage: a file, a flag or a config value the user can fix."""

    exit_code = ExitCode.BAD_INPUT


class GateFailure(ToolError):
    """A CI gate was violated; the run's outputs are all in place."""

    exit_code = ExitCode.GATE_FAILED


class Terminated(BaseException):
    """SIGTERM: the run stops as it does on Ctrl-C. A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` on the way out swallows it."""

    exit_code = ExitCode.TERMINATED
    signal_name = "SIGTERM"


class HungUp(Terminated):
    """SIGHUP: the terminal or ssh session that started the run has gone; the run stops as on SIGTERM."""

    exit_code = ExitCode.HUNG_UP
    signal_name = "SIGHUP"
