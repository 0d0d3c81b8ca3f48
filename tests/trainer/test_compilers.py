"""The kernel builds with each compiler at hand as a plain `cc -shared mnist_ova/trainer/*.c` builds it, and each
build computes the plain formulas' sums with every pass this CPU runs; it cross-builds for Windows (MinGW: a DLL
that exports the functions kernels.py calls) and arm64 (run under qemu-aarch64 through a small C driver)."""
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO
from tests.trainer.test_kernels import CHUNK, assert_plain_formulas, kernels, pass_inputs

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the builds here use GCC's and Clang's command line")

TRAINER = REPO / "mnist_ova" / "trainer"
SOURCES = [str(path) for path in sorted(TRAINER.glob("*.c"))]
FLAGS = ["-O3", "-fopenmp-simd", "-fno-trapping-math", "-Wall", "-Wextra"]  # setup.py's, and -Wextra
EXPORTS = {"fused_best_target", "fused_interface", "fused_pass", "fused_series", "fused_shape", "fused_sum_parts",
           "fused_vectorised"}
# Each build: (compiler, its Debian/Ubuntu package, flags). "cc" is the plainest command that builds the kernel;
# "scalar" builds what MSVC builds (no vector extensions: the default pass only, on vectors of one lane).
BUILDS = {"cc": ("cc", "gcc", ["-O3"]), "gcc-11": ("gcc-11", "gcc-11", FLAGS), "gcc-12": ("gcc-12", "gcc-12", FLAGS),
          "clang": ("clang", "clang", FLAGS), "scalar": ("cc", "gcc", ["-DFUSED_SCALAR", *FLAGS])}


def build(compiler, package, flags, output, *extra):
    """``output``, built from the kernel's sources (and ``extra``) by ``compiler``: a skip where it is not
    installed, a failure where it warns."""
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed (Debian/Ubuntu: apt-get install {package})")
    result = subprocess.run([compiler, *flags, *extra, *SOURCES, "-o", str(output)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr, result.stderr
    return output


@pytest.fixture(scope="module", params=list(BUILDS))
def library(request, tmp_path_factory):
    compiler, package, flags = BUILDS[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    return kernels.load_library(build(compiler, package, flags, folder / kernels.LIBRARY.name, "-shared", "-fPIC"))


def test_each_build_computes_the_plain_formulas_with_every_pass_this_cpu_runs(library, monkeypatch):
    """Raw pixels standardised in the pass and float features; float64 and float32; tails of rows, models and
    columns; the same sums on one thread and on three."""
    from mnist_ova.trainer.preprocess import StandardisedImages

    images = np.random.RandomState(2).randint(0, 256, (2 * CHUNK + 5, 50)).astype(np.uint8)
    pixels, centre, scale = StandardisedImages(images).kernel_inputs()
    features = (images - centre[:, None]) * scale[:, None]
    _, y, WT, b = pass_inputs(len(images), 50, 7, np.float64)
    for target in kernels.supported_targets(library):
        monkeypatch.setenv("MNIST_OVA_KERNEL_TARGET", target)
        with kernels.FusedPass(pixels, y, 7, dtype=np.float64, centre=centre, scale=scale, n_threads=1,
                               library=library) as one, \
                kernels.FusedPass(pixels, y, 7, dtype=np.float64, centre=centre, scale=scale, n_threads=3,
                                  library=library) as three:
            sums = one(WT * 0.02, b)
            assert_plain_formulas(sums, features, y, WT * 0.02, b)
            for a, c in zip(sums, three(WT * 0.02, b)):
                np.testing.assert_array_equal(a, c)
        X, y32, WT32, b32 = pass_inputs(CHUNK + 13, 19, 10, np.float32)
        with kernels.FusedPass(X, y32, 10, library=library, n_threads=2) as step:
            assert_plain_formulas(step(WT32, b32), X, y32, WT32, b32)


def test_only_the_build_without_vector_extensions_says_it_has_none(library, request):
    """What MSVC builds (the scalar build here) leaves training to the NumPy path (trainer/steps.py)."""
    assert kernels.vectorised(library) == (request.node.callspec.params["library"] != "scalar")


def test_mingw_builds_a_windows_dll_that_exports_the_kernels_functions(tmp_path):
    dll = build("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64", FLAGS, tmp_path / "_fused.dll", "-shared")
    listing = subprocess.run(["x86_64-w64-mingw32-objdump", "-p", str(dll)], capture_output=True, text=True,
                             check=True).stdout
    table = listing.split("[Ordinal/Name Pointer] Table", 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r"\]\s+(\w+)", table)) == EXPORTS
    # Windows' own libraries only: no MinGW runtime DLL to ship beside it
    assert {name.lower() for name in re.findall(r"DLL Name: (\S+)", listing)} <= {"kernel32.dll", "msvcrt.dll"}


@pytest.fixture(scope="module")
def arm64_driver(tmp_path_factory):
    """fused_driver.c and the kernel's sources linked statically for arm64 (the shared library built too)."""
    if shutil.which("qemu-aarch64") is None:
        pytest.skip("qemu-aarch64 is not installed (Debian/Ubuntu: apt-get install qemu-user)")
    folder = tmp_path_factory.mktemp("arm64")
    compiler = ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
    build(*compiler, FLAGS, folder / "_fused.so", "-shared", "-fPIC")
    return build(*compiler, FLAGS, folder / "fused_driver", "-static", "-pthread", f"-I{TRAINER}",
                 str(REPO / "tests" / "trainer" / "fused_driver.c"))


def run_arm64(driver, folder, step, target, threads):
    """The arm64 build's pass of ``target`` (None: the best this CPU runs) on ``threads`` threads under
    qemu-aarch64, on ``step``'s arrays: the target that ran and the step's sums."""
    arrays = (step.P, step.scale, step.centre, step.residual, step.WT, step.b, step.y_index)
    header = [step.WT.itemsize, step.P.itemsize, step.K, len(step.WT), len(step.P), step.d, step.dp, step.chunk,
              step.chunks]
    with open(folder / "input", "wb") as file:
        file.write(np.array(header, np.int64).tobytes())
        for array in arrays:
            file.write(np.int64(array.nbytes).tobytes() + array.tobytes())
    result = subprocess.run(["qemu-aarch64", str(driver), str(folder / "input"), str(folder / "output"),
                             str(-1 if target is None else kernels.TARGETS.index(target)), str(threads)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ran, gradient, stats = np.split(np.frombuffer((folder / "output").read_bytes(), np.uint8),
                                    [8, 8 + step.gradient.nbytes])
    step.gradient[...] = gradient.view(step.gradient.dtype).reshape(step.gradient.shape)
    step.stats_parts[...] = stats.view(np.float64).reshape(step.stats_parts.shape)
    return kernels.TARGETS[ran.view(np.int64)[0]], [np.array(a, copy=True) for a in step._step_sums()]


@pytest.mark.parametrize("target", ["default", "neon"])
@pytest.mark.parametrize("dtype, raw", [(np.float64, True), (np.float32, False), (np.float64, False),
                                        (np.float32, True)])
def test_the_arm64_build_computes_the_plain_formulas_under_qemu(arm64_driver, tmp_path, dtype, raw, target):
    """The arm64 build runs each of its passes under qemu-aarch64 on FusedPass's own arrays, on 1 thread and on
    3: its sums are the plain formulas' and the same on both (NEON's tile pads 7 models to 10, as here)."""
    from mnist_ova.trainer.preprocess import StandardisedImages

    X, y, WT, b = pass_inputs(2 * CHUNK + 13, 30, 7, dtype)
    if raw:
        images = np.random.RandomState(3).randint(0, 256, X.shape).astype(np.uint8)
        pixels, centre, scale = StandardisedImages(images).kernel_inputs()
        X, WT = ((images - centre[:, None]) * scale[:, None]).astype(dtype), WT * 0.02  # float32's tolerance
        step = kernels.FusedPass(pixels, y, 7, dtype=dtype, centre=centre, scale=scale, n_threads=1)
    else:
        step = kernels.FusedPass(X, y, 7, n_threads=1)
    step(WT, b)  # here, to fill the pass's arrays
    assert len(step.WT) == 10 and step.chunks > 3
    ran, one = run_arm64(arm64_driver, tmp_path, step, target, 1)
    assert ran == target
    assert_plain_formulas(one, X, y, WT, b)
    _, three = run_arm64(arm64_driver, tmp_path, step, target, 3)
    for a, c in zip(one, three):
        np.testing.assert_array_equal(a, c)


def test_the_arm64_build_runs_neon_as_its_best_pass(arm64_driver, tmp_path):
    """Every arm64 CPU has NEON: the driver asked for the best pass runs it."""
    X, y, WT, b = pass_inputs(64, 16, 7, np.float64)
    step = kernels.FusedPass(X, y, 7, n_threads=1)
    step(WT, b)
    ran, sums = run_arm64(arm64_driver, tmp_path, step, None, 1)
    assert ran == "neon"
    assert_plain_formulas(sums, X, y, WT, b)
