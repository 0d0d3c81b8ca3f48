"""--baseline, --fail-under and --max-drop end to end on small real data: exit 4 with every output
written, exit 2 for an unknown metric, summary.md and $GITHUB_STEP_SUMMARY, predictions.csv."""
import csv
import json

import numpy as np
import pytest

from mnist_ova.errors import ExitCode
from mnist_ova.pipeline import config, gates
from mnist_ova.pipeline.cli import main

FAST = ["--iterations", "20", "--formats", "html", "--quiet"]
NAMES = "zero,one,two,three,four,five,six,seven,eight,nine"


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, tiny_npz):
    out = tmp_path_factory.mktemp("baseline")
    assert main(["--data", str(tiny_npz), "--out", str(out), "--class-names", NAMES, *FAST]) == 0
    return out


def test_predictions_csv_has_every_test_row_with_named_scores(baseline):
    from sklearn.metrics import average_precision_score, roc_auc_score

    with open(baseline / "predictions.csv", newline="") as f:
        rows = list(csv.reader(f))
    metrics = json.loads((baseline / "metrics.json").read_text())
    names = NAMES.split(",")
    assert rows[0] == ["row", "true", "predicted", *(f"score:{name}" for name in names),
                       *(f"output:{name}" for name in names)]
    assert len(rows) - 1 == metrics["dataset"]["n_test"] == 120
    scores = np.array([[float(v) for v in row[3:3 + len(names)]] for row in rows[1:]])
    # The raw sigmoid outputs, exact, recompute every model's ROC AUC and average precision.
    outputs = np.array([[float(v) for v in row[3 + len(names):]] for row in rows[1:]])
    for k, (name, model) in enumerate(zip(names, metrics["per_model"])):
        positive = [row[1] == name for row in rows[1:]]
        assert roc_auc_score(positive, outputs[:, k]) == pytest.approx(model["auc"], rel=1e-12)
        assert average_precision_score(positive, outputs[:, k]) == pytest.approx(model["average_precision"],
                                                                                 rel=1e-12)
    np.testing.assert_allclose(scores.sum(axis=1), 1, atol=1e-5)  # normalised, printed to 6 digits
    right = np.mean([row[1] == row[2] for row in rows[1:]])
    assert right == pytest.approx(metrics["multiclass_accuracy"])
    assert len({int(row[0]) for row in rows[1:]}) == 120  # data rows, each once


def test_a_violated_gate_writes_everything_then_exits_4(tmp_path, tiny_npz, baseline, capsys, monkeypatch):
    step_summary = tmp_path / "step-summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    out = tmp_path / "run"
    code = main(["--data", str(tiny_npz), "--out", str(out), "--class-names", NAMES, "--baseline", str(baseline),
                 "--fail-under", "multiclass_accuracy=0.999", "--fail-under", "recall:zero=0.1",
                 "--max-drop", "one_vs_all_accuracy=0.5", *FAST])
    assert code == ExitCode.GATE_FAILED == 4
    for name in ("model.npz", "metrics.json", "predictions.csv", "summary.md", "report.html", "manifest.json",
                 "timings.json"):
        assert (out / name).is_file(), name
    manifest = {a["path"] for a in json.loads((out / "manifest.json").read_text())["artifacts"]}
    assert {"predictions.csv", "summary.md", "report.html"} <= manifest
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: gate failed: multiclass_accuracy = ")
    assert "is under the bound 0.999 (--fail-under)" in error[0] and "recall:zero" not in error[0]
    summary = (out / "summary.md").read_text()
    assert "| `--fail-under multiclass_accuracy=0.999` |" in summary and "**failed**" in summary
    assert "| `--fail-under recall:zero=0.1` |" in summary and "| passed |" in summary
    assert "Compared with the baseline" in summary and "McNemar's exact test p = 1" in summary  # same model
    assert "[report.html](report.html)" in summary
    appended = step_summary.read_text()
    assert appended.startswith("earlier step\n") and f"[report.html]({out.as_posix()}/report.html)" in appended
    html = (out / "report.html").read_text()
    assert "Compared with the baseline" in html and "ended with exit code 4" in html
    # The same model again: no change, each class's recall tested on its rows with Holm's correction.
    assert "the multiclass accuracy did not change" in html and "with Holm's correction for testing" in html
    assert "The multiclass accuracy did not change." in summary and "no change is shown to be real" in summary


def test_passing_gates_exit_0_and_json_still_works(tmp_path, tiny_npz, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_npz), "--out", str(out), "--fail-under", "multiclass_accuracy=0.1",
                 "--fail-under", "precision:3=0", "--json", *FAST]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "ok"
    assert "| passed |" in (out / "summary.md").read_text()


@pytest.mark.parametrize("flag, spec, message", [
    ("--fail-under", "accuracy=0.9", "unknown metric 'accuracy'; valid names: multiclass_accuracy, one_vs_all_accuracy, "
                                     "recall:<class>, precision:<class>"),
    ("--fail-under", "recall:eleven=0.9", "unknown metric 'recall:eleven'; valid names: multiclass_accuracy, "
                                          "one_vs_all_accuracy, recall:0, recall:1"),
    ("--fail-under", "multiclass_accuracy", "takes METRIC=VALUE"),
    ("--fail-under", "multiclass_accuracy=high", "must be a number"),
    ("--max-drop", "multiclass_accuracy=0.01", "give --baseline PATH"),
])
def test_a_bad_gate_is_an_input_error_before_anything_is_written(tmp_path, tiny_npz, capsys, flag, spec, message):
    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_npz), "--out", str(out), flag, spec, *FAST]) == ExitCode.BAD_INPUT
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_a_baseline_that_is_no_output_folder_fails_at_once(tmp_path, tiny_npz, capsys):
    assert main(["train", "--data", str(tiny_npz), "--out", str(tmp_path / "o"), "--baseline", str(tmp_path),
                 *FAST]) == ExitCode.BAD_INPUT
    assert "has no metrics.json" in capsys.readouterr().err


def test_mcnemar_is_refused_with_the_reason_when_the_split_differs(tmp_path, tiny_npz, baseline):
    out = tmp_path / "run"
    assert main(["--data", str(tiny_npz), "--out", str(out), "--class-names", NAMES, "--baseline", str(baseline),
                 "--seed", "7", *FAST]) == 0
    summary = (out / "summary.md").read_text()
    assert "McNemar's test cannot be computed: the two runs split the data differently (split seed, test_size 0.2, " \
           "seed 42 against split seed, test_size 0.2, seed 7)" in summary
    html = (out / "report.html").read_text()
    assert "McNemar's test cannot be computed:</b> the two runs split the data differently" in html
    assert "Right in the baseline, wrong now" not in html


def test_mcnemar_is_refused_when_the_baseline_has_no_predictions(tmp_path, tiny_npz, baseline):
    old = tmp_path / "old"
    old.mkdir()
    (old / "metrics.json").write_text((baseline / "metrics.json").read_text())
    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_npz), "--out", str(out), "--class-names", NAMES, "--baseline", str(old),
                 *FAST]) == 0
    assert "the baseline folder has no predictions.csv" in (out / "summary.md").read_text()


def test_gates_from_a_config_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('fail-under = ["multiclass_accuracy=0.8", "recall:3=0.5"]\nmax-drop = {multiclass_accuracy = 0.02}\n'
                    'baseline = "earlier"\n')
    settings = config.settings_from({}, path)
    assert settings.fail_under == (("multiclass_accuracy", 0.8), ("recall:3", 0.5))
    assert settings.max_drop == (("multiclass_accuracy", 0.02),)
    assert settings.baseline == str(tmp_path / "earlier")  # relative to the file


def test_gate_values_and_results():
    document = {"multiclass_accuracy": 0.9, "one_vs_all_accuracy": 0.98, "dataset": {"class_names": ["zero", "one"]},
                "per_class": [{"label": 0, "recall": 0.95, "precision": 0.9}, {"label": 1, "recall": 0.85,
                                                                                "precision": 0.8}]}
    values = gates.metric_values(document)
    assert list(values.items()) == [("multiclass_accuracy", 0.9), ("one_vs_all_accuracy", 0.98), ("recall:zero", 0.95),
                                    ("recall:one", 0.85), ("precision:zero", 0.9), ("precision:one", 0.8)]
    baseline = dict(values, multiclass_accuracy=0.95)
    results = gates.check_gates([("multiclass_accuracy", 0.9), ("recall:one", 0.9)],
                                   [("multiclass_accuracy", 0.01)], values, baseline)
    assert [r.passed for r in results] == [True, False, False]
    assert "recall:one = 0.8500 is under the bound 0.9" in results[1].describe()
    assert "dropped by 0.0500" in results[2].describe() and "0.01" in results[2].describe()


@pytest.mark.parametrize("value, bound, kind", [(0.40229, 0.4023, "fail-under"), (0.4023399, 0.40234, "fail-under"),
                                                (0.7, 0.7, "fail-under"), (0.8 - 1e-9, 0.8, "fail-under"),
                                                (0.79995, 0.01, "max-drop"), (0.8, 0.01, "max-drop")])
def test_a_gate_prints_its_value_and_bound_so_that_they_visibly_differ(value, bound, kind):
    import re

    result = gates.check_gates([("recall:one", bound)] if kind == "fail-under" else [],
                               [("recall:one", bound)] if kind == "max-drop" else [],
                               {"recall:one": value}, {"recall:one": 0.81})[0]
    numbers = [float(n) for n in re.findall(r"\d+\.\d+", result.describe())]
    if kind == "fail-under":
        shown_value, shown_bound = numbers
    else:
        shown_value, shown_drop, shown_baseline, shown_bound = numbers
        assert shown_baseline == 0.81
        # The printed drop and the printed bound read as the comparison that decided.
        assert (shown_drop <= shown_bound) == result.passed or shown_drop == pytest.approx(bound, abs=1e-12)
        shown_bound = shown_baseline - shown_bound
    assert shown_bound == pytest.approx(result.limit)
    # Printed, the value stands on the same side of the bound as it does exactly.
    assert (shown_value >= shown_bound) == result.passed or value == pytest.approx(result.limit, abs=1e-12)
    assert result.describe().count("is under") + result.describe().count("more than") == (not result.passed)


@pytest.mark.parametrize("specs", [False, 3, 0.5])
def test_a_gate_that_is_no_text_is_an_input_error(specs):
    """A config file's `fail-under = false` was an internal error (TypeError)."""
    from mnist_ova.errors import InputError

    with pytest.raises(InputError, match=rf"fail-under takes METRIC=VALUE, e.g. multiclass_accuracy=0.9; got {specs}"):
        gates.parse("fail-under", specs)
