"""The run's scheduler: it alone starts, watches and stops every child process of a run, and it handles the
run's signals.

Two kinds of children: a job (a Python function: a render lane) started by ``Scheduler.start``,
and a program (ffmpeg, git) started by ``program`` or ``output``. Jobs run on ``multiprocessing`` rather than
``subprocess`` and a worker script of our own: it starts a process by fork or by spawn through one API, pickles
a job's arguments and its result, and gives each process a sentinel that the run waits on in slices, acting on
its signals.

How a job starts is decided here and nowhere else (``start_method``): ``MNIST_OVA_START_METHOD`` (``fork``,
``spawn`` or ``inline``) when set, else fork on Linux while no other thread runs, else inline: the job runs in
this process when its result is asked for. Fork is never used where it is unsafe, even when asked for (spawn is
used instead): with another thread alive (a lock it held stays locked in the child; Python 3.12 warns), where
there is none (Windows) or where it may crash (macOS, whose frameworks, Accelerate's BLAS among them, do not
survive a fork: why Python spawns there). Spawn is not the default there: each spawned lane imports matplotlib
and the renderers again and receives the model and data pickled, and the default job took 28.2 s with spawned
lanes against 19.3 s inline (2 busy cores of a Xeon). Under spawn a child imports the job's module and
unpickles its arguments, so a job is an importable top-level function with picklable arguments; it never runs
the command line again, since every entry point runs it only under ``if __name__ == "__main__"``.

A child of the tool

* never holds the caller's stdout or stderr: its streams are /dev/null or a log file, so ``out=$(mnist-ova ...)``
  returns as soon as the run itself ends;
* is stopped and reaped when the block that started it ends, normally, by an error or by a stopping signal
  (raised as an exception in the main thread, so it leaves the same block): ``Scheduler`` for jobs, ``program``
  and ``output`` for programs. That is the one way children are stopped;
* is stopped even when the run is SIGKILLed and nothing of its own runs, on Linux: the backstop is a job's
  ``PR_SET_PDEATHSIG``, set first thing in the child; a program a job started (ffmpeg) then ends as its input
  closes with the job, and git within its own timeout;
* keeps no descriptor the run registered with ``keep_from_children`` (the output folder's lock).

Under spawn, multiprocessing runs a resource tracker process of its own beside the run; it ends as the run's
exit closes its pipe.

The run's own signals: SIGTERM and SIGHUP stop it as Ctrl-C does (``handling_signals``), a stopping signal whose
exception got lost is raised again at the next step (``raise_if_stopped``), SIGXFSZ becomes an
error on the write that hit the limit, and ``signals_held`` defers SIGINT/SIGTERM/SIGHUP over a block that
must not be cut (a child's start, the commit's renames). The main thread never waits without a timeout, so a
signal that the kernel hands to another thread still stops the run at once.

A bottom module like ``errors``: every layer may import it.
"""
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from mnist_ova import environment
from mnist_ova.errors import HungUp, Terminated, ToolError

# SIGHUP: the terminal or ssh session is gone (none on Windows).
STOPPING = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ())
POLL_S = 0.05  # how often a wait of the main thread looks at its signals
GRACE_S = 2.0  # how long a child asked to stop may take to end (and stop its own child) before SIGKILL
# A job that yields runs at this niceness, with every program it starts: the default job took 11.7 s so against
# 13.2 s without (the video lanes; 2 cores of a Xeon, quiet). Keeping it off the first CPU too saved 0.16 s: not kept.
YIELD_NICENESS = 5
START_METHODS = environment.START_METHODS

_jobs: set["Job"] = set()  # every job's process not yet reaped
_processes: set[subprocess.Popen] = set()  # every started program not yet reaped
_inherited: set[int] = set()  # descriptors a child must not keep open (locks)
_job_stderr: list[Any] = []  # the log of the job run inline, for the programs it starts

LINUX = sys.platform.startswith("linux")
WINDOWS = sys.platform == "win32"


class ChildFailed(Exception):
    """A child ended without its result; the message is its one-line reason."""


# --- signals -----------------------------------------------------------------------------------

_stopped: list[int] = []  # the stopping signal received, until the run has acted on it
_holding: list[bool] = []  # one entry per signals_held block the main thread is in
_deferred: list[int] = []  # a stopping signal received inside such a block, raised as the outermost one ends


def _stop(signum, frame):
    """SIGINT, SIGTERM or SIGHUP: raised as KeyboardInterrupt, Terminated or HungUp, and kept until the run
    has acted on it. An exception raised while the main thread runs a finalizer or a weakref callback is only printed as
    "Exception ignored" and lost: ``raise_if_stopped`` raises it again at the next step of the run."""
    if not _stopped:
        _stopped.append(signum)
    if _holding:  # raised as the held block ends (another thread of the process, BLAS's say, took the signal)
        _deferred.append(signum)
        return
    _raise_for(signum)


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt()
    raise HungUp() if signum == getattr(signal, "SIGHUP", None) else Terminated()


def raise_if_stopped() -> None:
    """Called at each step of the run (a training step, a stage, every slice of a wait): a stopping
    signal that was received and lost on the way is raised again here."""
    if _stopped:
        _raise_for(_stopped[0])


def _terminate(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def handling_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the run as Ctrl-C does; a file-size limit (SIGXFSZ) becomes an error on the write
    that hit it, reported with the file's name, instead of killing the process without a word. On the
    way out the previous handlers come back."""
    previous: dict[int, Any] = {}
    _stopped.clear()
    handlers: list[tuple[int | None, Any]] = [(signum, _stop) for signum in STOPPING]
    for signum, handler in (*handlers, (getattr(signal, "SIGXFSZ", None), signal.SIG_IGN)):
        if signum is None:
            continue
        try:
            previous[signum] = signal.signal(signum, handler)
        except (ValueError, OSError):  # not the main thread
            pass
    try:
        yield
    finally:
        with signals_held():
            _stopped.clear()  # acted on: the run ends here
            for signum in set(previous) & set(STOPPING):
                signal.signal(signum, signal.SIG_IGN)  # one more while the run ends is dropped, not raised here
            _deferred.clear()
        for signum, earlier in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, earlier)


@contextlib.contextmanager
def signals_held() -> Iterator[tuple[int, ...]]:
    """The stopping signals wait until the block is done (then they act as usual); yields them."""
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
    except (AttributeError, ValueError, OSError):
        previous = None
    # The mask holds back only what this thread would take: a signal the kernel gives a thread that does not
    # block it (BLAS's, a library's) still runs the handler here, which then only notes it.
    _holding.append(True)
    try:
        yield STOPPING
    finally:
        _holding.pop()
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if _deferred and not _holding:
            _raise_for(_deferred.pop())


@contextlib.contextmanager
def stops_through_log(logger: str) -> Iterator[None]:
    """Over the block, a library that catches every exception and logs it (WeasyPrint, while it draws an SVG:
    ``except BaseException``) gives the stopping signal it caught back when it logs: raised again there, a
    stop does not wait for the rest of its work (a PDF build's seconds)."""
    import logging

    def stopped(record: logging.LogRecord) -> bool:
        raise_if_stopped()
        return True

    logging.getLogger(logger).addFilter(stopped)
    try:
        yield
    finally:
        logging.getLogger(logger).removeFilter(stopped)


def block_signals_in_thread() -> None:
    """For a helper thread's start: the stopping signals go to the main thread, whose handlers act on them,
    never to a helper that would leave the main thread waiting."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)


# --- jobs --------------------------------------------------------------------------------------

def keep_from_children(fd: int) -> None:
    """``fd`` is closed in every child forked from now on (its copy; the run's stays open). A spawned child or a
    program inherits no descriptor it is not given."""
    _inherited.add(fd)


def release(fd: int) -> None:
    _inherited.discard(fd)


def _close_inherited() -> None:
    for fd in _inherited:
        with contextlib.suppress(OSError):
            os.close(fd)
    _inherited.clear()


if hasattr(os, "register_at_fork"):  # none on Windows, which has no fork
    os.register_at_fork(after_in_child=_close_inherited)  # any fork, ours or a library's


def start_method(environ=os.environ) -> str:
    """How a job starts now: fork, spawn or inline (see the module's docstring)."""
    asked = environment.start_method_asked(environ) or ""
    if asked == "inline":
        return asked
    fork_safe = LINUX and hasattr(os, "fork") and threading.active_count() == 1
    if fork_safe and asked in ("", "fork"):
        return "fork"
    return "spawn" if asked else "inline"


def progress_bar(**options):
    """A tqdm bar without tqdm's monitor thread: alive when a job is started, it would rule out fork."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # tqdm's own switch: its bars then start no monitor
    return tqdm(**options)


class Scheduler:
    """Starts jobs (``start``); when its block ends, normally, by an error or by a stopping signal, it stops every
    job still running (a job that failed first does not wait for the others) and reaps it."""

    def __init__(self, method: str | None = None):
        self._method = method
        self._started: list[Job | InProcess] = []

    def start(self, function: Callable[..., Any], *args: Any, stderr: str | os.PathLike | None = None,
              unwinds: bool = False, yields: bool = False) -> "Job | InProcess":
        """``function(*args)`` in a child process (in this one for ``inline``); its streams are /dev/null (stderr:
        the file ``stderr`` when given). Its value, and a ``ToolError`` it raises, must pickle. ``unwinds``: the job
        has children of its own, so ``stop`` lets it unwind (and stop them) rather than kill it at once.
        ``yields``: nothing waits for it soon, so it leaves the CPU to this process (``_yield``)."""
        method = self._method or start_method()
        job = (InProcess(function, args, stderr) if method == "inline"
               else Job(multiprocessing.get_context(method), function, args, stderr, unwinds=unwinds, yields=yields))
        self._started.append(job)
        return job

    def __enter__(self) -> "Scheduler":
        return self

    def __exit__(self, *exc: object) -> None:
        with signals_held():
            for job in self._started:
                job.stop()


class Job:
    """A job's process; ``result`` returns the job's value."""

    def __init__(self, context: Any, function: Callable[..., Any], args: tuple, stderr: str | os.PathLike | None,
                 *, unwinds: bool, yields: bool):
        self._results, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_run_child, args=(function, args, send, stderr, os.getpid(), yields),
                                        name=getattr(function, "__name__", "job"))
        self._unwinds = unwinds
        self.status: int | None = None  # the exit code once reaped (negative: the signal that ended it)
        try:
            with signals_held():  # the child must not run the run's handlers before it has its own
                self._process.start()
        except BaseException:  # no child (EAGAIN, ENOMEM): nothing stays open
            self._results.close()
            raise
        finally:
            send.close()
        self.pid: int = self._process.pid
        _jobs.add(self)

    def result(self) -> Any:
        """The job's value once the child has sent it (waited for in slices); the tool's own error (a ``ToolError``)
        the job raised, as it was raised; else ``ChildFailed`` with its one-line reason when it failed or died."""
        reply: Any = None
        while reply is None:
            raise_if_stopped()
            ready = multiprocessing.connection.wait([self._results, self._process.sentinel], POLL_S)
            if self._results in ready:
                with contextlib.suppress(EOFError, OSError):
                    reply = self._results.recv()
                break
            if ready:  # ended without a word
                break
        while self._process.is_alive():
            raise_if_stopped()
            self._process.join(POLL_S)
        ending = self._ending()
        self.stop()
        if reply is None:
            raise ChildFailed(f"the helper process ended without a result ({ending})")
        status, value = reply
        if status == "raise":
            raise value
        if status != "ok":
            raise ChildFailed(value)
        return value

    def stop(self) -> None:
        """SIGKILL, or for a job that ``unwinds`` SIGTERM first and SIGKILL after a grace period; returns once the
        child is reaped. A no-op once it has been."""
        if self not in _jobs:
            return
        if self._unwinds and self._process.is_alive():
            self._process.terminate()
            self._process.join(GRACE_S)
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self.status = self._process.exitcode
        self._process.close()
        self._results.close()
        _jobs.discard(self)

    def _ending(self) -> str:
        code = self._process.exitcode or 0
        return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"


def _run_child(function: Callable[..., Any], args: tuple, send: Any, stderr: str | os.PathLike | None,
               parent: int, yields: bool) -> None:
    """A job's process: dies with the run, takes its own signals and streams, runs the job and sends one reply."""
    _die_with(parent)
    if yields:
        _yield()
    _jobs.clear()  # the run's, not ours (a forked copy)
    _processes.clear()
    _stopped.clear()
    _redirect_streams(stderr)
    for signum in set(STOPPING) - {signal.SIGTERM}:
        signal.signal(signum, signal.SIG_IGN)  # the run decides, and stops the job
    signal.signal(signal.SIGTERM, _terminate)  # unwinds the job: it stops its programs
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file-size limit is an error on the write that hit it
    try:
        with contextlib.suppress(AttributeError):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING)  # a SIGTERM already sent acts here
        reply = ("ok", function(*args))
    except ToolError as exc:  # the run raises it as it is: the same message and exit code
        reply = ("raise", exc)
    except BaseException as exc:  # a signal too: no traceback, one reply
        reply = ("error", _one_line(exc))
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    try:
        send.send(reply)
    except Exception as exc:  # a value or an error that does not pickle: one line says so
        what = reply[1] if reply[0] != "ok" else f"its result could not be passed back ({exc})"
        send.send(("error", _one_line(Exception(str(what)))))


def _yield() -> None:
    """Run (with every program started from here) at a lower priority, where there are priorities."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(YIELD_NICENESS)


def _die_with(parent: int) -> None:
    """Linux's backstop for a SIGKILLed run, whose own clean-up never runs: this process gets SIGKILL when the
    process that started it ends (``PR_SET_PDEATHSIG``); if that has already happened, it ends now."""
    if LINUX:
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


class InProcess:
    """A job run in this process (``inline``): by ``result``, with its stdout on /dev/null and its stderr, and that
    of the programs it starts, in ``stderr`` as a child's would be; its error is raised as a child's is. ``stop``
    before ``result``: it never runs."""

    def __init__(self, function: Callable[..., Any], args: tuple, stderr: str | os.PathLike | None):
        self._job: Callable[[], Any] | None = lambda: function(*args)
        self._stderr = stderr

    def result(self) -> Any:
        job, self._job = self._job, None
        if job is None:
            raise ChildFailed("the job was stopped before it ran")
        with open(os.devnull, "w") as null, \
                open(self._stderr if self._stderr is not None else os.devnull, "w", buffering=1,  # lines in order
                     encoding="utf-8", errors="backslashreplace") as log, \
                contextlib.redirect_stdout(null), contextlib.redirect_stderr(log):
            _job_stderr.append(log)
            try:
                return job()
            except ToolError:
                raise
            except Exception as exc:
                raise ChildFailed(_one_line(exc)) from exc
            finally:
                _job_stderr.pop()

    def stop(self) -> None:
        self._job = None


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _redirect_streams(stderr: str | os.PathLike | None) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    if stderr is not None:
        log = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 2)
        os.close(log)
    else:
        os.dup2(null, 2)
    os.close(null)
    # Python's streams too, whatever they were made to point at (a test's capture, a wrapper).
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)


# --- programs ----------------------------------------------------------------------------------

@contextlib.contextmanager
def program(argv: list[str]) -> Iterator[subprocess.Popen]:
    """Start ``argv`` with a pipe to its stdin, its stdout on /dev/null and this process's stderr (the log of
    the job that starts it), in a process group of its own (a terminal's Ctrl-C reaches the run, which
    decides). On leaving the block it is waited for; on an error or a signal, killed first. Where the job that
    started it is itself killed, it ends as its stdin closes."""
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=_job_stderr[-1] if _job_stderr else None, close_fds=True, **_own_group())
    _processes.add(process)
    try:
        yield process
    except BaseException:
        process.kill()
        raise
    finally:
        with contextlib.suppress(OSError):
            process.stdin.close()  # type: ignore[union-attr]
        while process.poll() is None:
            time.sleep(0.005)
        _processes.discard(process)


def _own_group() -> dict[str, Any]:
    """``Popen``'s options for a program in a process group of its own (no ``preexec_fn``: unsafe with threads)."""
    if WINDOWS:  # a group of its own is a creation flag there
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
    return {"process_group": 0}


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL to ``process`` and everything in its group (what it started: a git hook), where groups exist."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (AttributeError, OSError):  # no killpg (Windows), or the group is gone
        with contextlib.suppress(OSError):
            process.kill()


def output(argv: list[str], *, timeout: float, env: dict[str, str] | None = None) -> str | None:
    """The stdout of ``argv`` when it succeeds within ``timeout`` seconds, else None (missing, failed, too slow).
    Started as ``program`` starts one (its own group), with no stdin and its stderr dropped; waited for in slices
    that act on the run's signals; on leaving, its whole group is killed, so nothing it started outlives it."""
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   close_fds=True, env=env, **_own_group())
    except OSError:
        return None
    _processes.add(process)
    deadline = time.monotonic() + timeout
    try:
        while True:
            raise_if_stopped()
            try:
                stdout, _ = process.communicate(timeout=min(POLL_S, max(deadline - time.monotonic(), 0.001)))
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    return None
        return stdout.decode("utf-8", "replace") if process.returncode == 0 else None
    finally:
        _kill_group(process)
        process.wait()
        _processes.discard(process)


def alive() -> list[int]:
    """The ids of the children not yet reaped (for tests and diagnostics)."""
    return sorted([*(job.pid for job in _jobs), *(p.pid for p in _processes)])
