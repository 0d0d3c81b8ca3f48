"""The machine's peak and the training kernel against it, per phase and dtype, measured side by side.

    python bench/peak.py                # as bench/benchmark.py runs it (about 3 minutes on 2 cores)
    python bench/peak.py --rounds 3     # fewer rounds

bench/benchmark.py runs this in a process of its own with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset,
so that OpenBLAS picks its own (best) kernels for this CPU: some machines set OPENBLAS_CORETYPE=Haswell,
which leaves AVX-512 unused and halves the GEMM rate the kernel is compared with. Each round measures,
one after the other, the GEMM and the kernel's phases of both dtypes; the fastest of the rounds counts, so
both sides had the same chances on a machine whose load comes and goes. Two measures: the wall clock on
all cores (what a job sees), and one thread's CPU time (what the code does, little moved by other
processes that take the cores in turn).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mnist_ova.trainer import data, kernels, preprocess  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")
CORES = len(os.sched_getaffinity(0))  # those this process may use (taskset), as training does
DTYPES = ("float64", "float32")
WARM_UP_STEPS = 4  # untimed steps before each timed series


def cpu_description():
    """(the CPU's name with family and model, OpenBLAS's kernels, vector extensions)."""
    from threadpoolctl import threadpool_info

    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name", "unknown CPU")
    if "cpu family" in fields:
        name += f" (family {fields['cpu family']}, model {fields.get('model', '?')})"
    flags = set(fields.get("flags", "").split())
    vectors = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    openblas = [i.get("architecture", "?") for i in threadpool_info() if i.get("internal_api") == "openblas"]
    return name, ", ".join(openblas) or "none", vectors


def fma_widths(dtype, target):
    """Packed multiply-adds in the pass that runs here (``target``'s, for uint8 pixels and ``dtype`` weights) by
    register width, {"zmm": n, "ymm": n, "xmm": n, "q": n} (q: arm64's 128-bit NEON registers), from objdump's
    listing of the built kernel; None without objdump (binutils)."""
    if shutil.which("objdump") is None:
        return None
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", kernels._library._name], capture_output=True,
                             text=True, check=True).stdout
    name = f"pass_{target}_{'f64' if dtype == 'float64' else 'f32'}_u8"
    body = re.search(rf"<{name}>:\n(.*?)\n\n", listing, re.S)
    widths = {"zmm": 0, "ymm": 0, "xmm": 0, "q": 0}
    for operands in re.findall(r"\bvfn?m(?:add|sub)\w*p[sd]\s+([^\n]*)", body.group(1) if body else ""):
        widths[re.findall(r"%([xyz]mm)", operands)[-1]] += 1
    widths["q"] = len(re.findall(r"\bfml[as]\s+v\d+\.(?:2d|4s)", body.group(1) if body else ""))
    return widths


def pass_shape(target):
    """What the pass that runs here is, per dtype: its vectors' width and lanes and its register tiles."""
    lines = []
    for dtype in DTYPES:
        shape = kernels.shape(target, dtype)
        lanes = shape["vector_bytes"] // np.dtype(dtype).itemsize
        lines.append(f"{dtype}: {8 * shape['vector_bytes']}-bit vectors ({lanes} lanes), register tiles of "
                     f"{shape['logits_rows']} rows x {shape['logits_models']} models (logits) and "
                     f"{shape['gradient_rows']} rows x {shape['gradient_vectors']} vectors of columns x "
                     f"{shape['gradient_models']} models (gradient), the models padded to a "
                     f"multiple of {shape['models_multiple']}")
    return "; ".join(lines)


def gemm_seconds(a, threads=None):
    """Seconds of one a @ a: wall clock on OpenBLAS's threads, or with ``threads=1`` this thread's CPU time."""
    from threadpoolctl import threadpool_limits

    if threads is None:
        start = time.perf_counter()
        a @ a
        return time.perf_counter() - start
    with threadpool_limits(threads):
        start = time.thread_time()
        a @ a
        return time.thread_time() - start


def copy_rate(dtype):
    """GB/s (bytes read + written) of copying 400 MB into another array, best of 5."""
    source = np.ones(400_000_000 // np.dtype(dtype).itemsize, dtype)
    target = np.empty_like(source)
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.nbytes / best / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="rounds of every measure; the fastest counts")
    parser.add_argument("--steps", type=int, default=3, help="kernel steps per measure and round")
    parser.add_argument("--data", default=str(FASHION) if FASHION.is_dir() else "sample",
                        help="the images to train on (default: Fashion-MNIST's official files where installed)")
    args = parser.parse_args()
    name, openblas, vectors = cpu_description()
    unset = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
    print(f"CPU: {name}; {vectors}; {CORES} cores; the kernel's pass: {kernels.target()}; OpenBLAS kernels: "
          f"{openblas}{' (CHOSEN BY ' + ', '.join(unset) + ')' if unset else ' (its own choice: OPENBLAS_CORETYPE unset)'}"
          f"; load average at the start {os.getloadavg()[0]:.1f}\n")
    print(f"The {kernels.target()} pass: {pass_shape(kernels.target())}.\n")
    widths = {dtype: fma_widths(dtype, kernels.target()) for dtype in DTYPES}
    print("The kernel's packed multiply-adds by vector register (zmm 512-bit, ymm 256-bit, xmm and q 128-bit): "
          + "; ".join(f"{dtype} " + ", ".join(f"{n} {register}" for register, n in w.items() if n or register != "q")
                      if w else f"{dtype} unknown (no objdump)" for dtype, w in widths.items()) + "\n", flush=True)

    source = args.data
    dataset = data.load(source, progress=False, log=lambda message: None)
    train, _ = preprocess.split_indices(len(dataset.labels))
    pixels, centre, scale = preprocess.StandardisedImages(dataset.images[train]).kernel_inputs()
    labels = dataset.labels[train]
    n, d = pixels.shape
    K = 10
    flops = 2 * n * d * K  # of the logits, and as many of the gradient
    rng = np.random.RandomState(0)
    steps, matrices, ones = {}, {}, {}
    for dtype in DTYPES:
        WT, b = (rng.randn(K, d) * 0.01).astype(dtype), np.zeros(K, dtype)
        for phases in range(1, len(kernels.PHASES) + 1):
            step = kernels.FusedPass(pixels, labels, K, dtype=dtype, centre=centre, scale=scale, phases=phases)
            step(WT, b)
            steps[dtype, phases] = (step, WT, b)
        for phases in range(1, len(kernels.PHASES) + 1):  # one thread, a quarter of the rows, phase by phase
            one = kernels.FusedPass(pixels[:n // 4], labels[:n // 4], K, dtype=dtype, centre=centre[:n // 4],
                                    scale=scale[:n // 4], n_threads=1, phases=phases)
            one(WT, b)
            ones[dtype, phases] = (one, WT, b)
        matrices[dtype] = (np.random.RandomState(0).rand(3000, 3000).astype(dtype),
                           np.random.RandomState(0).rand(2000, 2000).astype(dtype))
        gemm_seconds(matrices[dtype][0])

    best, loads = {}, []

    def keep(key, seconds):
        best[key] = min(best.get(key, np.inf), seconds)

    for _ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for dtype in DTYPES:
            big, small = matrices[dtype]
            keep(("gemm", dtype), gemm_seconds(big))
            keep(("gemm1", dtype), gemm_seconds(small, threads=1))
            # OpenBLAS's threads spin about 0.1 s of CPU after a product, and the first steps after a GEMM
            # run 5-15 % slower (measured): let them stop, and time steps that follow untimed ones, as in
            # training, where step follows step.
            time.sleep(0.3)
            for (kind, phases), (step, WT, b) in steps.items():
                if kind != dtype:
                    continue
                for _ in range(WARM_UP_STEPS):
                    step(WT, b)
                for _ in range(args.steps):
                    start = time.perf_counter()
                    step(WT, b)
                    keep((dtype, phases), time.perf_counter() - start)
            step = steps[dtype, 1][0]
            step.counter[0] = 0
            start = time.perf_counter()
            step._run_threads(step._sum_parts)  # as each pass ends: the chunks' gradients
            keep((dtype, "sums"), time.perf_counter() - start)
            for (kind, phases), (one, WT, b) in ones.items():
                if kind != dtype:
                    continue
                for _ in range(args.steps):
                    start = time.thread_time()
                    one(WT, b)
                    keep((dtype, "one", phases), time.thread_time() - start)
            one = ones[dtype, 1][0]
            one.counter[0] = 0
            start = time.thread_time()
            one._run_threads(one._sum_parts)  # each call's end: the chunks' gradients added
            keep((dtype, "one", "sums"), time.thread_time() - start)
    loads.append(os.getloadavg()[0])

    peak = {dtype: 2 * 3000 ** 3 / best["gemm", dtype] / 1e9 for dtype in DTYPES}
    peak1 = {dtype: 2 * 2000 ** 3 / best["gemm1", dtype] / 1e9 for dtype in DTYPES}
    print(f"Best of {args.rounds} rounds (load average {min(loads):.1f} to {max(loads):.1f} during them); "
          f"{n:,} training rows x {d} raw uint8 pixels ({source}), {K} models.\n")
    print("| machine | float64 | float32 |\n|---|---:|---:|")
    print(f"| GEMM 3000x3000 on {CORES} cores, GFLOP/s (wall clock) | {peak['float64']:.1f} | "
          f"{peak['float32']:.1f} |")
    print(f"| GEMM 2000x2000 on 1 thread, GFLOP/s (its CPU time) | {peak1['float64']:.1f} | {peak1['float32']:.1f} |")
    print(f"| memory copy 400 MB, GB/s (read + write) | {copy_rate('float64'):.1f} | {copy_rate('float32'):.1f} |\n")

    print(f"The {kernels.target()} pass, {CORES} threads, wall clock; % of the GEMM on {CORES} cores above:\n")
    print("| dtype | phase of a step | ms | share of the step | GFLOP/s | % of GEMM |")
    print("|---|---|---:|---:|---:|---:|")
    for dtype in DTYPES:
        total = best[dtype, len(kernels.PHASES)]
        sums = best[dtype, "sums"]
        phase_seconds = [best[dtype, 1] - sums, *(best[dtype, p] - best[dtype, p - 1]
                                                  for p in range(2, len(kernels.PHASES) + 1)), sums]
        phase_flops = [flops, 0, flops, 0]
        for phase, seconds, work in zip([*kernels.PHASES, "adding the chunks' gradients (all threads)"], phase_seconds,
                                        phase_flops):
            rate = f"{work / seconds / 1e9:.1f} | {100 * work / seconds / 1e9 / peak[dtype]:.0f} %" if work else "– | –"
            print(f"| {dtype} | {phase} | {1e3 * seconds:.2f} | {100 * seconds / total:.0f} % | {rate} |")
        rate = 2 * flops / total / 1e9
        print(f"| {dtype} | **whole step**, {CORES} threads, wall clock | {1e3 * total:.2f} | 100 % | "
              f"{rate:.1f} | **{100 * rate / peak[dtype]:.0f} %** |")
        last = best[dtype, "one", len(kernels.PHASES)]
        rate1 = 2 * flops / 4 / last / 1e9
        print(f"| {dtype} | whole step, 1 thread, its CPU time (a quarter of the rows) | "
              f"{1e3 * last:.2f} | | {rate1:.1f} | {100 * rate1 / peak1[dtype]:.0f} % of 1-thread GEMM |")
    # On a machine others use, one thread's CPU time moves less than the wall clock of all cores.
    print(f"\nThe {kernels.target()} pass on 1 thread, its CPU time, a quarter of the rows; % of the GEMM on 1 "
          "thread:\n")
    print("| dtype | phase of a step | ms | share of the step | GFLOP/s | % of 1-thread GEMM |")
    print("|---|---|---:|---:|---:|---:|")
    for dtype in DTYPES:
        total, sums = best[dtype, "one", len(kernels.PHASES)], best[dtype, "one", "sums"]
        for phases, phase in enumerate([*kernels.PHASES, "adding the chunks' gradients"], 1):
            if phases > len(kernels.PHASES):
                seconds = sums
            else:
                seconds = best[dtype, "one", phases] - (best[dtype, "one", phases - 1] if phases > 1 else sums)
            work = flops / 4 if phases in (1, 3) else 0
            rate = (f"{work / seconds / 1e9:.1f} | {100 * work / seconds / 1e9 / peak1[dtype]:.0f} %" if work
                    else "– | –")
            print(f"| {dtype} | {phase} | {1e3 * seconds:.2f} | {100 * seconds / total:.0f} % | {rate} |")
        rate1 = 2 * flops / 4 / total / 1e9
        print(f"| {dtype} | **whole step** (with adding the chunks' gradients) | {1e3 * total:.2f} | 100 % | "
              f"{rate1:.1f} | **{100 * rate1 / peak1[dtype]:.0f} %** |")
    print("\n(Each phase's time is the difference between passes that stop after it; the multiply-add phases do "
          f"{flops / 1e9:.2f} GFLOP each per step, a quarter of that in the one-thread table.)\n")


if __name__ == "__main__":
    main()
