"""Issue 14's sparse experiment: a gradient step over a CSR copy of the raw uint8 pixels (zeros skipped)
against the dense fused step (trainer.kernels.FusedPass), on ../shared/data/mnist (about 19 % non-zeros)
and the official Fashion-MNIST files (about 50 %).

    NUMBA_NUM_THREADS=1 python bench/sparse_step.py [STEPS]

The sparse step folds the standardisation in as the dense one does, z = (p.w - mean sum(w)) / std + b and
dW = sum (g / std) p - sum (g mean / std), with the 10 models' weights padded to 16 per pixel, so that each
non-zero is one 16-wide multiply-add forward and one 16-wide load-add-store backward. It did not pay (see
the README's benchmark section), so the tool has no sparse path; this stays to measure it again.
"""
import sys, time
from pathlib import Path

import numpy as np
from numba import njit, prange

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mnist_ova.trainer import data, preprocess
from mnist_ova.trainer.kernels import FusedPass, CHUNK

KP = 16


@njit(fastmath=True, parallel=True, cache=False)
def sparse_step(indptr, indices, values, centre, scale, WTT, b, y, K, parts, stats):
    n = indptr.size - 1
    d = WTT.shape[0]
    chunks = parts.shape[0]
    dt = WTT.dtype.type
    wsum = np.zeros(KP, WTT.dtype)
    for j in range(d):
        for k in range(KP):
            wsum[k] += WTT[j, k]
    for c in prange(chunks):
        P = parts[c]
        P[:, :] = 0
        acc = np.empty(KP, WTT.dtype)
        g = np.empty(KP, WTT.dtype)
        for r in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15 = dt(0), dt(0), dt(0), dt(0), dt(0), dt(0), dt(0), dt(0), dt(0), dt(0), dt(0), dt(0), dt(0), dt(0), dt(0), dt(0)
            for p in range(indptr[r], indptr[r + 1]):
                v = dt(values[p]); w = WTT[indices[p]]
                a0 += v * w[0]
                a1 += v * w[1]
                a2 += v * w[2]
                a3 += v * w[3]
                a4 += v * w[4]
                a5 += v * w[5]
                a6 += v * w[6]
                a7 += v * w[7]
                a8 += v * w[8]
                a9 += v * w[9]
                a10 += v * w[10]
                a11 += v * w[11]
                a12 += v * w[12]
                a13 += v * w[13]
                a14 += v * w[14]
                a15 += v * w[15]
            acc[0] = a0
            acc[1] = a1
            acc[2] = a2
            acc[3] = a3
            acc[4] = a4
            acc[5] = a5
            acc[6] = a6
            acc[7] = a7
            acc[8] = a8
            acc[9] = a9
            acc[10] = a10
            acc[11] = a11
            acc[12] = a12
            acc[13] = a13
            acc[14] = a14
            acc[15] = a15
            mu, s = centre[r], scale[r]
            for k in range(KP):
                z = (acc[k] - mu * wsum[k]) * s + b[k]
                a = 1.0 / (1.0 + np.exp(-z))
                t = 1.0 if y[r] == k else 0.0
                gk = dt(a - t) if k < K else dt(0)
                stats[c, k] += gk
                g[k] = gk * s
                P[d, k] += g[k] * mu
            g0, g1, g2, g3, g4, g5, g6, g7, g8, g9, g10, g11, g12, g13, g14, g15 = (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15])
            for p in range(indptr[r], indptr[r + 1]):
                v = dt(values[p]); q = P[indices[p]]
                q[0] += v * g0
                q[1] += v * g1
                q[2] += v * g2
                q[3] += v * g3
                q[4] += v * g4
                q[5] += v * g5
                q[6] += v * g6
                q[7] += v * g7
                q[8] += v * g8
                q[9] += v * g9
                q[10] += v * g10
                q[11] += v * g11
                q[12] += v * g12
                q[13] += v * g13
                q[14] += v * g14
                q[15] += v * g15
    return parts

def csr(images):
    mask = images != 0
    indptr = np.zeros(len(images) + 1, np.int64); indptr[1:] = np.cumsum(mask.sum(1))
    rows, cols = np.nonzero(mask)
    return indptr, cols.astype(np.int32), images[rows, cols]

for name, path in (("MNIST 10k", str(Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist")), ("Fashion-MNIST 70k", "/usr/share/datasets/fashion-mnist")):
    ds = data.load(path, progress=False, log=lambda m: None)
    tr, _ = preprocess.split_indices(len(ds.labels))
    P, mu, s = preprocess.StandardisedImages(ds.images[tr]).kernel_inputs()
    y = ds.labels[tr].astype(np.int64)
    indptr, indices, values = csr(P)
    n, d = P.shape
    print(f"{name}: {n} training rows, density {len(values) / P.size:.3f}")
    for dtn in ("float32", "float64"):
        dt = np.dtype(dtn)
        rng = np.random.RandomState(0)
        WT = (rng.randn(10, d) * 0.01).astype(dt); b = np.zeros(10, dt)
        WTT = np.zeros((d, KP), dt); WTT[:, :10] = WT.T; bp = np.zeros(KP, dt)
        chunks = -(-n // CHUNK)
        parts = np.empty((chunks, d + 1, KP), dt); stats = np.zeros((chunks, KP))
        dense = FusedPass(P, y, 10, dtype=dt, centre=mu.astype(dt), scale=s.astype(dt))
        sparse_step(indptr, indices, values, mu.astype(dt), s.astype(dt), WTT, bp, y, 10, parts, stats)
        dense(WT, b)
        # check: sparse gradient equals dense gradient
        stats[:] = 0
        sp = sparse_step(indptr, indices, values, mu.astype(dt), s.astype(dt), WTT, bp, y, 10, parts, stats).sum(0)
        gsp = (sp[:d] - sp[d][None, :]).T[:10]
        gd = dense(WT, b)[0]
        err = np.abs(gsp - gd).max() / np.abs(gd).max()
        td, ts = [], []
        for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 15):
            t = time.perf_counter(); dense(WT, b); td.append(time.perf_counter() - t)
            t = time.perf_counter(); sparse_step(indptr, indices, values, mu.astype(dt), s.astype(dt), WTT, bp, y, 10, parts, stats); ts.append(time.perf_counter() - t)
        print(f"  {dtn}: dense fused step {1e3 * min(td):.2f} ms, sparse CSR step {1e3 * min(ts):.2f} ms  (rel. gradient diff {err:.1e})")
