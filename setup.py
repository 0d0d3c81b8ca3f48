"""The training kernel, mnist_ova/trainer/*.c, built as one shared library beside them: mnist_ova/trainer/_fused.

Everything else about the package is in pyproject.toml; a compiled part still needs this file. The kernel is
loaded with ctypes (trainer/kernels.py), not imported: it has no Python module code and uses no Python ABI, so
the library's name carries no interpreter tag and a wheel serves every Python 3 of its platform
(``py3-none-<platform>``). It is optional: where no C compiler can build it, the install still succeeds and
training runs on the NumPy path (trainer/steps.py says so at every run).
"""
import os
import sys
from glob import glob

from setuptools import Extension, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_ext import build_ext

# trainer/kernels.py loads this file (the same rule: _fused.dll on Windows, _fused.so elsewhere).
LIBRARY = "_fused.dll" if sys.platform == "win32" else "_fused.so"

# GCC and Clang: -O3 vectorises the scalar loops (the score), -fopenmp-simd honours their `#pragma omp simd`
# without OpenMP's runtime. -fno-trapping-math lets GCC compute both sides of the score's selects where the
# target has no masks (AVX2: the score stayed scalar, 8x slower); the values are IEEE's all the same (no
# reassociation). MSVC: /fp:precise is IEEE's order too. Each target's pass is chosen at run time.
FLAGS = {"msvc": ["/O2", "/fp:precise"],
         "unix": ["-O3", "-fopenmp-simd", "-fno-trapping-math", "-Wall"]}


class BuildKernel(build_ext):
    """build_ext for a plain shared library: no interpreter tag in its name, no PyInit_ symbol to export, no
    Python library to link (the functions are exported by fused.c's EXPORT)."""

    def build_extensions(self):
        flags = FLAGS.get(self.compiler.compiler_type, FLAGS["unix"])  # mingw32 and cygwin are GCC too
        for extension in self.extensions:
            extension.extra_compile_args = flags
        super().build_extensions()

    def get_ext_filename(self, fullname):
        return "/".join([*fullname.split(".")[:-1], LIBRARY])

    def get_export_symbols(self, ext):
        return ext.export_symbols

    def get_libraries(self, ext):
        return ext.libraries


class PlatformWheel(bdist_wheel):
    """A wheel for any Python 3 of this platform: the library holds machine code but no Python ABI."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


# optional: a compiler that is missing or fails is a warning of the install ("building extension … failed",
# which pip shows with -v), not its failure; the run then trains on the NumPy path. The wheels built for
# distribution require it (MNIST_OVA_REQUIRE_KERNEL=1, set in pyproject.toml's cibuildwheel settings).
setup(ext_modules=[Extension("mnist_ova.trainer._fused", sources=sorted(glob("mnist_ova/trainer/*.c")),
                             depends=sorted(glob("mnist_ova/trainer/*.h")),
                             optional=os.environ.get("MNIST_OVA_REQUIRE_KERNEL") != "1")],
      cmdclass={"build_ext": BuildKernel, "bdist_wheel": PlatformWheel})
