"""One pass over the training rows per gradient step, compiled with numba.

A step needs Z = X Wᵀ (forward) and dW = Gᵀ X (backward) for all K models. OpenBLAS runs
these thin products (K = 10) far below the machine's speed and reads X twice; this kernel
reads each tile of 8 rows once, computes its logits with the weights held in registers
(4 rows x 5 models at a time), and adds the tile's gradient while the rows are still in
cache. Row chunks are fixed (not tied to the thread count) and their partial sums are
added in order, so the result does not depend on the machine.
"""
import numpy as np
from numba import njit, prange

CHUNK = 1024  # rows per parallel task; a multiple of ROWS
ROWS = 8  # rows per tile
MODELS = 5  # models per register tile; K is padded to a multiple of this


@njit(fastmath=True, inline="always", cache=True)
def _logits_4x5(X, i, WT, k, z, r):
    """z[r:r+4, k:k+5] += X[i:i+4] @ WT[k:k+5].T"""
    x0, x1, x2, x3 = X[i], X[i + 1], X[i + 2], X[i + 3]
    w0, w1, w2, w3, w4 = WT[k], WT[k + 1], WT[k + 2], WT[k + 3], WT[k + 4]
    zero = X.dtype.type(0)
    a00 = a01 = a02 = a03 = a04 = a10 = a11 = a12 = a13 = a14 = zero
    a20 = a21 = a22 = a23 = a24 = a30 = a31 = a32 = a33 = a34 = zero
    for j in range(X.shape[1]):
        v0, v1, v2, v3 = x0[j], x1[j], x2[j], x3[j]
        u0, u1, u2, u3, u4 = w0[j], w1[j], w2[j], w3[j], w4[j]
        a00 += v0 * u0; a01 += v0 * u1; a02 += v0 * u2; a03 += v0 * u3; a04 += v0 * u4  # noqa: E702
        a10 += v1 * u0; a11 += v1 * u1; a12 += v1 * u2; a13 += v1 * u3; a14 += v1 * u4  # noqa: E702
        a20 += v2 * u0; a21 += v2 * u1; a22 += v2 * u2; a23 += v2 * u3; a24 += v2 * u4  # noqa: E702
        a30 += v3 * u0; a31 += v3 * u1; a32 += v3 * u2; a33 += v3 * u3; a34 += v3 * u4  # noqa: E702
    sums = ((a00, a01, a02, a03, a04), (a10, a11, a12, a13, a14), (a20, a21, a22, a23, a24),
            (a30, a31, a32, a33, a34))
    for dr in range(4):
        row = sums[dr]
        for dk in range(5):
            z[r + dr, k + dk] += row[dk]


@njit(fastmath=True, inline="always", cache=True)
def _score(z, y_index, r, i, K, G, stats):
    """Gradient factor, cost and rounding error of one row's K logits, from one exp and one log1p."""
    one, zero, half = z.dtype.type(1), z.dtype.type(0), z.dtype.type(0.5)  # float32 stays float32
    for k in range(K):
        zk = z[r, k]
        target = one if y_index[i] == k else zero
        e = np.exp(-abs(zk))
        a = one / (one + e) if zk >= zero else e / (one + e)
        G[r, k] = a - target
        stats[0, k] += a - target
        # -y log(a) - (1 - y) log(1 - a), without log(0): max(z, 0) - z y + log(1 + e^-|z|)
        stats[1, k] += max(zk, zero) - zk * target + np.log1p(e)
        stats[2, k] += 1.0 if (a > half) != (target > half) else 0.0


@njit(parallel=True, fastmath=True, cache=True)
def _pass(X, WT, b, y_index, K, dWT_parts, stats_parts):
    n, d = X.shape
    KP = WT.shape[0]
    for c in prange(dWT_parts.shape[0]):
        dW = dWT_parts[c]
        stats = stats_parts[c]
        dW[:, :] = 0
        stats[:, :] = 0
        z = np.empty((ROWS, KP), X.dtype)
        G = np.zeros((ROWS, KP), X.dtype)
        start = c * CHUNK
        stop = min(n, start + CHUNK)
        for i in range(start, stop, ROWS):
            m = min(ROWS, stop - i)
            for r in range(m):
                for k in range(KP):
                    z[r, k] = b[k]
            if m == ROWS:
                for k in range(0, KP, MODELS):
                    _logits_4x5(X, i, WT, k, z, 0)
                    _logits_4x5(X, i + 4, WT, k, z, 4)
            else:
                for r in range(m):
                    for k in range(KP):
                        acc = X.dtype.type(0)
                        for j in range(d):
                            acc += X[i + r, j] * WT[k, j]
                        z[r, k] += acc
            for r in range(m):
                _score(z, y_index, r, i + r, K, G, stats)
            if m == ROWS:
                x0, x1, x2, x3 = X[i], X[i + 1], X[i + 2], X[i + 3]
                x4, x5, x6, x7 = X[i + 4], X[i + 5], X[i + 6], X[i + 7]
                for k in range(K):
                    g0, g1, g2, g3 = G[0, k], G[1, k], G[2, k], G[3, k]
                    g4, g5, g6, g7 = G[4, k], G[5, k], G[6, k], G[7, k]
                    row = dW[k]
                    for j in range(d):
                        row[j] += (g0 * x0[j] + g1 * x1[j] + g2 * x2[j] + g3 * x3[j]
                                   + g4 * x4[j] + g5 * x5[j] + g6 * x6[j] + g7 * x7[j])
            else:
                for r in range(m):
                    for k in range(K):
                        g = G[r, k]
                        row = dW[k]
                        for j in range(d):
                            row[j] += g * X[i + r, j]


class FusedPass:
    """Reusable buffers for one training run: ``__call__(WT, b)`` gives the step's sums."""

    def __init__(self, X, y_index, K):
        self.X = np.ascontiguousarray(X)
        self.y_index = np.ascontiguousarray(y_index, dtype=np.int64)
        self.K = K
        padded = -(-K // MODELS) * MODELS
        chunks = -(-len(X) // CHUNK)
        self.dWT_parts = np.empty((chunks, padded, X.shape[1]), X.dtype)
        self.stats_parts = np.empty((chunks, 3, padded), np.float64)
        self.WT = np.zeros((padded, X.shape[1]), X.dtype)  # padding models stay at zero
        self.b = np.zeros(padded, X.dtype)

    def __call__(self, WT, b):
        """(Gᵀ X, Σ G, Σ cost, Σ rounding errors) over all rows, each with K rows/entries."""
        K = self.K
        self.WT[:K] = WT
        self.b[:K] = b
        _pass(self.X, self.WT, self.b, self.y_index, K, self.dWT_parts, self.stats_parts)
        stats = self.stats_parts.sum(axis=0)
        return self.dWT_parts.sum(axis=0)[:K], stats[0, :K], stats[1, :K], stats[2, :K]
