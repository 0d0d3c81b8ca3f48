"""The one table of bad inputs: each is refused with one line on stderr, its documented exit code, and
an output folder that is exactly as it was, foreign files, dot-folders and links included."""
import gzip
import hashlib
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.io

from tests.conftest import REPO

# name: (exit code, what the one line says). The inputs themselves are made by `prepare`.
CASES = {
    # --- data
    "missing path": (2, r"data path '.*absent.npz' does not exist"),
    "empty file": (2, r"data file '.*empty.npz' is empty"),
    "truncated .gz": (2, r"IDX file '.*train-images-idx3-ubyte.gz' .*(cannot be read|truncated)"),
    "wrong IDX magic": (2, r"wrong magic number"),
    "image and label counts differ": (2, r"holds 40 images but .* holds 39 labels"),
    "IDX header claims 10 million images": (2, r"declares shape \(10000000, 4, 4\) .* but holds 640 bytes"),
    ".gz header claims more than it can hold": (2, r"declares shape \(100000000, 28, 28\).*more than its \d+ "
                                                   r"compressed bytes"),
    "IDX images of absurd size": (2, r"declared 70000x70000 pixels; the side must be 1 to 4096"),
    "a FIFO as the data": (2, r"data file '.*fifo.npz' is a named pipe \(FIFO\): only regular files are read"),
    "a FIFO in the data folder": (2, r"is a named pipe \(FIFO\): only regular files are read"),
    "a device as the data": (2, r"data file '/dev/zero' is a device: only regular files are read"),
    "labels outside the class range": (2, r"class-names gives 5 names, so the labels must be 0..4"),
    "NaN pixels": (2, r"images .*(NaN|finite)"),
    "inf pixels": (2, r"images .*(inf|finite)"),
    "non-square image size": (2, r"images must be square \(side x side pixels\); got 12 pixels per image"),
    "a single class": (2, r"labels must hold at least 2 classes to train one-vs-all models; got 1"),
    "fewer than 2 test rows": (2, r"the split must leave at least 2 training and 2 test rows; got 4 training and 1 "
                                  r"test rows from 5"),
    ".mat without label": (2, r"lacks the key\(s\) label"),
    "one image per class": (2, r"2 of 10 classes have no training rows after the split \('\d', '\d'; 1 row\(s\) each"),
    "a class only in the test rows": (2, r"1 of 5 classes have no training rows after the split \('4'; 1 row"),
    "random bytes named .npz": (2, r"is no readable .npz file"),
    "corrupt cached model": (2, r"model '.*model.npz' is damaged"),
    # --- options and environment
    "--iterations 0": (2, r"iterations must be an integer >= 1; got 0"),
    "negative learning rate": (2, r"learning-rate must be a number > 0"),
    "unknown dtype": (2, r"argument --dtype: invalid choice: 'float16'"),
    "unknown config key": (2, r"unknown key 'learning_rat'; did you mean 'learning-rate'"),
    "a FIFO as the config": (2, r"config file '.*fifo.toml' is a named pipe \(FIFO\): only regular files are read"),
    "/dev/zero as the config": (2, r"config file '/dev/zero' is a device: only regular files are read"),
    "a config of 2 MiB": (2, r"config file '.*big.toml' is larger than the 1 MiB read for it \(2 MiB\)"),
    "a FIFO as a template": (2, r"template '.*report.html.j2' is a named pipe \(FIFO\)"),
    "a template that divides by zero": (2, r"template .*report.html.j2 line 2: ZeroDivisionError: [a-z ]*by zero; "
                                           r"fix the template"),
    "baseline values of the wrong type": (2, r"baseline '.*metrics.json' is not a metrics.json of this tool: key "
                                             r"dataset.n_test must be a whole number; got \"abc\""),
    "a FIFO as the baseline's predictions": (2, r"baseline '.*predictions.csv' is a named pipe \(FIFO\)"),
    "--video-size 321x241": (2, r"video-size must have even sides .*; got '321x241': use 320x240"),
    "a class name of 5,000 characters": (2, r"class-names must be at most 200 characters; got 5000"),
    "unknown --dataset": (2, r"dataset must be one of mnist, fashion-mnist, kmnist, emnist-balanced, emnist-byclass, "
                             r"emnist-bymerge, emnist-digits, emnist-letters, emnist-mnist; got 'fashion'"),
    "labels outside the profile's": (2, r"dataset 'emnist-letters' names the labels 1..26, but the data hold "
                                        r"label\(s\) \[0\]: give --class-names"),
    "a [dataset] table without a name": (2, r"\[dataset\] needs a name"),
    "malformed SOURCE_DATE_EPOCH": (2, r"SOURCE_DATE_EPOCH must be a whole number of seconds .* got 'abc'"),
    "missing template dir": (2, r"template-dir '.*no-templates' is not a folder"),
    "broken template": (2, r"template .*report.html.j2 line 1"),
    # --- the output folder
    "unwritable output folder": (2, r"output folder '.*a-file/out' cannot be written"),
    "--out empty": (2, r"--out is empty: name the output folder"),
    "--out the root folder": (2, r"--out '/' is the root folder: .* add --force-out"),
    "--out the home folder": (2, r"--out '.*' is your home folder: .* add --force-out"),
    "--out a source checkout": (2, r"--out '.*' is a source checkout \(it holds pyproject.toml\)"),
    "a folder where an output goes": (2, r"cannot write the outputs: '.*model.npz' is a folder where the tool "
                                         r"writes a file; move it away .*\(nothing was changed\)"),
    "a link where an output goes": (2, r"'.*report.html' is a symbolic link where the tool writes a file"),
    "--out a link to nothing": (2, r"--out '.*dangling' is a symbolic link to '.*nowhere', which does not exist"),
    "a file named like our private folder": (2, r"'.*\.mnist-ova' is in the way"),
    "a file-size limit": (2, r"cannot write '.*': a file-size limit \(ulimit -f\) is reached"),
    # --- training
    "a diverging learning rate": (1, r"training diverged: \d+ of 4 models \(.*\) reached a cost or weights that are "
                                     r"not finite numbers, the first at iteration \d+; .*lower --learning-rate"),
}


def write_idx_pair(folder, images, labels, *, shape=None):
    for name, array, ndim in (("train-images-idx3-ubyte", images, 3), ("train-labels-idx1-ubyte", labels, 1)):
        dims = shape if (shape and ndim == 3) else array.shape
        header = bytes([0, 0, 8, ndim]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
        (folder / name).write_bytes(header + array.astype(np.uint8).tobytes())


def prepare(case, tmp, out):
    """(argv, environment changes, file-size limit) of ``case``; ``out`` is the output folder."""
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, (40, 4, 4))
    labels = np.arange(40) % 4
    np.savez(tmp / "xy.npz", X=images.reshape(40, -1), y=labels)
    good = ["--data", str(tmp / "xy.npz")]
    env, fsize = {}, None

    def folder(name):
        path = tmp / name
        path.mkdir()
        return path

    if case == "missing path":
        argv = ["--data", str(tmp / "absent.npz")]
    elif case == "empty file":
        (tmp / "empty.npz").write_bytes(b"")
        argv = ["--data", str(tmp / "empty.npz")]
    elif case == "truncated .gz":
        gz = folder("gz")
        write_idx_pair(gz, images, labels)
        data = gzip.compress((gz / "train-images-idx3-ubyte").read_bytes())
        (gz / "train-images-idx3-ubyte").unlink()
        (gz / "train-images-idx3-ubyte.gz").write_bytes(data[: len(data) // 2])
        argv = ["--data", str(gz)]
    elif case == "wrong IDX magic":
        magic = folder("magic")
        write_idx_pair(magic, images, labels)
        (magic / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x0f\x03" + bytes(40))
        argv = ["--data", str(magic)]
    elif case == "image and label counts differ":
        counts = folder("counts")
        write_idx_pair(counts, images, labels[:-1])
        argv = ["--data", str(counts)]
    elif case == "IDX header claims 10 million images":
        huge = folder("huge")
        write_idx_pair(huge, images, labels, shape=(10_000_000, 4, 4))
        argv = ["--data", str(huge)]
    elif case == ".gz header claims more than it can hold":
        bomb = folder("bomb")
        header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (100_000_000, 28, 28))
        (bomb / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(784 * 10)))
        (bomb / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + (100_000_000)
                                                                        .to_bytes(4, "big") + bytes(10)))
        argv = ["--data", str(bomb)]
    elif case == "IDX images of absurd size":
        wide = folder("wide")  # no rows, so the sizes agree: the dimensions alone are wrong
        header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (0, 70_000, 70_000))
        (wide / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header))
        (wide / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 0])))
        argv = ["--data", str(wide)]
    elif case == "a FIFO as the data":
        os.mkfifo(tmp / "fifo.npz")
        argv = ["--data", str(tmp / "fifo.npz")]
    elif case == "a FIFO in the data folder":
        fifo = folder("fifo")
        write_idx_pair(fifo, images, labels)
        (fifo / "train-images-idx3-ubyte").unlink()
        os.mkfifo(fifo / "train-images-idx3-ubyte")
        argv = ["--data", str(fifo)]
    elif case == "a device as the data":
        argv = ["--data", "/dev/zero"]
    elif case == "labels outside the class range":
        argv = [*good, "--class-names", "a,b,c,d,e"]
    elif case in ("NaN pixels", "inf pixels"):
        value = np.nan if case == "NaN pixels" else np.inf
        np.savez(tmp / "bad.npz", X=np.where(images > 250, value, images).reshape(40, -1), y=labels)
        argv = ["--data", str(tmp / "bad.npz")]
    elif case == "non-square image size":
        np.savez(tmp / "oblong.npz", X=images.reshape(40, -1)[:, :12], y=labels)
        argv = ["--data", str(tmp / "oblong.npz")]
    elif case == "a single class":
        np.savez(tmp / "one.npz", X=images.reshape(40, -1), y=np.zeros(40, int))
        argv = ["--data", str(tmp / "one.npz")]
    elif case == "fewer than 2 test rows":
        np.savez(tmp / "few.npz", X=images.reshape(40, -1)[:5], y=labels[:5])
        argv = ["--data", str(tmp / "few.npz")]
    elif case == "one image per class":
        np.savez(tmp / "ten.npz", X=images.reshape(40, -1)[:10], y=np.arange(10))
        argv = ["--data", str(tmp / "ten.npz")]
    elif case == "a class only in the test rows":
        from mnist_ova.trainer.preprocess import split_indices

        only_test = labels.copy()
        only_test[split_indices(40, test_size=0.2, seed=42, method="seed")[1][0]] = 4
        np.savez(tmp / "only-test.npz", X=images.reshape(40, -1), y=only_test)
        argv = ["--data", str(tmp / "only-test.npz")]
    elif case == ".mat without label":
        scipy.io.savemat(tmp / "nolabel.mat", {"data": images.reshape(40, -1).T})
        argv = ["--data", str(tmp / "nolabel.mat")]
    elif case == "random bytes named .npz":
        (tmp / "random.npz").write_bytes(rng.bytes(2000))
        argv = ["--data", str(tmp / "random.npz")]
    elif case == "corrupt cached model":
        (out / "model.npz").write_bytes(b"PK\x03\x04 damaged")
        argv = good
    elif case == "--iterations 0":
        argv = [*good, "--iterations", "0"]
    elif case == "negative learning rate":
        argv = [*good, "--learning-rate", "-0.01"]
    elif case == "unknown dtype":
        argv = [*good, "--dtype", "float16"]
    elif case == "unknown config key":
        (tmp / "bad.toml").write_text("learning_rat = 0.1\n")
        argv = [*good, "--config", str(tmp / "bad.toml")]
    elif case == "a FIFO as the config":
        os.mkfifo(tmp / "fifo.toml")
        argv = [*good, "--config", str(tmp / "fifo.toml")]
    elif case == "/dev/zero as the config":
        argv = [*good, "--config", "/dev/zero"]
    elif case == "a config of 2 MiB":
        (tmp / "big.toml").write_text("#" * (2 << 20))
        argv = [*good, "--config", str(tmp / "big.toml")]
    elif case == "a FIFO as a template":
        fifo = folder("fifo-templates")
        os.mkfifo(fifo / "report.html.j2")
        argv = [*good, "--template-dir", str(fifo)]
    elif case == "a template that divides by zero":
        dividing = folder("dividing-templates")
        (dividing / "report.html.j2").write_text("<p>\n{{ 1 // 0 }}\n")
        argv = [*good, "--template-dir", str(dividing)]
    elif case == "baseline values of the wrong type":
        base = folder("base")
        (base / "metrics.json").write_text('{"multiclass_accuracy": 0.5, "dataset": {"n_test": "abc"}}')
        argv = [*good, "--baseline", str(base)]
    elif case == "a FIFO as the baseline's predictions":
        base = folder("fifo-base")
        (base / "metrics.json").write_text('{"multiclass_accuracy": 0.5, "dataset": {"n_test": 8}}')
        os.mkfifo(base / "predictions.csv")
        argv = [*good, "--baseline", str(base)]
    elif case == "--video-size 321x241":
        argv = [*good, "--video-size", "321x241"]
    elif case == "a class name of 5,000 characters":
        argv = [*good, "--class-names", "a" * 5000 + ",b,c,d"]
    elif case == "unknown --dataset":
        argv = [*good, "--dataset", "fashion"]
    elif case == "labels outside the profile's":
        argv = [*good, "--dataset", "emnist-letters"]
    elif case == "a [dataset] table without a name":
        (tmp / "nameless.toml").write_text('[dataset]\ndescription = "Photographs of my cats."\n')
        argv = [*good, "--config", str(tmp / "nameless.toml")]
    elif case == "malformed SOURCE_DATE_EPOCH":
        argv, env = good, {"SOURCE_DATE_EPOCH": "abc"}
    elif case == "missing template dir":
        argv = [*good, "--template-dir", str(tmp / "no-templates")]
    elif case == "broken template":
        broken = folder("templates")
        (broken / "report.html.j2").write_text("{% if %}")
        argv = [*good, "--template-dir", str(broken)]
    elif case == "unwritable output folder":
        (tmp / "a-file").write_text("not a folder")
        argv = [*good, "--out", str(tmp / "a-file" / "out")]
    elif case == "--out empty":
        argv = [*good, "--out", ""]
    elif case == "--out the root folder":
        argv = [*good, "--out", "/"]
    elif case == "--out the home folder":
        argv, env = good, {"HOME": str(out)}
    elif case == "--out a source checkout":
        (out / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
        argv = good
    elif case == "a folder where an output goes":
        (out / "model.npz").mkdir()
        (out / "model.npz" / "inside.txt").write_text("the user's")
        argv = good
    elif case == "a link where an output goes":
        (out / "report.html").symlink_to(tmp / "outside.txt")
        argv = good
    elif case == "--out a link to nothing":
        (tmp / "dangling").symlink_to(tmp / "nowhere")
        argv = [*good, "--out", str(tmp / "dangling")]
    elif case == "a file named like our private folder":
        (out / ".mnist-ova").write_text("the user's")
        argv = good
    elif case == "a file-size limit":
        argv, fsize = good, 2000
    elif case == "a diverging learning rate":
        argv = [*good, "--learning-rate", "1e300", "--iterations", "20"]
    else:
        raise AssertionError(f"no input made for {case!r}")
    return argv, env, fsize


def snapshot(folder):
    """Everything in the folder, hidden entries and links included, without following a link."""
    entries = {}
    for parent, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(parent, name)
            key = os.path.relpath(path, folder)
            if os.path.islink(path):
                entries[key] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                entries[key] = ("folder",)
            else:
                entries[key] = ("file", hashlib.sha256(open(path, "rb").read()).hexdigest())
    return entries


def earlier_outputs_and_foreign_files(out, tmp):
    """An output folder as a user has it: an earlier run's files, and things of their own."""
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF- an earlier report")
    (out / "metrics.json").write_text("{}")
    (out / "notes.txt").write_text("the user's notes")
    (out / ".staging-mine").mkdir()  # a folder of the user's that once looked like ours
    (out / ".staging-mine" / "draft.txt").write_text("the user's draft")
    (out / ".git-like").mkdir()
    (tmp / "outside.txt").write_text("a file outside the output folder")
    (out / "link-outside.txt").symlink_to(tmp / "outside.txt")


# The cases that need what only POSIX systems have: named pipes, /dev/zero, a file-size limit (resource).
POSIX_CASES = {case for case in CASES if "FIFO" in case or "device" in case or "/dev/zero" in case
               or case == "a file-size limit"}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_input_is_one_line_its_exit_code_and_changes_nothing(tmp_path, case):
    if sys.platform == "win32" and case in POSIX_CASES:
        pytest.skip("named pipes, /dev/zero and file-size limits are POSIX's")
    code, message = CASES[case]
    out = tmp_path / "outputs"
    earlier_outputs_and_foreign_files(out, tmp_path)
    argv, env, fsize = prepare(case, tmp_path, out)
    if "--out" not in argv:
        argv = [*argv, "--out", str(out)]
    if "--iterations" not in argv:
        argv += ["--iterations", "5"]
    before, outside = snapshot(out), (tmp_path / "outside.txt").read_bytes()

    def limit_file_size():
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    result = subprocess.run([sys.executable, "run.py", *argv, "--formats", "html", "--examples", "2"],
                            capture_output=True, text=True, cwd=REPO, env={**os.environ, **env}, timeout=120,
                            preexec_fn=limit_file_size if fsize else None)
    print(f"{case}: exit {result.returncode}: {result.stderr.strip()}")
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert snapshot(out) == before  # foreign files byte-identical, nothing of ours half-written or left
    assert (tmp_path / "outside.txt").read_bytes() == outside


def test_the_table_covers_every_case_prepared():
    source = open(__file__).read()
    assert all(f'"{case}"' in source.split("def prepare")[1] for case in CASES)
