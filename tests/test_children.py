"""Children belong to the run: they never hold the caller's streams, die with the run (SIGKILL of it
included) and are reaped before it exits."""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from mnist_ova import children
from mnist_ova.errors import InputError
from tests.conftest import REPO

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="jobs fork only on Linux (elsewhere they run "
                           "in the caller's process); /proc, ps's sid and PR_SET_PDEATHSIG are Linux's")
posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and programs (sleep, SIGKILL)")


@pytest.fixture(autouse=True)
def only_thread():
    """A job forks only while no other thread runs: one left by an earlier test would make these run in-process."""
    assert threading.active_count() == 1, f"threads left running: {threading.enumerate()}"


def session_members(sid):
    """Every process of the session ``sid`` (the run started with start_new_session has sid = its pid)."""
    rows = subprocess.run(["ps", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True).stdout
    return [row for row in rows.splitlines() if int(row.split()[1]) == sid and " Z" not in f" {row.split()[2]}"]


@linux
def test_a_forked_job_returns_its_value_and_holds_none_of_the_callers_streams(tmp_path):
    def job():
        print("the child's stdout")
        print("the child's stderr", file=sys.stderr)
        return 42

    child = children.fork(job, stderr=tmp_path / "log")
    assert child.result() == 42
    assert child.pid not in children.alive() and (tmp_path / "log").read_text() == "the child's stderr\n"


def test_the_tools_own_error_in_a_child_is_raised_as_it_was():
    def refuse():
        raise InputError("data file 'x.npz' holds no images", option="data")

    with pytest.raises(InputError, match="^data file 'x.npz' holds no images$") as raised:
        children.fork(refuse).result()
    assert raised.value.option == "data"


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


@linux
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


@linux
def test_under_a_file_size_limit_the_value_comes_back_through_the_pipe():
    """A file-size limit (ulimit -f) holds for the file in memory too: the child then sends the value itself."""
    program = ("import resource, signal, numpy as np; from mnist_ova import children; "
               "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
               "resource.setrlimit(resource.RLIMIT_FSIZE, (2000, resource.getrlimit(resource.RLIMIT_FSIZE)[1])); "
               "big = np.arange(1_000_000) % 251; "
               "print(np.array_equal(children.fork(lambda: big).result(), big))")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO)
    assert result.stdout == "True\n", result.stderr


@linux
def test_a_fork_that_fails_leaves_nothing_open(monkeypatch):
    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    before = open_descriptors()
    monkeypatch.setattr(os, "fork", no_fork)
    for _ in range(3):
        with pytest.raises(BlockingIOError):
            children.fork(lambda: 1)
    assert open_descriptors() == before


@linux
def test_a_value_that_cannot_come_back_is_one_line_that_says_so():
    with pytest.raises(children.ChildFailed, match="^its result could not be passed back .*lambda"):
        children.fork(lambda: lambda: None).result()


@linux
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


@linux
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


@posix
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


@linux
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


@linux
def test_no_child_is_alive_when_a_run_with_video_has_exited(tmp_path, tiny_npz):
    run = subprocess.Popen([sys.executable, "run.py", "--data", str(tiny_npz), "--out", str(tmp_path / "out"),
                            "--iterations", "5", "--examples", "3", "--formats", "mp4,gif", "--quiet"],
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    assert session_members(run.pid) == []  # the encoders and their ffmpeg were all reaped


@posix  # os.kill with SIGINT would end the whole process on Windows
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


# --- where jobs do not fork (Windows, macOS, or another thread alive): checked here by taking Linux's calls away


def test_without_fork_a_job_runs_in_this_process_as_a_child_would(tmp_path, monkeypatch, capfd):
    """Its value as it is, its stdout on /dev/null and its stderr in the log (a program's it starts too), the
    tool's own error raised as it was, any other as one line; stopped before its result, it never runs."""
    monkeypatch.delattr(os, "fork")
    ran = []

    def job():
        ran.append(os.getpid())
        print("the job's stdout")
        print("the job's stderr", file=sys.stderr)
        with children.program([sys.executable, "-c", "import sys; sys.stderr.write('the program says\\n')"]):
            pass
        return {"value": 42}

    running = children.fork(job, stderr=tmp_path / "log")
    assert not ran  # run when its result is asked for
    assert running.result() == {"value": 42} and ran == [os.getpid()] and not children.alive()
    assert (tmp_path / "log").read_text() == "the job's stderr\nthe program says\n"
    assert capfd.readouterr() == ("", "")

    def refuse():
        raise InputError("data file 'x.npz' holds no images", option="data")

    with pytest.raises(InputError, match="^data file 'x.npz' holds no images$"):
        children.fork(refuse).result()
    with pytest.raises(children.ChildFailed, match="^division by zero$"):
        children.fork(lambda: 1 / 0).result()
    stopped = children.fork(lambda: ran.append("stopped"))
    stopped.stop()
    assert ran == [os.getpid()]


def test_a_job_does_not_fork_while_another_thread_runs():
    """Forking a process with threads is unsafe (a lock a thread held stays locked in the child; Python 3.12
    warns): the job runs in this process instead."""
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not children.forks()
        assert children.fork(os.getpid).result() == os.getpid()
    finally:
        release.set()
        thread.join()


def test_a_program_starts_without_linux_calls_elsewhere(monkeypatch):
    """No prctl (ctypes.CDLL(None) is a TypeError on Windows) and no preexec_fn (a ValueError there); on Windows
    its own process group is a creation flag."""
    import ctypes

    def no_default_library(name, *args, **kwargs):
        raise TypeError("expected str, bytes or os.PathLike object, not NoneType")

    started, start = [], subprocess.Popen

    def popen(argv, **options):
        started.append(options)
        return start([sys.executable, "-c", ""], stdin=subprocess.PIPE)

    monkeypatch.setattr(ctypes, "CDLL", no_default_library)
    monkeypatch.setattr(children, "LINUX", False)
    monkeypatch.setattr(subprocess, "Popen", popen)
    with children.program(["ffmpeg"]):
        pass
    monkeypatch.setattr(children, "WINDOWS", True)
    monkeypatch.setattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200, raising=False)
    with children.program(["ffmpeg.exe"]):
        pass
    assert [sorted(set(options) - {"stdin", "stdout", "stderr", "close_fds"}) for options in started] == \
        [["process_group"], ["creationflags"]]
    assert started[1]["creationflags"] == 0x200


# Python without Linux's calls, as on Windows (no fork, no fcntl or resource, ctypes.CDLL(None) a TypeError,
# Popen's preexec_fn a ValueError) and where children takes the platform for another (no prctl). Then the tool runs.
ELSEWHERE = """
import ctypes, mmap, os, select, signal, subprocess, sys, tempfile, threading
for module, names in ((os, ("fork", "forkpty", "register_at_fork", "memfd_create", "sched_setaffinity",
                            "sched_getaffinity", "nice", "killpg", "setsid")), (signal, ("pthread_sigmask",))):
    for name in names:
        if hasattr(module, name):
            delattr(module, name)
sys.modules["fcntl"] = sys.modules["resource"] = None

class CDLL(ctypes.CDLL):
    def __init__(self, name, *args, **kwargs):
        if name is None:
            raise TypeError("expected str, bytes or os.PathLike object, not NoneType")
        super().__init__(name, *args, **kwargs)

class Popen(subprocess.Popen):
    def __init__(self, *args, preexec_fn=None, **kwargs):
        if preexec_fn is not None:
            raise ValueError("preexec_fn is not supported on Windows platforms")
        super().__init__(*args, **kwargs)

ctypes.CDLL, subprocess.Popen = CDLL, Popen
platform, sys.platform = sys.platform, "darwin"
from mnist_ova import children
sys.platform = platform
from mnist_ova.pipeline.cli import run
run(sys.argv[1:])
"""


def test_help_and_a_run_need_no_linux_only_call(tmp_path, tiny_npz):
    def tool(*args):
        return subprocess.run([sys.executable, "-c", ELSEWHERE, *args], cwd=REPO, capture_output=True, text=True,
                              timeout=300)

    shown = tool("--help")
    assert shown.returncode == 0 and shown.stdout.startswith("usage: run.py"), shown.stderr
    out = tmp_path / "out"
    ran = tool("--data", str(tiny_npz), "--out", str(out), "--iterations", "5", "--examples", "3",
               "--formats", "mp4,gif,training,figures,html", "--quiet")
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == "" and {"predictions.mp4", "predictions.gif", "report.html"} <= set(os.listdir(out))


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script and process groups")
def test_a_program_past_its_timeout_is_killed_with_what_it_started(tmp_path):
    started = tmp_path / "pid"
    script = f"sleep 60 & echo $! > {started}; wait"
    assert children.output(["sh", "-c", script], timeout=0.5) is None
    pid = int(started.read_text())
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z":
        assert time.monotonic() < deadline, "the program's own child outlived it"
        time.sleep(0.05)
    assert children.output(["sh", "-c", "echo hi"], timeout=5) == "hi\n"
    assert children.output(["sh", "-c", "exit 3"], timeout=5) is None
    assert children.output([str(tmp_path / "missing")], timeout=5) is None
    assert children.alive() == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signame, raised", [("SIGTERM", "Terminated"), ("SIGHUP", "HungUp")])
def test_a_program_waited_for_stops_the_run_on_a_signal(signame, raised):
    code = ("from mnist_ova import children\n"
            "try:\n"
            "    with children.handling_signals():\n"
            "        children.output(['sleep', '60'], timeout=60)\n"
            "except BaseException as exc:\n"
            "    print(type(exc).__name__, flush=True)\n")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    process.send_signal(getattr(signal, signame))
    assert process.communicate(timeout=5)[0].strip() == raised
