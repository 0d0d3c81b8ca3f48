"""One pass over the training rows per step, whichever path computes it: the compiled kernel
(``trainer.kernels``) where it is built, else ``NumpyPass``, the notebook's products through BLAS.
``step_pass`` picks one; both are context managers giving a ``StepSums`` per call.

The NumPy path works as the kernel does, on the raw pixels: a block of rows is converted to floats as it
is reached (no float copy of the data set) and read by both products while it is in cache, the
standardisation folded in, (pixels - centre) * scale = scale * pixels - centre * scale, so that
z = scale * (P Wᵀ) + (-centre * scale) Σw + b and the gradient (G scale)ᵀ P plus Σ G (-centre * scale)
in every column; the sigmoid and the cost are computed stably, as the kernel's score does.
"""
import contextlib
import functools
import sys
from typing import NamedTuple

import numpy as np

from mnist_ova.environment import kernel_target

NUMPY_TARGET = "numpy"  # the MNIST_OVA_KERNEL_TARGET that picks the NumPy path where the kernel is built
# Rows converted and multiplied at a time. Measured on a 2-core KVM Xeon with AVX-512 (OpenBLAS 0.3.31),
# one float64 pass over 56,000 x 784 pixels: 64-row blocks 75-84 ms, 32 rows 99, 128 rows 104-115, 256-1024
# rows 115-140, and a float copy of the whole data set (converted once) 105-160: OpenBLAS multiplies these thin
# blocks (K = 10) fastest while they are small, and the copy is read from memory twice a step.
BLOCK_ROWS = 64
# How the NumPy path trains against the kernel, for the note: on the 2-core Xeon above the default job's
# training took 2.2x the kernel's time and one pass over its 4,000 rows 2.6x (bench/benchmark.py measures both
# paths); OpenBLAS runs blocks this small on one thread, where the kernel uses every core.
PACE = "on one core, about 2-3x the kernel's training time on 2 cores"
COMPILERS = ("Debian/Ubuntu: apt-get install gcc; Fedora: dnf install gcc; macOS: xcode-select --install; "
             "Windows: Visual Studio Build Tools with C++")


class KernelNotBuilt(ImportError):
    """The kernel is missing, stale or cannot be loaded here (trainer.kernels raises it at import): the NumPy
    path trains instead. Any other ImportError is a bug, and stays one."""


class StepSums(NamedTuple):
    """What one pass over the rows gives, for the weights it was called with (K models)."""

    gradient: np.ndarray  # (K, d): Gᵀ X, G = sigmoid(z) - y
    g_sum: np.ndarray  # (K,): Σ G over the rows
    cost_sum: np.ndarray  # (K,): Σ of each model's cross-entropy
    wrong: np.ndarray  # (K,): rows each binary model puts on the wrong side of 0.5
    right: int  # rows whose largest logit is their own class's (the one-vs-all prediction is right)


class NumpyPass:
    """``FusedPass``'s sums through NumPy and BLAS: ``__call__(WT, b)`` gives the step's ``StepSums``.

    The features are ``(pixels - centre[:, None]) * scale[:, None]``: ``pixels`` may be the raw uint8
    images (with each row's mean as ``centre`` and 1 / std as ``scale``); without ``centre`` and ``scale``
    the pixels are the features themselves (pixels of another type than uint8 are read as ``dtype``).
    The arithmetic is in ``dtype`` (float64 or float32), the sums over rows in float64, as the kernel's.
    """

    def __init__(self, pixels, y_index, K, *, dtype=None, centre=None, scale=None, block_rows=BLOCK_ROWS):
        pixels = np.asarray(pixels)
        dtype = np.dtype(dtype if dtype is not None else pixels.dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64; got {dtype}")
        self.pixels = pixels if pixels.dtype == np.uint8 else np.ascontiguousarray(pixels, dtype)
        n = len(self.pixels)
        scale = np.ones(n) if scale is None else np.asarray(scale, np.float64)
        centre = np.zeros(n) if centre is None else np.asarray(centre, np.float64)
        self.scale, self.offset = scale.astype(dtype), (-centre * scale).astype(dtype)
        self.y_index = np.asarray(y_index, np.int64)
        self.K, self.dtype, self.block_rows = K, dtype, block_rows

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):  # nothing to end: the pass starts no threads of its own
        pass

    def __call__(self, WT, b):
        """The step's ``StepSums`` over all rows for weights ``WT`` (K, d) and biases ``b`` (K,)."""
        dtype, K = self.dtype, self.K
        WT, b = np.asarray(WT, dtype), np.asarray(b, dtype)
        weight_sums = WT.sum(axis=1, dtype=np.float64).astype(dtype)  # the offset's share of each logit
        gradient = np.zeros(WT.shape, dtype)
        offset_shares = np.zeros(K)  # Σ G * offset per model: the offset's share of every gradient column
        g_sum, cost_sum, wrong, right = np.zeros(K), np.zeros(K), np.zeros(K), 0
        classes = np.arange(K)
        for start in range(0, len(self.pixels), self.block_rows):
            rows = slice(start, start + self.block_rows)
            X = self.pixels[rows].astype(dtype, copy=False)
            scale, offset = self.scale[rows, None], self.offset[rows, None]
            z = X @ WT.T
            z *= scale
            z += offset * weight_sums
            z += b
            y = self.y_index[rows]
            Y = y[:, None] == classes
            # exp(-|z|) never overflows; a = sigmoid(z) from it on either side of 0, and the cost without
            # log(0): max(z, 0) - z y + log(1 + exp(-|z|))
            e = np.exp(-np.abs(z))
            inverse = 1 / (1 + e)
            a = np.where(z >= 0, inverse, e * inverse)
            G = a - Y
            cost = np.maximum(z, 0) - z * Y + np.log1p(e)
            g_sum += G.sum(axis=0, dtype=np.float64)
            cost_sum += cost.sum(axis=0, dtype=np.float64)
            wrong += np.count_nonzero((a > 0.5) != Y, axis=0)
            right += int(np.count_nonzero(z.argmax(axis=1) == y))
            offset_shares += (G * offset).sum(axis=0, dtype=np.float64)
            G *= scale
            gradient += G.T @ X
        gradient += offset_shares.astype(dtype)[:, None]
        return StepSums(gradient, g_sum, cost_sum, wrong, right)


def step_pass(pixels, y_index, K, *, dtype, centre=None, scale=None):
    """The pass that trains here, for ``with step_pass(...) as step_sums:``: the compiled kernel's
    ``FusedPass`` where it is built, else (or where ``MNIST_OVA_KERNEL_TARGET=numpy``) ``NumpyPass``, with a
    note on stderr, once a process, saying why and how to get the kernel. The arguments are ``FusedPass``'s."""
    arguments = dict(dtype=dtype, centre=centre, scale=scale)
    if kernel_target() == NUMPY_TARGET:
        _note_once(f"note: MNIST_OVA_KERNEL_TARGET={NUMPY_TARGET}: training on the NumPy path, {PACE} "
                   "(unset it for the kernel)")
        return NumpyPass(pixels, y_index, K, **arguments)
    try:
        from mnist_ova.trainer import kernels
    except KernelNotBuilt as exc:
        _note_once(f"note: {exc}; until then training runs on the NumPy path, {PACE} (a C compiler: {COMPILERS})")
        return NumpyPass(pixels, y_index, K, **arguments)
    if not kernels.vectorised():
        _note_once(f"note: the training kernel was built without vectors (MSVC): the NumPy path trains, faster "
                   f"here; for the kernel's vector passes build it with clang-cl 19 or later, or MinGW's GCC")
        return NumpyPass(pixels, y_index, K, **arguments)
    return kernels.FusedPass(pixels, y_index, K, **arguments)


@functools.cache
def _note_once(message):
    # Shown even with --quiet, as the pipeline's notes are; a reader gone is no error.
    with contextlib.suppress(OSError, ValueError):
        print(message, file=sys.stderr, flush=True)
