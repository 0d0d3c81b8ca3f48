"""Issue 32's input cases, end to end through the command line: each either runs (exit 0) or stops with one
line and exit 2; none is an internal error (exit 1). Each prints its exit and time (pytest -s shows them)."""
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import REPO
from tests.pipeline.test_jobs import with_metadata
from tests.trainer.test_persist import write_bomb


def images(tmp, side, n_classes, per_class=8):
    rng = np.random.RandomState(0)
    n = n_classes * per_class
    np.savez(tmp / "d.npz", X=rng.randint(0, 256, (n, side * side)), y=np.arange(n) % n_classes)
    return ["--data", str(tmp / "d.npz")]


def crafted_model(tmp, change):
    """A model the tool trained on 3 classes of 2x2 images, its metadata changed by ``change``."""
    data = images(tmp, 2, 3)
    assert run(["train", *data, "--out", str(tmp / "trained")], {})[0] == 0
    with_metadata(tmp / "trained" / "model.npz", tmp / "crafted.npz", change)
    return ["render", *data, "--model", str(tmp / "crafted.npz")]


def bomb(tmp):
    """400 MiB of zeros declared as a model's weights, deflated to about 400 KB."""
    write_bomb(tmp / "bomb.npz")
    return ["render", *images(tmp, 2, 3), "--model", str(tmp / "bomb.npz")]


def config(tmp, text):
    (tmp / "run.toml").write_text(text)
    return [*images(tmp, 2, 3), "--config", str(tmp / "run.toml")]


# case: (argv and environment from the temporary folder, exit code, what the one line says)
CASES = {
    "MNIST_OVA_THREADS=²": (lambda t: (images(t, 2, 3), {"MNIST_OVA_THREADS": "²"}), 2,
                            r"MNIST_OVA_THREADS must be a whole number of at least 1; got '²'"),
    'dataset = ["mnist"] in a config': (lambda t: (config(t, 'dataset = ["mnist"]\n'), {}), 2,
                                        r"config file '.*run.toml': dataset must be one of mnist, "),
    "[dataset] class names repeated": (lambda t: (config(t, '[dataset]\nname = "x"\nclass-names = ["a", "b", "a"]\n'),
                                                  {}), 2, r"\[dataset\] class-names must be distinct; got \['a'\]"),
    "a control character in a class name": (lambda t: ([*images(t, 2, 3), "--class-names", "a,ni\x01ne,c"], {}), 2,
                                            r"class-names must be text without control characters; got 'ni\\x01ne'"),
    "ESC in a [dataset] class name": (lambda t: (config(t, '[dataset]\nname = "x"\nclass-names = "a,\\u001b[2Jb,c"\n'),
                                                 {}), 2, r"\[dataset\] class-names must be text without control"),
    "2x2 images, 5 classes": (lambda t: (images(t, 2, 5), {}), 0, None),
    "1x1 images, 2 classes": (lambda t: (images(t, 1, 2), {}), 0, None),
    "7x7 images, 62 classes": (lambda t: (images(t, 7, 62, per_class=6), {}), 0, None),
    "model: no config": (lambda t: (crafted_model(t, lambda m: m.pop("config")), {}), 2,
                         r"model '.*crafted.npz' is damaged: its metadata's config must be a JSON object"),
    "model: config without seed": (lambda t: (crafted_model(t, lambda m: m["config"].pop("seed")), {}), 2,
                                   r"its metadata's config lacks seed"),
    "model: dataset a text": (lambda t: (crafted_model(t, lambda m: m.update(dataset="x")), {}), 2,
                              r"its metadata's dataset must be a JSON object; got 'x'"),
    "model: too few class names": (lambda t: (crafted_model(t, lambda m: m["dataset"].update(class_names=["a"])), {}),
                                   2, r"dataset.class_names must give 3 non-empty names"),
    "model: profile a number": (lambda t: (crafted_model(t, lambda m: m.update(profile=3)), {}), 2,
                                r"its metadata's profile must be a built-in profile's name or a JSON object"),
    "model: title page a list": (lambda t: (crafted_model(t, lambda m: m.update(title_page=[1])), {}), 2,
                                 r"its metadata's title_page must be a JSON object"),
    "model: class names repeated": (lambda t: (crafted_model(t, lambda m: m["dataset"].update(
        class_names=["a", "b", "a"])), {}), 2, r"dataset.class_names must be distinct"),
    "model.npz decompression bomb": (lambda t: (bomb(t), {}), 2,
                                     r"model '.*bomb.npz' is damaged or crafted: its entries unpack to \d+ bytes"),
}


def run(argv, env):
    result = subprocess.run([sys.executable, "run.py", *argv, "--iterations", "5", "--quiet", "--formats", "html",
                             "--examples", "2"], capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, **env}, timeout=300)
    return result.returncode, result.stderr


@pytest.mark.parametrize("case", CASES)
def test_each_input_case_runs_or_is_one_line_and_exit_2(tmp_path, case):
    prepare, code, message = CASES[case]
    argv, env = prepare(tmp_path)
    start = time.perf_counter()
    returncode, stderr = run([*argv, "--out", str(tmp_path / "out")], env)
    print(f"{case}: exit {returncode} in {time.perf_counter() - start:.2f} s: {stderr.strip()[:160]}")
    assert returncode == code, stderr
    if code == 0:
        assert (tmp_path / "out" / "report.html").is_file()
        return
    assert stderr.startswith("error: ") and stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    assert stderr[:-1].isprintable(), stderr  # escapes, never a raw control character
    assert re.search(message, stderr), stderr
