"""What a nightly CI or cron job relies on: reuse, atomic and reproducible outputs, clear failures."""
import hashlib
import json
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from mnist_ova.pipeline.cli import main
from tests.conftest import REPO
from tests.pipeline.test_deliverables import SMALL


def snapshot(folder):
    """Every visible file's bytes, hashed: what a user of the folder sees."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def test_a_second_identical_train_reuses_the_model(tmp_path, tiny_npz, capsys):
    args = ["train", "--data", str(tiny_npz), "--out", str(tmp_path), "--iterations", "30"]
    assert main(args) == 0
    first = snapshot(tmp_path)
    capsys.readouterr()
    assert main(args) == 0
    assert "reused the model" in capsys.readouterr().err
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert timings["reused_model"] is True and "train_s" not in timings
    del first["timings.json"]
    assert {k: v for k, v in snapshot(tmp_path).items() if k != "timings.json"} == first
    assert main([*args, "--iterations", "31"]) == 0  # another config trains again
    assert json.loads((tmp_path / "timings.json").read_text())["reused_model"] is False
    assert main([*args, "--iterations", "31", "--force"]) == 0
    assert json.loads((tmp_path / "timings.json").read_text())["reused_model"] is False


def test_two_runs_give_byte_identical_outputs(tmp_path, tiny_npz, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    for name in ("a", "b"):
        assert main(["--data", str(tiny_npz), "--out", str(tmp_path / name), *SMALL]) == 0
    a, b = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    assert a.pop("timings.json") and b.pop("timings.json")
    assert a == b
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()
    assert {"report.pdf", "report.html", "predictions.mp4", "predictions.gif", "model.npz", "metrics.json",
            "figures/weights.svg", "figures/eq_cost.svg"} <= set(a)


def test_json_summary_on_stdout(tmp_path, tiny_npz):
    result = subprocess.run([sys.executable, "run.py", "train", "--data", str(tiny_npz), "--out", str(tmp_path),
                             "--iterations", "5", "--json", "--quiet"], capture_output=True, text=True, cwd=REPO)
    summary = json.loads(result.stdout)
    assert result.returncode == 0 and result.stderr == ""
    assert summary["status"] == "ok" and 0 < summary["multiclass_accuracy"] <= 1
    assert {a["path"] for a in summary["artifacts"]} == {"model.npz", "metrics.json", "predictions.csv", "summary.md"}
    assert "train_s" in summary["timings"]
    failed = subprocess.run([sys.executable, "run.py", "--data", str(tmp_path / "none.npz"), "--json"],
                            capture_output=True, text=True, cwd=REPO)
    assert failed.returncode == 2 and json.loads(failed.stdout)["exit_code"] == 2


def test_bundle_holds_what_a_student_hands_in(tmp_path, tiny_npz):
    assert main(["bundle", "--data", str(tiny_npz), "--out", str(tmp_path), *SMALL]) == 0
    with zipfile.ZipFile(tmp_path / "submission.zip") as archive:
        names = set(archive.namelist())
        assert archive.read("report.pdf") == (tmp_path / "report.pdf").read_bytes()
    assert {"report.pdf", "report.html", "predictions.gif", "predictions.mp4", "metrics.json", "manifest.json",
            "figures/confusion_matrix.svg"} <= names
    assert "model.npz" not in names and "timings.json" not in names


def test_bundle_leaves_out_the_heaviest_optional_files_to_fit(tmp_path, tiny_npz, capsys):
    assert main(["bundle", "--data", str(tiny_npz), "--out", str(tmp_path), *SMALL[:-1]]) == 0
    sizes = {p.name: p.stat().st_size for p in tmp_path.iterdir() if p.is_file()}
    limit_mb = (sizes["report.pdf"] + sizes["metrics.json"] + sizes["manifest.json"] + sizes["predictions.gif"]
                + 200_000) / 2**20 + 0.01
    capsys.readouterr()
    assert main(["bundle", "--data", str(tiny_npz), "--out", str(tmp_path), *SMALL, "--max-bundle-mb",
                 f"{limit_mb:.3f}"]) == 0
    with zipfile.ZipFile(tmp_path / "submission.zip") as archive:
        names = set(archive.namelist())
    assert "predictions.mp4" not in names and "report.pdf" in names
    assert (tmp_path / "submission.zip").stat().st_size <= limit_mb * 2**20
    assert main(["bundle", "--data", str(tiny_npz), "--out", str(tmp_path), *SMALL, "--max-bundle-mb",
                 "0.001"]) == 2
    assert "the required files alone" in capsys.readouterr().err


# --- killed runs ------------------------------------------------------------------------------

def start(tiny_npz, out, *extra):
    return subprocess.Popen([sys.executable, "run.py", "--data", str(tiny_npz), "--out", str(out), "--force",
                             "--quiet", *extra], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_when(process, ready, timeout=60):
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"the run ended before the moment to kill it: {process.stderr.read()}"
        assert time.monotonic() < deadline, "the moment to kill the run never came"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.fixture
def previous(tmp_path, tiny_npz):
    """A complete set of outputs from an earlier run."""
    assert main(["--data", str(tiny_npz), "--out", str(tmp_path), *SMALL]) == 0
    return tmp_path, snapshot(tmp_path)


def staged(out, name):
    return lambda: any((folder / name).exists() for folder in out.glob(".mnist-ova/staging-*"))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX's")
@pytest.mark.parametrize("stage, extra, ready", [
    ("training", ["--iterations", "200000"], lambda out: (time.sleep(3.0), True)[1]),  # past start-up
    ("encoding the video", ["--iterations", "5", "--examples", "100", "--fps", "60"],
     lambda out: staged(out, "predictions.mp4")()),
    # The PDF is the step after the poster strip (and takes seconds); the HTML would come after it.
    ("writing the PDF", ["--iterations", "5", "--examples", "2", "--formats", "html,pdf"],
     lambda out: staged(out, ".scratch/figures/video_posters.png")() and not staged(out, "report.html")()),
])
def test_a_killed_run_leaves_the_previous_outputs_intact(previous, tiny_npz, stage, extra, ready):
    out, before = previous
    process = start(tiny_npz, out, *extra)
    kill_when(process, lambda: ready(out))
    assert snapshot(out) == before, f"killed while {stage}"
    # The next run clears what the killed one left and completes.
    assert main(["train", "--data", str(tiny_npz), "--out", str(out), "--iterations", "3", "--quiet"]) == 0
    assert not list(out.glob(".mnist-ova/staging-*"))


# Bad inputs: the one table is tests/pipeline/test_bad_inputs.py.
