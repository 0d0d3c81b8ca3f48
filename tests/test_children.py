"""Children belong to the run: they never hold the caller's streams, die with the run (SIGKILL of it
included) and are reaped before it exits."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mnist_ova import children
from tests.conftest import REPO


def session_members(sid):
    """Every process of the session ``sid`` (the run started with start_new_session has sid = its pid)."""
    rows = subprocess.run(["ps", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True).stdout
    return [row for row in rows.splitlines() if int(row.split()[1]) == sid and " Z" not in f" {row.split()[2]}"]


def test_a_forked_job_returns_its_value_and_holds_none_of_the_callers_streams(tmp_path):
    def job():
        print("the child's stdout")
        print("the child's stderr", file=sys.stderr)
        return 42

    child = children.fork(job, stderr=tmp_path / "log")
    assert child.result() == 42
    assert child.pid not in children.alive() and (tmp_path / "log").read_text() == "the child's stderr\n"


def test_the_tools_own_error_in_a_child_is_raised_as_it_was():
    from mnist_ova.errors import InputError

    def refuse():
        raise InputError("data file 'x.npz' holds no images", option="data")

    with pytest.raises(InputError, match="^data file 'x.npz' holds no images$") as raised:
        children.fork(refuse).result()
    assert raised.value.option == "data"


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


def test_a_large_value_comes_back_whole_aligned_and_writable_and_its_file_is_closed():
    """The arrays come back out of band, mapped from a file in memory: equal, each at an aligned address,
    writable (a copy-on-write mapping) and left to the caller; the file goes with the arrays, and with a
    stopped child."""
    big = np.arange(20_000_000, dtype=np.uint8)  # 20 MB
    value = {"images": big, "labels": np.arange(1001, dtype=np.int64), "strided": big[:4000:3],
             "name": "fashion", "empty": np.zeros(0)}
    before = open_descriptors()
    got = children.fork(lambda: value).result()
    assert set(got) == set(value) and got["name"] == "fashion" and got["empty"].shape == (0,)
    for name in ("images", "labels", "strided"):
        np.testing.assert_array_equal(got[name], value[name])
    assert all(got[name].ctypes.data % children.ALIGN == 0 for name in ("images", "labels"))
    got["images"][:3] = 7  # the caller's to change
    assert got["images"][:4].tolist() == [7, 7, 7, 3]
    del got
    assert open_descriptors() == before
    children.fork(lambda: time.sleep(60)).stop()
    assert open_descriptors() == before


def test_under_a_file_size_limit_the_value_comes_back_through_the_pipe():
    """A file-size limit (ulimit -f) holds for the file in memory too: the child then sends the value itself."""
    program = ("import resource, signal, numpy as np; from mnist_ova import children; "
               "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
               "resource.setrlimit(resource.RLIMIT_FSIZE, (2000, resource.getrlimit(resource.RLIMIT_FSIZE)[1])); "
               "big = np.arange(1_000_000) % 251; "
               "print(np.array_equal(children.fork(lambda: big).result(), big))")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO)
    assert result.stdout == "True\n", result.stderr


def test_a_fork_that_fails_leaves_nothing_open(monkeypatch):
    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    before = open_descriptors()
    monkeypatch.setattr(os, "fork", no_fork)
    for _ in range(3):
        with pytest.raises(BlockingIOError):
            children.fork(lambda: 1)
    assert open_descriptors() == before


def test_a_value_that_cannot_come_back_is_one_line_that_says_so():
    with pytest.raises(children.ChildFailed, match="^its result could not be passed back .*lambda"):
        children.fork(lambda: lambda: None).result()


def test_a_failed_job_is_one_line_and_a_stopped_one_is_reaped():
    child = children.fork(lambda: 1 / 0)
    with pytest.raises(children.ChildFailed, match="^division by zero$"):
        child.result()
    sleeper = children.fork(lambda: time.sleep(60))
    start = time.monotonic()
    sleeper.stop()
    assert time.monotonic() - start < 1 and sleeper.status is not None and not children.alive()
    with pytest.raises(ChildProcessError):
        os.waitpid(sleeper.pid, os.WNOHANG)  # reaped: no zombie left


def test_a_child_dies_with_its_parent(tmp_path):
    """The parent is SIGKILLed: no clean-up of its own runs, yet its child is gone at once."""
    script = ("import time\nfrom mnist_ova import children\n"
              "child = children.fork(lambda: time.sleep(60))\nprint(child.pid, flush=True)\ntime.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 2
    while session_members(parent.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert session_members(parent.pid) == [], f"child {child} outlived its killed parent"


def test_a_program_is_killed_on_an_error_and_reaped():
    with pytest.raises(ZeroDivisionError):
        with children.program(["sleep", "60"]) as process:
            1 / 0
    assert process.returncode == -signal.SIGKILL and not children.alive()


@pytest.fixture
def ten_rows(tmp_path):
    """One image per class: refused before any work."""
    np.savez(tmp_path / "ten.npz", X=np.random.RandomState(0).randint(0, 256, (10, 784)), y=np.arange(10))
    return tmp_path / "ten.npz"


def test_command_substitution_returns_when_a_failed_run_ends(tmp_path, ten_rows):
    """``out=$(mnist-ova ...)``: the caller's pipe closes with the run, no child of it holds it."""
    run = subprocess.Popen([sys.executable, "run.py", "train", "--data", str(ten_rows), "--out", str(tmp_path / "out")],
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    out, err = run.communicate(timeout=120)  # EOF on both pipes
    ended = time.monotonic()
    assert run.wait(timeout=1) == 2 and err.startswith("error: "), err
    assert time.monotonic() - ended < 0.5
    assert session_members(run.pid) == []  # nothing of the run is left running


def test_no_child_is_alive_when_a_run_with_video_has_exited(tmp_path, tiny_npz):
    run = subprocess.Popen([sys.executable, "run.py", "--data", str(tiny_npz), "--out", str(tmp_path / "out"),
                            "--iterations", "5", "--examples", "3", "--formats", "mp4,gif", "--quiet"],
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    assert session_members(run.pid) == []  # the encoders and their ffmpeg were all reaped


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowing, as expected
def test_a_signal_whose_exception_a_finalizer_swallowed_is_raised_at_the_next_step():
    """CPython only prints an exception raised in __del__ ("Exception ignored"): a Ctrl-C that arrives
    while a finalizer runs was lost, and the run went on."""
    class Finalized:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(100):  # the handler runs here, between these steps, and its exception is dropped
                pass

    with children.handling_signals():
        Finalized()
        with pytest.raises(KeyboardInterrupt):
            children.raise_if_stopped()
    children.raise_if_stopped()  # acted on: nothing pending once the run has ended
