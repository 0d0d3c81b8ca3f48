"""A run's outputs staged in a hidden folder and committed together, under a lock on the folder."""
import os
import shutil
import tempfile
from pathlib import Path

from mnist_ova.errors import InputError

class StagedOutput:
    """A run's outputs, built in a hidden folder inside ``out`` and moved into place together.

    Until ``commit`` nothing under a final name changes, so a run that fails or is killed
    leaves the previous complete set of outputs as it was. ``commit`` first marks the staged
    set complete, then renames each file (``last`` after the others, so that a reader who
    sees a new manifest sees everything it lists); a run killed during those renames leaves
    the mark, and the next run finishes the renames before anything else. Folders that
    killed runs left unmarked are removed. One run at a time may write to ``out``.
    """

    PREFIX = ".staging-"
    SCRATCH = ".scratch"
    COMPLETE = ".complete"

    def __init__(self, out, *, last=()):
        self.out = Path(out)
        self.last = tuple(last)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._lock = _lock_folder(self.out)
        except OSError as exc:
            raise _unwritable(self.out, exc) from None
        try:
            for stale in sorted(self.out.glob(self.PREFIX + "*")):
                if (stale / self.COMPLETE).exists():
                    self._move_into_place(stale)
                shutil.rmtree(stale, ignore_errors=True)
            self.root = Path(tempfile.mkdtemp(dir=self.out, prefix=self.PREFIX))
        except OSError as exc:
            _unlock_folder(self._lock)
            raise _unwritable(self.out, exc) from None

    def path(self, name):
        """Where to write the artifact ``name`` (a path relative to the output folder)."""
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
        """The staged outputs, as paths relative to the output folder."""
        return self._staged(self.root)

    def final_view(self):
        """{name: current path} of every file the output folder will hold after ``commit``."""
        view = {p.relative_to(self.out).as_posix(): p for p in self.out.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(self.out).parts)}
        view.update({name: self.root / name for name in self.names()})
        return dict(sorted(view.items()))

    def commit(self):
        """Move every staged file onto its final name; each rename is atomic."""
        shutil.rmtree(self.root / self.SCRATCH, ignore_errors=True)
        (self.root / self.COMPLETE).touch()
        self._move_into_place(self.root)
        self.discard()

    def discard(self):
        shutil.rmtree(self.root, ignore_errors=True)
        _unlock_folder(self._lock)

    def _staged(self, root):
        names = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        return sorted((n for n in names if n != self.COMPLETE and not n.startswith(self.SCRATCH + "/")),
                      key=lambda name: (name in self.last, name))

    def _move_into_place(self, root):
        for name in self._staged(root):
            final = self.out / name
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(root / name, final)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def _unwritable(folder, exc):
    return InputError(f"output folder {str(folder)!r} cannot be written ({exc.strerror or exc}): choose another --out")


_held_locks = set()


def _lock_folder(folder):
    """An open descriptor holding an exclusive lock on ``folder``, so that two runs never write it at once."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks on folders; one run at a time is up to the user
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InputError(f"another run is writing to {str(folder)!r}: wait for it to end or choose another --out") \
            from None
    _held_locks.add(fd)
    return fd


def _unlock_folder(fd):
    _held_locks.discard(fd)
    os.close(fd)


def _forget_locks_in_child():
    """A forked helper (the video encoder) must not keep the run's lock alive after the run is killed."""
    for fd in _held_locks:
        os.close(fd)  # the parent's descriptor, and so its lock, stays
    _held_locks.clear()


os.register_at_fork(after_in_child=_forget_locks_in_child)
