"""The output folder belongs to its user: only the names of the tool's table are touched, the bundle is
built from this run's files alone, and every fault ends with one line."""
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from mnist_ova.pipeline import outputs
from mnist_ova.pipeline.cli import main
from mnist_ova.fileio import json_text
from tests.conftest import REPO
from tests.test_children import session_members
from tests.pipeline.test_bad_inputs import snapshot
from tests.pipeline.test_deliverables import SMALL


def foreign(out, outside):
    """The user's own things in the output folder."""
    out.mkdir(exist_ok=True)
    (out / "notes.txt").write_text("the user's notes")
    (out / ".staging-mine").mkdir()
    (out / ".staging-mine" / "draft.txt").write_text("the user's draft")
    (out / ".hidden").mkdir()
    (out / ".hidden" / "report.pdf").write_text("not ours")
    (out / "figures").mkdir()
    (out / "figures" / "my-plot.png").write_bytes(b"the user's plot")
    outside.write_text("a file outside the folder")
    (out / "link-outside.txt").symlink_to(outside)
    (out / "linked-folder").symlink_to(outside.parent)
    return {key: value for key, value in snapshot(out).items()}


def ours(entries):
    return {key for key in entries if key in outputs.ARTIFACTS}


def test_foreign_files_are_never_listed_bundled_or_changed_and_stale_artifacts_go(tmp_path, tiny_npz):
    out, outside = tmp_path / "out", tmp_path / "outside.txt"
    mine = foreign(out, outside)
    assert main(["bundle", "--data", str(tiny_npz), "--out", str(out), *SMALL]) == 0
    after = snapshot(out)
    assert {key: after[key] for key in mine} == mine  # byte-identical, links not followed
    assert outside.read_text() == "a file outside the folder"
    assert set(after) - set(mine) - ours(after) == set()  # nothing else of ours is left (no staging, no lock)
    manifest = [a["path"] for a in json.loads((out / "manifest.json").read_text())["artifacts"]]
    assert set(manifest) <= set(outputs.ARTIFACTS) and "figures/my-plot.png" not in manifest
    with zipfile.ZipFile(out / "submission.zip") as archive:
        assert set(archive.namelist()) <= set(outputs.ARTIFACTS)

    # `train` alone: the deliverables of the earlier run are ours and stale, so they go; the user's stay.
    assert main(["train", "--data", str(tiny_npz), "--out", str(out), "--iterations", "5", "--quiet"]) == 0
    after = snapshot(out)
    assert {key: after[key] for key in mine} == mine
    assert ours(after) == {"model.npz", "metrics.json", "manifest.json", "timings.json", "predictions.csv",
                           "summary.md"}
    assert [a["path"] for a in json.loads((out / "manifest.json").read_text())["artifacts"]] == \
        ["metrics.json", "model.npz", "predictions.csv", "summary.md"]


def test_render_keeps_the_training_outputs_it_reads(tmp_path, tiny_npz):
    out = tmp_path / "out"
    assert main(["train", "--data", str(tiny_npz), "--out", str(out), "--iterations", "5", "--quiet"]) == 0
    model = (out / "model.npz").read_bytes()
    assert main(["render", "--data", str(tiny_npz), "--out", str(out), *SMALL, "--formats", "gif"]) == 0
    assert (out / "model.npz").read_bytes() == model and (out / "metrics.json").is_file()
    listed = [a["path"] for a in json.loads((out / "manifest.json").read_text())["artifacts"]]
    assert listed == ["metrics.json", "model.npz", "predictions.csv", "predictions.gif", "summary.md"]


def test_a_folder_in_the_way_fails_before_any_change(tmp_path, tiny_npz, capsys):
    out = tmp_path / "out"
    assert main(["train", "--data", str(tiny_npz), "--out", str(out), "--iterations", "5", "--quiet"]) == 0
    (out / "figures").write_text("a file where the figures folder goes")
    before = snapshot(out)
    capsys.readouterr()
    assert main(["--data", str(tiny_npz), "--out", str(out), *SMALL, "--formats", "figures,gif"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{str(out / 'figures')!r} is a file where the tool puts a folder" in err
    assert snapshot(out) == before


@pytest.mark.skipif(sys.platform == "win32", reason="Windows has no advisory locks (fcntl): there is no lock to close")
def test_a_killed_commit_also_finishes_the_removal_of_stale_artifacts(tmp_path):
    from mnist_ova.pipeline.staging import StagedOutput

    out = tmp_path / "out"
    out.mkdir()
    (out / "report.pdf").write_text("stale")
    (tmp_path / "outside").write_text("not ours")
    staging = StagedOutput(out)
    staging.path("metrics.json").write_text("{}")
    (staging.root / ".complete").write_text(json.dumps({"remove": ["report.pdf", "../outside"]}))
    os.close(staging._lock)  # as if killed after marking the set complete
    StagedOutput(out).discard()
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json"]
    assert (tmp_path / "outside").read_text() == "not ours"


def test_out_checks_can_be_forced(tmp_path, tiny_npz):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text("")
    args = ["train", "--data", str(tiny_npz), "--out", str(checkout), "--iterations", "3", "--quiet"]
    assert main(args) == 2
    assert main([*args, "--force-out"]) == 0 and (checkout / "model.npz").is_file()
    assert (checkout / "pyproject.toml").read_text() == ""


# --- bundle -------------------------------------------------------------------------------------

def test_bundle_budget_counts_the_real_zip_and_its_manifest_lists_exactly_what_it_holds(tmp_path, tiny_npz):
    out = tmp_path / "out"
    assert main(["bundle", "--data", str(tiny_npz), "--out", str(out), *SMALL]) == 0
    full = (out / "submission.zip").stat().st_size
    with zipfile.ZipFile(out / "submission.zip") as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        html = archive.read("report.html").decode()
        uncompressed = sum(info.file_size for info in archive.infolist())
    assert {a["path"] for a in manifest["artifacts"]} == names - {"manifest.json"}
    assert {"model.npz", "timings.json"} <= {e["path"] for e in manifest["left_out"]}
    # The bundle's page links the videos beside it instead of carrying them again.
    assert 'src="predictions.mp4"' in html and "data:video/mp4" not in html and "data:image/gif" not in html
    assert "predictions.mp4" in names and uncompressed > full
    # A limit the zip fits, although the files' uncompressed sizes would not: nothing is left out.
    limit = (full + 1000) / 2**20
    assert main(["bundle", "--data", str(tiny_npz), "--out", str(out), *SMALL, "--max-bundle-mb", f"{limit:.6f}"]) == 0
    with zipfile.ZipFile(out / "submission.zip") as archive:
        assert "predictions.mp4" in archive.namelist()
        assert all(e["reason"].startswith("not part") for e in json.loads(archive.read("manifest.json"))["left_out"])
    # Below it, the training film goes first, then the predictions MP4, and the zip's manifest says why; the
    # zip fits, and its page shows no video the zip does not hold.
    film, mp4 = ((out / name).stat().st_size for name in ("training.mp4", "predictions.mp4"))
    without_film = None
    for dropped, kept in ((["training.mp4"], "predictions.mp4"), (["training.mp4", "predictions.mp4"], None)):
        limit = ((full - film / 2) if without_film is None else (without_film - mp4 / 2)) / 2**20
        assert main(["bundle", "--data", str(tiny_npz), "--out", str(out), *SMALL, "--max-bundle-mb",
                     f"{limit:.6f}"]) == 0
        assert (out / "submission.zip").stat().st_size <= limit * 2**20
        with zipfile.ZipFile(out / "submission.zip") as archive:
            manifest = json.loads(archive.read("manifest.json"))
            html = archive.read("report.html").decode()
            assert {a["path"] for a in manifest["artifacts"]} == set(archive.namelist()) - {"manifest.json"}
        left_out = {e["path"] for e in manifest["left_out"] if e["reason"].startswith("left out to fit max-bundle-mb")}
        assert set(dropped) <= left_out and (kept is None or kept not in left_out)
        assert all(f'src="{name}"' not in html for name in dropped)
        assert kept is None or f'src="{kept}"' in html
        without_film = (out / "submission.zip").stat().st_size


# --- JSON, data and the cache -------------------------------------------------------------------

def test_json_is_never_invalid():
    text = json_text({"final_cost": float("nan"), "auc": [0.5, float("inf")], "n": np.int64(3)})
    document = json.loads(text)
    assert document["final_cost"] is None and "not a finite number" in document["final_cost_note"]
    assert document["auc"] == [0.5, None] and "not finite" in document["auc_note"] and document["n"] == 3


def test_the_cache_key_covers_the_pixel_dtype(tmp_path, small_digits, capsys):
    images, labels = small_digits
    np.savez(tmp_path / "u8.npz", X=images.astype(np.uint8), y=labels)
    np.savez(tmp_path / "i8.npz", X=images.astype(np.uint8).view(np.int8), y=labels)  # the same bytes
    out = tmp_path / "out"
    for name in ("u8", "i8"):
        assert main(["train", "--data", str(tmp_path / f"{name}.npz"), "--out", str(out), "--iterations", "3"]) == 0
    assert "reused the model" not in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text())["dataset"]["pixel_dtype"] == "|i1"


def test_the_sample_fallback_is_announced_even_when_quiet(tmp_path):
    env = {**os.environ, "MNIST_OVA_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "run.py", "train", "--out", str(tmp_path / "out"), "--iterations", "2",
                             "--quiet", "--json"], capture_output=True, text=True, cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("note: full MNIST is not in the cache") and result.stderr.count("\n") == 1
    summary = json.loads(result.stdout)
    assert summary["dataset"]["name"] == "sample" and summary["dataset"]["rows"] == 5000
    assert len(summary["dataset"]["sha256"]) == 64 and "bundled sample" in summary["dataset"]["fallback"]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "bundled sample" in metrics["dataset"]["fallback"]


# --- signals and streams ------------------------------------------------------------------------

def test_a_closed_stdout_is_quiet(tmp_path, tiny_npz):
    result = subprocess.run(f"{sys.executable} run.py train --data {tiny_npz} --out {tmp_path / 'out'} "
                            "--iterations 3 --quiet --json | head -c1", shell=True, capture_output=True, text=True,
                            cwd=REPO)
    assert result.stdout == "{" and result.stderr == ""


ENCODING = (["--iterations", "5", "--examples", "300", "--fps", "60", "--formats", "mp4"],
            lambda staging: (staging / "predictions.mp4").exists())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals to a process group (killpg)")
@pytest.mark.parametrize("signame, code, extra, ready, to", [
    ("SIGTERM", 143, ["--iterations", "200000"], lambda staging: True, "group"),  # training
    ("SIGINT", 130, ["--iterations", "200000"], lambda staging: True, "group"),
    ("SIGTERM", 143, *ENCODING, "group"),  # encoding the video: a terminal's Ctrl-C, systemd's stop
    ("SIGINT", 130, *ENCODING, "group"),
    # `kill PID`: the run alone gets it, and stops the video's lane itself, at once
    ("SIGTERM", 143, *ENCODING, "run"),
    ("SIGHUP", 129, *ENCODING, "run"),
])
def test_a_signal_stops_the_run_within_seconds_with_one_line(tmp_path, tiny_npz, signame, code, extra, ready, to):
    out = tmp_path / "out"
    mine = foreign(out, tmp_path / "outside.txt")
    # A session of its own, so the signal reaches the run and its helpers as a terminal's Ctrl-C would.
    process = subprocess.Popen([sys.executable, "run.py", "--data", str(tiny_npz), "--out", str(out), "--quiet",
                                *extra], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 90
    while not any(ready(s) for s in out.glob(".mnist-ova/staging-*")) or time.monotonic() < deadline - 87:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (os.killpg if to == "group" else os.kill)(process.pid, getattr(signal, signame))
    sent = time.monotonic()
    err = process.stderr.read()
    process.wait(timeout=30)
    assert time.monotonic() - sent < 5
    assert process.returncode == code and err.count("\n") == 1 and err.startswith("error: "), err
    assert snapshot(out) == mine  # no staging, no lock folder, nothing half-written
    assert session_members(process.pid) == []  # no child left (no encoder, no ffmpeg), at once


@pytest.mark.parametrize("redirect", [">&-", "2>&-"])
def test_a_closed_stream_is_no_error(tmp_path, tiny_npz, redirect):
    """``--json >&-`` and ``--json 2>&-``: every output written, exit 0, and nothing of the run's text lands
    in a file it opened under the closed stream's number."""
    out = tmp_path / "out"
    result = subprocess.run(f"{sys.executable} run.py train --data {tiny_npz} --out {out} --iterations 3 --json "
                            f"{redirect}", shell=True, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert (result.stdout if redirect == ">&-" else result.stderr) == ""
    if redirect == "2>&-":
        assert json.loads(result.stdout)["status"] == "ok"
    assert json.loads((out / "metrics.json").read_text())["dataset"]["n_test"] == 120


def test_a_reader_gone_from_stderr_does_not_change_the_exit_code(tmp_path, tiny_npz):
    """Printing after the commit (the summary table, the file list) cannot fail the run."""
    process = subprocess.Popen([sys.executable, "run.py", "train", "--data", str(tiny_npz), "--out", str(tmp_path / "o"),
                                "--iterations", "3"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    process.stderr.close()  # every line the run prints meets a closed pipe
    assert process.wait(timeout=300) == 0
    assert (tmp_path / "o" / "manifest.json").is_file()


HOSTILE = ('=HYPERLINK("http://x","y")', "+1+2", "@SUM(A1)", "-2+3", "a|b", "`tick`")


def test_hostile_class_names_stay_data_in_every_text_written(tmp_path, tiny_npz):
    """Formula cells neutralised in predictions.csv (OWASP), Markdown kept intact in summary.md, HTML
    escaped in the report and the captions."""
    import csv

    out = tmp_path / "out"
    names = [*HOSTILE, "<script>x</script>", "&amp;", "*star*", "[l](u)"]
    (tmp_path / "names.toml").write_text(f"class-names = {json.dumps(names)}\n")  # a JSON list is a TOML array
    assert main(["--data", str(tiny_npz), "--out", str(out), "--config", str(tmp_path / "names.toml"), "--formats",
                 "html,mp4", *SMALL]) == 0
    with open(out / "predictions.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    cells = {cell for row in rows[1:] for cell in row[1:3]}
    assert cells and not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert cells & {f"'{name}" for name in HOSTILE[:4]}  # kept, as text
    assert rows[0][3:] == [f"score:{name}" for name in names] + [f"output:{name}" for name in names]
    html = (out / "report.html").read_text()
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>" not in (out / "predictions.vtt").read_text()


def test_summary_after_train_links_only_files_that_exist(tmp_path, tiny_npz):
    out = tmp_path / "out"
    assert main(["train", "--data", str(tiny_npz), "--out", str(out), "--iterations", "3", "--quiet"]) == 0
    import re

    links = re.findall(r"\]\(([^)]+)\)", (out / "summary.md").read_text())
    assert links and all((out / link).is_file() for link in links), links
    assert "report.html" not in links


def test_an_unwritable_home_and_matplotlib_folder_mean_running_without_their_caches(tmp_path, tiny_npz):
    (tmp_path / "home").write_text("a file where the home folder should be")
    (tmp_path / "tmp").mkdir()
    env = {key: value for key, value in os.environ.items()
           if key not in ("MNIST_OVA_CACHE", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "MPLCONFIGDIR")}
    env.update(HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path / "tmp"))
    result = subprocess.run([sys.executable, "run.py", "--data", str(tiny_npz), "--out", str(tmp_path / "out"),
                             "--formats", "mp4,figures", *SMALL], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    notes = result.stderr.splitlines()
    assert notes == [f"note: the tool's cache '{tmp_path}/home/.cache/mnist-ova' cannot be written; this run goes "
                     "without it", f"note: matplotlib's cache '{tmp_path}/home/.config/matplotlib' cannot be "
                     "written; this run goes without it"], result.stderr
    assert list((tmp_path / "tmp").iterdir()) == []  # the temporary folders are gone, no /tmp/matplotlib-*
    assert (tmp_path / "out" / "predictions.mp4").stat().st_size > 0
