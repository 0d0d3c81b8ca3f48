"""Writing files so that a reader never sees half of one."""
import contextlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from trainer.errors import InputError

FIXED_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry


def add_to_zip(archive, name, data, *, compress=False):
    """One entry with a fixed date, so the same content gives the same archive bytes."""
    info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path``, renamed onto it only if the block succeeds."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class StagedOutput:
    """A run's outputs, built in a hidden folder inside ``out`` and moved into place together.

    Until ``commit`` nothing under a final name changes, so a run that fails or is killed
    leaves the previous complete set of outputs as it was. Folders left by killed runs are
    removed by the next run.
    """

    PREFIX = ".staging-"
    SCRATCH = ".scratch"

    def __init__(self, out):
        self.out = Path(out)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            for stale in self.out.glob(self.PREFIX + "*"):
                shutil.rmtree(stale, ignore_errors=True)
            self.root = Path(tempfile.mkdtemp(dir=self.out, prefix=self.PREFIX))
        except OSError as exc:
            raise InputError(f"output folder {str(self.out)!r} cannot be written ({exc.strerror or exc}): "
                             "choose another --out") from None

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
        names = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
        return sorted(n for n in names if not n.startswith(self.SCRATCH + "/"))

    def final_view(self):
        """{name: current path} of every file the output folder will hold after ``commit``."""
        view = {p.relative_to(self.out).as_posix(): p for p in self.out.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(self.out).parts)}
        view.update({name: self.root / name for name in self.names()})
        return dict(sorted(view.items()))

    def commit(self):
        """Rename every staged file onto its final name; each rename is atomic."""
        for name in self.names():
            final = self.out / name
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.root / name, final)
        self.discard()

    def discard(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.discard()
