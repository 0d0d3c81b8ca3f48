"""Side-by-side benchmark: the whole job as a process against the notebook's (on the kernel and on the NumPy
path), the machine's limits, the kernel alone, the notebook's loop, our trainer, scikit-learn, and the renderers.

    python bench/benchmark.py              # every workload (about 30 minutes on 2 cores)
    python bench/benchmark.py --quick      # fewer iterations, for a smoke run (about 2 minutes)

Every ratio compares methods measured in this one run on this machine; absolute seconds
depend on the machine and its load.
"""
import argparse
import gc
import json
import os
import platform
import subprocess
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
from mnist_ova.trainer.steps import NUMPY_TARGET  # noqa: E402

NUMPY_PATH = {"MNIST_OVA_KERNEL_TARGET": NUMPY_TARGET}  # the environment that trains on the NumPy path

SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
FASHION = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist: 70,000 real images


def training_path():
    """Which path trains by default here: the kernel's pass, or the NumPy path where the kernel is not built."""
    try:
        from mnist_ova.trainer import kernels
    except ImportError:
        return "no kernel built: the NumPy path"
    return f"the kernel's {kernels.target()} pass"


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_section(args):
    """bench/peak.py in a process of its own with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (OpenBLAS then
    picks its best kernels for this CPU), printed as it comes; and the GEMM as this environment sets it up."""
    print("### the machine's peak and the kernel against it\n")
    chosen = {name: os.environ[name] for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if name in os.environ}
    if chosen:
        a = np.random.RandomState(0).rand(3000, 3000)
        a @ a
        rate = 2 * 3000 ** 3 / min(timed(lambda: a @ a)[1] for _ in range(3)) / 1e9
        print(f"This environment sets {', '.join(f'{k}={v}' for k, v in chosen.items())}: with it, a float64 GEMM "
              f"3000x3000 runs at {rate:.1f} GFLOP/s. The peak below is measured with both unset (OpenBLAS's own "
              "choice of kernels).\n")
    else:
        print("OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are not set here: OpenBLAS uses its own choice of kernels.\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    subprocess.run([sys.executable, "bench/peak.py", "--rounds", str(args.peak_rounds)], cwd=REPO, env=env, check=True)
    sys.stdout.flush()


# A child's peak RSS from wait4 includes the RSS of whatever process it was forked from (the kernel
# takes the high-water mark over at exec), and this process is large: so each measured command is
# forked from a small launcher instead, which reports its child's peak.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write("PEAK_RSS_KB %d\\n" % usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def timed_process(command, env=None):
    """(stdout, wall seconds, peak RSS MB) of one child process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *command], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    peak_kb = int(done.stderr.rsplit("PEAK_RSS_KB", 1)[1].split()[0])
    return done.stdout, wall, peak_kb / 1024


def whole_job_section(args):
    """The whole job as a process (`run.py train`) against the notebook's whole job, on 70,000 real images."""
    source = str(FASHION) if FASHION.is_dir() else "sample"
    iterations = args.job_iterations
    print(f"### whole job as a process: {source} ({'70,000 Fashion-MNIST images' if FASHION.is_dir() else 'sample'}"
          f", 80/20 split), {iterations} iterations\n")
    out, t_nb, rss_nb = timed_process([sys.executable, "bench/notebook.py", "--data", source, "--iterations",
                                       str(iterations)])
    notebook_job = json.loads(out)
    rows = [("(a) notebook's whole job (load, standardise, its loop), float64", t_nb, 1.0, rss_nb,
             notebook_job["multiclass_accuracy"], {k: notebook_job[k] for k in ("load_s", "preprocess_s", "train_s")})]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("float64", "float32"):
            for kind in ("cold", "warm", "numpy"):
                runs = []
                for attempt in range(args.repeat):
                    # Cold runs first, with a cache folder of their own: empty, as after install; the warm runs
                    # of the same attempt (the kernel's, then the NumPy path's) then find what the cold one left.
                    cache = Path(tmp) / f"cache-{dtype}-{attempt}"
                    env = {"MNIST_OVA_CACHE": str(cache), **(NUMPY_PATH if kind == "numpy" else {})}
                    command = [sys.executable, "run.py", "train", "--data", source, "--out", str(Path(tmp) / "out"),
                               "--dtype", dtype, "--iterations", str(iterations), "--force", "--quiet", "--json"]
                    stdout, wall, rss = timed_process(command, env)
                    summary = json.loads(stdout)
                    runs.append((wall, rss, summary))
                wall, rss, summary = min(runs, key=lambda run: run[0])
                results[dtype, kind] = (wall, max(r[1] for r in runs), summary)
                label = {"cold": "first run after install (empty cache)", "warm": "next run",
                         "numpy": "next run on the NumPy path"}[kind]
                rows.append((f"ours, {dtype}, {label}", wall, t_nb / wall, max(r[1] for r in runs),
                             summary["multiclass_accuracy"], summary["timings"]))
    print("| whole job | seconds | speed-up vs (a) | peak RSS MB | test accuracy | stages (share of the seconds) |")
    print("|---|---:|---:|---:|---:|---|")
    for name, wall, ratio, rss, acc, stages in rows:
        shares = ", ".join(f"{k[:-2]} {v:.2f} s ({100 * v / wall:.0f} %)" for k, v in stages.items()
                           if k.endswith("_s"))
        start_up = wall - sum(v for k, v in stages.items() if k.endswith("_s"))
        print(f"| {name} | {wall:.2f} | {ratio:.1f}x | {rss:.0f} | {acc:.4f} | {shares}, "
              f"start-up and the rest {start_up:.2f} s ({100 * start_up / wall:.0f} %) |")
    n_images, pixels = 70_000, 784
    for dtype, target_ratio in (("float64", 12), ("float32", 20)):
        wall, rss, summary = results[dtype, "cold"]
        float_mb = n_images * pixels * np.dtype(dtype).itemsize / 1e6 if source != "sample" else 0
        limit = 1.5 * float_mb + 400
        print(f"\n- {dtype}: first run {t_nb / wall:.1f}x the notebook's whole job (target >= {target_ratio}x); "
              f"peak RSS {rss:.0f} MB (limit 1.5 x {float_mb:.0f} MB + 400 = {limit:.0f} MB)")
    print(f"- float32 peak RSS {'<=' if results['float32', 'cold'][1] <= results['float64', 'cold'][1] else 'ABOVE'} "
          "float64's")
    for dtype in ("float64", "float32"):
        (kernel, _, kernel_summary), (numpy_path, _, numpy_summary) = results[dtype, "warm"], results[dtype, "numpy"]
        train_kernel, train_numpy = kernel_summary["timings"]["train_s"], numpy_summary["timings"]["train_s"]
        print(f"- {dtype}, next run on the NumPy path (MNIST_OVA_KERNEL_TARGET={NUMPY_TARGET}): {numpy_path:.2f} s "
              f"against the kernel's {kernel:.2f} s = **{numpy_path / kernel:.1f}x** as long (training "
              f"{train_numpy:.2f} s against {train_kernel:.2f} s = {train_numpy / train_kernel:.1f}x)")
    for dtype in ("float64", "float32"):
        wall, _, summary = results[dtype, "cold"]
        training = summary["timings"].get("train_s", 0)
        print(f"- {dtype}, first run: not training (start-up, load, standardise, snapshots, evaluate, the rest) "
              f"{wall - training:.2f} s of {wall:.2f} s = **{100 * (wall - training) / wall:.0f} %** (target <= 15 %)")
    print()


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

    def ours(dtype, rows, **params):
        """As the tool trains: raw pixels, standardised inside the kernel."""
        raw = preprocess.StandardisedImages(images[train[rows]], dtype)
        return OneVsAllLogisticRegression(max_iter=iterations, dtype=dtype, **params).fit(raw, labels[train[rows]])

    everything = slice(None)
    ours("float64", slice(64))  # the first fit's one-time costs (imports, thread pool) outside the clock
    ours("float32", slice(64))
    m64, t64 = best_of(lambda: ours("float64", everything), args.repeat)
    peak64 = peak_memory(lambda: ours("float64", everything), X_train.nbytes)
    diff = float(np.max(np.abs(m64.coef_.T - W_a)))
    rows.append(("(b) ours, float64", t64, accuracy(m64.coef_.T, m64.intercept_, X_test, y_test), f"{peak64:.2f}x",
                 f"max |W - W_a| = {diff:.1e}"))
    m32, t32 = best_of(lambda: ours("float32", everything), args.repeat)
    peak32 = peak_memory(lambda: ours("float32", everything), X32_train.nbytes)
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
                                                           tmp / f"v{n}.mp4", size=(1280, 720), fps=30,
                                                           counts=frames.frame_counts(n, 30, 1.0)))
            runs[n] = (count, seconds)
        marginal = (runs[60][0] - runs[10][0]) / (runs[60][1] - runs[10][1])
        # Frame times of the video (30 a second), since issue 20 made of a third as many encoded frames.
        rows.append(("video, 1280x720 H.264: marginal frame times/s", marginal, "target >= 300"))
        # The notebook's route writes every full-size frame into the GIF: 20 examples keep it affordable.
        _, t_gif = timed(lambda: gif.write_gif(examples(20), names, tmp / "ours.gif"))
        ours_bytes = (tmp / "ours.gif").stat().st_size

        def notebook_route():  # every frame time a frame of its own, as the notebook writes them
            every_frame = (frame for example in examples(20)
                           for frame, count in frames.example_frames(example, names, (1280, 720), 30, 1.0)
                           for _ in range(count))
            video.write_mp4(every_frame, tmp / "nb.mp4", size=(1280, 720), fps=30)
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


def deliverables_section(repeats=3):
    """`run.py render` of every deliverable (the training film included) from a model trained on the bundled
    data, and the default job (`python run.py`: train on the bundled data, then every deliverable) into an
    empty folder, on the kernel and on the NumPy path; each run's seconds, the best against its target, the
    load average around them, and how much of training the snapshots cost (timings.json's snapshots_s against
    train_s)."""

    def run(*arguments, env=None):
        start = time.perf_counter()
        subprocess.run([sys.executable, "run.py", *arguments, "--quiet"], cwd=REPO, check=True,
                       stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        return time.perf_counter() - start

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        model_out = Path(tmp) / "model"
        run("train", "--out", str(model_out))
        renders = [run("render", "--out", str(model_out)) for _ in range(repeats)]
        jobs, numpy_jobs, shares = [], [], []
        for i in range(repeats):  # the two paths in turn, so that the machine's load meets both alike
            out = Path(tmp) / f"job{i}"
            jobs.append(run("--out", str(out)))
            stages = json.loads((out / "timings.json").read_text())
            shares.append(stages.get("snapshots_s", 0.0) / stages["train_s"])
            numpy_jobs.append(run("--out", str(Path(tmp) / f"numpy-job{i}"), env=NUMPY_PATH))
    load_after = os.getloadavg()
    print(f"### every deliverable ({cpu_name()}, {os.cpu_count()} cores; load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after)\n")
    print("| what | best s | runs, s | target |\n|---|---:|---|---|")
    for what, runs, target in (("`run.py render`, every deliverable incl. the training film", renders, 10),
                               ("default job `python run.py` (train on the bundled data + every deliverable)", jobs,
                                12)):
        verdict = "met" if min(runs) <= target else "MISSED"
        print(f"| {what} | {min(runs):.2f} | {', '.join(f'{r:.2f}' for r in runs)} | <= {target} s: {verdict} |")
    print(f"| the default job on the NumPy path (MNIST_OVA_KERNEL_TARGET={NUMPY_TARGET}) | {min(numpy_jobs):.2f} | "
          f"{', '.join(f'{r:.2f}' for r in numpy_jobs)} | **{min(numpy_jobs) / min(jobs):.1f}x** the kernel's |")
    print(f"| snapshots (scoring every snapshot after training) / training time | {100 * min(shares):.1f} % | "
          f"{', '.join(f'{100 * r:.1f} %' for r in shares)} | < 5 % |")
    print(flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=1000, help="iterations on the real-data workloads")
    parser.add_argument("--synthetic-iterations", type=int, default=100, help="iterations on the 56,000-row one")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each trainer; the fastest counts")
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--job-iterations", type=int, default=1000, help="iterations of the whole-job comparison")
    parser.add_argument("--peak-rounds", type=int, default=7, help="rounds of bench/peak.py (GEMM and kernel)")
    parser.add_argument("--skip-peak", action="store_true", help="without the peak and kernel section")
    parser.add_argument("--skip-job", action="store_true", help="without the whole-job section")
    parser.add_argument("--skip-tables", action="store_true", help="only the machine, kernel and whole-job sections")
    parser.add_argument("--quick", action="store_true", help="100 / 20 iterations, no scikit-learn")
    parser.add_argument("--deliverables", action="store_true",
                        help="only the render and default-job times (about a minute)")
    args = parser.parse_args()
    if args.deliverables:
        deliverables_section()
        return
    if args.quick:
        args.iterations, args.synthetic_iterations, args.skip_sklearn, args.repeat = 100, 20, True, 1
        args.job_iterations, args.peak_rounds = 20, 1
    print(f"machine: {cpu_name()}, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}, {training_path()}; each trainer ran {args.repeat} time(s), "
          "its fastest run counts\n")
    print(f"load average at the start: {os.getloadavg()[0]:.1f}\n", flush=True)
    if not args.skip_peak:
        peak_section(args)
    if not args.skip_job:
        whole_job_section(args)
    deliverables_section()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}\n", flush=True)
    if args.skip_tables:
        return
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
