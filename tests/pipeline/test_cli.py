import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from mnist_ova.pipeline.cli import main
from tests.conftest import REPO
from tests.trainer.test_model import notebook_models
from mnist_ova.trainer.persist import load_model
from mnist_ova.trainer.preprocess import standardise


def run_cli(*args):
    return subprocess.run([sys.executable, "run.py", *map(str, args)], capture_output=True, text=True, cwd=REPO)


def test_train_writes_the_model_and_metrics_contract(tmp_path, tiny_npz):
    result = run_cli("train", "--data", tiny_npz, "--out", tmp_path, "--iterations", 25)
    assert result.returncode == 0, result.stderr
    assert "multiclass accuracy" in result.stderr and "one-vs-all accuracy" in result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["dataset"]) >= {"name", "source", "sha256", "n_train", "n_test", "image_shape", "class_names"}
    assert metrics["dataset"]["n_train"] == 480 and metrics["dataset"]["n_test"] == 120
    assert metrics["config"]["iterations"] == 25 and metrics["config"]["learning_rate"] == 0.01
    assert len(metrics["per_model"]) == 10
    assert set(metrics["per_model"][0]) >= {"label", "train_accuracy", "test_accuracy", "iterations", "final_cost"}
    assert set(metrics) >= {"one_vs_all_accuracy", "multiclass_accuracy", "confusion_matrix", "per_class"}
    timings = json.loads((tmp_path / "timings.json").read_text())  # apart, so metrics.json is reproducible
    assert set(timings) >= {"load_s", "train_s"} and timings["reused_model"] is False
    model, metadata = load_model(tmp_path / "model.npz")
    assert model.coef_.shape == (10, 784) and model.coef_.dtype == np.float64
    assert metadata["dataset"]["sha256"] == metrics["dataset"]["sha256"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind


def test_metrics_match_the_notebook_on_the_shared_mnist_rows(tmp_path, shared_mnist):
    """The whole pipeline against the notebook written plainly, on the same split of the real test set."""
    result = run_cli("train", "--data", shared_mnist, "--out", tmp_path, "--iterations", 60, "--quiet")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    from mnist_ova.trainer.data import load

    dataset = load(str(shared_mnist))
    X = standardise(dataset.images)
    X_train, X_test, y_train, y_test = train_test_split(X, dataset.labels, test_size=0.2, random_state=42)
    reference = notebook_models(X_train, y_train, iterations=60)
    with np.errstate(over="ignore"):
        outputs = np.column_stack([1 / (1 + np.exp(-(X_test @ w + b))) for w, b, _, _ in reference])
    test_accuracy = [np.mean(np.round(outputs[:, k]) == (y_test == k)) for k in range(10)]
    assert [m["test_accuracy"] for m in metrics["per_model"]] == pytest.approx(test_accuracy, abs=1e-12)
    assert metrics["one_vs_all_accuracy"] == pytest.approx(np.mean(test_accuracy), abs=1e-12)
    assert metrics["multiclass_accuracy"] == pytest.approx(np.mean(np.argmax(outputs, axis=1) == y_test), abs=1e-12)
    assert [m["final_cost"] for m in metrics["per_model"]] == pytest.approx([c[-1] for _, _, c, _ in reference],
                                                                           rel=1e-10)


def test_config_file_and_flags(tmp_path, tiny_npz):
    config = tmp_path / "run.toml"
    config.write_text(f'data = "{tiny_npz}"\niterations = 3\nlearning-rate = 0.5\nclass_names = '
                      '"zero,one,two,three,four,five,six,seven,eight,nine"\n')
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "o"), "--iterations", "4",
                 "--quiet"]) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["config"]["iterations"] == 4  # the flag wins over the file
    assert metrics["config"]["learning_rate"] == 0.5  # the file wins over the default
    assert metrics["dataset"]["class_names"][:2] == ["zero", "one"]


@pytest.mark.parametrize("args, message", [
    (["--iterations", "0"], "iterations must be an integer >= 1; got 0"),
    (["--learning-rate", "-1"], "learning-rate must be a number > 0; got -1.0"),
    (["--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
    (["--data", "/nonexistent/digits.npz"], "data path '/nonexistent/digits.npz' does not exist"),
    (["--class-names", "a,b"], "class-names gives 2 names, so the labels must be 0..1"),
    (["--test-size", "2"], "test-size must be a number > 0 and < 1; got 2.0"),
    (["--split", "official"], "split 'official' needs data with its own train/test parts"),
    (["--video-size", "big"], "video-size must be WIDTHxHEIGHT"),
    (["--formats", "pdf,doc"], "formats must be one of .*; got 'doc'"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, tiny_npz, capsys, args, message):
    argv = ["train", "--data", str(tiny_npz), "--out", str(tmp_path), "--quiet", *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    import re

    assert re.search(message, err), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, toml, message", [
    (["--learning-rate", "0.1"], "", "learning-rate does not apply to solver 'lbfgs'.*; leave it out, or use "
                                     "solver 'gd'"),
    (["--tol", "0"], "", "tol does not apply to solver 'lbfgs'"),
    (["--tol", "1e-5", "--learning-rate", "0.01"], "", "learning-rate and tol do not apply to solver 'lbfgs'"),
    ([], "learning-rate = 0.05\n", "learning-rate does not apply to solver 'lbfgs'"),  # the file is explicit too
])
def test_options_that_lbfgs_does_not_use_are_an_error(tmp_path, tiny_npz, capsys, args, toml, message):
    import re

    config = tmp_path / "run.toml"
    config.write_text(toml)
    argv = ["train", "--data", str(tiny_npz), "--out", str(tmp_path / "o"), "--quiet", "--solver", "lbfgs",
            "--config", str(config), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and re.search(message, err), err
    assert not (tmp_path / "o").exists()


def test_lbfgs_without_gradient_descent_options_and_gd_with_them_are_fine():
    from mnist_ova.pipeline import config

    assert config.settings_from({"solver": "lbfgs", "iterations": 5}).solver == "lbfgs"
    assert config.settings_from({"solver": "gd", "learning-rate": 0.5, "tol": 0.0}).learning_rate == 0.5


def test_unknown_config_key(tmp_path, capsys):
    (tmp_path / "c.toml").write_text("iteratons = 5\n")
    assert main(["train", "--config", str(tmp_path / "c.toml")]) == 2
    assert "unknown key 'iteratons'" in capsys.readouterr().err


def test_broken_config_file(tmp_path, capsys):
    (tmp_path / "c.toml").write_text("iterations = = 5\n")
    assert main(["train", "--config", str(tmp_path / "c.toml")]) == 2
    assert "is no valid TOML" in capsys.readouterr().err


def test_traceback_flag_shows_the_traceback(tmp_path):
    result = run_cli("train", "--data", tmp_path / "absent.npz", "--traceback")
    assert result.returncode == 2 and "Traceback (most recent call last)" in result.stderr  # the code it has
    plain = run_cli("train", "--data", tmp_path / "absent.npz")
    assert plain.returncode == 2 and "Traceback" not in plain.stderr and plain.stderr.count("\n") == 1


@pytest.mark.parametrize("args, code", [(["--no-such-flag"], 2), (["train", "--iterations", "0"], 2)])
def test_the_entry_point_exits_with_mains_code_after_the_exit_handlers_and_flushed_output(args, code):
    """``run`` skips the interpreter's teardown, not what a normal exit does: the exit handlers run, and
    what was printed but still buffered comes out."""
    program = ("import atexit, sys; atexit.register(lambda: print('exit handler ran')); "
               "print('buffered', end=''); "
               f"from mnist_ova.pipeline.cli import run; run({args!r})")
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO, env=buffered)
    assert result.returncode == code
    assert result.stdout == "bufferedexit handler ran\n"
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_help_lists_every_flag():
    out = run_cli("--help").stdout
    for flag in ("--data", "--out", "--iterations", "--learning-rate", "--dtype", "--split", "--test-size",
                 "--seed", "--class-names", "--config", "--quiet", "--traceback"):
        assert flag in out


def test_two_classes_run_end_to_end(tmp_path, small_digits):
    """The smallest one-vs-all problem: two models, two-column scores, a 2x2 confusion matrix."""
    images, labels = small_digits
    keep = labels < 2
    np.savez(tmp_path / "two.npz", X=images[keep], y=labels[keep])
    assert main(["--data", str(tmp_path / "two.npz"), "--out", str(tmp_path / "out"), "--iterations", "20",
                 "--examples", "4", "--formats", "html,gif", "--class-names", "zero,one", "--quiet"]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert len(metrics["per_model"]) == 2 and np.array(metrics["confusion_matrix"]).shape == (2, 2)
    assert "zero" in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.parametrize("args, message", [
    (["--data", "/nonexistent/digits.npz"], "data path '/nonexistent/digits.npz' does not exist"),
    (["render", "--model", "/nonexistent/model.npz"], "model '/nonexistent/model.npz' does not exist"),
    (["--baseline", "/nonexistent/outputs"], "baseline '/nonexistent/outputs' does not exist"),
    (["--iterations", "0"], "iterations"),
])
def test_bad_settings_and_missing_files_are_said_before_the_heavy_imports(tmp_path, args, message):
    """Issue 32, item 8: they took 2.3-2.5 s, scikit-learn imported first; the run's modules now wait."""
    code = ("import json, sys; from mnist_ova.pipeline.cli import main; code = main(sys.argv[1:]); "
            "print(json.dumps([int(code), sorted(m for m in ('sklearn', 'scipy', 'matplotlib', 'mnist_ova.pipeline.run')"
            " if m in sys.modules)]))")
    result = subprocess.run([sys.executable, "-c", code, *args, "--out", str(tmp_path / "out")], capture_output=True,
                            text=True, cwd=REPO)
    assert json.loads(result.stdout) == [2, []], result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_an_unknown_command_is_still_refused_as_argparse_would(capsys):
    assert main(["trian", "--out", "x"]) == 2
    assert "argument command: invalid choice: 'trian' (choose from 'all', 'train'" in capsys.readouterr().err
