"""Where ``summary.md`` goes: the files it links, and ``$GITHUB_STEP_SUMMARY``, to which it is
appended when that is set, so that GitHub Actions shows it on the run's page. What it says is
``render/summary.py``'s and ``templates/summary.md.j2``'s."""
import os

from mnist_ova.environment import step_summary_path
from mnist_ova.pipeline import outputs


def files_to_link(formats):
    """The files ``summary.md`` links: the report's that ``formats`` make, then the data every run writes."""
    linked = [(name, artifact) for name, artifact in outputs.ARTIFACTS.items() if artifact.in_summary
              and (artifact.format is None or artifact.format in formats)]
    return [name for name, artifact in sorted(linked, key=lambda item: item[1].format is None)]


def append_to_step_summary(text, environ=os.environ):
    """Append ``text`` to the file ``$GITHUB_STEP_SUMMARY`` names; returns whether it did."""
    target = step_summary_path(environ)
    if target is None:
        return False
    with open(target, "a", encoding="utf-8") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    return True
