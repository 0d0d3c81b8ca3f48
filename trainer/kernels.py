"""One pass over the training rows per gradient step, compiled with numba.

The rows come in as raw pixels (uint8 images) with each row's scale and offset: every tile's
features, pixels * scale + offset (= (pixels - centre) * scale, one multiply-add), are made as the
tile is read, so the data set is never copied as floats and a step reads 1 byte a pixel. The pass
runs on one thread per core (``nogil``), the threads claiming chunks of rows through an atomic
counter: as fast as a numba parfor, and far quicker to compile (bench/NOTES.md).

A step needs Z = X Wᵀ (forward) and dW = Gᵀ X (backward) for all K models. OpenBLAS runs
these thin products (K = 10) far below the machine's speed and reads X twice; this kernel
reads each tile of 8 rows once, computes its logits with the weights held in registers
(4 rows x 5 models at a time), and adds the tile's gradient while the rows are still in
cache, again 4 rows x 5 models at a time: with the 20 gradient factors in registers, each
load of X serves five models (one model per load would make the step load-bound).
Between the two, each model's 8 sigmoids and costs are one vector: numba has no vector exp
or log here (no SVML), so both are written out as polynomials (within 1 and 3 ulp; float32
needs fewer terms), much cheaper than the library's scalar calls. While a tile
is worked on, the tile four on is prefetched into L2, a share per register-tile call. Row
chunks are fixed (not tied to the thread count) and their partial sums are added in order, so
the result does not depend on the machine.
"""
import concurrent.futures
import math
import os
import time

import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from mnist_ova import children
from mnist_ova.environment import training_threads

def _cache_locator():
    """Where numba keeps the compiled kernels of this file: NUMBA_CACHE_DIR if set, else the tool's
    cache folder ($MNIST_OVA_CACHE, else ~/.cache/mnist-ova) under numba/, so a CI job that keeps
    that one folder between runs keeps the data and the kernels. numba's index is keyed on this
    file's content and the CPU's name and features, so an AMD and an Intel build coexist there.
    Other numba users in the process are not affected; without numba's (private) locator list,
    numba's own places are used (next to this file, else ~/.cache/numba)."""
    from numba.core import caching, config

    from mnist_ova.environment import cache_dir

    folder = str(cache_dir() / "numba")
    here = os.path.abspath(__file__)

    class ToolCacheLocator(caching.UserProvidedCacheLocator):
        def __init__(self, py_func, py_file):
            super().__init__(py_func, py_file)
            self._cache_path = os.path.join(folder, self.get_suitable_cache_subpath(py_file))

        @classmethod
        def from_function(cls, py_func, py_file):
            if config.CACHE_DIR or os.path.abspath(py_file) != here:
                return None
            self = cls(py_func, py_file)
            try:
                self.ensure_cache_path()
            except OSError:  # not writable: numba's own places
                return None
            return self

    locators = getattr(getattr(caching, "CacheImpl", None), "_locator_classes", None)
    if isinstance(locators, list) and not any(c.__name__ == "ToolCacheLocator" for c in locators):
        locators.insert(0, ToolCacheLocator)


_cache_locator()

CHUNK = 1024  # rows per parallel task; a multiple of ROWS
ROWS = 8  # rows per tile
MODELS = 5  # models per register tile; K is padded to a multiple of this
AHEAD = 4 * ROWS  # rows between a tile and the one its calls prefetch (how far: bench/NOTES.md)
# The pass's phases, in order; FusedPass(phases=n) runs only the first n, to time each (bench/benchmark.py).
PHASES = ("features and logits", "sigmoid and cost", "gradient")


@njit(fastmath=True, inline="always", cache=True)
def _logits_4x5(X, i, WT, k, z, r):
    """z[k:k+5, r:r+4] += WT[k:k+5] @ X[i:i+4].T"""
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
            z[k + dk, r + dr] += row[dk]


@njit(fastmath=True, inline="always", cache=True)
def _gradient_4x5(X, i, G, r, k, dW):
    """dW[k:k+5] += G[k:k+5, r:r+4] @ X[i:i+4]: 20 factors in registers, each row of X read once."""
    x0, x1, x2, x3 = X[i], X[i + 1], X[i + 2], X[i + 3]
    w0, w1, w2, w3, w4 = dW[k], dW[k + 1], dW[k + 2], dW[k + 3], dW[k + 4]
    g00, g01, g02, g03, g04 = G[k, r], G[k + 1, r], G[k + 2, r], G[k + 3, r], G[k + 4, r]
    g10, g11, g12, g13, g14 = G[k, r + 1], G[k + 1, r + 1], G[k + 2, r + 1], G[k + 3, r + 1], G[k + 4, r + 1]
    g20, g21, g22, g23, g24 = G[k, r + 2], G[k + 1, r + 2], G[k + 2, r + 2], G[k + 3, r + 2], G[k + 4, r + 2]
    g30, g31, g32, g33, g34 = G[k, r + 3], G[k + 1, r + 3], G[k + 2, r + 3], G[k + 3, r + 3], G[k + 4, r + 3]
    for j in range(X.shape[1]):
        v0, v1, v2, v3 = x0[j], x1[j], x2[j], x3[j]
        w0[j] += g00 * v0 + g10 * v1 + g20 * v2 + g30 * v3
        w1[j] += g01 * v0 + g11 * v1 + g21 * v2 + g31 * v3
        w2[j] += g02 * v0 + g12 * v1 + g22 * v2 + g32 * v3
        w3[j] += g03 * v0 + g13 * v1 + g23 * v2 + g33 * v3
        w4[j] += g04 * v0 + g14 * v1 + g24 * v2 + g34 * v3


# The scoring code keeps IEEE order (no reassociation: the exp's range reduction depends on it)
# and is written without branches or library calls, so that each model's 8 rows are one vector.
EXACT = {"nsz", "contract", "arcp"}
LN2_HI, LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # fdlibm's split of log(2)
EXP_TERMS = np.array([1.0 / math.factorial(n) for n in range(14)])  # |r| <= log(2)/2: error < 5e-18
LOG1P_TERMS = np.array([1.0 / (2 * n + 1) for n in range(17)])  # s <= 1/3: error < 2e-17
# float32 weights need errors only below their half-ulp (6e-8): 8 terms of each give < 8e-9, and
# fewer terms make a shorter step.
TERMS = {"float64": (EXP_TERMS.size, LOG1P_TERMS.size), "float32": (8, 8)}


def _terms_for(array):
    """How many terms of each series the array's dtype needs, as constants compiled into the caller."""


@overload(_terms_for, inline="always")
def _terms_for_compiled(array):
    terms = TERMS[array.dtype.name]
    return lambda array: terms


@intrinsic
def _float64_from_bits(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@njit(fastmath=EXACT, error_model="numpy", inline="always", cache=True)
def _exp_minus(t, terms=EXP_TERMS.size):
    """exp(-t) for t >= 0, to about 1 ulp with all the terms (t is capped at 708, where exp(-t) is
    ~1e-308)."""
    t = min(t, 708.0)
    n = math.floor(t * 1.4426950408889634 + 0.5)
    r = (n * LN2_HI - t) + n * LN2_LO  # exp(-t) = 2^-n exp(r), |r| <= log(2)/2
    p = EXP_TERMS[terms - 1]
    for term in range(terms - 2, -1, -1):
        p = p * r + EXP_TERMS[term]
    return p * _float64_from_bits((1023 - np.int64(n)) << 52)


@njit(fastmath=EXACT, error_model="numpy", inline="always", cache=True)
def _log1p_unit(e, terms=LOG1P_TERMS.size):
    """log(1 + e) for 0 <= e <= 1: 2 atanh(s) with s = e / (2 + e), accurate for tiny e too."""
    s = e / (2.0 + e)
    s2 = s * s
    p = LOG1P_TERMS[terms - 1]
    for term in range(terms - 2, -1, -1):
        p = p * s2 + LOG1P_TERMS[term]
    return 2.0 * s * p


@njit(fastmath=EXACT, error_model="numpy", cache=True)
def _score(z, y_tile, m, K, G, lanes):
    """Gradient factors G = a - y of a tile's first m rows of logits z (models x rows), and per model
    and row lane the sums of G, of the cost -y log(a) - (1 - y) log(1 - a) and of the rounding errors;
    float64 inside. A function of its own, with a loop of unknown length over the rows: so LLVM
    vectorises it (inlined, or over a fixed ROWS, it was unrolled into scalar code, much slower)."""
    exp_terms, log1p_terms = _terms_for(z)
    for k in range(K):
        for r in range(m):
            zk = np.float64(z[k, r])
            target = 1.0 if y_tile[r] == k else 0.0
            e = _exp_minus(abs(zk), exp_terms)
            inverse = 1.0 / (1.0 + e)
            a = inverse if zk >= 0.0 else e * inverse
            g = a - target
            G[k, r] = g
            lanes[0, k, r] += g
            # The cost without log(0): max(z, 0) - z y + log(1 + e^-|z|).
            lanes[1, k, r] += max(zk, 0.0) - zk * target + _log1p_unit(e, log1p_terms)
            lanes[2, k, r] += 1.0 if (a > 0.5) != (target > 0.5) else 0.0


@intrinsic
def _prefetch(typingctx, array, index):
    """Start loading the cache line that holds array.flat[index] into L2 (x86: prefetcht1)."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        pointer = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [pointer.type, i32, i32, i32]), "llvm.prefetch.p0")
        builder.call(prefetch, [pointer, i32(0), i32(2), i32(1)])  # read, locality 2 (L2), data
        return context.get_dummy_value()
    return types.none(array, types.intp), codegen


@njit(inline="always", cache=True)
def _prefetch_share(X, tile, call, per_call):
    """Prefetch the rows that register-tile call ``call`` of the tile at row ``tile`` asks for:
    its share of the tile AHEAD rows on. Spread over the calls, this takes a fifth off the
    float32 step (measured); asking for a whole tile at once gained nothing, presumably more
    requests than the CPU keeps in flight."""
    first = tile + AHEAD + call * per_call
    stop = min(first + per_call, tile + AHEAD + ROWS, X.shape[0])
    d = X.shape[1]
    for index in range(first * d, stop * d, 64 // X.itemsize):  # one per 64-byte cache line
        _prefetch(X, index)


@intrinsic
def _claim(typingctx, counter):
    """The next chunk to work on: counter[0]++ as one atomic step, so the threads share the chunks
    out between them as each finishes one (a loaded machine slows one core more than the other)."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        return builder.atomic_rmw("add", data, ir.Constant(ir.IntType(64), 1), "monotonic")
    return types.int64(counter), codegen


@njit(inline="always", cache=True)
def _standardise_tile(P, i, m, scale, offset, X):
    """X[:m] = P[i:i+m] * scale + offset, row by row in the weights' dtype (one multiply-add a pixel),
    and the rest of the tile zero: the tile's features, made from its raw pixels while they pass
    through the cache."""
    t = X.dtype.type
    for r in range(m):
        s, c = scale[i + r], offset[i + r]
        src, dst = P[i + r], X[r]
        for j in range(P.shape[1]):
            dst[j] = t(src[j]) * s + c
    for r in range(m, ROWS):
        X[r].fill(0)


@njit(fastmath=True, nogil=True, cache=True)
def _work(P, scale, offset, WT, b, y_index, K, dWT_parts, stats_parts, counter, phases):
    """Claim chunks of CHUNK rows until none is left; each chunk's sums go to its own part. Only the
    first ``phases`` of PHASES run (all three in training)."""
    n, d = P.shape
    KP = WT.shape[0]
    per_call = -(-ROWS // (4 * KP // MODELS))  # rows prefetched by each of a tile's register-tile calls
    X = np.empty((ROWS, d), WT.dtype)  # the tile's features
    z = np.empty((KP, ROWS), WT.dtype)
    G = np.zeros((KP, ROWS), WT.dtype)
    lanes = np.empty((3, KP, ROWS))  # the chunk's sums per model and row lane, added up at its end
    y_tile = np.empty(ROWS, np.int64)
    while True:
        c = _claim(counter)
        if c >= dWT_parts.shape[0]:
            break
        dW = dWT_parts[c]
        dW.fill(0)
        lanes.fill(0)
        start = c * CHUNK
        stop = min(n, start + CHUNK)
        for i in range(start, stop, ROWS):
            m = min(ROWS, stop - i)
            _standardise_tile(P, i, m, scale, offset, X)
            for r in range(m):
                y_tile[r] = y_index[i + r]
            for k in range(KP):
                for r in range(ROWS):
                    z[k, r] = b[k]
            for k in range(0, KP, MODELS):
                call = 2 * k // MODELS
                _prefetch_share(P, i, call, per_call)
                _logits_4x5(X, 0, WT, k, z, 0)
                _prefetch_share(P, i, call + 1, per_call)
                _logits_4x5(X, 4, WT, k, z, 4)
            if phases >= 2:
                _score(z, y_tile, m, K, G, lanes)
                for k in range(K):
                    for r in range(m, ROWS):
                        G[k, r] = 0
            if phases < 3:
                continue
            for k in range(0, KP, MODELS):
                call = 2 * (KP + k) // MODELS
                _prefetch_share(P, i, call, per_call)
                _gradient_4x5(X, 0, G, 0, k, dW)
                _prefetch_share(P, i, call + 1, per_call)
                _gradient_4x5(X, 4, G, 4, k, dW)
        stats = stats_parts[c]
        for s in range(3):
            for k in range(KP):
                total = 0.0
                for r in range(ROWS):
                    total += lanes[s, k, r]
                stats[s, k] = total


_pool = None


def _run_threads(function, args, n):
    """function(*args) on n threads at once (this one included), returning when all are done."""
    global _pool
    if n == 1:
        return function(*args)
    if _pool is None or _pool._max_workers < n - 1:
        # Signals go to the main thread, which acts on them between steps.
        _pool = concurrent.futures.ThreadPoolExecutor(n - 1, thread_name_prefix="mnist-ova-kernel",
                                                      initializer=children.block_signals_in_thread)
    others = [_pool.submit(function, *args) for _ in range(n - 1)]
    function(*args)
    for future in others:
        future.result()


def _signature(dtype, pixels=types.uint8):
    dt = numba.from_dtype(np.dtype(dtype))
    return (types.Array(pixels, 2, "C"), dt[::1], dt[::1], dt[:, ::1], dt[::1], types.int64[::1], types.int64,
            dt[:, :, ::1], types.float64[:, :, ::1], types.int64[::1], types.int64)


def compile_kernels(dtype, pixels="uint8"):
    """Compile (or load from the cache) the pass for raw ``pixels`` and weights in ``dtype``; returns
    the seconds it took. Training calls it anyway; calling it early, e.g. in a thread while the data
    loads, takes it off the critical path."""
    start = time.perf_counter()
    _work.compile(_signature(dtype, numba.from_dtype(np.dtype(pixels))))
    return time.perf_counter() - start


class FusedPass:
    """Reusable buffers for one training run: ``__call__(WT, b)`` gives the step's sums.

    The features are ``(pixels - centre[:, None]) * scale[:, None]``, made a tile at a time inside
    the pass: ``pixels`` may be the raw uint8 images (with each row's mean as ``centre`` and
    1 / std as ``scale``), so no float copy of the data set exists; without ``centre`` and
    ``scale`` the pixels are the features themselves (any float array).
    """

    def __init__(self, pixels, y_index, K, *, dtype=None, centre=None, scale=None, n_threads=None, phases=None):
        self.P = np.ascontiguousarray(pixels)
        n, d = self.P.shape
        dtype = np.dtype(dtype if dtype is not None else self.P.dtype)
        self.scale = np.ones(n, dtype) if scale is None else np.ascontiguousarray(scale, dtype)
        # (pixels - centre) * scale as one multiply-add, pixels * scale + offset; the offset rounded once
        self.offset = (np.zeros(n, dtype) if centre is None
                       else (-(np.asarray(centre, np.float64) * scale)).astype(dtype))
        self.phases = len(PHASES) if phases is None else phases  # all in training; fewer to time the first ones
        self.y_index = np.ascontiguousarray(y_index, dtype=np.int64)
        self.K = K
        padded = -(-K // MODELS) * MODELS
        chunks = -(-n // CHUNK)
        self.dWT_parts = np.empty((chunks, padded, d), dtype)
        self.stats_parts = np.empty((chunks, 3, padded), np.float64)
        self.WT = np.zeros((padded, d), dtype)  # padding models stay at zero
        self.b = np.zeros(padded, dtype)
        self.counter = np.zeros(1, np.int64)
        self.n_threads = min(n_threads or training_threads(), chunks)

    def __call__(self, WT, b):
        """(Gᵀ X, Σ G, Σ cost, Σ rounding errors) over all rows, each with K rows/entries."""
        K = self.K
        self.WT[:K] = WT
        self.b[:K] = b
        self.counter[0] = 0
        _run_threads(_work, (self.P, self.scale, self.offset, self.WT, self.b, self.y_index, K, self.dWT_parts,
                             self.stats_parts, self.counter, self.phases), self.n_threads)
        stats = self.stats_parts.sum(axis=0)
        return self.dWT_parts.sum(axis=0)[:K], stats[0, :K], stats[1, :K], stats[2, :K]
