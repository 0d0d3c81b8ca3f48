"""Fault injection at every stage boundary of a run: an exception, SIGKILL and a full disk.

The boundaries are found, not listed: a first run records every stage it enters (each ``Stopwatch``
stage of training, each output written through ``StagedOutput.writing``, the commit), so a stage added
later is covered without editing this test. At each boundary of a ``bundle`` run (every stage of every
command) a run is made to fail; the previous outputs and the user's files must then be byte-identical,
no staging area or lock may be left (a SIGKILLed run's leftovers are cleared by the next run, which
must be able to start), and a run afterwards succeeds.
"""
import contextlib
import errno
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from mnist_ova.pipeline import deliverables, jobs, outputs
from mnist_ova.render import figures, report, training_film, video
from mnist_ova.pipeline.cli import main
from mnist_ova.pipeline.staging import StagedOutput
from tests.conftest import REPO
from tests.pipeline.test_bad_inputs import snapshot
from tests.pipeline.test_deliverables import SMALL
from tests.pipeline.test_ownership import foreign


class Injected(Exception):
    pass


def instrument(fault_at=None, fault=None):
    """Wrap every stage boundary of this process; the ``fault_at``-th one calls ``fault(name)``. Returns
    the names seen and a function that undoes the wrapping. The render's lanes (child processes) count
    their own boundaries in their copy of ``seen``: they are not this process's, and are left alone."""
    seen, me = [], os.getpid()
    originals = {(StagedOutput, "writing"): StagedOutput.writing,
                 (StagedOutput, "_check_targets"): StagedOutput._check_targets,
                 (jobs.Stopwatch, "__call__"): jobs.Stopwatch.__call__}

    def boundary(name):
        if os.getpid() != me:
            return
        seen.append(name)
        if len(seen) - 1 == fault_at:
            fault(name)

    @contextlib.contextmanager
    def writing(self, name):
        boundary(f"write {name}")
        with originals[StagedOutput, "writing"](self, name):
            yield

    def commit(self, made):  # the first step of the commit, before its first rename
        boundary("commit")
        return originals[StagedOutput, "_check_targets"](self, made)

    def stage(self, name):
        boundary(f"stage {name}")
        return originals[jobs.Stopwatch, "__call__"](self, name)

    StagedOutput.writing, StagedOutput._check_targets, jobs.Stopwatch.__call__ = writing, commit, stage

    def undo():
        for (owner, attribute), original in originals.items():
            setattr(owner, attribute, original)

    return seen, undo


def raise_error(name):
    raise Injected(f"injected at {name}")


def fill_disk(name):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"/injected/{name}")


def kill(name):
    os.kill(os.getpid(), signal.SIGKILL)


def run_args(data, out):
    return ["bundle", "--data", str(data), "--out", str(out), "--force", *SMALL]


@pytest.fixture
def quick_drawing(monkeypatch):
    """The slow drawing (matplotlib figures, WeasyPrint, x264) replaced by placeholder files at the same
    paths: what is tested here is the run around it, its stages, staging, children and commit."""
    def placeholders(paths):
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")

    monkeypatch.setenv("MNIST_OVA_START_METHOD", "fork")  # the lanes inherit these stand-ins (spawned, they would not)
    monkeypatch.setattr(figures, "chart_figures", lambda views, paths: placeholders(paths.values()))
    monkeypatch.setattr(deliverables, "_image_figures", lambda r: None)
    monkeypatch.setattr(deliverables, "_analysis_figures", lambda r: None)
    monkeypatch.setattr(training_film, "poster", lambda *args, **kwargs: None)
    monkeypatch.setattr(report, "write_pdf", lambda html, path, **kwargs: placeholders([path]))
    monkeypatch.setattr(video, "write_mp4", lambda frames, path, **kwargs: placeholders([path]) or 0)
    monkeypatch.setattr(deliverables, "_film", lambda r: placeholders(
        [r.staging.path(outputs.TRAINING_MP4), r.staging.path(outputs.TRAINING_GIF),
         r.staging.path(outputs.TRAINING_CAPTIONS)]))


def lock_is_free_and_leftovers_go(out):
    """What the next run does first: take the lock (a second run would fail now) and clear leftovers."""
    StagedOutput(out).discard()
    assert not (out / ".mnist-ova").exists()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the killed run is a forked process")
def test_every_stage_boundary_survives_an_exception_a_sigkill_and_a_full_disk(tmp_path, quick_drawing):
    tiny_npz = tmp_path / "three-classes.npz"  # 60 images of 8x8 pixels: each run takes little
    np.savez(tiny_npz, X=np.random.RandomState(0).randint(0, 256, (60, 64)), y=np.arange(60) % 3)
    out = tmp_path / "out"
    foreign(out, tmp_path / "outside.txt")
    seen, undo = instrument()
    try:
        assert main(run_args(tiny_npz, out)) == 0
    finally:
        undo()
    boundaries = list(seen)
    assert {"stage train", "write model.npz", "write report.pdf", "write predictions.mp4", "write submission.zip",
            "commit"} <= set(boundaries), boundaries
    before, outside = snapshot(out), (tmp_path / "outside.txt").read_bytes()

    failures = []
    for at, name in enumerate(boundaries):
        for mode, fault, code in (("exception", raise_error, 1), ("full disk", fill_disk, 2)):
            seen, undo = instrument(at, fault)
            try:
                result = main(run_args(tiny_npz, out))
            finally:
                undo()
            if result != code or seen[-1] != name or snapshot(out) != before:
                failures.append(f"{mode} at {name}: exit {result}, reached {seen[-1:]}")
        pid = os.fork()
        if pid == 0:  # the run, killed at the boundary: nothing of its clean-up may run
            try:
                instrument(at, kill)
                main(run_args(tiny_npz, out))
            finally:
                os._exit(99)  # not killed: the boundary was never reached
        _, status = os.waitpid(pid, 0)
        after = {key: value for key, value in snapshot(out).items() if not key.startswith(".mnist-ova")}
        if not os.WIFSIGNALED(status) or after != before:
            failures.append(f"SIGKILL at {name}: status {status}")
        lock_is_free_and_leftovers_go(out)
    assert failures == []
    assert snapshot(out) == before and (tmp_path / "outside.txt").read_bytes() == outside
    assert main(run_args(tiny_npz, out)) == 0 and not (out / ".mnist-ova").exists()


@pytest.mark.parametrize("step", ["images", "mp4", "training"])  # the first step of each lane
@pytest.mark.parametrize("mode, error, code", [
    ("exception", Injected("injected in a lane"), 1),
    ("full disk", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/injected/lane"), 2)])
def test_a_fault_inside_a_render_lane_changes_nothing(tmp_path, quick_drawing, monkeypatch, step, mode, error, code):
    tiny_npz = tmp_path / "three-classes.npz"
    np.savez(tiny_npz, X=np.random.RandomState(0).randint(0, 256, (60, 64)), y=np.arange(60) % 3)
    out = tmp_path / "out"
    foreign(out, tmp_path / "outside.txt")
    assert main(run_args(tiny_npz, out)) == 0
    before = snapshot(out)
    owner, name = {"images": (deliverables, "_image_figures"), "mp4": (video, "write_mp4"),
                   "training": (deliverables, "_film")}[step]
    works = getattr(owner, name)

    def failing(*args, **kwargs):  # runs in the lane's process
        raise error

    monkeypatch.setattr(owner, name, failing)
    assert main(run_args(tiny_npz, out)) == code
    assert snapshot(out) == before
    monkeypatch.setattr(owner, name, works)
    lock_is_free_and_leftovers_go(out)
    assert main(run_args(tiny_npz, out)) == 0


# ffmpeg killed at a file-size limit says so only in words: the failed step's probe of the disk finds the
# limit, and the staging area's classification names the file as it names a write of the tool's own.
FFMPEG_AT_A_LIMIT = """
import resource, signal, sys
from types import SimpleNamespace
import numpy as np
from mnist_ova.pipeline import deliverables, outputs
from mnist_ova.pipeline.staging import StagedOutput
from mnist_ova.render import video
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # as the run does
staging = StagedOutput(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
noise = np.random.RandomState(0).randint(0, 256, (60, 240, 320, 3), dtype=np.uint8)
mp4 = deliverables.Deliverable("mp4", outputs.MP4, lambda r: video.write_mp4(
    iter(noise), r.staging.path(outputs.MP4), size=(320, 240), fps=10), lambda r: True)
try:
    deliverables.make(mp4, SimpleNamespace(staging=staging))
except Exception as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="a file-size limit (resource) is POSIX's")
def test_ffmpeg_stopped_by_a_file_size_limit_is_reported_as_the_limit(tmp_path):
    result = subprocess.run([sys.executable, "-c", FFMPEG_AT_A_LIMIT, str(tmp_path / "out")], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith(f"InputError cannot write '{tmp_path / 'out' / 'predictions.mp4'}': a file-size "
                                    "limit (ulimit -f) is reached"), result.stdout + result.stderr


def test_a_failed_step_stops_the_lanes_still_running_at_once(tmp_path, quick_drawing, monkeypatch):
    """The PDF fails while the video's lane still works: the run ends with the error at once, its lanes
    stopped and reaped (by the scheduler's block, the one place a job is stopped), not after the video."""
    import time

    from mnist_ova import children

    tiny_npz = tmp_path / "three-classes.npz"
    np.savez(tiny_npz, X=np.random.RandomState(0).randint(0, 256, (60, 64)), y=np.arange(60) % 3)
    monkeypatch.setattr(video, "write_mp4", lambda frames, path, **kwargs: time.sleep(60))
    monkeypatch.setattr(report, "write_pdf", lambda html, path, **kwargs: raise_error("the PDF"))
    start = time.monotonic()
    assert main(run_args(tiny_npz, tmp_path / "out")) == 1
    assert time.monotonic() - start < 30 and children.alive() == []
