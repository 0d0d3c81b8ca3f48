"""Issue 32's last cases: control characters of a history are escapes in `mnist-ova history`'s table; a
SIGTERM while the PDF is typeset ends the run within about a second (WeasyPrint catches every exception
while it draws an SVG, the stop's included); running out of memory says what uses it."""
import os
import signal
import subprocess
import sys
import time

import pytest

from mnist_ova.pipeline import history
from mnist_ova.pipeline.cli import _describe, main
from tests.conftest import REPO
from tests.red_team.test_history_hostile import a_run

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_control_characters_of_a_history_are_escapes_in_its_table(tmp_path, capsys):
    store = tmp_path / "runs.sqlite"
    hostile = {"data_name": "evil\x1b]0;owned\x07\x1b[31m.npz", "tool_version": "0\x1b[2J"}
    for value in ("3\x9b", "4\u2028"):
        history.record(store, a_run(**hostile, config={"iterations": value}), timings={}, artifacts=[])
    assert main(["history", str(store)]) == 0
    table = capsys.readouterr().out
    assert not any(c != "\n" and not c.isprintable() for c in table), repr(table)
    assert r"evil\x1b]0;owned\x07\x1b[31m.npz" in table and r"0\x1b[2J" in table
    assert r"iterations 3\x9b → 4\u2028" in table
    assert main(["history", str(store), "--json"]) == 0
    assert "\x1b" not in capsys.readouterr().out  # JSON escapes them itself


# Every SVG of the report (its figures, its equations) takes half a second to draw, and the first one says
# so in MARKER: a heavy PDF build that a test can catch in the middle.
SLOW_SVG = """
import pathlib, sys, time
from weasyprint import svg
marker = pathlib.Path(sys.argv.pop(1))
draw = svg.SVG.draw
def slow(self, *args, **kwargs):
    marker.touch()
    time.sleep(0.5)
    return draw(self, *args, **kwargs)
svg.SVG.draw = slow
from mnist_ova.pipeline.cli import run
run()
"""


@POSIX
def test_sigterm_while_the_pdf_is_typeset_ends_the_run_within_a_second(tmp_path, tiny_npz):
    marker, out = tmp_path / "drawing", tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-c", SLOW_SVG, str(marker), "all", "--data", str(tiny_npz),
                                "--out", str(out), "--iterations", "3", "--formats", "pdf", "--quiet"],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.2)  # inside the drawing of an SVG
    os.killpg(process.pid, signal.SIGTERM)
    sent = time.monotonic()
    err = process.stderr.read()
    assert process.wait(timeout=30) == 143, err
    assert time.monotonic() - sent < 1.5, err
    assert err.count("\n") == 1 and "terminated (SIGTERM)" in err, err
    assert not (out / "report.pdf").exists() and not any(out.glob(".mnist-ova/staging-*"))


def test_out_of_memory_says_what_uses_it():
    code, line = _describe(MemoryError())
    assert code == 1 and "\n" not in line
    assert line == "out of memory: use fewer or smaller images, or --dtype float32"
