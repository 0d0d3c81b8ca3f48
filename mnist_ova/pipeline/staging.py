"""A run's outputs staged in the tool's private folder and committed together, under a lock.

The output folder belongs to its user. The tool touches only two kinds of names there: the
artifacts of ``outputs.ARTIFACTS`` and its private folder ``outputs.PRIVATE_DIR`` (the staging
area and the lock). Anything else, dot-folders and symbolic links included, is never read,
listed, replaced or deleted.
"""
import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
import types
from pathlib import Path

from mnist_ova import children
from mnist_ova.errors import InputError

# A full disk or a file-size limit, as the one-line reason the user reads. This module alone tells these apart
# from other failures (``disk_reason``) and words them (``disk_error``, ``os_error``); a failure elsewhere (a
# child, ffmpeg) is written again under ``StagedOutput.writing`` to be told apart here by its errno.
DISK_ERRORS = {errno.ENOSPC: "no space is left on the device", errno.EFBIG: "a file-size limit (ulimit -f) is reached",
               errno.EDQUOT: "the disk quota is exceeded"}


class StagedOutput:
    """A run's outputs, built in a hidden folder and moved into place together.

    Until ``commit`` nothing under a final name changes, so a run that fails or is stopped without warning
    leaves the previous complete set of outputs as it was. ``commit`` first checks every
    target (nothing in the way, every folder writable), then marks the staged set complete,
    removes the artifacts of earlier runs that this run did not make (``owned`` names only, and
    only regular files), and renames each file (``last`` after the others, so that a reader who
    sees a new manifest sees everything it lists). A run stopped without warning during those renames leaves the
    mark, and the next run finishes the job before anything else; staging folders that stopped
    runs left unmarked are removed. One run at a time may write to ``out``.

    ``owned`` are the names this tool may write (default: ``outputs.ARTIFACTS``); ``keep`` are
    owned names that the run uses but does not remake (``render`` keeps the model it reads).
    """

    STAGING = "staging-"
    SCRATCH = ".scratch"
    COMPLETE = ".complete"

    def __init__(self, out, *, owned=None, keep=(), last=()):
        from mnist_ova.pipeline import outputs

        self.out = Path(out)
        self.owned = tuple(outputs.ARTIFACTS if owned is None else owned)
        self.keep = frozenset(keep)
        self.last = tuple(last)
        self.private = self.out / outputs.PRIVATE_DIR
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._lock = _lock_private(self.private, self.out)
        except OSError as exc:
            raise _unwritable(self.out, exc) from None
        try:
            for stale in sorted(self.private.glob(self.STAGING + "*")):
                if (stale / self.COMPLETE).is_file():
                    self._finish(stale)
                shutil.rmtree(stale, ignore_errors=True)
            self.root = Path(tempfile.mkdtemp(dir=self.private, prefix=self.STAGING))
        except OSError as exc:
            self._release()
            raise _unwritable(self.out, exc) from None

    def path(self, name):
        """Where to write the artifact ``name`` (a path relative to the output folder, or a folder of
        such paths); a name that is not in the tool's table of outputs is a bug."""
        if name not in self.owned and not any(n.startswith(name.rstrip("/") + "/") for n in self.owned):
            raise ValueError(f"{name!r} is not in the table of outputs (pipeline/outputs.py): add it there")
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    @property
    def scratch(self):
        """A folder for intermediate files that are not outputs; it is never moved into place."""
        folder = self.root / self.SCRATCH
        folder.mkdir(exist_ok=True)
        return folder

    def names(self):
        """This run's staged outputs, as paths relative to the output folder."""
        return self._staged(self.root)

    def artifacts(self):
        """{name: current path} of every artifact the output folder holds for this run after ``commit``:
        the staged ones and the kept ones that exist (as regular files, never through a link)."""
        view = {name: self.out / name for name in sorted(self.keep) if _kind(self.out, name) == "file"}
        view.update({name: self.root / name for name in self.names()})
        return dict(sorted(view.items()))

    def holds(self, name):
        """Whether ``out/name`` is a regular file (reached without following a link)."""
        return _kind(self.out, name) == "file"

    @contextlib.contextmanager
    def writing(self, name):
        """A full disk or file-size limit while writing ``name`` (or a file in it, when it is a folder)
        becomes one line that names the file, by its final name."""
        children.raise_if_stopped()  # each output is a step of the run
        try:
            yield
        except OSError as exc:
            reason = disk_reason(exc)
            if reason is None:
                raise
            raise disk_error(self._final(exc.filename) or self.out / name, reason) from None

    def _final(self, staged):
        """The final path of a staged file (None for any other path: scratch, elsewhere, none)."""
        try:
            relative = Path(os.fsdecode(staged)).relative_to(self.root)
        except (TypeError, ValueError):
            return None
        return None if relative.parts[:1] == (self.SCRATCH,) else self.out / relative

    def commit(self):
        """Check every target, then move every staged file onto its final name; each rename is atomic."""
        try:
            shutil.rmtree(self.root / self.SCRATCH, ignore_errors=True)
            made = self.names()
            unowned = [name for name in made if name not in self.owned]
            if unowned:
                raise ValueError(f"staged files {unowned} are not in the table of outputs (pipeline/outputs.py)")
            stale = self._check_targets(made)
            mark = self.root / (self.COMPLETE + ".tmp")
            with self.writing(self.COMPLETE):
                mark.write_text(json.dumps({"remove": stale}))
                os.replace(mark, self.root / self.COMPLETE)
        except BaseException:
            self.discard()
            raise
        # From here the set is marked complete: a signal waits until it is in place.
        with children.signals_held():
            try:
                self._finish(self.root)
            except OSError:
                self._release()  # the mark stays: the next run finishes the renames
                raise
            self.discard()

    def discard(self):
        shutil.rmtree(self.root, ignore_errors=True)
        self._release()

    def _release(self):
        with contextlib.suppress(OSError):
            self.private.rmdir()  # only when empty; removed while still locked, so no run sees it half-gone
        _unlock(self._lock)

    def _staged(self, root):
        names = []
        for folder, subfolders, files in os.walk(root):  # never follows links
            relative = Path(folder).relative_to(root)
            if relative.parts[:1] == (self.SCRATCH,):
                continue
            names += [(relative / f).as_posix() for f in files
                      if stat.S_ISREG(os.lstat(os.path.join(folder, f)).st_mode)]
        return sorted((n for n in names if not n.startswith(self.COMPLETE)),
                      key=lambda name: (name in self.last, name))

    def _check_targets(self, made):
        """Every name this commit will replace or remove, checked before the first change; returns the
        earlier runs' artifacts to remove (owned names, regular files, not made now, not kept)."""
        problems = []
        if not os.access(self.out, os.W_OK | os.X_OK):
            problems.append(f"{str(self.out)!r} is not writable")
        folders = sorted({"/".join(name.split("/")[:i]) for name in made for i in range(1, name.count("/") + 1)})
        for folder in folders:
            kind = _kind(self.out, folder)
            if kind not in (None, "folder"):
                problems.append(f"{str(self.out / folder)!r} is a {kind} where the tool puts a folder")
            elif kind == "folder" and not os.access(self.out / folder, os.W_OK | os.X_OK):
                problems.append(f"{str(self.out / folder)!r} is not writable")
        for name in made:
            kind = _kind(self.out, name)
            if kind not in (None, "file", "no folder"):
                problems.append(f"{str(self.out / name)!r} is a {kind} where the tool writes a file")
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise InputError(f"cannot write the outputs: {problems[0]}{more}; move it away or choose another --out "
                             "(nothing was changed)")
        return [name for name in self.owned
                if name not in made and name not in self.keep and _kind(self.out, name) == "file"]

    def _finish(self, root):
        """Remove the earlier artifacts named in ``root``'s mark, then move its files into place.
        Re-checked name by name, so a leftover set recovered by a later run never replaces a folder
        or a link that appeared since."""
        try:
            stale = json.loads((root / self.COMPLETE).read_text()).get("remove", [])
        except (OSError, ValueError, AttributeError):
            stale = []
        emptied = set()
        for name in stale:
            if name in self.owned and _kind(self.out, name) == "file":  # a mark names only our own files
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.out / name)
                if "/" in name:
                    emptied.add(name.rsplit("/", 1)[0])
        for name in self._staged(root):
            if _kind(self.out, name) not in (None, "file"):
                continue
            final = self.out / name
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(root / name, final)
        for folder in sorted(emptied, reverse=True):
            with contextlib.suppress(OSError):
                (self.out / folder).rmdir()  # only when nothing else is in it

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def _kind(out, name):
    """What ``out/name`` is, without following any link at or below ``out``: None when absent,
    "file", "folder", "symbolic link", "special file", or "no folder" when a parent is not a folder."""
    path = Path(out)
    parts = name.split("/")
    for i, part in enumerate(parts):
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return "no folder"
        if i < len(parts) - 1 and not stat.S_ISDIR(mode):
            return "no folder"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    return "special file"


def disk_reason(exc):
    """The reason to show when the ``OSError`` ``exc`` is a full disk, a file-size limit or a quota, else None."""
    return DISK_ERRORS.get(exc.errno) if exc.errno is not None else None


def os_error(exc):
    """An ``OSError`` that no stage worded, as the ``InputError`` the user reads: a full disk or a limit
    as such, any other as a path to check."""
    target = f" {exc.filename!r}" if exc.filename else ""
    reason = disk_reason(exc)
    if reason is not None:
        return InputError(f"cannot write{target}: {reason}; free some space or raise the limit and run again")
    return InputError(f"cannot write or read{target}: {exc.strerror or exc}; check that the path is a folder you "
                      "may write to")


def disk_error(path, reason):
    return InputError(f"cannot write {str(path)!r}: {reason}; free some space or raise the limit and run again "
                      "(the previous outputs are unchanged)")


def _unwritable(folder, exc):
    return InputError(f"output folder {str(folder)!r} cannot be written ({exc.strerror or exc}): choose another --out")


def check_out(out, *, force=False):
    """Refuse an output folder that is surely not meant for outputs: the empty name, a symbolic link to
    nothing, the root folder, the home folder, or a source checkout (a link to a folder is followed, and
    judged by where it leads). ``force`` allows all but the first two."""
    text = str(out) if out is not None else ""
    if not text.strip():
        raise InputError("--out is empty: name the output folder (for example --out outputs, or --out . for "
                         "the current folder)")
    if os.path.islink(text) and not os.path.exists(text):
        raise InputError(f"--out {text!r} is a symbolic link to {os.readlink(text)!r}, which does not exist: make "
                         "that folder, or choose another --out")
    if force:
        return
    path = Path(text).expanduser().resolve()
    reason = None
    if path == Path(path.anchor):
        reason = "the root folder"
    elif path == Path.home().resolve():
        reason = "your home folder"
    else:
        marker = next((m for m in (".git", "pyproject.toml", "setup.py") if os.path.lexists(path / m)), None)
        if marker:
            reason = f"a source checkout (it holds {marker})"
    if reason:
        raise InputError(f"--out {text!r} is {reason}: outputs belong in a folder of their own; choose another "
                         "--out, or add --force-out to write there anyway")


def _lock_private(private, out):
    """An open descriptor of the private folder ``private`` (made when absent) holding an exclusive
    lock on it, so that two runs never write ``out`` at once; None where there are no such locks."""
    fcntl: types.ModuleType | None
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks (nor a folder to open); one run at a time is up to the user
        fcntl = None
    for _ in range(10):
        with contextlib.suppress(FileExistsError):
            os.mkdir(private)
        if fcntl is None:
            if not stat.S_ISDIR(os.lstat(private).st_mode):
                raise _in_the_way(private)
            return None
        try:
            fd = os.open(private, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            continue  # a run that just ended removed it
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                raise _in_the_way(private) from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(f"another run is writing to {str(out)!r}: wait for it to end or choose another --out") \
                from None
        # The folder may have been removed (and made again) by a run that ended meanwhile.
        held = os.fstat(fd)
        try:
            current = os.lstat(private)
        except FileNotFoundError:
            current = None
        if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
            children.keep_from_children(fd)  # a child stopped with the run must not keep the folder locked
            return fd
        os.close(fd)
    raise InputError(f"could not lock {str(private)!r}: other runs keep replacing it; try again")


def _in_the_way(private):
    return InputError(f"{str(private)!r} is in the way: the tool keeps its staging area under that name; move it "
                      "away or choose another --out")


def _unlock(fd):
    if fd is None:  # no lock was taken (no fcntl)
        return
    children.release(fd)
    with contextlib.suppress(OSError):
        os.close(fd)
