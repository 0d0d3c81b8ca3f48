import os

import numpy as np
import pytest

# Without a C compiler at install there is no kernel to test (tests/trainer/test_steps.py tests the NumPy path).
kernels = pytest.importorskip("mnist_ova.trainer.kernels", reason="the training kernel is not built",
                              exc_type=ImportError)
FusedPass, chunk_rows = kernels.FusedPass, kernels.chunk_rows
KernelNotBuilt = kernels.KernelNotBuilt

CHUNK = 1024  # rows: a size that makes tens of chunks


@pytest.fixture(params=kernels.TARGETS)
def target(request, monkeypatch):
    """Each of the kernel's passes that this CPU can run (MNIST_OVA_KERNEL_TARGET picks it)."""
    if request.param not in supported_targets():
        pytest.skip(f"this CPU cannot run the {request.param} pass")
    monkeypatch.setenv("MNIST_OVA_KERNEL_TARGET", request.param)
    return request.param


def supported_targets():
    return kernels.supported_targets()


def assert_plain_formulas(sums, X, y, WT, b):
    """``sums`` (a pass's StepSums) are those of the plain formulas for features X (float64 or float32, whose
    rounding the tolerance allows), labels y and weights WT, b."""
    dWT, g_sum, cost_sum, wrong, right = sums
    n, K = len(X), len(WT)
    Z = X.astype(np.float64) @ WT.T.astype(np.float64) + b
    Y = (y[:, None] == np.arange(K)).astype(float)
    A = 1 / (1 + np.exp(-Z))
    tolerance = 1e-10 if X.dtype == np.float64 else 2e-4
    np.testing.assert_allclose(dWT, (A - Y).T @ X, rtol=tolerance, atol=tolerance * n)
    np.testing.assert_allclose(g_sum, (A - Y).sum(axis=0), rtol=tolerance, atol=tolerance * n)
    # The logits are large here, so the reference is the cross-entropy written stably.
    cross_entropy = Y * np.logaddexp(0, -Z) + (1 - Y) * np.logaddexp(0, Z)
    np.testing.assert_allclose(cost_sum, cross_entropy.sum(axis=0), rtol=tolerance)
    np.testing.assert_array_equal(wrong, (np.round(A) != Y).sum(axis=0))
    assert right == np.sum(Z.argmax(axis=1) == y)


def pass_inputs(n, d, K, dtype):
    """Random features, labels and weights (large logits: every sigmoid's range), the same for the same shape."""
    rng = np.random.RandomState(n)
    X = rng.randn(n, d).astype(dtype)
    y = rng.randint(0, K, n)
    WT = (rng.randn(K, d) * 3).astype(dtype)
    b = rng.randn(K).astype(dtype)
    return X, y, WT, b


@pytest.mark.parametrize("n, d, K, dtype", [(37, 13, 3, np.float64), (CHUNK + 21, 30, 10, np.float64),
                                            (2 * CHUNK + 5, 9, 7, np.float32), (8, 5, 5, np.float64),
                                            (3 * CHUNK, 64, 10, np.float32), (CHUNK + 29, 12, 10, np.float64),
                                            (45, 24, 4, np.float32)])
def test_fused_pass_equals_the_plain_formulas(n, d, K, dtype, target):
    """Every tail: rows not a multiple of the tile, K not a multiple of the register tile, columns not a
    multiple of the vector, or whole vectors (read in place) but not a whole number of the gradient's tiles
    of vectors (3 of AVX2's), several chunks; and whole tiles and vectors."""
    X, y, WT, b = pass_inputs(n, d, K, dtype)
    assert_plain_formulas(FusedPass(X, y, K)(WT, b), X, y, WT, b)


def test_the_result_does_not_depend_on_the_call():
    rng = np.random.RandomState(0)
    X = rng.randn(3 * CHUNK, 20)
    step = FusedPass(X, rng.randint(0, 4, len(X)), 4)
    first = [np.array(a, copy=True) for a in step(np.ones((4, 20)), np.zeros(4))]
    again = step(np.ones((4, 20)), np.zeros(4))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("target", kernels.TARGETS)
def test_the_kernels_exp_and_log1p_are_within_a_few_ulp_of_numpy(target):
    """The score's branch-free exp(-t) and log(1 + e) are what makes it one vector per model: check them
    over the whole range, tiny and huge arguments included, for every target this CPU can run."""
    from mnist_ova.trainer.kernels import series

    if target not in supported_targets():
        pytest.skip(f"this CPU cannot run the {target} pass")
    t = np.concatenate([np.linspace(0, 40, 200_001), np.geomspace(1e-300, 1e-3, 1001), [100.0, 700.0]])
    e, log1p = series(t, np.float64, target)
    assert np.max(np.abs(e - np.exp(-t)) / np.spacing(np.exp(-t))) <= 1
    assert np.max(np.abs(log1p - np.log1p(e)) / np.spacing(np.log1p(e))) <= 3
    e, log1p = series(np.array([708.0, 800.0, np.inf]), np.float64, target)  # capped, never 0 or NaN
    np.testing.assert_allclose(e, np.exp(-708.0), rtol=3e-16)
    np.testing.assert_array_equal(log1p, e)


@pytest.mark.parametrize("target", kernels.TARGETS)
def test_the_float32_series_are_within_a_few_float32_ulp(target):
    """float32 weights are scored in float32 with fewer terms of both series: within a few of float32's ulp,
    as close as float32 arithmetic gets; capped where exp(-t) is the smallest normal float's order."""
    from mnist_ova.trainer.kernels import series

    if target not in supported_targets():
        pytest.skip(f"this CPU cannot run the {target} pass")
    t = np.concatenate([np.linspace(0, 40, 200_001), np.geomspace(1e-40, 1e-3, 1001)]).astype(np.float32)
    e, log1p = series(t, np.float32, target)
    exact_e = np.exp(-t.astype(np.float64))
    assert np.max(np.abs(e - exact_e) / np.spacing(exact_e.astype(np.float32))) <= 2
    exact_log1p = np.log1p(e)
    assert np.max(np.abs(log1p - exact_log1p) / np.spacing(exact_log1p.astype(np.float32))) <= 3
    e, log1p = series(np.array([87.0, 100.0, np.inf]), np.float32, target)
    assert np.all(e > 0) and np.all(np.isfinite(log1p))
    np.testing.assert_allclose(e, np.exp(-87.0), rtol=2e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [50, 64])
def test_raw_pixels_standardised_inside_the_pass_equal_the_float_features(dtype, d, target):
    """The kernel reads uint8 pixels and standardises them itself: the sums must be those of the
    standardised float features (a constant image included, which standardises to zeros). Rows of 64
    pixels are read in place, rows of 50 copied (not a whole number of vectors), as are the last rows."""
    from mnist_ova.trainer.preprocess import StandardisedImages, standardise

    rng = np.random.RandomState(1)
    images = rng.randint(0, 256, (CHUNK + 13, d)).astype(np.uint8)
    images[5] = 17
    y = rng.randint(0, 10, len(images))
    WT = (rng.randn(10, d) * 0.05).astype(dtype)
    b = rng.randn(10).astype(dtype)
    pixels, centre, scale = StandardisedImages(images).kernel_inputs()
    raw = FusedPass(pixels, y, 10, dtype=dtype, centre=centre, scale=scale)(WT, b)
    floats = FusedPass(standardise(images, dtype), y, 10)(WT, b)
    tolerance = 1e-13 if dtype == np.float64 else 2e-5
    for a, c in zip(raw, floats):
        np.testing.assert_allclose(a, c, rtol=tolerance, atol=tolerance * len(images))


def test_training_on_raw_pixels_gives_the_weights_of_training_on_standardised_floats(small_digits):
    """fit(StandardisedImages(images)) trains on the raw pixels; fit(standardise(images)) on the float copy
    the notebook makes: the float64 weights agree far inside the 1e-9 the notebook reference allows."""
    from mnist_ova.trainer.model import OneVsAllLogisticRegression
    from mnist_ova.trainer.preprocess import StandardisedImages, standardise

    images, labels = small_digits
    raw = OneVsAllLogisticRegression(max_iter=300).fit(StandardisedImages(images), labels)
    floats = OneVsAllLogisticRegression(max_iter=300).fit(standardise(images), labels)
    np.testing.assert_allclose(raw.coef_, floats.coef_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(raw.intercept_, floats.intercept_, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(raw.n_iter_, floats.n_iter_)
    for a, c in zip(raw.cost_history_, floats.cost_history_):
        np.testing.assert_allclose(a, c, rtol=1e-12)


@pytest.fixture(scope="module")
def notebook_weights(small_digits):
    """The notebook's ten loops on small_digits' rows (300 steps), computed once for every pass's test."""
    from mnist_ova.trainer.preprocess import standardise
    from tests.trainer.test_model import notebook_models

    images, labels = small_digits
    return images, labels, notebook_models(standardise(images), labels, iterations=300)


def test_every_pass_trains_the_notebooks_weights_on_any_number_of_threads(notebook_weights, target, monkeypatch):
    """Each pass this CPU runs (its own register tiles and loads): 300 steps of gradient descent on the raw
    pixels give the notebook's float64 weights to 1e-9, bit for bit the same on 1 thread and on 3."""
    from mnist_ova.trainer.model import OneVsAllLogisticRegression
    from mnist_ova.trainer.preprocess import StandardisedImages

    images, labels, reference = notebook_weights
    models = []
    for threads in ("1", "3"):
        monkeypatch.setenv("MNIST_OVA_THREADS", threads)
        models.append(OneVsAllLogisticRegression(max_iter=300).fit(StandardisedImages(images), labels))
    for k, (w, b, _, n_iter) in enumerate(reference):
        assert models[0].n_iter_[k] == n_iter
        np.testing.assert_allclose(models[0].coef_[k], w, rtol=0, atol=1e-9)
        assert abs(models[0].intercept_[k] - b) <= 1e-9
    np.testing.assert_array_equal(models[0].coef_, models[1].coef_)
    np.testing.assert_array_equal(models[0].intercept_, models[1].intercept_)


def test_lbfgs_on_raw_pixels_reaches_the_cost_of_the_float_path(small_digits):
    """L-BFGS's line search accepts or halves a step on a comparison, so last-bit differences can take the
    two runs along slightly different paths: they must reach the same costs and predictions."""
    from mnist_ova.trainer.model import OneVsAllLogisticRegression
    from mnist_ova.trainer.preprocess import StandardisedImages, standardise

    images, labels = small_digits
    X = standardise(images)
    raw = OneVsAllLogisticRegression(max_iter=100, solver="lbfgs").fit(StandardisedImages(images), labels)
    floats = OneVsAllLogisticRegression(max_iter=100, solver="lbfgs").fit(X, labels)
    final = [np.array([h[-1] for h in m.cost_history_]) for m in (raw, floats)]
    np.testing.assert_allclose(*final, rtol=1e-3)
    assert np.mean(raw.predict(X) == floats.predict(X)) > 0.99


def test_float32_training_on_raw_pixels_predicts_as_the_float_path(small_digits):
    from mnist_ova.trainer.model import OneVsAllLogisticRegression
    from mnist_ova.trainer.preprocess import StandardisedImages, standardise

    images, labels = small_digits
    X = standardise(images)
    raw = OneVsAllLogisticRegression(max_iter=100, dtype="float32").fit(StandardisedImages(images, "float32"), labels)
    floats = OneVsAllLogisticRegression(max_iter=100, dtype="float32").fit(X.astype(np.float32), labels)
    assert raw.coef_.dtype == np.float32
    np.testing.assert_allclose(raw.coef_, floats.coef_, atol=1e-5)
    assert np.mean(raw.predict(X) == floats.predict(X)) > 0.995


@pytest.mark.parametrize("dtype, atol", [("float64", 1e-12), ("float32", 2e-5)])
def test_scoring_raw_pixels_equals_scoring_the_float_features(small_digits, dtype, atol):
    """predict, predict_proba and predict_binary_proba of StandardisedImages read the raw pixels (the
    standardisation folded into the logits), a block at a time; they agree with the float features'."""
    from mnist_ova.trainer.model import OneVsAllLogisticRegression
    from mnist_ova.trainer.preprocess import StandardisedImages

    images, labels = small_digits
    images = images.copy()
    images[7] = 3  # a constant image: all its features are 0, its logits the intercepts
    raw = StandardisedImages(images, dtype)
    model = OneVsAllLogisticRegression(max_iter=60, dtype=dtype).fit(raw, labels)
    X = np.asarray(raw)
    z = model._logits_of_pixels(raw, block=64)  # several blocks and a short last one
    assert z.dtype == np.dtype(dtype)
    np.testing.assert_allclose(z, X @ model.coef_.T + model.intercept_, rtol=0, atol=atol * 10)
    np.testing.assert_allclose(z[7], model.intercept_, rtol=0, atol=atol)
    np.testing.assert_allclose(model.predict_binary_proba(raw), model.predict_binary_proba(X), rtol=0, atol=atol)
    np.testing.assert_allclose(model.predict_proba(raw), model.predict_proba(X), rtol=0, atol=atol)
    assert np.mean(model.predict(raw) == model.predict(X)) > 0.999
    with pytest.raises(ValueError, match="features"):
        model.predict(StandardisedImages(images[:, :-1], dtype))


def test_the_result_does_not_depend_on_the_number_of_threads(target):
    rng = np.random.RandomState(3)
    X = rng.randn(5 * CHUNK + 3, 24)
    y = rng.randint(0, 6, len(X))
    one, two, three = (FusedPass(X, y, 6, n_threads=t)(np.ones((6, 24)) * 0.1, np.zeros(6)) for t in (1, 2, 3))
    for a, b, c in zip(one, two, three):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


X86 = ("default", "avx2", "avx512")  # the targets built for each architecture with GCC or Clang
ARM64 = ("default", "neon")


@pytest.mark.parametrize("value, message", [("sse9", "must be one of numpy, {built}; got 'sse9'"),
                                            ("numpy", "names the NumPy path, which runs no pass of the kernel")])
def test_an_unknown_kernel_target_is_an_input_error(monkeypatch, value, message):
    """The targets listed are this architecture's only (x86's, or arm64's)."""
    from mnist_ova.errors import InputError
    built = kernels.built_targets()
    assert built in (X86, ARM64, ("default",))  # ("default",): a compiler without vectors (MSVC)
    monkeypatch.setenv("MNIST_OVA_KERNEL_TARGET", value)
    with pytest.raises(InputError, match=message.format(built=", ".join(built))):
        kernels.target()


def test_another_architectures_target_is_an_input_error_that_says_so(monkeypatch):
    from mnist_ova.errors import InputError
    other, architecture = ("neon", "arm64") if "avx2" in kernels.built_targets() else ("avx2", "x86-64")
    monkeypatch.setenv("MNIST_OVA_KERNEL_TARGET", other)
    with pytest.raises(InputError, match=f"^MNIST_OVA_KERNEL_TARGET={other} names a pass for {architecture} CPUs, "
                                         r"which this kernel \(built for .+\) does not hold: this CPU supports "
                                         "default"):
        kernels.target()


def test_each_pass_pads_the_models_to_its_register_tiles_and_says_its_shape(target):
    """The models are padded to the target's multiple of both tiles' models (their rows divide the 8-row tile),
    and a tile's sums fit the target's registers: 32 with AVX-512 and NEON, 16 with AVX2 and SSE2."""
    registers = {"default": 16, "avx2": 16, "avx512": 32, "neon": 32}[target]
    for dtype in (np.float64, np.float32):
        shape = kernels.shape(target, dtype)
        assert shape["vector_bytes"] == {"default": 16, "avx2": 32, "avx512": 64, "neon": 16}[target]
        for phase in ("logits", "gradient"):
            rows, models = shape[f"{phase}_rows"], shape[f"{phase}_models"]
            assert kernels.ROWS % rows == 0 and shape["models_multiple"] % models == 0
        rows, models = shape["logits_rows"], shape["logits_models"]
        assert rows * models + min(rows, models) + 1 <= registers  # sums, the held operands, one more
        # the gradient holds the rows' vectors (and their factors) where they are fewer than the models, else
        # its sums (GV x GM), a row's GV vectors, a factor and the row's centre (fused_pass.h)
        rows, vectors, models = shape["gradient_rows"], shape["gradient_vectors"], shape["gradient_models"]
        held = rows * vectors + rows * models + 1 if rows <= models else vectors * models + vectors + 2
        assert held <= registers
        X, y, WT, b = pass_inputs(40, 9, 3, dtype)
        step = FusedPass(X, y, 3)
        assert step.shape == shape and len(step.WT) == shape["models_multiple"]
        assert_plain_formulas(step(WT, b), X, y, WT, b)


def test_a_pass_used_as_a_context_manager_ends_its_threads():
    """No thread of the kernel's may outlive training: the pipeline forks its render lanes after it."""
    import threading

    def kernel_threads():  # (other tests' passes may still hold theirs, until collected)
        return {t for t in threading.enumerate() if t.name.startswith("mnist-ova-kernel")}

    X, y, WT, b = pass_inputs(3 * CHUNK, 16, 4, np.float64)
    before = kernel_threads()
    with FusedPass(X, y, 4, n_threads=3) as step:
        first = step(WT, b)
        own = kernel_threads() - before
        assert len(own) == 2
    assert not any(t.is_alive() for t in own)
    for a, c in zip(first, step(WT, b)):  # a closed pass still works: its threads start again
        np.testing.assert_array_equal(a, c)
    again = kernel_threads() - before - own
    step.close()
    assert len(again) == 2 and not any(t.is_alive() for t in again)


def test_a_missing_kernel_is_an_import_error_with_what_to_do(tmp_path):
    with pytest.raises(KernelNotBuilt, match=r"is not built: install the package again where a C compiler is found "
                                             r"\(`pip install -e .` in a checkout, else `pip install --force-reinstall "
                                             r"--no-cache-dir --no-deps mnist-ova`\)"):
        kernels.load_library(tmp_path / "_fused.so")


def test_a_kernel_built_from_other_sources_is_refused_with_what_to_do():
    """An install not rebuilt after fused.c's arguments changed would pass them wrongly: it is refused."""
    import types

    assert kernels._checked(kernels._library) is kernels._library
    for stale in (types.SimpleNamespace(), types.SimpleNamespace(fused_interface=lambda: kernels.INTERFACE - 1)):
        with pytest.raises(KernelNotBuilt, match="built from other sources .*: rebuild it \\(`pip install -e .`"):
            kernels._checked(stale)


def test_a_target_beyond_the_cpu_is_an_input_error(monkeypatch):
    from mnist_ova.errors import InputError
    monkeypatch.setattr(kernels._library, "fused_best_target", lambda: 0)  # a CPU without AVX2
    monkeypatch.setenv("MNIST_OVA_KERNEL_TARGET", "avx2")
    with pytest.raises(InputError, match="this CPU supports default"):
        kernels.target()


@pytest.mark.parametrize("n", [1, 7, 8, 37, 385, 56_000, 98_304, 98_305, 1_000_003])
def test_chunks_are_whole_tiles_about_48_of_them_and_never_huge(n):
    rows, groups = chunk_rows(n), -(-n // (48 * 2048))
    assert rows % 8 == 0 and rows <= 2048
    assert -(-n // rows) <= 48 * groups
    assert rows < n / (48 * groups) + 8  # at most a tile over an even share: not far fewer chunks than 48


def test_a_kernel_that_cannot_be_loaded_is_an_import_error_with_what_to_do(tmp_path):
    """A library built for another machine (or damaged): the NumPy path runs instead of a crash (steps.py)."""
    foreign = tmp_path / kernels.LIBRARY.name
    foreign.write_bytes(b"\x7fELF" + bytes(60))
    with pytest.raises(KernelNotBuilt, match="cannot be loaded .*: rebuild it \\(`pip install -e .`"):
        kernels.load_library(foreign)


@pytest.mark.skipif(not os.path.isfile("/proc/cpuinfo"), reason="Linux lists what the CPU and system offer there")
def test_the_best_target_is_what_the_cpu_and_its_system_offer():
    """/proc/cpuinfo lists AVX and AVX-512 only where the system saves their registers (as XCR0 tells the
    kernel): a detection that found less would skip the faster passes, and every other test with them."""
    with open("/proc/cpuinfo") as file:
        flags = set(next(line for line in file if line.startswith(("flags", "Features"))).split(":", 1)[1].split())
    if {"avx512f", "avx512dq", "avx512vl", "avx512bw", "avx2", "fma"} <= flags:
        expected = "avx512"
    elif {"avx2", "fma"} <= flags:
        expected = "avx2"
    else:
        expected = "default"
    assert kernels.TARGETS[kernels._library.fused_best_target()] == expected


@pytest.mark.skipif(not hasattr(os, "kill") or os.name == "nt", reason="POSIX signals")
def test_a_stopping_signal_during_a_step_is_raised_after_it_never_inside_the_threads_locks(monkeypatch):
    """SIGTERM arriving while the main thread hands work to the pool is raised once the step is done: raised
    inside the pool's locks, it left one held and ending the threads hung the run (a SIGHUP test did)."""
    import concurrent.futures
    import signal
    import threading

    from mnist_ova import children
    from mnist_ova.errors import Terminated

    X, y, WT, b = pass_inputs(3 * CHUNK, 16, 4, np.float64)
    submit = concurrent.futures.ThreadPoolExecutor.submit
    sent = []

    def submit_and_signal(pool, *args):
        if not sent:
            sent.append(os.kill(os.getpid(), signal.SIGTERM))  # delivered at once unless held
        return submit(pool, *args)

    monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "submit", submit_and_signal)
    with children.handling_signals(), pytest.raises(Terminated) as stopped:
        with FusedPass(X, y, 4, n_threads=3) as step:
            step(WT, b)
    frames = [frame.name for frame in stopped.traceback]
    assert sent and "_run_threads" in frames, frames
    assert "submit_and_signal" not in frames and "submit" not in frames, "raised inside the pool's hand-over"
    assert not [t for t in threading.enumerate() if t.name.startswith("mnist-ova-kernel") and t.is_alive()]
