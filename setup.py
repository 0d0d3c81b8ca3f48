"""The training kernel, trainer/fused.c, built as mnist_ova/trainer/_fused when the package is installed.

Everything else about the package is in pyproject.toml; an extension module still needs this file. The
kernel is loaded with ctypes (trainer/kernels.py), not imported: it has no Python module code.
"""
import sys

from setuptools import Extension, setup

# GCC and Clang: -O3 vectorises the scalar loops (the features, the score), -fopenmp-simd honours their
# `#pragma omp simd` without OpenMP's runtime; the passes for AVX2 and AVX-512 are chosen at run time.
# -fno-trapping-math lets GCC compute both sides of the score's selects where the target has no masks
# (AVX2: the score stayed scalar, 8x slower); the values are IEEE's all the same (no reassociation).
flags = [] if sys.platform == "win32" else ["-O3", "-fopenmp-simd", "-fno-trapping-math", "-Wno-psabi", "-Wall"]

setup(ext_modules=[Extension("mnist_ova.trainer._fused", sources=["trainer/fused.c"],
                             depends=["trainer/fused_pass.h", "trainer/fused_types.h", "trainer/fused_weights.h"],
                             extra_compile_args=flags)])
