"""``_kernels.activations``: one dispatch over every code.

The passes' dispatchers ``forward_at`` and ``vjp_at`` (over one workspace, by
offsets) must run exactly the kernel of their code; ``jacobian`` must build
``fastbp.testing``'s explicit J.  (The block forms ``forward`` and
``vjp_inplace`` are held to the reference in tests/test_gradients.py.)
"""
import numpy as np
import pytest

from fastbp import testing
from fastbp._kernels import activations, elementwise, vector

from ._common import DTYPES, GUARD, NAMES, assert_guards, off

# As in test_elementwise.py: a few ulp per function, and derivatives from the
# output lose up to a factor 14 for x in [-2, 2].
TOL = {np.float64: 1e-13, np.float32: 1e-5}
M, N = 3, 5


def test_codes_and_kinds():
    assert activations.CODES == {**elementwise.CODES, **vector.CODES}
    assert len(set(activations.CODES.values())) == len(activations.CODES)
    for name, code in activations.CODES.items():
        assert activations.is_vector(code) == (name == "softmax")
        assert code < activations.CUSTOM


def _workspace(rng, dtype):
    """X at x0, room for Y at y0 and G (holding v) at g0, in one guarded buffer."""
    X = rng.uniform(0.05, 2.0, size=(M, N)) * rng.choice([-1.0, 1.0], size=(M, N))
    V = rng.normal(size=(M, N))
    n = M * N
    work = np.full(2 + 3 * (n + 3), GUARD, dtype)
    x0, y0, g0 = off(2), off(2 + n + 3), off(2 + 2 * (n + 3))
    work[x0:x0 + n], work[g0:g0 + n] = X.ravel(), V.ravel()
    return work, x0, y0, g0, X.astype(dtype), V.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_forward_at_and_vjp_at_run_their_codes_kernel(name, dtype):
    code = activations.CODES[name]
    work, x0, y0, g0, X, V = _workspace(np.random.default_rng(NAMES.index(name)), dtype)
    n = M * N
    activations.forward_at(code, work, x0, y0, off(M), off(N), None)
    activations.vjp_at(code, work, x0, y0, g0, off(M), off(N), None)
    # The same kernels called directly, on arrays of their own.
    y, g = np.empty(n, dtype), V.ravel().copy()
    if activations.is_vector(code):
        vector.forward(code, X.ravel(), off(0), y, off(0), off(M), off(N))
        vector.vjp_inplace(code, y, off(0), g, off(0), off(M), off(N))
    else:
        elementwise.forward(code, X.ravel(), off(0), y, off(0), off(n))
        elementwise.vjp_inplace(code, y, off(0), g, off(0), off(n))
    np.testing.assert_array_equal(work[y0:y0 + n], y)
    np.testing.assert_array_equal(work[g0:g0 + n], g)
    np.testing.assert_array_equal(work[x0:x0 + n], X.ravel())
    # And what they reached is the reference's.
    X64, V64 = X.astype(np.float64).T, V.astype(np.float64).T
    testing.assert_close(y.reshape(M, N), testing.activation(name, X64).T, TOL[dtype], "f")
    testing.assert_close(g.reshape(M, N), testing.jacobian_transpose_times(name, X64, V64).T,
                         TOL[dtype], "J^T v")
    work[x0:x0 + n] = work[y0:y0 + n] = GUARD
    assert_guards(work, g0, n, name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_registered_code_without_a_hook_does_nothing(dtype):
    """Codes from CUSTOM on go to ``ext`` only; with None (built-in entries)
    the work is left as it was."""
    work, x0, y0, g0, _, _ = _workspace(np.random.default_rng(9), dtype)
    before = work.copy()
    for code in (activations.CUSTOM, activations.CUSTOM + 3):
        activations.forward_at(code, work, x0, y0, off(M), off(N), None)
        activations.vjp_at(code, work, x0, y0, g0, off(M), off(N), None)
    np.testing.assert_array_equal(work, before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_jacobian_is_the_explicit_one(name, dtype):
    x = np.random.default_rng(20 + NAMES.index(name)).uniform(-2.0, 2.0, 6).astype(dtype)
    x[np.abs(x) < 0.05] = 0.5   # away from relu's kink
    y = np.full(6, np.nan, dtype)
    jac = np.full((6, 6), np.nan, dtype)   # every entry must be written
    activations.jacobian(activations.CODES[name], x, y, jac)
    x64 = x.astype(np.float64)
    testing.assert_close(y, testing.activation(name, x64[:, None])[:, 0], TOL[dtype], "y = f(x)")
    testing.assert_close(jac, testing.jacobian(name, x64), TOL[dtype], "J")
