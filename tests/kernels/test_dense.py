"""``_kernels.dense``: a layer's three products over flat sample-major buffers,
against NumPy's products, below and above ``BLAS_MIN`` and in the
transposed-input form, at offsets that are not 0, with guard bands around
every output; and ``forward_row``, a written-out copy of ``forward``'s loop."""
import numpy as np
import pytest

from fastbp._kernels import dense

from ._common import DTYPES, assert_guards, guarded, off, padded

# (m, n_in, n_out): loops (below BLAS_MIN multiply-adds), then gemm in the
# plain and in the transposed-input form (dense.transposed_input), including
# the edges of that form's range.
SHAPES = [(1, 1, 1), (1, 7, 5), (3, 17, 9), (5, 2, 33), (4, 64, 31),      # loops
          (1, 100, 100), (100, 30, 20), (10, 50, 40), (70, 40, 60),       # gemm
          (20, 40, 60), (16, 32, 32), (64, 33, 40)]                       # gemm, Y transposed
# Each entry is a dot product of n terms: its rounding error is below n u sum|a x|
# (u the unit roundoff; typically sqrt(n) u).  Measured against the largest
# entry, n <= 100 keeps it under 1e-13 in float64 and under 1e-5 in float32
# (u = 6e-8); observed 2.3e-16 and 1.2e-7.  A wrong term is O(1).
TOL = {np.float64: 1e-13, np.float32: 1e-5}


def test_the_shapes_cover_every_implementation():
    kinds = {(m * n_in * n_out >= dense.BLAS_MIN,
              bool(dense.transposed_input(off(m), off(n_in), off(n_out))))
             for m, n_in, n_out in SHAPES}
    assert kinds == {(False, False), (True, False), (True, True)}


def _close(got, want, dtype, what):
    np.testing.assert_allclose(got.astype(np.float64), want,
                               rtol=TOL[dtype], atol=TOL[dtype] * np.abs(want).max(),
                               err_msg=what)


def _layer(rng, dtype, m, n_in, n_out, w=5):
    """Parameters A, B at ``w`` of a flat array with NaN around, and Y."""
    A = rng.normal(size=(n_out, n_in)).astype(dtype)
    B = rng.normal(size=n_out).astype(dtype)
    params, w0 = padded(np.concatenate([A.ravel(), B]), w, 3)
    Y = rng.normal(size=(m, n_in)).astype(dtype)
    return A, B, params, w0, Y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n_in, n_out", SHAPES)
def test_forward_is_Y_At_plus_B(m, n_in, n_out, dtype):
    rng = np.random.default_rng([m, n_in, n_out])
    A, B, params, w, Y = _layer(rng, dtype, m, n_in, n_out)
    inp, i0 = padded(Y, 2, 4)
    # The output at p0, the room for the transposed copy of Y at t0, a gap of
    # guard between them.
    p0, t0 = 3, 3 + m * n_out + 5
    pre, _ = guarded(m * n_out + 5 + m * n_in, dtype, 3, 4)
    dense.forward(params, w, inp, i0, pre, off(p0), off(m), off(n_in), off(n_out), off(t0))
    want = Y.astype(np.float64) @ A.T.astype(np.float64) + B.astype(np.float64)
    _close(pre[p0:p0 + m * n_out].reshape(m, n_out), want, dtype, "X = Y A^T + B")
    outside = pre.copy()
    outside[t0:t0 + m * n_in] = -12345.0   # the scratch may be written
    assert_guards(outside, p0, m * n_out, "forward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n_in, n_out", SHAPES)
def test_parameter_gradient_is_Kt_Y_and_Kt_1(m, n_in, n_out, dtype):
    rng = np.random.default_rng([m, n_in, n_out, 1])
    K = rng.normal(size=(m, n_out)).astype(dtype)
    Y = rng.normal(size=(m, n_in)).astype(dtype)
    delta, d0 = padded(K, 6, 2)
    inp, i0 = padded(Y, 1, 3)
    # The first sample writes rather than adds: the guards inside the block
    # must all be overwritten.
    size = n_out * (n_in + 1)
    grad, w = guarded(size, dtype, 7, 5)
    dense.parameter_gradient(delta, d0, inp, i0, grad, w, off(m), off(n_in), off(n_out))
    K64, Y64 = K.astype(np.float64), Y.astype(np.float64)
    _close(grad[w:w + n_out * n_in].reshape(n_out, n_in), K64.T @ Y64, dtype, "dL/dA = K^T Y")
    _close(grad[w + n_out * n_in:w + size], K64.sum(axis=0), dtype, "dL/dB = K^T 1")
    assert_guards(grad, w, size, "parameter_gradient")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n_in, n_out", SHAPES)
def test_input_gradient_is_K_A(m, n_in, n_out, dtype):
    rng = np.random.default_rng([m, n_in, n_out, 2])
    A, _, params, w, _ = _layer(rng, dtype, m, n_in, n_out, w=9)
    K = rng.normal(size=(m, n_out)).astype(dtype)
    delta, d0 = padded(K, 4, 4)
    g, g0 = guarded(m * n_in, dtype, 11, 2)
    dense.input_gradient(delta, d0, params, w, g, g0, off(m), off(n_in), off(n_out))
    _close(g[g0:g0 + m * n_in].reshape(m, n_in), K.astype(np.float64) @ A.astype(np.float64),
           dtype, "G = K A")
    assert_guards(g, g0, m * n_in, "input_gradient")


def _rows(params, w, Y, n_out, dtype):
    """forward_row on every row of Y, at an offset of a guarded buffer."""
    m, n_in = Y.shape
    pre, p0 = guarded(m * n_out, dtype, 5, 5)
    for s in range(m):
        dense.forward_row(params, w, Y[s], pre, off(p0 + s * n_out), off(n_in), off(n_out))
    assert_guards(pre, p0, m * n_out, "forward_row")
    return pre[p0:p0 + m * n_out]


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_row_is_forward_bit_for_bit_where_forward_loops(dtype):
    """The same loop under the same flags: every product below BLAS_MIN,
    widths across the vector lengths and their remainders, gives the very
    same bits, one sample or several."""
    rng = np.random.default_rng(7)
    for m, n_in, n_out in [(1, 1, 1), (1, 3, 8), (2, 7, 5), (3, 16, 17), (1, 31, 33),
                           (2, 64, 63), (1, 90, 90), (4, 5, 100)]:
        assert m * n_in * n_out < dense.BLAS_MIN
        _, _, params, w, Y = _layer(rng, dtype, m, n_in, n_out)
        pre, p0 = guarded(m * n_out, dtype, 2, 2)
        dense.forward(params, w, Y.ravel(), off(0), pre, p0, off(m), off(n_in), off(n_out),
                      off(0))
        np.testing.assert_array_equal(_rows(params, w, Y, n_out, dtype),
                                      pre[p0:p0 + m * n_out], err_msg=str((m, n_in, n_out)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_row_is_forward_to_rounding_where_forward_takes_gemm(dtype):
    """One sample through a layer of BLAS_MIN weights or more: forward calls
    gemm, forward_row keeps its loop (per_sample's fused step then differs
    from the general path by rounding): two orders of one dot product."""
    rng = np.random.default_rng(8)
    for n_in, n_out in [(100, 100), (64, 128), (200, 41)]:
        assert n_in * n_out >= dense.BLAS_MIN
        _, _, params, w, Y = _layer(rng, dtype, 1, n_in, n_out)
        pre, p0 = guarded(n_out, dtype, 2, 2)
        dense.forward(params, w, Y.ravel(), off(0), pre, p0, off(1), off(n_in), off(n_out),
                      off(0))
        _close(_rows(params, w, Y, n_out, dtype), pre[p0:p0 + n_out].astype(np.float64),
               dtype, "forward_row vs gemm")
