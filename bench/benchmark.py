"""Side-by-side benchmark: the notebook's loop, our trainer, scikit-learn, and the renderers.

    python bench/benchmark.py              # every workload (about 15 minutes on 2 cores)
    python bench/benchmark.py --quick      # fewer iterations, for a smoke run

Every ratio compares methods measured in this one run on this machine; absolute seconds
depend on the machine and its load.
"""
import argparse
import gc
import platform
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import notebook  # noqa: E402
from mnist_ova.trainer import data, preprocess  # noqa: E402
from mnist_ova.trainer.model import OneVsAllLogisticRegression  # noqa: E402

SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


def timed(function):
    gc.collect()
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def best_of(function, repeats):
    """(result, fewest seconds of ``repeats`` runs): this machine's load comes and goes within a
    run, so every method gets the same number of tries and its least disturbed one counts."""
    runs = [timed(function) for _ in range(repeats)]
    return runs[-1][0], min(seconds for _, seconds in runs)


def peak_memory(function, baseline_bytes):
    """(baseline + most bytes allocated during one call) / baseline, from a traced run of its own."""
    gc.collect()
    tracemalloc.start()
    try:
        function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (baseline_bytes + peak) / baseline_bytes


def synthetic_digits(n, seed=0):
    """n MNIST-like digits: the bundled real digits, shifted by up to 2 pixels, with noise."""
    sample = data.load("sample", progress=False, log=lambda message: None)
    rng = np.random.RandomState(seed)
    rows = rng.randint(0, len(sample.labels), n)
    images = sample.images[rows].reshape(n, 28, 28).astype(np.int16)
    for axis in (1, 2):
        shifts = rng.randint(-2, 3, n)
        for s in range(-2, 3):
            images[shifts == s] = np.roll(images[shifts == s], s, axis=axis)
    images += rng.randint(-20, 21, images.shape).astype(np.int16)
    return np.clip(images, 0, 255).astype(np.uint8).reshape(n, 784), sample.labels[rows]


def workloads(args):
    sample = data.load("sample", progress=False, log=lambda message: None)
    yield "sample (5,000 real digits)", sample.images, sample.labels, args.iterations
    if SHARED_MNIST.is_dir():
        shared = data.load(str(SHARED_MNIST), progress=False, log=lambda message: None)
        yield "../shared/data/mnist (10,000 real digits)", shared.images, shared.labels, args.iterations
    images, labels = synthetic_digits(70_000)
    yield "synthetic 70,000 (56,000 x 784 training)", images, labels, args.synthetic_iterations


def accuracy(W, b, X, y):
    return float(np.mean(np.argmax(X @ W + b, axis=1) == y))


def binary_accuracies(W, b, X, y):
    return np.round(np.mean(((X @ W + b) > 0) == (y[:, None] == np.arange(W.shape[1])), axis=0), 3)


def train_rows(name, images, labels, iterations, args):
    X = preprocess.standardise(images)
    train, test = preprocess.split_indices(len(X))
    X_train, X_test = X[train], X[test]
    y_train, y_test = labels[train], labels[test]
    X32_train = X_train.astype(np.float32)
    rows = []

    (W_a, b_a), t_a = best_of(lambda: notebook.train_all(X_train, y_train, iterations), args.repeat)
    rows.append(("(a) notebook loop, float64", t_a, accuracy(W_a, b_a, X_test, y_test), "", "baseline"))

    def ours(dtype, X_fit, **params):
        return OneVsAllLogisticRegression(max_iter=iterations, dtype=dtype, **params).fit(X_fit, y_train[:len(X_fit)])

    ours("float64", X_train[:64])  # load the compiled kernels outside the clock
    ours("float32", X32_train[:64])
    m64, t64 = best_of(lambda: ours("float64", X_train), args.repeat)
    peak64 = peak_memory(lambda: ours("float64", X_train), X_train.nbytes)
    diff = float(np.max(np.abs(m64.coef_.T - W_a)))
    rows.append(("(b) ours, float64", t64, accuracy(m64.coef_.T, m64.intercept_, X_test, y_test), f"{peak64:.2f}x",
                 f"max |W - W_a| = {diff:.1e}"))
    m32, t32 = best_of(lambda: ours("float32", X32_train), args.repeat)
    peak32 = peak_memory(lambda: ours("float32", X32_train), X32_train.nbytes)
    same = np.array_equal(binary_accuracies(m32.coef_.T, m32.intercept_, X_test, y_test),
                          binary_accuracies(W_a, b_a, X_test, y_test))
    rows.append(("(c) ours, float32", t32, accuracy(m32.coef_.T, m32.intercept_, X_test, y_test), f"{peak32:.2f}x",
                 f"per-model test accuracies {'equal' if same else 'DIFFER'} to 3 decimals"))
    if not args.skip_sklearn:
        try:
            from sklearn.linear_model import LogisticRegression
            from sklearn.multiclass import OneVsRestClassifier
        except ImportError:
            rows.append(("(d) scikit-learn OvR lbfgs", None, None, "", "not installed"))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sk, t_sk = best_of(lambda: OneVsRestClassifier(LogisticRegression()).fit(X_train, y_train),
                                   args.repeat)
            rows.append(("(d) scikit-learn OvR(LogisticRegression()), lbfgs, 100 iterations", t_sk,
                         float(np.mean(sk.predict(X_test) == y_test)), "", ""))
    lb, t_lb = best_of(lambda: OneVsAllLogisticRegression(solver="lbfgs", max_iter=100).fit(X_train, y_train),
                       args.repeat)
    rows.append(("(e) ours, --solver lbfgs (l2 1e-3), 100 iterations", t_lb,
                 float(np.mean(lb.predict(X_test) == y_test)), "", ""))
    return rows, m64


def render_rows(model_images, model_labels, model):
    """Video, GIF and whole-deliverable timings on the sample workload's float64 model."""
    import imageio.v3 as iio

    from mnist_ova.render import frames, gif, video

    X = preprocess.standardise(model_images)
    _, test = preprocess.split_indices(len(X))
    proba = model.predict_proba(X[test])
    names = [str(k) for k in range(10)]

    def examples(n):
        return [frames.Example(model_images[test[i]].reshape(28, 28), int(model_labels[test[i]]),
                               int(np.argmax(proba[i])), proba[i]) for i in range(n)]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        runs = {}
        for n in (10, 60):
            count, seconds = timed(lambda: video.write_mp4(frames.frames(examples(n), names, (1280, 720), 30, 1.0),
                                                           tmp / f"v{n}.mp4", size=(1280, 720), fps=30))
            runs[n] = (count, seconds)
        marginal = (runs[60][0] - runs[10][0]) / (runs[60][1] - runs[10][1])
        rows.append(("video, 1280x720 H.264: marginal frames/s", marginal, "target >= 300"))
        # The notebook's route writes every full-size frame into the GIF: 20 examples keep it affordable.
        _, t_gif = timed(lambda: gif.write_gif(examples(20), names, tmp / "ours.gif"))
        ours_bytes = (tmp / "ours.gif").stat().st_size

        def notebook_route():
            video.write_mp4(frames.frames(examples(20), names, (1280, 720), 30, 1.0), tmp / "nb.mp4",
                            size=(1280, 720), fps=30)
            iio.imwrite(tmp / "nb.gif", list(iio.imiter(tmp / "nb.mp4")), duration=1000 / 30, loop=0)

        _, t_route = timed(notebook_route)
        route_bytes = (tmp / "nb.gif").stat().st_size
        rows.append(("GIF of 20 examples, ours: seconds", t_gif, f"{ours_bytes / 1024:.0f} KiB"))
        rows.append(("GIF of 20 examples, notebook route (MP4 -> decode -> every frame as GIF): seconds", t_route,
                     f"{route_bytes / 1024:.0f} KiB"))
        rows.append(("GIF speed-up / size ratio", t_route / t_gif, f"{ours_bytes / route_bytes:.3f} of the bytes"))
    return rows


def deliverables_row(args):
    """Every deliverable from a trained model (60 examples), as `run.py render` makes them."""
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "run.py", "train", "--data", "sample", "--out", tmp, "--iterations",
                        str(args.iterations), "--quiet"], cwd=REPO, check=True)
        # The best of three: one run on a busy 2-core machine says more about the load than the code.
        return min(timed(lambda: subprocess.run([sys.executable, "run.py", "render", "--out", tmp, "--quiet"],
                                                cwd=REPO, check=True))[1] for _ in range(3))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=1000, help="iterations on the real-data workloads")
    parser.add_argument("--synthetic-iterations", type=int, default=100, help="iterations on the 56,000-row one")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each trainer; the fastest counts")
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--quick", action="store_true", help="100 / 20 iterations, no scikit-learn")
    args = parser.parse_args()
    if args.quick:
        args.iterations, args.synthetic_iterations, args.skip_sklearn, args.repeat = 100, 20, True, 1
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, {__import__('os').cpu_count()} cores, "
          f"Python {platform.python_version()}, numpy {np.__version__}; each trainer ran {args.repeat} time(s), "
          "its fastest run counts\n")
    sample_model = None
    for name, images, labels, iterations in workloads(args):
        rows, model = train_rows(name, images, labels, iterations, args)
        sample_model = sample_model or (images, labels, model)
        baseline = rows[0][1]
        print(f"### {name}, {iterations} iterations\n")
        print("| method | seconds | speed-up vs (a) | test accuracy | peak memory / X | check |")
        print("|---|---:|---:|---:|---:|---|")
        for method, seconds, acc, peak, check in rows:
            if seconds is None:
                print(f"| {method} | – | – | – | | {check} |")
                continue
            print(f"| {method} | {seconds:.2f} | {baseline / seconds:.1f}x | {acc:.4f} | {peak} | {check} |")
        print(flush=True)
    print("### renderers (sample workload's model, 60 examples, 30 fps, 1 s each)\n")
    print("| what | value | note |\n|---|---:|---|")
    for what, value, note in render_rows(*sample_model):
        print(f"| {what} | {value:.2f} | {note} |")
    print(f"| every deliverable from a trained model (`run.py render`, 60 examples): seconds, best of 3 | "
          f"{deliverables_row(args):.2f} | target <= 10 |")


if __name__ == "__main__":
    main()
