import numpy as np
import pytest

from trainer.kernels import CHUNK, FusedPass


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
