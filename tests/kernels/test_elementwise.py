"""``_kernels.elementwise``: f, f' taken from the output, and g *= f' for every
built-in elementwise code, against ``fastbp.testing``'s activation and
derivative, at offsets of flat buffers with guard bands."""
import numpy as np
import pytest

from fastbp import testing
from fastbp._kernels import elementwise

from ._common import DTYPES, ELEMENTWISE, assert_guards, guarded, off, padded

# float64: fastfn's exp, tanh, sigmoid and softplus are within a few ulp of
# libm, and f' is taken from y = f(x) (1 - y^2, y (1 - y), 1 - e^-y), which
# loses digits as |x| grows: for x in [-2, 2] by at most 1 / (1 - tanh(2)^2)
# = 14, so a few hundred ulp at worst (observed 3e-16).  float32: unit
# roundoff 6e-8 times that factor (observed 5e-8).  A wrong formula is off by
# O(1).
TOL = {np.float64: 1e-13, np.float32: 1e-5}
N = 37   # across the vector lengths and a remainder


def _x(rng, dtype, n=N):
    """Values in [-2, 2], at least 0.01 from the kinks at 0, and both signs."""
    x = rng.uniform(0.01, 2.0, n) * np.where(np.arange(n) % 2, 1.0, -1.0)
    return x.astype(dtype)


def _close(got, want, dtype, what):
    testing.assert_close(got, want, TOL[dtype], what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_forward_is_the_activation(name, dtype):
    x = _x(np.random.default_rng(ELEMENTWISE.index(name)), dtype)
    src, s0 = padded(x, 3, 2)
    dst, d0 = guarded(N, dtype, 5, 4)
    elementwise.forward(elementwise.CODES[name], src, s0, dst, d0, off(N))
    assert dst.dtype == dtype
    _close(dst[d0:d0 + N], testing.activation(name, x.astype(np.float64)), dtype, "f(x)")
    assert_guards(dst, d0, N, "forward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_forward_in_place_over_a_shared_buffer(name, dtype):
    """The passes run forward within one workspace: src and dst one array."""
    x = _x(np.random.default_rng(10 + ELEMENTWISE.index(name)), dtype)
    work, x0 = padded(x, 2, N + 4, fill=-12345.0)
    y0 = off(2 + N + 2)
    elementwise.forward(elementwise.CODES[name], work, x0, work, y0, off(N))
    _close(work[y0:y0 + N], testing.activation(name, x.astype(np.float64)), dtype, "f(x)")
    np.testing.assert_array_equal(work[x0:x0 + N], x)
    work[x0:x0 + N] = -12345.0
    assert_guards(work, y0, N, "forward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_vjp_inplace_multiplies_by_the_derivative(name, dtype):
    rng = np.random.default_rng(20 + ELEMENTWISE.index(name))
    x = _x(rng, dtype)
    y = testing.activation(name, x.astype(np.float64)).astype(dtype)
    v = rng.normal(size=N).astype(dtype)
    out, o0 = padded(y, 4, 1)
    g, g0 = padded(v, 6, 3, fill=-12345.0)
    elementwise.vjp_inplace(elementwise.CODES[name], out, o0, g, g0, off(N))
    _close(g[g0:g0 + N], testing.derivative(name, x.astype(np.float64)) * v, dtype, "f'(x) v")
    assert_guards(g, g0, N, "vjp_inplace")
    np.testing.assert_array_equal(out[o0:o0 + N], y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_from_output(name, dtype):
    x = _x(np.random.default_rng(30 + ELEMENTWISE.index(name)), dtype, n=9)
    y = testing.activation(name, x.astype(np.float64)).astype(dtype)
    code = elementwise.CODES[name]
    got = [elementwise.derivative_from_output(code, value) for value in y]
    _close(got, testing.derivative(name, x.astype(np.float64)), dtype, "f'(x) from y")


def test_the_kinks_follow_pytorch():
    """relu'(0) = 0 and leaky_relu'(0) = the slope, from y = 0 (and -0)."""
    for y in (0.0, -0.0):
        assert elementwise.derivative_from_output(elementwise.RELU, y) == 0.0
        assert (elementwise.derivative_from_output(elementwise.LEAKY_RELU, y)
                == elementwise.LEAKY_SLOPE == testing.LEAKY_SLOPE)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_stays_nan_through_every_activation(dtype):
    """Divergence is detected by NaN: no activation may turn one into a number
    (relu's 0 * x left of 0, for instance, keeps it)."""
    for name in ELEMENTWISE:
        x = np.array([np.nan, 1.0, np.nan], dtype)
        y = np.zeros(3, dtype)
        elementwise.forward(elementwise.CODES[name], x, off(0), y, off(0), off(3))
        assert np.isnan(y[0]) and np.isnan(y[2]) and np.isfinite(y[1]), name
