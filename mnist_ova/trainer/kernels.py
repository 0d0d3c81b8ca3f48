"""One pass over the training rows per gradient step: the compiled kernel of trainer/fused*.c.

The rows come in as raw pixels (uint8 images) with each row's centre (mean) and scale (1 / std),
and the standardised features (pixels - centre) * scale are never made: with the centre split into
a whole number and the rest, (pixels - whole) * scale + residual, the register tiles convert the
pixels and subtract the whole centre as they load them (exact), and the scale and the residual
are applied once per row and model, to the logits and to the gradient's factors. So the data set
is never copied as floats, a step reads 1 byte a pixel, and no tile of features is stored and read
back (that cost a tenth of the step). The pass runs on one thread per core, each a call into the
kernel with the GIL released (ctypes), the threads claiming chunks of rows through an atomic
counter.

A step needs Z = X Wᵀ (forward) and dW = Gᵀ X (backward) for all K models. OpenBLAS runs
these thin products (K = 10) far below the machine's speed and reads X twice; this kernel
reads each tile of 8 rows once, computes its logits with the weights held in registers
(a register tile of rows x models per target and phase: 4 x 5 in AVX-512's 32 registers, 2 x 10
in NEON's 32, 2 x 5 in 16; ``shape`` says which), and adds the tile's gradient while the rows
are still in cache, again a register tile at a time (with AVX2, 2 vectors of columns x 5 models
summed over all 8 rows before they are stored, as a GEMM holds its tile): each load of X serves
several models (one model per load would make the step load-bound). Between the
two, each model's 8 sigmoids and costs are one vector: exp and log are written out as
polynomials (within 1 and 3 ulp; float32 needs fewer terms), much cheaper than the library's
scalar calls. While a tile is worked on, the tile four on is prefetched into L2, a share per
register-tile call. Row chunks are fixed (not tied to the thread count) and their partial sums
are added in order, so the result does not depend on the machine's thread count (``chunk_rows``).

The kernel is C, built when the package is installed, and holds a pass per target (AVX-512,
AVX2 with FMA, NEON, the compiler's default; x86's two and arm64's NEON with GCC and Clang, not MSVC), chosen
at run time by what the CPU supports: ``MNIST_OVA_KERNEL_TARGET`` (``avx512``, ``avx2`` on x86, ``neon`` on
arm64, ``default``) picks one of those this CPU can run (``numpy``, the NumPy path, is chosen before this
module is reached).
"""
import concurrent.futures
import ctypes
import platform
import sys
from pathlib import Path

import numpy as np

from mnist_ova import children
from mnist_ova.environment import kernel_target, training_threads
from mnist_ova.errors import InputError
from mnist_ova.trainer.steps import KernelNotBuilt, StepSums

ROWS = 8  # rows per tile; fused.c's ROWS
STATS = 4  # sums per model kept by a pass: of G, of the cost, of wrong predictions; rows predicted right
# The pass's phases, in order; FusedPass(phases=n) runs only the first n, to time each (bench/peak.py).
PHASES = ("logits (the pixels converted as they are loaded)", "sigmoid and cost", "gradient")
TARGETS = ("default", "avx2", "avx512", "neon")  # fused.h's targets, by number
ARCHITECTURES = {"avx2": "x86-64", "avx512": "x86-64", "neon": "arm64"}  # where each target but the default is built
# fused.h's SHAPE_*: a pass's vector width, its register tile per phase and the multiple the models are padded to
SHAPE = ("vector_bytes", "logits_rows", "logits_models", "gradient_rows", "gradient_vectors", "gradient_models",
         "models_multiple")
# A pass's rows are cut into chunks, the threads' tasks, in a way that depends on the rows alone (each chunk's
# sums are added in order, so the result is the same whatever the threads): 48 of them, divided evenly among
# 2, 3, 4, 6, 8, 12, 16 or 24 threads (with 1,024-row chunks the 56,000 training rows of Fashion-MNIST made 55,
# and one of two threads waited half a chunk), or a multiple of 48 where that keeps them under MAX_CHUNK rows.
CHUNKS = 48
MAX_CHUNK = 2048
ALIGNMENT = 64  # bytes: each row of the weights is padded to a multiple, so every target's vectors fit it
INTERFACE = 5  # fused.c's INTERFACE: the arguments of the functions this module calls


# setup.py builds the kernel under this name (the same rule there): no interpreter tag, as it uses no Python ABI.
LIBRARY = Path(__file__).with_name("_fused.dll" if sys.platform == "win32" else "_fused.so")
# pip reuses a wheel it built before (without the kernel) unless told not to.
REINSTALL = "`pip install -e .` in a checkout, else `pip install --force-reinstall --no-cache-dir --no-deps mnist-ova`"


def load_library(path=LIBRARY):
    """The kernel built at ``path`` (the installed one by default; the tests load others' builds), checked and
    ready for ``FusedPass(library=...)``; an ImportError that says what to do where it is missing or stale."""
    path = Path(path)
    if not path.is_file():
        raise KernelNotBuilt(f"the training kernel ({path}) is not built: install the package again where a C "
                             f"compiler is found ({REINSTALL})")
    try:
        library = _checked(ctypes.CDLL(str(path)))
    except OSError as error:  # built for another machine, or damaged: the install's, not the run's, to mend
        raise KernelNotBuilt(f"the training kernel ({path}) cannot be loaded ({error}): rebuild it ({REINSTALL})"
                             ) from error
    pointer, i64 = ctypes.c_void_p, ctypes.c_int64
    library.fused_pass.restype = ctypes.c_int
    library.fused_pass.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, *[pointer] * 7, i64, i64, i64, i64, i64,
                                   pointer, pointer, i64, i64, pointer, i64]
    for function in (library.fused_best_target, library.fused_vectorised):
        function.restype, function.argtypes = ctypes.c_int, []
    library.fused_sum_parts.restype = ctypes.c_int
    library.fused_sum_parts.argtypes = [ctypes.c_int, pointer, i64, i64, pointer, pointer]
    library.fused_series.restype = ctypes.c_int
    library.fused_series.argtypes = [ctypes.c_int, ctypes.c_int, pointer, pointer, pointer, i64]
    library.fused_shape.restype = ctypes.c_int
    library.fused_shape.argtypes = [ctypes.c_int, ctypes.c_int, pointer]
    return library


def _checked(library):
    """``library``, if it is built from the C code this module calls; else an ImportError that says what to do."""
    interface = getattr(library, "fused_interface", None)  # absent from the builds before it
    if interface is None or interface() != INTERFACE:
        raise KernelNotBuilt(f"the training kernel ({getattr(library, '_name', library)}) was built from other "
                             f"sources than this package's: rebuild it ({REINSTALL})")
    return library


_library = load_library()


def shape(target_name, dtype, library=None):
    """The shape of ``target_name``'s pass for weights in ``dtype`` (in ``library``, the installed kernel by
    default), a dict of SHAPE's names: its vectors' bytes, the logits' register tile (rows x models), the
    gradient's (rows x vectors of columns x models) and the multiple the models are padded to; None where that pass is
    not built there (another architecture's)."""
    values = np.zeros(len(SHAPE), np.int64)
    library = _library if library is None else library
    if library.fused_shape(TARGETS.index(target_name), np.dtype(dtype).itemsize, _address(values)):
        return None
    return dict(zip(SHAPE, values.tolist()))


def built_targets(library=None):
    """The targets whose passes ``library`` (the installed kernel by default) holds: the default and this
    architecture's (x86's avx2 and avx512, arm64's neon), in TARGETS' order."""
    return tuple(name for name in TARGETS if shape(name, np.float64, library) is not None)


def supported_targets(library=None):
    """The targets of ``library`` (the installed kernel by default) that this CPU runs: the built ones up to its
    best (each architecture's targets are numbered in the order they include each other)."""
    library = _library if library is None else library
    best = library.fused_best_target()
    return tuple(name for name in built_targets(library) if TARGETS.index(name) <= best)


def target(library=None):
    """The name of the target whose pass runs here: the best this CPU supports (and ``library``, the installed
    kernel by default, holds), or the one ``MNIST_OVA_KERNEL_TARGET`` names (an input error if unknown, built
    for another architecture, or beyond this CPU)."""
    library = _library if library is None else library
    best = library.fused_best_target()
    asked = kernel_target()
    if asked is None:
        return TARGETS[best]
    built = built_targets(library)
    if asked == "numpy":
        raise InputError("MNIST_OVA_KERNEL_TARGET=numpy names the NumPy path, which runs no pass of the kernel")
    if asked not in TARGETS:
        raise InputError(f"MNIST_OVA_KERNEL_TARGET must be one of {', '.join(('numpy', *built))}; got {asked!r}")
    supported = ', '.join(supported_targets(library))
    if asked not in built:
        raise InputError(f"MNIST_OVA_KERNEL_TARGET={asked} names a pass for {ARCHITECTURES[asked]} CPUs, which this "
                         f"kernel (built for {platform.machine() or 'this machine'}) does not hold: this CPU supports "
                         f"{supported}")
    if TARGETS.index(asked) > best:
        raise InputError(f"MNIST_OVA_KERNEL_TARGET={asked}: this CPU supports {supported}")
    return asked


def vectorised(library=None):
    """Whether ``library`` (the installed kernel by default) has vector passes: a compiler without vector
    extensions (MSVC) builds one-lane ones, slower than the NumPy path."""
    return bool((_library if library is None else library).fused_vectorised())


def series(t, dtype, target_name, library=None):
    """(exp(-t), log(1 + exp(-t))) for a float64 array t, as the score of ``target_name``'s pass for weights
    in ``dtype`` computes them (in ``library``, the installed kernel by default): its branch-free polynomials,
    checked by the tests."""
    t = np.ascontiguousarray(t, np.float64)
    exp_minus, log1p = np.empty_like(t), np.empty_like(t)
    library = _library if library is None else library
    if library.fused_series(TARGETS.index(target_name), np.dtype(dtype).itemsize,
                            *map(_address, (t, exp_minus, log1p)), t.size):
        raise ValueError(f"no series for {dtype} on {target_name}")
    return exp_minus, log1p


def aligned_zeros(shape, dtype):
    """Zeros whose first byte is ALIGNMENT-aligned: numpy's may start 16 bytes into a cache line (glibc's malloc,
    always for the large blocks it maps), where half of AVX2's 32-byte loads and stores of the weights and the
    gradient's parts, and every one of AVX-512's, cross a line: aligned, the AVX2 pass ran 20-26 % faster and the
    AVX-512 pass 12-13 % on an Intel Xeon (bench/NOTES.md)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.zeros(size + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + size].view(dtype).reshape(shape)


def chunk_rows(n):
    """Rows per chunk for a pass over n rows: a multiple of ROWS, about n / 48, at most MAX_CHUNK."""
    groups = -(-n // (CHUNKS * MAX_CHUNK))
    return max(ROWS, -(-n // (CHUNKS * groups * ROWS)) * ROWS)


def _address(array):
    return array.ctypes.data


class FusedPass:
    """Reusable buffers and threads for one training run: ``__call__(WT, b)`` gives the step's sums. Used as a
    context manager (``with FusedPass(...) as step_sums:``) its threads end with the block, so that no job
    starts as a copy of the process while they live (Python 3.12 warns of that); ``close()`` ends them too (a later call starts them again).

    The features are ``(pixels - centre[:, None]) * scale[:, None]``, made a tile at a time inside
    the pass: ``pixels`` may be the raw uint8 images (with each row's mean as ``centre`` and
    1 / std as ``scale``), so no float copy of the data set exists; without ``centre`` and
    ``scale`` the pixels are the features themselves (any float array; pixels of another type
    than uint8 are read as the weights' dtype). ``library`` is a kernel from ``load_library`` (the installed one
    by default).
    """

    def __init__(self, pixels, y_index, K, *, dtype=None, centre=None, scale=None, n_threads=None, phases=None,
                 library=None):
        pixels = np.asarray(pixels)
        dtype = np.dtype(dtype if dtype is not None else pixels.dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64; got {dtype}")
        self.P = np.ascontiguousarray(pixels, None if pixels.dtype == np.uint8 else dtype)
        n, d = self.P.shape
        self.scale = np.ones(n, dtype) if scale is None else np.ascontiguousarray(scale, dtype)
        # (pixels - centre) * scale = (pixels - whole) * scale + residual: the pixels minus a whole number are exact,
        # and the kernel adds the residual's share once per row and model (fused_pass.h's tile)
        centre = np.zeros(n) if centre is None else np.asarray(centre, np.float64)
        whole = np.round(centre)
        self.centre = whole.astype(dtype)
        self.residual = ((whole - centre) * (1.0 if scale is None else np.asarray(scale, np.float64))).astype(dtype)
        self.phases = len(PHASES) if phases is None else phases  # all in training; fewer to time the first ones
        self.y_index = np.ascontiguousarray(y_index, dtype=np.int64)
        self.K, self.d = K, d
        self.library = _library if library is None else library
        self.target = target(self.library)
        self.shape = shape(self.target, dtype, self.library)
        multiple = self.shape["models_multiple"]  # of the target's register tiles' models (fused_pass.h)
        padded = -(-K // multiple) * multiple
        self.dp = -(-d * dtype.itemsize // ALIGNMENT) * ALIGNMENT // dtype.itemsize  # padded columns stay zero
        self.chunk = chunk_rows(n)
        self.chunks = -(-n // self.chunk)
        # the arrays the register tiles load and store a vector at a time start on a cache line
        self.dWT_parts = aligned_zeros((self.chunks, padded, self.dp), dtype)
        self.stats_parts = np.empty((self.chunks, STATS, padded), np.float64)
        self.WT = aligned_zeros((padded, self.dp), dtype)  # padding models stay at zero
        self.b = np.zeros(padded, dtype)
        self.counter = np.zeros(1, np.int64)
        self.gradient = aligned_zeros((padded, self.dp), dtype)  # the chunks' gradients added up
        self.n_threads = min(n_threads or training_threads(), self.chunks)
        self._pool = None  # the threads beside the caller's, started by the first call
        self._arguments = (TARGETS.index(self.target), dtype.itemsize, self.P.itemsize,
                           *map(_address, (self.P, self.scale, self.centre, self.residual, self.WT, self.b,
                                           self.y_index)),
                           K, padded, n, d, self.dp, _address(self.dWT_parts), _address(self.stats_parts),
                           self.chunk, self.chunks, _address(self.counter), self.phases)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """End the pass's threads (they start again at the next call)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _run_threads(self, function):
        """function() on n_threads threads at once (this one included), returning when all are done."""
        if self.n_threads == 1:
            return function()
        if self._pool is None:
            # Signals go to the main thread, which acts on them between steps.
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self.n_threads - 1, thread_name_prefix="mnist-ova-kernel", initializer=children.block_signals_in_thread)
        # A stopping signal waits for the step (milliseconds): raised inside the pool's locks (a submit, a
        # semaphore), it left one held, and the threads' end then waited for it for ever.
        with children.signals_held():
            others = [self._pool.submit(function) for _ in range(self.n_threads - 1)]
            function()
            for future in others:
                future.result()

    def _pass(self):
        if self.library.fused_pass(*self._arguments):
            raise MemoryError("the training kernel could not allocate its scratch memory")

    def _sum_parts(self):
        self.library.fused_sum_parts(self.dWT_parts.itemsize, _address(self.dWT_parts), self.chunks, self.gradient.size,
                                 _address(self.gradient), _address(self.counter))

    def __call__(self, WT, b):
        """The step's ``StepSums`` over all rows for weights ``WT`` and biases ``b``."""
        self.WT[:self.K, :self.d] = WT
        self.b[:self.K] = b
        self.counter[0] = 0
        self._run_threads(self._pass)
        self.counter[0] = 0
        self._run_threads(self._sum_parts)
        return self._step_sums()

    def _step_sums(self):
        """The step's ``StepSums`` from the pass's gradient and the chunks' stats."""
        K, d = self.K, self.d
        stats = self.stats_parts.sum(axis=0)
        return StepSums(self.gradient[:K, :d].copy(), stats[0, :K], stats[1, :K], stats[2, :K], int(stats[3, 0]))
