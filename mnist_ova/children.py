"""Every child process of a run, and the run's signal handling, in one place.

Jobs fork only on Linux, and only while no other thread runs (``forks``); elsewhere ``fork`` runs the job
in this process when its result is asked for (Windows has no fork; on macOS a forked child of a process
that used the system's frameworks, Accelerate's BLAS among them, may crash or hang, which is why Python's
multiprocessing spawns there).

A child of the tool (the forked data loader, a forked video encoder, the ffmpeg it starts)

* never holds the caller's stdout or stderr: its standard streams are /dev/null or a log file, so
  ``out=$(mnist-ova ...)`` returns as soon as the run itself ends;
* dies with the process that started it, for any reason, SIGKILL included (``PR_SET_PDEATHSIG`` on
  Linux; the chain run -> encoder -> ffmpeg dies link by link);
* is stopped and reaped before the run exits: every child is in one table, and ``stop_all`` (called by
  the command line on every way out, and at exit as a backstop) ends and waits for each;
* keeps no descriptor the run registered with ``keep_from_children`` (the output folder's lock).

The run's own signals: SIGTERM and SIGHUP stop it as Ctrl-C does (``handling_signals``), a stopping signal whose
exception got lost is raised again at the next step (``raise_if_stopped``), SIGXFSZ becomes an
error on the write that hit the limit, and ``signals_held`` defers SIGINT/SIGTERM/SIGHUP over a block that
must not be cut (a fork, the commit's renames). The main thread never waits without a timeout, so a
signal that the kernel hands to another thread still stops the run at once (``wait_for``).

A bottom module like ``errors``: every layer may import it.
"""
import atexit
import contextlib
import mmap
import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from mnist_ova.errors import HungUp, Terminated, ToolError

# SIGHUP: the terminal or ssh session is gone (none on Windows).
STOPPING = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ())
POLL_S = 0.05  # how often a wait of the main thread looks at its signals
GRACE_S = 2.0  # how long a child asked to stop may take to end (and stop its own child) before SIGKILL

_children: dict[int, "Child"] = {}  # pid -> every forked child not yet reaped
_processes: set[subprocess.Popen] = set()  # every started program not yet reaped
_inherited: set[int] = set()  # descriptors a child must not keep open (locks)
_job_stderr: list[Any] = []  # the log of the job ``fork`` runs in this process, for the programs it starts
_in_child = False  # whether this process is a child that ``fork`` made

LINUX = sys.platform.startswith("linux")
WINDOWS = sys.platform == "win32"


class ChildFailed(Exception):
    """A child ended without its result; the message is its one-line reason."""


# --- signals -----------------------------------------------------------------------------------

_stopped: list[int] = []  # the stopping signal received, until the run has acted on it


def _stop(signum, frame):
    """SIGINT, SIGTERM or SIGHUP: raised as KeyboardInterrupt, Terminated or HungUp, and kept until the run
    has acted on it. An exception raised while the main thread runs a finalizer or a weakref callback is only printed as
    "Exception ignored" and lost: ``raise_if_stopped`` raises it again at the next step of the run."""
    if not _stopped:
        _stopped.append(signum)
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
    way out every child is stopped and reaped, and the previous handlers come back."""
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
            stop_all()
            _stopped.clear()  # acted on: the run ends here
            for signum in set(previous) & set(STOPPING):
                signal.signal(signum, signal.SIG_IGN)  # one more while the run ends is dropped, not raised here
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
    try:
        yield STOPPING
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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


def wait_for(future: Any) -> Any:
    """``future.result()`` waited for in slices, so that the main thread acts on a signal at once."""
    import concurrent.futures

    while True:
        raise_if_stopped()
        try:
            return future.result(timeout=POLL_S)
        except concurrent.futures.TimeoutError:
            continue


# --- children ----------------------------------------------------------------------------------

def keep_from_children(fd: int) -> None:
    """``fd`` is closed in every child forked from now on (its copy; the run's stays open)."""
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


def forks() -> bool:
    """Whether ``fork`` starts a process now: on Linux, while this is the only thread (a fork copies no other
    thread, and a lock one of them held stays locked in the child; Python 3.12 warns)."""
    return LINUX and hasattr(os, "fork") and threading.active_count() == 1


def progress_bar(**options):
    """A tqdm bar without tqdm's monitor thread: alive when a job is started, it would keep ``forks`` false."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # tqdm's own switch: its bars then start no monitor
    return tqdm(**options)


def in_child() -> bool:
    """Whether this process is a child that ``fork`` started (not the run, which a job may run in)."""
    return _in_child


def _death_signal_setter() -> Callable[[], Any] | None:
    """libc's prctl(PR_SET_PDEATHSIG, SIGKILL), looked up before a fork (the child between fork and exec
    should run as little as it can); None where there is none (not Linux)."""
    import ctypes

    if not LINUX:  # prctl is Linux's; ctypes.CDLL(None) is even a TypeError on Windows
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def die_with_parent(parent: int, set_death_signal: Callable[[], Any] | None) -> None:
    """In a new child: be killed when ``parent`` ends; if it has already ended, end now."""
    if set_death_signal is not None:
        set_death_signal()
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


class Child:
    """A forked process running one job; ``result`` returns the job's value."""

    def __init__(self, pid: int, results: int, file: int, *, unwinds: bool):
        self.pid, self._results, self._file, self._unwinds = pid, results, file, unwinds
        self.status: int | None = None

    def result(self) -> Any:
        """The job's value once the child has ended (waited for in slices); the tool's own error (a
        ``ToolError``) the job raised, as it was raised; else ``ChildFailed`` with its one-line reason when it
        failed or died."""
        chunks = []
        while True:
            raise_if_stopped()
            ready, _, _ = select.select([self._results], [], [], POLL_S)
            if ready:
                chunk = os.read(self._results, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        self._reap()
        try:
            status, value = _received(b"".join(chunks), self._file)
        except Exception:
            raise ChildFailed(f"the helper process ended without a result ({self._ending()})") from None
        finally:
            self._close_file()
        if status == "raise":
            raise value
        if status != "ok":
            raise ChildFailed(value)
        return value

    def stop(self) -> None:
        """SIGKILL, or for a job that ``unwinds`` SIGTERM first (the job stops its own children) and
        SIGKILL after a grace period; returns once the child is reaped. A no-op once it has been."""
        if self.status is None and self._unwinds:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + GRACE_S
            while self.status is None and time.monotonic() < deadline:
                self._poll()
                time.sleep(0.005)
        if self.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self._reap()
        self._close_file()

    def _poll(self) -> None:
        with contextlib.suppress(ChildProcessError):
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._ended(status)

    def _reap(self) -> None:
        if self.status is None:
            try:
                self._ended(os.waitpid(self.pid, 0)[1])
            except ChildProcessError:
                self._ended(0)
        if self._results >= 0:
            os.close(self._results)
            self._results = -1

    def _close_file(self) -> None:
        if self._file >= 0:  # the result's memory goes with its last mapping
            os.close(self._file)
            self._file = -1

    def _ended(self, status: int) -> None:
        self.status = status
        _children.pop(self.pid, None)

    def _ending(self) -> str:
        signum = os.WTERMSIG(self.status) if self.status is not None and os.WIFSIGNALED(self.status) else None
        return f"killed by {signal.Signals(signum).name}" if signum else f"exit status {os.waitstatus_to_exitcode(self.status or 0)}"


class InProcess:
    """A job that ``fork`` runs in this process (where it does not fork): run by ``result``, with its stdout
    on /dev/null and its stderr, and that of the programs it starts, in ``stderr`` as a child's would be;
    its error is raised as a child's is. ``stop`` before ``result``: it never runs."""

    def __init__(self, job: Callable[[], Any], stderr: str | os.PathLike | None):
        self._job: Callable[[], Any] | None = job
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


def fork(job: Callable[[], Any], *, stderr: str | os.PathLike | None = None,
         unwinds: bool = False) -> Child | InProcess:
    """Run ``job()`` in a forked process where ``forks``, else in this one (``InProcess``); its standard
    streams are /dev/null (stderr: the file ``stderr`` when given), so it never holds the caller's. In the
    child SIGINT and SIGHUP are ignored (the run decides, and stops it) and SIGTERM unwinds the job; its value, and a
    ``ToolError`` it raises, must pickle. ``unwinds``: the job has children of its own, so ``stop`` lets it
    unwind (and stop them) rather than kill it at once."""
    if not forks():
        return InProcess(job, stderr)
    results, send = os.pipe()
    opened = [results, send]
    try:
        file = _result_file()
        opened.append(file)
        parent, set_death_signal = os.getpid(), _death_signal_setter()
        _register_stop_at_exit()
        with signals_held():  # the child must not run the parent's handlers before it has its own
            pid = os.fork()
            if pid == 0:  # never returns
                _run_child(job, lambda: die_with_parent(parent, set_death_signal), results, send, file, stderr)
    except BaseException:  # no child (no memory file, or the fork failed: EAGAIN, ENOMEM): nothing stays open
        for fd in opened:
            os.close(fd)
        raise
    os.close(send)
    child = Child(pid, results, file, unwinds=unwinds)
    _children[pid] = child
    return child


def _run_child(job: Callable[[], Any], die_with_parent: Callable[[], None], results: int, send: int, file: int,
               stderr: str | os.PathLike | None) -> None:
    global _in_child
    code = 1
    try:
        os.close(results)
        die_with_parent()
        _in_child = True
        _children.clear()  # the parent's, not ours
        _processes.clear()
        _stopped.clear()
        _redirect_streams(stderr)
        for signum in set(STOPPING) - {signal.SIGTERM}:
            signal.signal(signum, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, _terminate)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING)
        try:
            reply = ("ok", job())
            code = 0
        except ToolError as exc:  # the parent raises it as it is: the same message and exit code
            reply = ("raise", exc)
        except BaseException as exc:  # a signal too: no traceback, one reply
            reply = ("error", _one_line(exc))
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(BaseException):
            try:
                message = _message(reply, file)
            except Exception as exc:  # a value or an error that does not pickle: one line says so
                what = reply[1] if reply[0] != "ok" else f"its result could not be passed back ({exc})"
                message = _message(("error", (str(what).strip().splitlines() or ["error"])[0]), file)
            _write_all(send, message)
    finally:
        os._exit(code)


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# --- a child's result --------------------------------------------------------------------------
# The value is pickled with its large arrays out of band, into a file in memory that the parent created
# before the fork and maps when the child is done; the pipe carries only where each part lies. So a data
# set (tens of MB) is written while the parent works on (it imported scikit-learn meanwhile), not pushed
# through a pipe the parent reads only once it waits for the result: 0.15-0.2 s of a first run (measured
# on 2 cores, 55 MB of Fashion-MNIST) became a few milliseconds, and the arrays are not copied again.
# Where the file cannot take it (a file-size limit, ulimit -f, holds for files in memory too), the pickle
# itself goes through the pipe, as before.

ALIGN = 64  # bytes: each array's place in the file, so that the mapped arrays are aligned as allocated ones


def _result_file() -> int:
    """An anonymous file in memory (``memfd``; an unlinked temporary file where there is none), closed on exec."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("mnist-ova-result", os.MFD_CLOEXEC)
    with tempfile.TemporaryFile() as temporary:
        return os.dup(temporary.fileno())


def _pack(value: Any, file: int) -> list[tuple[int, int]]:
    """Write ``value`` pickled into ``file``, its out-of-band buffers each at a multiple of ALIGN; return the
    layout: where the value's pickle and each buffer lie, as (offset, length)."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    places, offset = [], 0
    os.ftruncate(file, 0)  # an earlier attempt's part (an error that did not pickle)
    for view in (memoryview(data), *(buffer.raw() for buffer in buffers)):  # bytes, flat
        offset = -(-offset // ALIGN) * ALIGN
        places.append((offset, view.nbytes))
        written = 0
        while written < view.nbytes:
            written += os.pwrite(file, view[written:], offset + written)
        offset += written
    return places


def _message(reply: Any, file: int) -> bytes:
    """What the pipe carries for ``reply``: where ``_pack`` put it in ``file``, else the pickle itself."""
    try:
        return pickle.dumps(("file", _pack(reply, file)))
    except OSError:  # EFBIG: a file-size limit (the run ignores SIGXFSZ, so the write fails instead)
        return pickle.dumps(("pipe", reply), protocol=pickle.HIGHEST_PROTOCOL)


def _received(message: bytes, file: int) -> Any:
    """The reply a ``_message`` carries."""
    how, content = pickle.loads(message)
    return _unpack(content, file) if how == "file" else content


def _unpack(layout: list[tuple[int, int]], file: int) -> Any:
    """The value ``_pack`` wrote, its arrays in a private (copy-on-write) mapping of ``file``."""
    size = os.fstat(file).st_size
    view = memoryview(mmap.mmap(file, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)) \
        if size else memoryview(b"")
    (start, length), *buffers = layout
    return pickle.loads(view[start:start + length], buffers=[view[o:o + n] for o, n in buffers])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


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


@contextlib.contextmanager
def program(argv: list[str]) -> Iterator[subprocess.Popen]:
    """Start ``argv`` with a pipe to its stdin, its stdout on /dev/null and this process's stderr (the log of
    the job that starts it), in a process group of its own (a terminal's Ctrl-C reaches the run, which
    decides) and, on Linux, dying with this process (elsewhere it ends when its stdin closes with this
    process). On leaving the block it is waited for; on an error or a signal, killed first."""
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
    """``Popen``'s options for a program in a process group of its own that, on Linux, dies with this process."""
    parent, set_death_signal = os.getpid(), _death_signal_setter()
    options: dict[str, Any] = {"process_group": 0}
    if WINDOWS:  # a group of its own is a creation flag there
        options = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
    if set_death_signal is not None:
        options["preexec_fn"] = lambda: die_with_parent(parent, set_death_signal)
    return options


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL to ``process`` and everything in its group (what it started: a git hook), where groups exist."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (AttributeError, OSError):  # no killpg (Windows), or the group is gone
        with contextlib.suppress(OSError):
            process.kill()


def output(argv: list[str], *, timeout: float, env: dict[str, str] | None = None) -> str | None:
    """The stdout of ``argv`` when it succeeds within ``timeout`` seconds, else None (missing, failed, too slow).
    Started as ``program`` starts one (its own group, dying with this process), with no stdin and its stderr
    dropped; waited for in slices that act on the run's signals; on leaving, its whole group is killed, so
    nothing it started outlives it."""
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


def stop_all() -> None:
    """Stop and reap every child still running (a job that failed first does not wait for them)."""
    for process in list(_processes):
        process.kill()
        process.wait()
        _processes.discard(process)
    for child in list(_children.values()):
        child.stop()


_at_exit: list[bool] = []


def _register_stop_at_exit() -> None:
    if not _at_exit:
        atexit.register(stop_all)
        _at_exit.append(True)


def alive() -> list[int]:
    """The ids of the children not yet reaped (for tests and diagnostics)."""
    return sorted([*_children, *(p.pid for p in _processes)])
