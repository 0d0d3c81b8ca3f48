"""Children belong to the run: they never hold the caller's streams, die with the run (SIGKILL of it
included) and are reaped before it exits. CI runs this file under each start method (MNIST_OVA_START_METHOD=fork,
then spawn): the jobs here are top-level functions, as a spawned child imports them."""
import multiprocessing.process
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

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc, ps's sid and PR_SET_PDEATHSIG are "
                           "Linux's")
posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and programs (sleep, SIGKILL)")


@pytest.fixture(autouse=True)
def only_thread():
    """A job forks only while no other thread runs: one left by an earlier test would make these spawn."""
    assert threading.active_count() == 1, f"threads left running: {threading.enumerate()}"


def session_members(sid, within=0.5):
    """Every process of the session ``sid`` (the run started with start_new_session has sid = its pid) still
    there ``within`` seconds from now: under spawn, multiprocessing's resource tracker ends only as the run's exit
    closes its pipe, a moment after the run."""
    deadline = time.monotonic() + within
    while True:
        rows = subprocess.run(["ps", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True).stdout
        members = [row for row in rows.splitlines()
                   if int(row.split()[1]) == sid and " Z" not in f" {row.split()[2]}"]
        if not members or time.monotonic() > deadline:
            return members
        time.sleep(0.02)


def speak_and_answer():
    print("the child's stdout")
    print("the child's stderr", file=sys.stderr)
    return 42


def refuse():
    raise InputError("data file 'x.npz' holds no images", option="data")


def divide_by_zero():
    return 1 / 0


def a_lambda():
    return lambda: None


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


@linux
def test_a_job_returns_its_value_and_holds_none_of_the_callers_streams(tmp_path):
    with children.Scheduler() as scheduler:
        job = scheduler.start(speak_and_answer, stderr=tmp_path / "log")
        assert job.result() == 42
    assert job.pid not in children.alive() and (tmp_path / "log").read_text() == "the child's stderr\n"


def test_the_tools_own_error_in_a_child_is_raised_as_it_was():
    with pytest.raises(InputError, match="^data file 'x.npz' holds no images$") as raised, children.Scheduler() as s:
        s.start(refuse).result()
    assert raised.value.option == "data"


@linux
def test_a_large_value_comes_back_whole_and_nothing_stays_open():
    big = np.arange(20_000_000, dtype=np.uint8)  # 20 MB
    before = open_descriptors()
    with children.Scheduler() as scheduler:
        got = scheduler.start(np.copy, big).result()
        scheduler.start(time.sleep, 60)  # stopped on leaving the block
    np.testing.assert_array_equal(got, big)
    del got
    assert open_descriptors() == before and children.alive() == []


@linux
def test_a_start_that_fails_leaves_nothing_open(monkeypatch):
    def no_process(self):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    before = open_descriptors()
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", no_process)
    for _ in range(3):
        with pytest.raises(BlockingIOError), children.Scheduler() as scheduler:
            scheduler.start(os.getpid)
    assert open_descriptors() == before


def test_a_value_that_cannot_come_back_is_one_line_that_says_so():
    with pytest.raises(children.ChildFailed, match="^its result could not be passed back .*lambda"), \
            children.Scheduler() as scheduler:
        scheduler.start(a_lambda).result()


@linux
def test_a_failed_job_is_one_line_and_a_stopped_one_is_reaped():
    with children.Scheduler() as scheduler:
        with pytest.raises(children.ChildFailed, match="^division by zero$"):
            scheduler.start(divide_by_zero).result()
        sleeper = scheduler.start(time.sleep, 60)
        start = time.monotonic()
        sleeper.stop()
        assert time.monotonic() - start < 1 and sleeper.status == -signal.SIGKILL and not children.alive()
    with pytest.raises(ChildProcessError):
        os.waitpid(sleeper.pid, os.WNOHANG)  # reaped: no zombie left


@linux
def test_leaving_the_scheduler_on_an_error_stops_its_jobs_at_once():
    """A job that failed first does not wait for the others: the one way a job is stopped on an error."""
    start = time.monotonic()
    with pytest.raises(ZeroDivisionError), children.Scheduler() as scheduler:
        sleepers = [scheduler.start(time.sleep, 60, unwinds=unwinds) for unwinds in (False, True)]
        assert sorted(job.pid for job in sleepers) == children.alive()
        1 / 0
    assert time.monotonic() - start < 5 and children.alive() == []
    assert [job.status for job in sleepers] == [-signal.SIGKILL, 0]  # one that unwinds ends itself, on SIGTERM


def sleep_once_started(path):
    open(path, "w").close()
    time.sleep(60)


@linux
def test_a_child_dies_with_its_parent(tmp_path):
    """The parent is SIGKILLed once its child runs the job: no clean-up of its own runs, yet its child is gone at
    once (PR_SET_PDEATHSIG)."""
    script = ("import os, sys, time\nfrom mnist_ova import children\nfrom tests.test_children import sleep_once_started\n"
              "with children.Scheduler() as scheduler:\n"
              "    child = scheduler.start(sleep_once_started, sys.argv[1])\n"
              "    while not os.path.exists(sys.argv[1]):\n"
              "        time.sleep(0.01)\n"
              "    print(child.pid, flush=True)\n"
              "    time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "started")], cwd=REPO,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    assert session_members(parent.pid, within=2) == [], f"child {child} outlived its killed parent"


@posix
@pytest.mark.parametrize("signame, raised", [("SIGTERM", "Terminated"), ("SIGINT", "KeyboardInterrupt")])
def test_a_signal_to_the_run_alone_stops_its_jobs_at_once(signame, raised):
    """The signal reaches the run's process only (``kill PID``, not the terminal's whole group): the run stops its
    jobs on the way out, at once, rather than waiting for them."""
    code = ("import time\nfrom mnist_ova import children\n"
            "try:\n"
            "    with children.handling_signals(), children.Scheduler() as scheduler:\n"
            "        jobs = [scheduler.start(time.sleep, 60, unwinds=True), scheduler.start(time.sleep, 60)]\n"
            "        print(*(job.pid for job in jobs), flush=True)\n"
            "        jobs[0].result()\n"
            "except BaseException as exc:\n"
            "    print(type(exc).__name__, children.alive(), flush=True)\n")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    pids = [int(pid) for pid in process.stdout.readline().split()]
    time.sleep(0.5)
    process.send_signal(getattr(signal, signame))
    assert process.communicate(timeout=10)[0].strip() == f"{raised} []"
    assert session_members(process.pid) == [] and len(pids) == 2


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


# --- how jobs start: decided in one place


def speak_run_a_program_and_answer(ran):
    ran.append(os.getpid())
    print("the job's stdout")
    print("the job's stderr", file=sys.stderr)
    with children.program([sys.executable, "-c", "import sys; sys.stderr.write('the program says\\n')"]):
        pass
    return {"value": 42}


def test_an_inline_job_runs_in_this_process_as_a_child_would(tmp_path, capfd):
    """Its value as it is, its stdout on /dev/null and its stderr in the log (a program's it starts too), the
    tool's own error raised as it was, any other as one line; stopped before its result, it never runs."""
    ran: list = []
    with children.Scheduler("inline") as scheduler:
        running = scheduler.start(speak_run_a_program_and_answer, ran, stderr=tmp_path / "log")
        assert not ran  # run when its result is asked for
        assert running.result() == {"value": 42} and ran == [os.getpid()] and not children.alive()
        assert (tmp_path / "log").read_text() == "the job's stderr\nthe program says\n"
        assert capfd.readouterr() == ("", "")
        with pytest.raises(InputError, match="^data file 'x.npz' holds no images$"):
            scheduler.start(refuse).result()
        with pytest.raises(children.ChildFailed, match="^division by zero$"):
            scheduler.start(divide_by_zero).result()
        scheduler.start(ran.append, "stopped")
    assert ran == [os.getpid()]  # stopped on leaving the block before it was asked for: it never ran


def test_the_start_method_is_asked_for_and_fork_is_used_only_where_it_is_safe(monkeypatch):
    """Forking a process with threads is unsafe (a lock a thread held stays locked in the child; Python 3.12
    warns), and elsewhere than Linux there is no fork or it may crash: a job asked to fork is spawned, and by
    default it runs inline."""
    assert [children.start_method({"MNIST_OVA_START_METHOD": method}) for method in children.START_METHODS] == \
        (["fork", "spawn", "inline"] if sys.platform.startswith("linux") else ["spawn", "spawn", "inline"])
    with pytest.raises(InputError, match="^MNIST_OVA_START_METHOD must be one of fork, spawn, inline; got 'thread'"):
        children.start_method({"MNIST_OVA_START_METHOD": "thread"})
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert children.start_method({}) == "inline"
        assert children.start_method({"MNIST_OVA_START_METHOD": "fork"}) == "spawn"
        with children.Scheduler("spawn") as scheduler:
            assert scheduler.start(os.getppid).result() == os.getpid()  # in a child of its own
    finally:
        release.set()
        thread.join()
    monkeypatch.setattr(children, "LINUX", False)
    assert children.start_method({}) == "inline"


def test_a_program_starts_without_linux_calls_elsewhere(monkeypatch):
    """No preexec_fn anywhere (unsafe with threads; a ValueError on Windows); on Windows its own process group
    is a creation flag."""
    started, start = [], subprocess.Popen

    def popen(argv, **options):
        started.append(options)
        return start([sys.executable, "-c", ""], stdin=subprocess.PIPE)

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
# Popen's preexec_fn a ValueError) and where children takes the platform for another (no prctl; jobs inline,
# or spawned where CI asks). Then the tool runs.
ELSEWHERE = """
import ctypes, os, signal, subprocess, sys
for module, names in ((os, ("fork", "forkpty", "register_at_fork", "sched_setaffinity", "sched_getaffinity",
                            "killpg", "setsid")), (signal, ("pthread_sigmask",))):
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
            "        print('waiting', flush=True)\n"
            "        children.output(['sleep', '60'], timeout=60)\n"
            "except BaseException as exc:\n"
            "    print(type(exc).__name__, flush=True)\n")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "waiting\n"
    time.sleep(0.3)
    process.send_signal(getattr(signal, signame))
    assert process.communicate(timeout=5)[0].strip() == raised
