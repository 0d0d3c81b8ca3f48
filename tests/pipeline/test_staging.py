"""Staged outputs: nothing under a final name changes until the commit, and a killed commit is finished."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import REPO
from mnist_ova.errors import InputError
from mnist_ova.pipeline.staging import StagedOutput


def visible(folder):
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


NEW = {"a.txt": "new a", "figures/b.txt": "new b", "manifest.json": "new manifest", "z.txt": "new z"}
OWNED = tuple(NEW)  # the table of outputs these tests stage


def stage(staging, files=NEW):
    for name, text in files.items():
        staging.path(name).write_text(text)


@pytest.fixture
def out(tmp_path):
    folder = tmp_path / "out"
    (folder / "figures").mkdir(parents=True)
    for name, text in NEW.items():
        (folder / name).write_text(text.replace("new", "old"))
    (folder / "keep.txt").write_text("a file of the user's")
    return folder


def test_nothing_changes_until_the_commit_and_everything_after(out):
    before = visible(out)
    with StagedOutput(out, owned=OWNED) as staging:
        stage(staging)
        (staging.scratch / "intermediate.bin").write_text("not an output")
        assert visible(out) == before
    assert visible(out) == {**NEW, "keep.txt": "a file of the user's"}
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_a_failed_run_changes_nothing(out):
    before = visible(out)
    with pytest.raises(RuntimeError), StagedOutput(out, owned=OWNED) as staging:
        stage(staging)
        raise RuntimeError("rendering failed")
    assert visible(out) == before and [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_the_last_names_are_renamed_after_the_others(out, monkeypatch):
    import mnist_ova.pipeline.staging

    order = []
    real_replace = mnist_ova.pipeline.staging.os.replace
    monkeypatch.setattr(mnist_ova.pipeline.staging.os, "replace", lambda src, dst: (order.append(dst.name), real_replace(src, dst)))
    with StagedOutput(out, owned=OWNED, last=("manifest.json",)) as staging:
        stage(staging)
    order = [name for name in order if name != ".complete"]  # the staged set's mark, inside the staging folder
    assert order[-1] == "manifest.json" and sorted(order) == sorted(name.split("/")[-1] for name in NEW)


def killed_run(out, then):
    """A process that stages ``NEW`` in ``out``, runs the code ``then`` and is killed by it."""
    script = textwrap.dedent(f"""
        import os, signal
        import mnist_ova.pipeline.staging
        from mnist_ova.pipeline.staging import StagedOutput
        staging = StagedOutput({str(out)!r}, owned={OWNED!r}, last=("manifest.json",))
        for name, text in {NEW!r}.items():
            staging.path(name).write_text(text)
    """) + textwrap.dedent(then)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == -9, result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX's")
def test_a_commit_killed_halfway_is_finished_by_the_next_run(out):
    killed_run(out, """
        renames = []
        real_replace = os.replace
        def replace_then_die(src, dst):
            if len(renames) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            renames.append(dst)
            real_replace(src, dst)
        mnist_ova.pipeline.staging.os.replace = replace_then_die
        staging.commit()
    """)
    halfway = visible(out)
    assert halfway["a.txt"] == "new a" and halfway["manifest.json"] == "old manifest"  # the manifest comes last
    StagedOutput(out, owned=OWNED).discard()
    assert visible(out) == {**NEW, "keep.txt": "a file of the user's"}
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX's")
def test_a_run_killed_before_its_commit_is_cleared_by_the_next(out):
    before = visible(out)
    killed_run(out, "os.kill(os.getpid(), signal.SIGKILL)")
    assert visible(out) == before
    StagedOutput(out).discard()
    assert visible(out) == before and [p.name for p in out.iterdir() if p.name.startswith(".")] == []


@pytest.mark.skipif(sys.platform == "win32", reason="Windows has no advisory locks (fcntl): no lock is taken")
def test_two_runs_cannot_write_one_folder_at_once(out):
    first = StagedOutput(out)
    with pytest.raises(InputError, match="another run is writing to .*choose another --out"):
        StagedOutput(out)
    first.discard()
    StagedOutput(out).discard()  # free again


def test_without_advisory_locks_the_folder_is_never_opened(out, monkeypatch):
    """Windows: no fcntl, and opening a folder is a PermissionError there; staging and the commit work all the same."""
    real_open, private = os.open, out / ".mnist-ova"

    def no_folder(path, flags, *args, **kwargs):  # that one: shutil.rmtree opens folders here, not on Windows
        if os.fspath(path) == os.fspath(private):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setattr(os, "open", no_folder)
    with StagedOutput(out, owned=OWNED) as staging:
        stage(staging)
    assert visible(out) == {**NEW, "keep.txt": "a file of the user's"} and not (out / ".mnist-ova").exists()
    private.write_text("")
    with pytest.raises(InputError, match="is in the way"):
        StagedOutput(out, owned=OWNED)


def test_an_output_path_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(InputError, match="cannot be written.*choose another --out"):
        StagedOutput(tmp_path / "taken")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_helper_does_not_keep_the_folder_locked(out):
    """The video encoder is a forked process; killed with the run, it must not block the next run."""
    staging = StagedOutput(out)
    started, started_write = os.pipe()
    helper = os.fork()
    if helper == 0:
        os.write(started_write, b"1")
        time.sleep(30)
        os._exit(0)
    try:
        assert os.read(started, 1) == b"1"  # the helper runs (its fork handlers are done)
        os.close(staging._lock)  # as if the run died, its helper still alive: the folder must be free
        StagedOutput(out).discard()
    finally:
        os.kill(helper, signal.SIGKILL)
        os.waitpid(helper, 0)
        os.close(started)
        os.close(started_write)


def test_a_full_disk_names_the_file_by_its_final_name(out):
    """A PNG writer hitting a file-size limit inside the figures folder: the line names that file."""
    import errno

    staging = StagedOutput(out, owned=(*OWNED, "figures/still.png"))
    staged = staging.path("figures/still.png")
    with pytest.raises(InputError, match=rf"cannot write '{out}/figures/still.png': a file-size limit"):
        with staging.writing("figures"):
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), str(staged))
    staging.discard()


def test_disk_errors_are_told_apart_here_alone():
    """staging owns the classification, by errno; the command line words an escaped OSError through it."""
    import errno

    from mnist_ova.pipeline import cli, staging

    assert staging.disk_reason(OSError(errno.ENOSPC, "x")) == "no space is left on the device"
    assert staging.disk_reason(OSError(errno.EDQUOT, "x")) == "the disk quota is exceeded"
    assert staging.disk_reason(OSError(errno.EACCES, "x")) is None and staging.disk_reason(OSError("no errno")) is None
    code, message = cli.describe(OSError(errno.EFBIG, os.strerror(errno.EFBIG), "/o/report.pdf"))
    assert (code, message) == (2, "cannot write '/o/report.pdf': a file-size limit (ulimit -f) is reached; free some "
                                  "space or raise the limit and run again")
    code, message = cli.describe(PermissionError(errno.EACCES, "Permission denied", "/o/x"))
    assert message == ("cannot write or read '/o/x': Permission denied; check that the path is a folder you may "
                       "write to") and code == 2
