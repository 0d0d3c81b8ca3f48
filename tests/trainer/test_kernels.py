import numpy as np
import pytest

from mnist_ova.trainer.kernels import CHUNK, FusedPass


@pytest.mark.parametrize("n, d, K, dtype", [(37, 13, 3, np.float64), (CHUNK + 21, 30, 10, np.float64),
                                            (2 * CHUNK + 5, 9, 7, np.float32), (8, 5, 5, np.float64)])
def test_fused_pass_equals_the_plain_formulas(n, d, K, dtype):
    """Every tail: rows not a multiple of the tile, K not a multiple of the register tile, several chunks."""
    rng = np.random.RandomState(n)
    X = rng.randn(n, d).astype(dtype)
    y = rng.randint(0, K, n)
    WT = (rng.randn(K, d) * 3).astype(dtype)
    b = rng.randn(K).astype(dtype)
    dWT, g_sum, cost_sum, errors = FusedPass(X, y, K)(WT, b)
    Z = X.astype(np.float64) @ WT.T.astype(np.float64) + b
    Y = (y[:, None] == np.arange(K)).astype(float)
    A = 1 / (1 + np.exp(-Z))
    tolerance = 1e-10 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(dWT, (A - Y).T @ X, rtol=tolerance, atol=tolerance * n)
    np.testing.assert_allclose(g_sum, (A - Y).sum(axis=0), rtol=tolerance, atol=tolerance * n)
    # The logits are large here, so the reference is the cross-entropy written stably.
    cross_entropy = Y * np.logaddexp(0, -Z) + (1 - Y) * np.logaddexp(0, Z)
    np.testing.assert_allclose(cost_sum, cross_entropy.sum(axis=0), rtol=tolerance)
    np.testing.assert_array_equal(errors, (np.round(A) != Y).sum(axis=0))


def test_the_result_does_not_depend_on_the_call():
    rng = np.random.RandomState(0)
    X = rng.randn(3 * CHUNK, 20)
    step = FusedPass(X, rng.randint(0, 4, len(X)), 4)
    first = [a.copy() for a in step(np.ones((4, 20)), np.zeros(4))]
    again = step(np.ones((4, 20)), np.zeros(4))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_the_kernels_exp_and_log1p_are_within_a_few_ulp_of_numpy():
    """The score's branch-free exp(-t) and log(1 + e) are what makes it one vector per model: check them
    over the whole range, tiny and huge arguments included."""
    from numba import njit

    from mnist_ova.trainer.kernels import EXACT, _exp_minus, _log1p_unit

    @njit(fastmath=EXACT, error_model="numpy")
    def both(t, e, log1p):
        for i in range(t.shape[0]):
            e[i] = _exp_minus(t[i])
            log1p[i] = _log1p_unit(e[i])

    t = np.concatenate([np.linspace(0, 40, 200_001), np.geomspace(1e-300, 1e-3, 1001), [100.0, 700.0]])
    e, log1p = np.empty_like(t), np.empty_like(t)
    both(t, e, log1p)
    assert np.max(np.abs(e - np.exp(-t)) / np.spacing(np.exp(-t))) <= 1
    assert np.max(np.abs(log1p - np.log1p(e)) / np.spacing(np.log1p(e))) <= 3
    both(np.array([708.0, 800.0, np.inf]), e[:3], log1p[:3])  # capped, never 0 or NaN
    np.testing.assert_allclose(e[:3], np.exp(-708.0), rtol=3e-16)
    np.testing.assert_array_equal(log1p[:3], e[:3])


def test_the_float32_series_are_exact_to_well_below_float32_precision():
    """float32 training uses fewer terms of both series: their error must stay far below float32's
    half-ulp (6e-8 relative), so the weights are as a float64 score would make them."""
    from numba import njit

    from mnist_ova.trainer.kernels import EXACT, TERMS, _exp_minus, _log1p_unit

    @njit(fastmath=EXACT, error_model="numpy")
    def both(t, e, log1p, exp_terms, log1p_terms):
        for i in range(t.shape[0]):
            e[i] = _exp_minus(t[i], exp_terms)
            log1p[i] = _log1p_unit(e[i], log1p_terms)

    t = np.concatenate([np.linspace(0, 40, 200_001), np.geomspace(1e-300, 1e-3, 1001)])
    e, log1p = np.empty_like(t), np.empty_like(t)
    both(t, e, log1p, *TERMS["float32"])
    assert np.max(np.abs(e / np.exp(-t) - 1)) < 1e-8
    assert np.max(np.abs(log1p / np.log1p(e) - 1)) < 1e-8
