"""One run of a command: what every stage of ``pipeline.run`` reads and fills in, passed whole instead of
the (trained, settings, staging, review) tuples the stages once handed each other."""
import contextlib
import dataclasses
import sys
from collections.abc import Callable
from typing import Any

from mnist_ova.pipeline.config import Settings


def _say(message: str) -> None:
    """A line on stderr that a scheduled job must see even with --quiet; a reader gone is no error."""
    with contextlib.suppress(OSError, ValueError):
        print(message, file=sys.stderr, flush=True)


@dataclasses.dataclass
class Run:
    command_name: str  # a key of ``pipeline.run.COMMANDS``
    command: Any  # its ``pipeline.run.Command``: what it trains, renders and bundles
    settings: Settings
    command_line: str = ""  # what --history records as the command
    quiet: bool = False
    progress: bool = False  # draw progress bars (a terminal, not --quiet)
    warn: Callable[[str], None] = _say
    notes: Any = None  # the --notes file read and checked by the pre-flight, for the report to show
    history: Any = None  # pipeline.history's open history, with --history
    baseline: Any = None  # review.load_baseline's answer, with --baseline
    staging: Any = None  # pipeline.staging.StagedOutput, once the output folder is staged
    trained: Any = None  # pipeline.jobs.Trained, once trained or loaded
    review: Any = None  # pipeline.review.Review, once judged

    def log(self, message: str) -> None:
        """A line of progress on stderr, left out with --quiet."""
        if not self.quiet:
            self.warn(message)
