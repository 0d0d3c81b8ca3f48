import sys

import numpy as np
import pytest

from mnist_ova.errors import InputError
from mnist_ova.trainer import steps
from mnist_ova.trainer.model import OneVsAllLogisticRegression
from mnist_ova.trainer.preprocess import StandardisedImages
from mnist_ova.trainer.steps import NumpyPass, step_pass

KERNELS = "mnist_ova.trainer.kernels"
# n: one block, several blocks with a short last one; K: below, not and a multiple of the kernel's 5 models a tile
SHAPES = [(37, 10, 3), (3 * steps.BLOCK_ROWS + 21, 28, 7), (2 * steps.BLOCK_ROWS, 40, 10)]
FEATURES = ["raw images standardised", "raw images as they are", "float features"]


@pytest.fixture(autouse=True)
def fresh_notes(monkeypatch):
    """Each test starts as a new process would: no note said yet, no target chosen."""
    monkeypatch.delenv("MNIST_OVA_KERNEL_TARGET", raising=False)
    steps._note_once.cache_clear()
    yield
    steps._note_once.cache_clear()


@pytest.fixture
def fused_pass():
    return pytest.importorskip(KERNELS, reason="the training kernel is not built").FusedPass


def problem(n, d, K, dtype, features, seed=0):
    """(pixels, y_index, K, arguments of the pass, WT, b): images with a constant one (scale 0), and weights
    large enough that some logits saturate."""
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 256, (n, d)).astype(np.uint8)
    images[n // 2] = 7
    y = rng.randint(0, K, n)
    WT = (rng.randn(K, d) * (0.3 if features == "raw images standardised" else 0.01)).astype(dtype)
    b = rng.randn(K).astype(dtype)
    arguments = {"dtype": dtype}
    if features == "raw images standardised":
        _, arguments["centre"], arguments["scale"] = StandardisedImages(images).kernel_inputs()
    pixels = (rng.randn(n, d) * 2).astype(dtype) if features == "float features" else images
    return pixels, y, K, arguments, WT, b


def tiny_step_pass():
    pixels, y, K, arguments, _, _ = problem(37, 10, 3, np.float64, FEATURES[0])
    return step_pass(pixels, y, K, **arguments)


def plain_sums(pixels, y, K, arguments, WT, b):
    """The step's sums written plainly, in float64, from the float features."""
    X = pixels.astype(np.float64)
    if "centre" in arguments:
        X = (X - arguments["centre"][:, None]) * arguments["scale"][:, None]
    Z = X @ WT.T.astype(np.float64) + b
    Y = (y[:, None] == np.arange(K)).astype(float)
    A = 1 / (1 + np.exp(-Z))
    cross_entropy = Y * np.logaddexp(0, -Z) + (1 - Y) * np.logaddexp(0, Z)
    return (A - Y).T @ X, (A - Y).sum(axis=0), cross_entropy.sum(axis=0), ((Z > 0) != Y).sum(axis=0), \
        int(np.sum(Z.argmax(axis=1) == y))


def assert_sums_equal(sums, reference, dtype):
    """Equal to float64's rounding (1e-12 of the largest entry), or float32's where the pass ran in float32."""
    tolerance = 1e-12 if dtype == np.float64 else 2e-5
    for name, got, expected in zip(("gradient", "g_sum", "cost_sum"), sums, reference):
        expected = np.asarray(expected, np.float64)
        np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance * np.max(np.abs(expected)),
                                   err_msg=name)
    np.testing.assert_array_equal(sums.wrong, reference[3])
    assert sums.right == reference[4]


@pytest.mark.parametrize("features", FEATURES)
@pytest.mark.parametrize("n, d, K", SHAPES)
def test_the_numpy_pass_gives_the_plain_formulas(n, d, K, features):
    """Without the kernel too: the NumPy path is checked wherever the tests run."""
    pixels, y, K, arguments, WT, b = problem(n, d, K, np.float64, features)
    with NumpyPass(pixels, y, K, **arguments) as step_sums:
        sums = step_sums(WT, b)
    reference = plain_sums(pixels, y, K, arguments, WT, b)
    np.testing.assert_allclose(sums.gradient, reference[0], rtol=1e-10, atol=1e-10 * np.max(np.abs(reference[0])))
    np.testing.assert_allclose(sums.g_sum, reference[1], rtol=1e-10, atol=1e-10 * n)
    np.testing.assert_allclose(sums.cost_sum, reference[2], rtol=1e-10)
    np.testing.assert_array_equal(sums.wrong, reference[3])
    assert sums.right == reference[4]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("features", FEATURES)
@pytest.mark.parametrize("n, d, K", SHAPES)
def test_the_numpy_pass_gives_the_kernels_sums(n, d, K, features, dtype, fused_pass):
    pixels, y, K, arguments, WT, b = problem(n, d, K, dtype, features)
    with fused_pass(pixels, y, K, **arguments) as kernel, NumpyPass(pixels, y, K, **arguments) as numpy_pass:
        for step in range(2):  # the zero weights' step (every logit 0, every model wrong for its class) too
            weights = (WT, b) if step else (np.zeros_like(WT), np.zeros_like(b))
            reference = kernel(*weights)
            assert_sums_equal(numpy_pass(*weights), reference, dtype)


def test_the_block_size_changes_nothing_but_the_rounding():
    pixels, y, K, arguments, WT, b = problem(3 * steps.BLOCK_ROWS + 21, 28, 7, np.float64, FEATURES[0])
    assert_sums_equal(NumpyPass(pixels, y, K, **arguments, block_rows=5)(WT, b),
                      NumpyPass(pixels, y, K, **arguments)(WT, b), np.float64)


def test_the_numpy_pass_takes_float32_and_float64_only():
    with pytest.raises(ValueError, match="dtype must be float32 or float64; got int64"):
        NumpyPass(np.zeros((4, 3)), np.zeros(4, int), 2, dtype=np.int64)


def fit(images, labels, solver, iterations):
    model = OneVsAllLogisticRegression(solver=solver, max_iter=iterations)
    return model.fit(StandardisedImages(images), labels)


@pytest.mark.parametrize("solver, rows, iterations", [
    ("gd", slice(None), 300),
    ("gd", slice(80), 1000),  # models that stop early, each at its own step
    # L-BFGS turns rounding into different line searches as it goes: on the bundled digits the kernel's own
    # AVX2 and AVX-512 passes give weights 1e-9 apart after 50 iterations and 3e-2 after 100
    ("lbfgs", slice(None), 20),
])
def test_a_fit_on_the_numpy_path_gives_the_kernels_weights(small_digits, monkeypatch, solver, rows, iterations,
                                                           fused_pass):
    images, labels = small_digits[0][rows], small_digits[1][rows]
    kernel = fit(images, labels, solver, iterations)
    monkeypatch.setenv("MNIST_OVA_KERNEL_TARGET", "numpy")
    numpy_path = fit(images, labels, solver, iterations)
    np.testing.assert_array_equal(numpy_path.n_iter_, kernel.n_iter_)
    np.testing.assert_allclose(numpy_path.coef_, kernel.coef_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(numpy_path.intercept_, kernel.intercept_, rtol=0, atol=1e-9)
    for ours, theirs in zip(numpy_path.cost_history_, kernel.cost_history_):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("value", ["numpy", " NumPy "])
def test_the_variable_picks_the_numpy_path_and_it_says_so_once(monkeypatch, capsys, value):
    monkeypatch.setenv("MNIST_OVA_KERNEL_TARGET", value)
    for _ in range(3):
        with tiny_step_pass() as step_sums:
            assert isinstance(step_sums, NumpyPass)
    note = capsys.readouterr().err
    assert note.count("\n") == 1
    assert note.startswith("note: MNIST_OVA_KERNEL_TARGET=numpy: training on the NumPy path")
    assert "unset it for the kernel" in note


def test_the_kernel_runs_where_it_is_built_and_says_nothing(capsys, fused_pass):
    with tiny_step_pass() as step_sums:
        assert isinstance(step_sums, fused_pass)
    assert capsys.readouterr().err == ""


def test_an_unknown_target_is_still_the_kernels_input_error(monkeypatch, fused_pass):
    monkeypatch.setenv("MNIST_OVA_KERNEL_TARGET", "sse9")
    with pytest.raises(InputError, match="MNIST_OVA_KERNEL_TARGET must be one of"):
        tiny_step_pass()


def without_the_kernel(monkeypatch):
    """The kernel imported anew, where its library cannot be loaded (as where no compiler built it)."""
    import ctypes

    import mnist_ova.trainer

    def cannot_load(name, *args, **kwargs):
        raise OSError(f"{name}: cannot open shared object file: No such file or directory")

    monkeypatch.delitem(sys.modules, KERNELS, raising=False)
    monkeypatch.delattr(mnist_ova.trainer, "kernels", raising=False)
    monkeypatch.setattr(ctypes, "CDLL", cannot_load)


def test_a_bug_in_importing_the_kernel_is_no_reason_to_fall_back(monkeypatch):
    import mnist_ova.trainer

    monkeypatch.setitem(sys.modules, KERNELS, None)  # `import` raises a plain ImportError, as a bug would
    monkeypatch.delattr(mnist_ova.trainer, "kernels", raising=False)
    with pytest.raises(ImportError) as error:
        tiny_step_pass()
    assert not isinstance(error.value, steps.KernelNotBuilt)


def test_a_kernel_built_without_vectors_leaves_training_to_numpy(monkeypatch, capsys, fused_pass):
    """MSVC's one-lane pass is slower than the NumPy path (bench/NOTES.md)."""
    from mnist_ova.trainer import kernels

    monkeypatch.setattr(kernels, "vectorised", lambda library=None: False)
    with tiny_step_pass() as step_sums:
        assert isinstance(step_sums, NumpyPass)
    note = capsys.readouterr().err
    assert note.startswith("note: the training kernel was built without vectors (MSVC)") and note.count("\n") == 1


@pytest.mark.parametrize("target", [None, "avx2"])
def test_without_the_kernel_training_runs_on_numpy_and_says_how_to_get_it_once(small_digits, monkeypatch, capsys,
                                                                               target):
    """As where no compiler built it: importing the kernel fails; a target asked for cannot be had either."""
    images, labels = small_digits[0][:200], small_digits[1][:200]
    without_the_kernel(monkeypatch)
    if target:
        monkeypatch.setenv("MNIST_OVA_KERNEL_TARGET", target)
    fallback = [fit(images, labels, solver, 20) for solver in ("gd", "lbfgs")]
    note = capsys.readouterr().err
    assert note.count("\n") == 1
    assert note.startswith("note: ") and "training runs on the NumPy path" in note
    assert "a C compiler: Debian/Ubuntu: apt-get install gcc" in note and "macOS: xcode-select --install" in note
    monkeypatch.setenv("MNIST_OVA_KERNEL_TARGET", "numpy")
    for model, solver in zip(fallback, ("gd", "lbfgs")):
        chosen = fit(images, labels, solver, 20)
        np.testing.assert_array_equal(model.coef_, chosen.coef_)
