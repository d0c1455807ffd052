"""``_kernels.vector``: softmax's value, J^T v and explicit J, and the
dispatchers over m rows at offsets, against ``fastbp.testing``."""
import numpy as np
import pytest

from fastbp import testing
from fastbp._kernels import vector

from ._common import DTYPES, assert_guards, guarded, off, padded

# A handful of operations per entry, and a sum over the row (softmax's total,
# s.v), under reordering: a few ulp in float64 (observed 2e-16), float32's
# unit roundoff 6e-8 times a few (observed 1.2e-7).  A wrong formula is off by
# O(1).
TOL = {np.float64: 1e-13, np.float32: 1e-5}
CODES = list(vector.CODES.values())


def _rows(rng, dtype, m, n, scale=2.0):
    return (rng.normal(size=(m, n)) * scale).astype(dtype)


def _softmax_rows(X):
    return testing.softmax(X.astype(np.float64).T).T


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n", [(1, 2), (3, 5), (2, 17), (4, 1)])
def test_forward_is_softmax_of_every_row(m, n, dtype):
    X = _rows(np.random.default_rng([m, n]), dtype, m, n)
    src, s0 = padded(X, 3, 2)
    dst, d0 = guarded(m * n, dtype, 4, 5)
    vector.forward(vector.SOFTMAX, src, s0, dst, d0, off(m), off(n))
    testing.assert_close(dst[d0:d0 + m * n].reshape(m, n), _softmax_rows(X), TOL[dtype], "s")
    assert_guards(dst, d0, m * n, "forward")


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_of_logits_whose_exponentials_overflow(dtype):
    X = np.array([[1000.0, 999.0, 998.5], [-1000.0, -1001.0, -1000.5], [80.0, -80.0, 0.0]],
                 dtype)
    y = np.empty_like(X)
    vector.forward(vector.SOFTMAX, X.ravel(), off(0), y.ravel(), off(0), off(3), off(3))
    testing.assert_close(y, _softmax_rows(X), TOL[dtype], "s")
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n", [(1, 2), (3, 5), (2, 17)])
def test_vjp_inplace_is_the_explicit_product(m, n, dtype):
    rng = np.random.default_rng([m, n, 1])
    X = _rows(rng, dtype, m, n)
    V = rng.normal(size=(m, n)).astype(dtype)
    out, o0 = padded(_softmax_rows(X).astype(dtype), 2, 3)
    g, g0 = padded(V, 5, 1, fill=-12345.0)
    vector.vjp_inplace(vector.SOFTMAX, out, o0, g, g0, off(m), off(n))
    X64, V64 = X.astype(np.float64).T, V.astype(np.float64).T
    want = testing.jacobian_transpose_times("softmax", X64, V64).T
    testing.assert_close(g[g0:g0 + m * n].reshape(m, n), want, TOL[dtype], "J^T v")
    assert_guards(g, g0, m * n, "vjp_inplace")


@pytest.mark.parametrize("dtype", DTYPES)
def test_jacobian_from_output_is_diag_s_minus_s_st(dtype):
    x = _rows(np.random.default_rng(3), dtype, 1, 6)[0]
    y = _softmax_rows(x[None])[0].astype(dtype)
    jac = np.full((6, 6), np.nan, dtype)   # every entry must be written
    vector.jacobian_from_output(vector.SOFTMAX, y, jac)
    testing.assert_close(jac, testing.jacobian("softmax", x), TOL[dtype], "J")


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_row_functions_are_what_the_dispatchers_run(dtype):
    """softmax_value, softmax_vjp_inplace and softmax_jacobian on one row
    give the dispatchers' results bit for bit."""
    rng = np.random.default_rng(4)
    x, v = _rows(rng, dtype, 1, 7)[0], rng.normal(size=7).astype(dtype)
    y, y_dispatched = np.empty_like(x), np.empty_like(x)
    vector.softmax_value(x, y)
    vector.forward(vector.SOFTMAX, x, off(0), y_dispatched, off(0), off(1), off(7))
    np.testing.assert_array_equal(y, y_dispatched)
    g, g_dispatched = v.copy(), v.copy()
    vector.softmax_vjp_inplace(y, g)
    vector.vjp_inplace(vector.SOFTMAX, y, off(0), g_dispatched, off(0), off(1), off(7))
    np.testing.assert_array_equal(g, g_dispatched)
    jac, jac_dispatched = np.empty((7, 7), dtype), np.empty((7, 7), dtype)
    vector.softmax_jacobian(y, jac)
    vector.jacobian_from_output(vector.SOFTMAX, y, jac_dispatched)
    np.testing.assert_array_equal(jac, jac_dispatched)


def test_vector_codes_start_at_base():
    assert CODES and all(code >= vector.BASE for code in CODES)
    assert len(set(CODES)) == len(CODES)
