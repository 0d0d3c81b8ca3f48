"""--history FILE end to end on tiny real data: three builds give the "Across builds" chapter and the
summary's trend; --baseline history:best gates a worse build (exit 4, every output written, the run
still recorded); two runs recording at the same moment both land; a damaged, foreign or newer file is
one line and exit 2 with its bytes kept; a read-only history is read, not written; `history FILE`."""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import zlib

import numpy as np
import pytest

from mnist_ova.errors import ExitCode
from mnist_ova.pipeline import history
from mnist_ova.pipeline.cli import main
from tests.conftest import REPO
from tests.render.test_report_quality import axe_script, browser  # noqa: F401 (a fixture)
from tests.render.test_trends import points

EPOCH = "1700000000"  # 2023-11-14T22:13:20Z
ITERATIONS = (10, 20, 40)


def read_rows(path):
    """The history's rows as plain SQLite gives them (no code of the tool's in between)."""
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM runs ORDER BY id")]


@pytest.fixture(scope="module")
def builds(tmp_path_factory, tiny_npz):
    """Three builds with more iterations each into three folders and one history; the third makes the
    report (HTML, PDF and its figures)."""
    root = tmp_path_factory.mktemp("builds")
    store = root / "runs.sqlite"
    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    try:
        for n, iterations in enumerate(ITERATIONS):
            command = ["all", "--formats", "html,pdf,figures"] if n == 2 else ["train"]
            assert main([*command, "--data", str(tiny_npz), "--out", str(root / f"build{n}"), "--iterations",
                         str(iterations), "--history", str(store), "--quiet"]) == 0
    finally:
        if before is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before
    return root, store


def test_each_build_is_one_row_with_what_the_issue_lists(builds):
    root, store = builds
    rows = read_rows(store)
    assert [row["id"] for row in rows] == [1, 2, 3]
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == history.SCHEMA_VERSION
        assert db.execute("PRAGMA application_id").fetchone()[0] == history.APPLICATION_ID
    for n, row in enumerate(rows):
        out = root / f"build{n}"
        metrics = json.loads((out / "metrics.json").read_text())
        assert row["time"] == "2023-11-14T22:13:20Z"  # SOURCE_DATE_EPOCH
        assert row["command"].startswith("mnist-ova ") and f"--iterations {ITERATIONS[n]}" in row["command"]
        assert row["data_name"] == "tiny.npz" and row["data_sha256"] == metrics["dataset"]["sha256"]
        assert json.loads(row["config"]) == metrics["config"]
        assert row["multiclass_accuracy"] == metrics["multiclass_accuracy"]
        assert [row["multiclass_low"], row["multiclass_high"]] == metrics["intervals"]["multiclass_accuracy"]
        assert [row["one_vs_all_low"], row["one_vs_all_high"]] == metrics["intervals"]["one_vs_all_accuracy"]
        per_class = json.loads(row["per_class"])
        assert [c["recall"] for c in per_class] == [c["recall"] for c in metrics["per_class"]]
        assert [c["precision_interval"] for c in per_class] == metrics["intervals"]["precision"]
        assert json.loads(row["metrics"]) == metrics
        assert row["out"] == str(out)
        manifest = json.loads((out / "manifest.json").read_text())["artifacts"]
        assert json.loads(row["artifacts"]) == {a["path"]: a["sha256"] for a in manifest}
        assert set(json.loads(row["timings"])) == set(json.loads((out / "timings.json").read_text())) - {"reused_model"}
        # The predictions, unpacked with numpy alone, are predictions.csv's rows.
        table = np.frombuffer(zlib.decompress(row["predictions"]), dtype="<i8").reshape(3, -1)
        csv_rows = [line.split(",")[:3] for line in (out / "predictions.csv").read_text().splitlines()[1:]]
        assert table[0].tolist() == [int(r[0]) for r in csv_rows]
        assert [str(t) for t in table[1]] == [r[1] for r in csv_rows]
        assert [str(p) for p in table[2]] == [r[2] for r in csv_rows]
        expected_commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                         cwd=os.getcwd()).stdout.strip() or None
        assert row["git_commit"] == expected_commit and (row["git_dirty"] in (0, 1)) == bool(expected_commit)


def test_the_third_build_has_the_chapter_the_chart_and_the_trend(builds):
    root, store = builds
    third = root / "build2"
    html = (third / "report.html").read_text()
    chapter = html[html.index('<section id="across-builds"'):]
    chapter = chapter[:chapter.index("</section>")]
    assert "Across builds</h2>" in chapter and "holds 2 earlier runs" in chapter
    assert "iterations 10 → 20" in chapter and "iterations 20 → 40" in chapter
    assert [label for label in re.findall(r'<th scope="row">([^<]+)</th>', chapter)] == ["this run", "#2", "#1"]
    for group in ("multiclass", "one-vs-all"):
        assert len(points(third / "figures" / "across_builds.svg", group)) == 3, group
    summary = (third / "summary.md").read_text()
    assert "### Across builds" in summary and "| this run |" in summary and "| #1 |" in summary
    rows = read_rows(store)
    first = f"{100 * rows[0]['multiclass_accuracy']:.2f} %"
    assert f"Trend over 3 builds of tiny.npz: multiclass accuracy {first} (#1) →" in summary
    # Earlier builds had too few runs before them for a chapter.
    assert "Across builds" not in (root / "build1" / "summary.md").read_text()
    pdf_text = subprocess.run(["pdftotext", str(third / "report.pdf"), "-"], capture_output=True, text=True).stdout
    assert "Across builds" in pdf_text and "Figure" in pdf_text


def test_history_command_prints_the_runs_and_json(builds, capsys):
    _, store = builds
    capsys.readouterr()
    assert main(["history", str(store)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["run", "time", "(UTC)"] and len(lines) == 4
    assert lines[1].startswith("1 ") and lines[1].endswith("first run")
    assert lines[2].endswith("iterations 10 → 20") and lines[3].endswith("iterations 20 → 40")
    assert main(["history", str(store), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [run["config"]["iterations"] for run in document["runs"]] == list(ITERATIONS)
    assert main(["history", str(store.parent / "missing.sqlite")]) == ExitCode.BAD_INPUT
    assert "does not exist" in capsys.readouterr().err


def test_gate_against_the_best_build_fails_after_writing_everything(builds, tmp_path, tiny_npz, capsys):
    _, store = builds
    copy = tmp_path / "runs.sqlite"
    shutil.copyfile(store, copy)
    out = tmp_path / "worse"
    code = main(["--data", str(tiny_npz), "--out", str(out), "--iterations", "3", "--formats", "html",
                 "--history", str(copy), "--baseline", "history:best", "--max-drop", "multiclass_accuracy=0.001",
                 "--quiet"])
    assert code == ExitCode.GATE_FAILED
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "multiclass_accuracy" in error[0] and "(--max-drop)" in error[0]
    for name in ("model.npz", "metrics.json", "predictions.csv", "summary.md", "report.html", "manifest.json",
                 "timings.json"):
        assert (out / name).is_file(), name
    best = max(read_rows(store), key=lambda row: row["multiclass_accuracy"])
    summary = (out / "summary.md").read_text()
    assert f"history:best (run {best['id']} in {copy})" in summary and "McNemar's exact test p =" in summary
    rows = read_rows(copy)
    assert len(rows) == 4 and rows[-1]["out"] == str(out)  # a failed gate is still a recorded run


def test_history_baselines_are_checked_before_any_work(builds, tmp_path, tiny_npz, capsys):
    _, store = builds
    out = tmp_path / "never"
    cases = [(["--baseline", "history:best"], "give --history FILE too"),
             (["--baseline", "history:worst", "--history", str(store)], "give last, best or a run id"),
             (["--baseline", "history:99", "--history", str(store)], "has no run 99")]
    for flags, message in cases:
        assert main(["train", "--data", str(tiny_npz), "--out", str(out), *flags]) == ExitCode.BAD_INPUT
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0], error
    assert not out.exists()


def test_an_empty_history_compares_with_nothing(tmp_path, tiny_npz, capsys):
    store = tmp_path / "new.sqlite"
    assert main(["train", "--data", str(tiny_npz), "--out", str(tmp_path / "out"), "--iterations", "3",
                 "--history", str(store), "--baseline", "history:last", "--max-drop", "multiclass_accuracy=0",
                 "--quiet"]) == 0
    assert "holds no run of 'tiny.npz' yet" in capsys.readouterr().err
    assert len(read_rows(store)) == 1


def test_a_history_that_fails_after_the_commit_is_a_note_not_an_exit_code(tmp_path, tiny_npz, capsys, monkeypatch):
    from mnist_ova.errors import InputError

    def locked(*args, **kwargs):
        raise InputError("history 'runs.sqlite' is locked")

    monkeypatch.setattr(history, "record", locked)
    out = tmp_path / "out"
    assert main(["train", "--data", str(tiny_npz), "--out", str(out), "--iterations", "3",
                 "--history", str(tmp_path / "runs.sqlite"), "--quiet"]) == 0
    assert "note: this run was not recorded: history 'runs.sqlite' is locked" in capsys.readouterr().err
    assert (out / "model.npz").is_file() and (out / "summary.md").is_file()


@pytest.mark.parametrize("kind", ["not sqlite", "damaged", "foreign", "newer"])
def test_a_file_that_is_no_history_of_ours_is_refused_and_kept(kind, builds, tmp_path, tiny_npz, capsys):
    store = tmp_path / "runs.sqlite"
    if kind == "not sqlite":
        store.write_bytes(b"id,accuracy\n1,0.9\n" * 50)
        message = "is not an SQLite database"
    elif kind == "damaged":
        good = builds[1].read_bytes()
        store.write_bytes(good[:100] + bytes(range(256)) * 8 + good[100 + 2048:])  # header kept, pages broken
        message = "is a damaged SQLite database"
    else:
        with sqlite3.connect(store) as db:
            db.execute("CREATE TABLE notes (text TEXT)")
            db.execute("INSERT INTO notes VALUES ('mine')")
            if kind == "newer":
                db.execute(f"PRAGMA application_id = {history.APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {history.SCHEMA_VERSION + 1}")
        message = "of another program" if kind == "foreign" else "written by a newer mnist-ova"
    before = store.read_bytes()
    out = tmp_path / "out"
    assert main(["train", "--data", str(tiny_npz), "--out", str(out), "--history", str(store)]) == ExitCode.BAD_INPUT
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0] and "left as it is" in error[0], error
    assert store.read_bytes() == before
    assert not out.exists()  # refused before any work


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX file modes and user ids")
def test_a_read_only_history_is_read_but_not_written(builds, tmp_path, tiny_npz, capsys, monkeypatch):
    store = tmp_path / "runs.sqlite"
    shutil.copyfile(builds[1], store)
    store.chmod(0o444)
    if os.geteuid() == 0:  # root may write anyway: let the tool see the file's mode as a user would
        real_access = os.access
        monkeypatch.setattr(history.os, "access", lambda path, mode: real_access(path, mode) and not (
            str(path) == str(store) and mode & os.W_OK and not os.stat(path).st_mode & 0o222))
    before = store.read_bytes()
    out = tmp_path / "out"
    assert main(["train", "--data", str(tiny_npz), "--out", str(out), "--iterations", "3", "--history", str(store),
                 "--quiet"]) == 0
    assert "is read-only" in capsys.readouterr().err
    assert store.read_bytes() == before
    assert "Trend over 4 builds of tiny.npz" in (out / "summary.md").read_text()  # read for the trend


def test_two_runs_recording_at_once_are_both_recorded(builds, tmp_path, tiny_npz):
    """Both runs reach their recording while a third connection holds the write lock; once it lets go
    they write at the same moment, and both land."""
    store = tmp_path / "runs.sqlite"
    shutil.copyfile(builds[1], store)
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    runs = [subprocess.Popen([sys.executable, str(REPO / "run.py"), "train", "--data", str(tiny_npz), "--out",
                              str(tmp_path / f"out{n}"), "--iterations", "3", "--history", str(store), "--quiet"],
                             env=env, stderr=subprocess.PIPE, text=True) for n in range(2)]
    try:
        import time

        deadline = time.monotonic() + 120
        while not all((tmp_path / f"out{n}" / "manifest.json").is_file() for n in range(2)):
            assert time.monotonic() < deadline and all(run.poll() is None for run in runs), "a run ended early"
            time.sleep(0.2)
        time.sleep(0.5)
        assert all(run.poll() is None for run in runs)  # both wait for the lock
    finally:
        holder.execute("COMMIT")
        holder.close()
    for run in runs:
        assert run.wait(120) == 0, run.stderr.read()
    rows = read_rows(store)
    assert len(rows) == 5 and {row["out"] for row in rows[3:]} == {str(tmp_path / "out0"), str(tmp_path / "out1")}


def test_a_new_file_gets_the_schema_through_the_migrations(tmp_path):
    store = tmp_path / "empty.sqlite"
    sqlite3.connect(store).close()  # an empty SQLite file: nothing in it yet
    assert history.open_history(store, warn=print).runs == ()
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    run = {"time": "t", "command": "c", "tool_version": "v", "data_name": "d", "data_sha256": "s", "config": {},
           "config_digest": "x", "multiclass_accuracy": 0.5, "multiclass_low": 0.4, "multiclass_high": 0.6,
           "one_vs_all_accuracy": 0.9, "one_vs_all_low": 0.8, "one_vs_all_high": 0.95, "per_class": [],
           "metrics": {}, "git_commit": None, "git_dirty": None, "commit_url": None, "out": "/o",
           "predictions": history.pack_predictions([4, 2], [1, 0], [1, 1])}
    assert history.record(store, run, timings={}, artifacts=[]) == 1
    assert history.open_history(store, warn=print).runs[0]["data_name"] == "d"
    rows, true_index, predicted = history.unpack_predictions(read_rows(store)[0]["predictions"])
    assert rows.tolist() == [4, 2] and true_index.tolist() == [1, 0] and predicted.tolist() == [1, 1]


def test_commit_urls_of_known_forges():
    c = "0123abc"
    assert history.commit_url("git@github.com:ada/ova.git", c) == f"https://github.com/ada/ova/commit/{c}"
    assert history.commit_url("https://gitlab.com/ada/ova", c) == f"https://gitlab.com/ada/ova/commit/{c}"
    assert history.commit_url("https://token@github.com/ada/ova.git/", c) == f"https://github.com/ada/ova/commit/{c}"
    assert history.commit_url("git@bitbucket.org:ada/ova.git", c) == f"https://bitbucket.org/ada/ova/commits/{c}"
    assert history.commit_url("/srv/git/ova.git", c) is None
    assert history.commit_url(None, c) is None


def test_a_baseline_history_key_in_a_config_file_is_not_a_path(tmp_path):
    from mnist_ova.pipeline import config

    (tmp_path / "run.toml").write_text('baseline = "history:best"\nhistory = "runs.sqlite"\n')
    settings = config.settings_from({}, tmp_path / "run.toml")
    assert settings.baseline == "history:best" and settings.history == str(tmp_path / "runs.sqlite")


def test_mlflow_uri_without_mlflow_is_one_line_before_any_work(tmp_path, tiny_npz, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    out = tmp_path / "out"
    assert main(["train", "--data", str(tiny_npz), "--out", str(out), "--mlflow-uri", "file:///x"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and 'pip install "mnist-ova[mlflow]"' in error[0] and "(--mlflow-uri)" not in error[0][:20]
    assert not out.exists()


def test_mlflow_gets_params_metrics_per_iteration_and_artifacts(tmp_path, tiny_npz, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this switch
    uri = (tmp_path / "mlruns").as_uri()
    out = tmp_path / "out"
    assert main(["--data", str(tiny_npz), "--out", str(out), "--iterations", "7", "--formats", "html,gif",
                 "--mlflow-uri", uri, "--quiet"]) == 0
    client = MlflowClient(tracking_uri=uri)
    run, = client.search_runs([client.get_experiment_by_name("mnist-ova").experiment_id])
    metrics = json.loads((out / "metrics.json").read_text())
    assert run.data.params["iterations"] == "7" and run.data.params["data_sha256"] == metrics["dataset"]["sha256"]
    assert run.data.metrics["multiclass_accuracy"] == pytest.approx(metrics["multiclass_accuracy"])
    assert run.data.metrics["recall_3"] == pytest.approx(metrics["per_class"][3]["recall"])
    cost = client.get_metric_history(run.info.run_id, "cost_0")
    assert sorted(m.step for m in cost) == list(range(1, 8))
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model.npz", "report.html", "predictions.gif", "metrics.json"} <= artifacts
    assert run.info.status == "FINISHED"


def test_the_chapter_passes_axe_in_a_browser(builds, browser):
    script = axe_script()
    page = browser.new_page()
    page.goto((builds[0] / "build2" / "report.html").as_uri())
    page.add_script_tag(path=script)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        violations = page.evaluate("""async () => (await axe.run('#across-builds', {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})).violations
            .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))""")
        assert violations == [], width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing scrolls sideways"
    page.close()
