"""Issue 32, items 4 and 10: every wait of a run is bounded and acts on SIGTERM/SIGINT/SIGHUP within a
second. SQLite's lock, MLflow's server and git are each waited for in slices; SIGHUP (a closed terminal)
ends a run as SIGTERM does (exit 129, staging removed, one line). "Doesn't hang" is a subprocess timeout."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from mnist_ova.pipeline import history
from tests.conftest import REPO

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def start(tmp_path, tiny_npz, *extra):
    return subprocess.Popen([sys.executable, "run.py", "train", "--data", str(tiny_npz), "--out", str(tmp_path / "out"),
                             "--quiet", *extra], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def wait_until(condition, process, seconds=120):
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)


@POSIX
def test_sigterm_while_waiting_for_the_historys_lock_ends_the_run_at_once(tmp_path, tiny_npz):
    store = tmp_path / "runs.sqlite"
    sqlite3.connect(store).close()
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another run's transaction, held
    try:
        process = start(tmp_path, tiny_npz, "--iterations", "3", "--history", str(store))
        wait_until(lambda: (tmp_path / "out" / "manifest.json").is_file(), process)
        time.sleep(0.5)  # now waiting for the lock
        assert process.poll() is None
        os.killpg(process.pid, signal.SIGTERM)
        err = process.stderr.read()
        assert process.wait(timeout=5) == 143, err
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert err.count("\n") == 1 and "terminated (SIGTERM)" in err, err


@POSIX
def test_sighup_ends_a_run_as_sigterm_does(tmp_path, tiny_npz):
    process = start(tmp_path, tiny_npz, "--iterations", "200000")
    wait_until(lambda: any((tmp_path / "out").glob(".mnist-ova/staging-*")), process)
    time.sleep(0.3)  # training
    os.killpg(process.pid, signal.SIGHUP)
    err = process.stderr.read()
    assert process.wait(timeout=5) == 129, err
    assert err == "error: terminated (SIGHUP); no output was half-written\n", err
    assert not list((tmp_path / "out").rglob("*"))  # no staging, no lock folder, no output


@pytest.mark.parametrize("uri", ["http://127.0.0.1:9", "databricks"])
def test_mlflow_that_cannot_be_reached_is_one_note_within_seconds(uri, tmp_path, tiny_npz):
    pytest.importorskip("mlflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DATABRICKS_"))}
    result = subprocess.run([sys.executable, "run.py", "train", "--data", str(tiny_npz), "--out", str(tmp_path / "out"),
                             "--iterations", "3", "--quiet", "--mlflow-uri", uri], cwd=REPO, capture_output=True,
                            text=True, env=env, timeout=90)  # it held the run ~250 s
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("note: this run was not logged to MLflow"), lines


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script as the fsmonitor hook")
def test_git_runs_no_fsmonitor_hook_and_leaves_nothing_behind(tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    hook = tmp_path / "hook.sh"
    started = tmp_path / "hook-started"
    hook.write_text(f"#!/bin/sh\necho $$ > {started}\nsleep 60 &\nsleep 30\n")
    hook.chmod(0o755)
    git = ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    (checkout / "a.txt").write_text("a")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    subprocess.run([*git[:3], "config", "core.fsmonitor", str(hook)], check=True)
    subprocess.run([*git[:3], "remote", "add", "origin", "https://github.com/ada/ova.git"], check=True)
    code = ("import sys; from mnist_ova.pipeline import history; c, dirty, url = history.git_state(sys.argv[1]); "
            "print(len(c), dirty, url.startswith('https://github.com/ada/ova/commit/'))")
    result = subprocess.run([sys.executable, "-c", code, str(checkout)], cwd=REPO, capture_output=True, text=True,
                            timeout=30)  # the hook held it 20 s
    assert result.stdout.split() == ["40", "False", "True"], result.stderr
    assert not started.exists()  # the hook never ran: nothing of it to outlive the run


def test_a_git_that_does_not_answer_is_left_after_its_timeout(tmp_path, monkeypatch):
    fake = tmp_path / "git"
    fake.write_text("#!/bin/sh\nsleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(history, "GIT_TIMEOUT_S", 0.3)
    assert history.git_state(tmp_path) == (None, None, None)
