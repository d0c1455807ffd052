"""fastbp's gradients against independent references.

1. ``fastbp.testing``: the derivation written out in NumPy with explicit Jacobians,
   checked against ``Network.forward`` and ``Network.loss_and_gradient`` for
   every activation in hidden and output position and every loss.
2. Central finite differences of the loss, over every parameter and every
   input, for depths 1 to 4, random widths down to 1, several batch shapes.
3. Explicit Jacobians (``fastbp.jacobian``) and the compiled J^T v kernels.

PyTorch autograd is the third reference, in ``test_torch.py``.
"""
import zlib

import numpy as np
import pytest

import fastbp
from fastbp._kernels import activations as kernels

from fastbp import testing

# --- tolerances ------------------------------------------------------------
# float64 fastbp vs the float64 reference: the same sums in another order, so
# they differ by rounding only -- a few ulp (~1e-16) per operation, grown by
# at most a few hundred operations per entry in these small networks.
# Observed worst is ~1e-15; 1e-12 leaves room and still catches any
# wrong term, whose error is of order one.
REF_RTOL = 1e-12
# float32 fastbp vs the float64 reference on the same (float32) parameters and
# inputs: unit roundoff 6e-8, grown through three layers and a loss (observed
# worst 3e-7, in the scaled elementwise measure of testing.assert_close).  Any
# real error is of order one.
F32_RTOL = 1e-4
# Central differences: truncation error ~ h^2 |f'''| / 6, rounding ~ eps |L| / h
# per entry.  h = 1e-5 (about eps^(1/3), the step that balances the two) makes
# truncation ~1e-10 and rounding ~2e-11 |L|; testing.random_problem keeps every
# gradient block >= 1e-3 |L|, so the norm-wise error stays near 1e-8 (observed
# worst 3e-8; with h = 1e-6 rounding dominates and reaches 2e-7).  A wrong
# gradient term is off by O(1).  No difference straddles a relu kink: every
# pre-activation is >= 1e-3 from 0 and a step moves it by ~1e-5.
FD_STEP = 1e-5
FD_RTOL = 1e-6
# Single kernels and explicit Jacobians in float64: a handful of operations,
# so a handful of ulp.  The derivatives fastbp takes from y = f(x) (1 - y^2,
# y (1 - y)) lose digits as |x| grows; inputs stay in [-2, 2], where that
# costs at most a factor ~30 (1 / (1 - tanh(2)^2) = 14).
KERNEL_RTOL = 1e-13
# The same in float32 against float64: unit roundoff 6e-8 times that factor.
F32_KERNEL_RTOL = 1e-5

LOSS_CASES = [("sse", "rows"), ("mse", "rows"),
              ("cross_entropy", "labels"), ("cross_entropy", "probs")]
DTYPES = [np.float64, np.float32]
ELEMENTWISE = [name for name in fastbp.ACTIVATIONS if name != "softmax"]


def _rng(*keys):
    """A generator seeded from the test's parameters: reproducible, and a
    different draw for every case."""
    return np.random.default_rng([zlib.crc32(repr(key).encode()) for key in keys])


def _network(sizes, activations, params, dtype=np.float64):
    net = fastbp.Network(sizes, activations, dtype=dtype)
    net.params = params
    return net


def _reference(net, X, T, loss):
    """testing.loss_and_gradient in float64 on exactly the values the network sees
    (its parameters, and X and T rounded to its dtype)."""
    weights, biases = testing.split(net.params.astype(np.float64), net.sizes)
    X = np.asarray(X, dtype=net.dtype).astype(np.float64)
    if np.asarray(T).dtype.kind not in "iu":
        T = np.asarray(T, dtype=net.dtype).astype(np.float64)
    return testing.loss_and_gradient(weights, biases, net.activations, X, T, loss)


# --- 1. against the naive reference ------------------------------------------

def _hidden_output_loss_cases():
    cases = []
    for hidden in fastbp.ACTIVATIONS:
        for output in fastbp.ACTIVATIONS:
            for loss, kind in LOSS_CASES:
                if loss == "cross_entropy" and output != "softmax":
                    continue
                cases.append(pytest.param(hidden, output, loss, kind,
                                          id=f"{hidden}-{output}-{loss}-{kind}"))
    return cases


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("hidden, output, loss, kind", _hidden_output_loss_cases())
def test_matches_reference(hidden, output, loss, kind, dtype):
    sizes, acts = (3, 4, 5, 3), (hidden, hidden, output)
    params, X, T = testing.random_problem(_rng(acts, loss, kind), sizes, acts, 4, loss, kind)
    net = _network(sizes, acts, params, dtype)
    rtol = REF_RTOL if dtype == np.float64 else F32_RTOL
    L_ref, g_ref, gx_ref = _reference(net, X, T, loss)

    Y = net.forward(X)
    assert Y.dtype == dtype and Y.shape == (4, 3)
    weights, biases = testing.split(net.params.astype(np.float64), sizes)
    testing.assert_close(Y, testing.forward(weights, biases, acts, X.astype(dtype)), rtol,
                         "forward")

    L, g, gx = net.loss_and_gradient(X, T, loss, input_gradient=True)
    assert g.dtype == dtype and g.shape == net.params.shape
    assert gx.dtype == dtype and gx.shape == X.shape
    assert L == pytest.approx(L_ref, rel=rtol, abs=0)
    testing.assert_close(g, g_ref, rtol, "parameter gradient")
    testing.assert_close(gx, gx_ref, rtol, "input gradient")

    # Without the input gradient, the same numbers (the last product is skipped).
    L2, g2 = net.loss_and_gradient(X, T, loss)
    assert L2 == L
    np.testing.assert_array_equal(g2, g)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("loss, kind", LOSS_CASES)
def test_one_sample_matches_reference(loss, kind, dtype):
    """A 1-D X is one sample: 1-D output and input gradient, and exactly the
    numbers of the same sample as a batch of one."""
    sizes, acts = (4, 3, 3), ("tanh", "softmax")
    params, x, t = testing.random_problem(_rng("1d", loss, kind), sizes, acts, None, loss, kind)
    net = _network(sizes, acts, params, dtype)
    rtol = REF_RTOL if dtype == np.float64 else F32_RTOL
    L_ref, g_ref, gx_ref = _reference(net, x, t, loss)

    y = net.forward(x)
    assert y.shape == (3,) and y.dtype == dtype
    weights, biases = testing.split(net.params.astype(np.float64), sizes)
    testing.assert_close(y, testing.forward(weights, biases, acts, x.astype(dtype)), rtol)
    L, g, gx = net.loss_and_gradient(x, t, loss, input_gradient=True)
    assert gx.shape == (4,) and gx.dtype == dtype
    assert L == pytest.approx(L_ref, rel=rtol, abs=0)
    testing.assert_close(g, g_ref, rtol)
    testing.assert_close(gx, gx_ref, rtol)

    L1, g1, gx1 = net.loss_and_gradient(x[None], np.asarray(t)[None], loss, input_gradient=True)
    assert L1 == L
    np.testing.assert_array_equal(g1, g)
    np.testing.assert_array_equal(gx1, gx[None])
    np.testing.assert_array_equal(net.forward(x[None]), y[None])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("loss, kind", LOSS_CASES)
@pytest.mark.parametrize("hidden", fastbp.ACTIVATIONS)
def test_wide_layers_match_reference(hidden, loss, kind, dtype):
    """Widths and a batch that are not multiples of any SIMD width, so the
    compiled loops run both their vector bodies and their remainders."""
    sizes = (17, 33, 9)
    acts = (hidden, "softmax" if loss == "cross_entropy" else "tanh")
    rng = _rng("wide", hidden, loss, kind)
    params, X, T = testing.random_problem(rng, sizes, acts, 13, loss, kind)
    _assert_matches_reference(_network(sizes, acts, params, dtype), X, T, loss)


def _assert_matches_reference(net, X, T, loss):
    """Loss, both gradients and the forward pass against the naive reference."""
    rtol = REF_RTOL if net.dtype == np.float64 else F32_RTOL
    L, g, gx = net.loss_and_gradient(X, T, loss, input_gradient=True)
    L_ref, g_ref, gx_ref = _reference(net, X, T, loss)
    assert L == pytest.approx(L_ref, rel=rtol, abs=0)
    testing.assert_close(g, g_ref, rtol, "parameter gradient")
    testing.assert_close(gx, gx_ref, rtol, "input gradient")
    weights, biases = testing.split(net.params.astype(np.float64), net.sizes)
    testing.assert_close(net.forward(X), testing.forward(weights, biases, net.activations,
                                                     X.astype(net.dtype)), rtol, "forward")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("m", [16, 40, 70])
def test_blas_products_match_reference(m, dtype):
    """Layers large enough for BLAS, in both forms of the forward product: Y
    transposed first (m in [16, 64] and n_in <= n_out: the first layer at
    m = 16 and 40) and straight (the second layer, and every layer at 70)."""
    from fastbp._kernels import dense

    sizes, acts = (40, 64, 48, 9), ("tanh", "sigmoid", "softmax")
    forms = [bool(dense.transposed_input(m, sizes[i], sizes[i + 1])) for i in range(3)]
    assert forms == ([True, False, False] if m <= 64 else [False] * 3)
    assert all(m * sizes[i] * sizes[i + 1] >= dense.BLAS_MIN for i in range(2))
    rng = _rng("blas", m)
    params, X, T = testing.random_problem(rng, sizes, acts, m, "cross_entropy", "labels")
    _assert_matches_reference(_network(sizes, acts, params, dtype), X, T, "cross_entropy")


def test_cross_entropy_with_unnormalised_target_rows():
    """-sum t log s for rows that do not sum to one (the kernel's (s sum(t) - t)/m)."""
    sizes, acts = (3, 4, 5), ("sigmoid", "softmax")
    rng = _rng("mass")
    params, X, _ = testing.random_problem(rng, sizes, acts, 6, "cross_entropy", "probs")
    T = rng.uniform(0.0, 2.0, size=(6, 5))
    assert np.ptp(T.sum(axis=1)) > 0.5
    net = _network(sizes, acts, params)
    L, g, gx = net.loss_and_gradient(X, T, "cross_entropy", input_gradient=True)
    L_ref, g_ref, gx_ref = _reference(net, X, T, "cross_entropy")
    assert L == pytest.approx(L_ref, rel=REF_RTOL, abs=0)
    testing.assert_close(g, g_ref, REF_RTOL)
    testing.assert_close(gx, gx_ref, REF_RTOL)


def test_width_one_softmax_blocks_the_gradient():
    """softmax of one value is the constant 1: J = 0, so nothing below it learns."""
    sizes, acts = (3, 1, 2), ("softmax", "tanh")
    rng = _rng("softmax-1")
    net = _network(sizes, acts, rng.normal(size=fastbp.Network(sizes, acts).n_params))
    X, T = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    L, g, gx = net.loss_and_gradient(X, T, "sse", input_gradient=True)
    L_ref, g_ref, gx_ref = _reference(net, X, T, "sse")
    (gw1, gw2), (gb1, gb2) = net.split(g)
    np.testing.assert_array_equal(gw1, 0.0)
    np.testing.assert_array_equal(gb1, 0.0)
    np.testing.assert_array_equal(gx, 0.0)
    assert np.abs(gw2).max() > 0.1
    assert L == pytest.approx(L_ref, rel=REF_RTOL, abs=0)
    testing.assert_close(g, g_ref, REF_RTOL)


@pytest.mark.parametrize("name, slope", [("relu", 0.0), ("leaky_relu", 0.01)])
def test_kink_convention_in_the_backward_pass(name, slope):
    """At a pre-activation of exactly 0, relu'(0) = 0 and leaky_relu'(0) = 0.01 (PyTorch)."""
    net = _network((1, 1), (name,), np.array([1.0, 0.0]))  # y = f(1 * x + 0)
    L, g, gx = net.loss_and_gradient(np.array([0.0]), np.array([3.0]), "sse",
                                     input_gradient=True)
    K = slope * 2.0 * (0.0 - 3.0)  # J^T dL/dY at x = 0
    assert L == 9.0
    np.testing.assert_allclose(g, [K * 0.0, K], rtol=REF_RTOL, atol=0)
    np.testing.assert_allclose(gx, [K * 1.0], rtol=REF_RTOL, atol=0)


# --- 2. against central finite differences -----------------------------------

def _fd_cases():
    """Every activation x every loss x depths 1-4: the activation fills every
    layer (cross_entropy: every layer below the softmax output)."""
    cases = []
    for name in fastbp.ACTIVATIONS:
        for loss, kind in LOSS_CASES:
            for depth in range(1, 5):
                if loss == "cross_entropy":
                    if depth == 1 and name != "softmax":
                        continue  # a lone softmax layer: the name == "softmax" case
                    acts = (name,) * (depth - 1) + ("softmax",)
                else:
                    acts = (name,) * depth
                cases.append(pytest.param(acts, loss, kind,
                                          id=f"{'-'.join(acts)}-{loss}-{kind}"))
    return cases


@pytest.mark.parametrize("m", [None, 1, 3], ids=["1d", "m1", "m3"])
@pytest.mark.parametrize("acts, loss, kind", _fd_cases())
def test_gradient_matches_finite_differences(acts, loss, kind, m):
    rng = _rng("fd", acts, loss, kind, m)
    sizes = testing.random_sizes(rng, acts)
    params, X, T = testing.random_problem(rng, sizes, acts, m, loss, kind)
    net = _network(sizes, acts, params)
    L, g, gx = net.loss_and_gradient(X, T, loss, input_gradient=True)
    assert gx.shape == X.shape

    fd = testing.central_differences(lambda: net.loss_and_gradient(X, T, loss)[0], net.params,
                                     FD_STEP)
    np.testing.assert_array_equal(net.params, params)  # the walk restored every entry
    assert testing.relative_error(g, fd) < FD_RTOL, (g, fd)

    X_walk = X.copy()
    fd_x = testing.central_differences(lambda: net.loss_and_gradient(X_walk, T, loss)[0],
                                       X_walk, FD_STEP)
    assert testing.relative_error(gx, fd_x) < FD_RTOL, (gx, fd_x)

    # The reference agrees to rounding on these random shapes too.
    L_ref, g_ref, gx_ref = _reference(net, X, T, loss)
    assert L == pytest.approx(L_ref, rel=REF_RTOL, abs=0)
    testing.assert_close(g, g_ref, REF_RTOL)
    testing.assert_close(gx, gx_ref, REF_RTOL)


@pytest.mark.parametrize("name", fastbp.ACTIVATIONS)
@pytest.mark.parametrize("loss, kind", LOSS_CASES)
def test_reference_matches_finite_differences(name, loss, kind):
    """The reference is right on its own, without fastbp in the loop."""
    acts = (name, "softmax") if loss == "cross_entropy" else (name, name)
    rng = _rng("naive-fd", name, loss, kind)
    sizes = testing.random_sizes(rng, acts)
    params, X, T = testing.random_problem(rng, sizes, acts, 3, loss, kind)

    def naive_loss():
        weights, biases = testing.split(params, sizes)
        return testing.loss_and_gradient(weights, biases, acts, X, T, loss)[0]

    _, g, gx = testing.loss_and_gradient(*testing.split(params, sizes), acts, X, T, loss)
    fd, fd_x = (testing.central_differences(naive_loss, x, FD_STEP) for x in (params, X))
    assert testing.relative_error(g, fd) < FD_RTOL
    assert testing.relative_error(gx, fd_x) < FD_RTOL


# --- 3. explicit Jacobians and the J^T v kernels ------------------------------

def _kernel_rtol(dtype):
    return KERNEL_RTOL if dtype == np.float64 else F32_KERNEL_RTOL


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_softmax_jacobian(dtype):
    x = _rng("J-softmax", dtype).uniform(-2.0, 2.0, size=6).astype(dtype)
    J = fastbp.jacobian("softmax", x)
    assert J.dtype == dtype and J.shape == (6, 6)
    s = testing.softmax(x.astype(np.float64))
    testing.assert_close(J, np.diag(s) - np.outer(s, s), _kernel_rtol(dtype))
    np.testing.assert_array_equal(J, J.T)
    # Rows of a softmax Jacobian sum to zero: sum_a s_a = 1 for every x.
    assert np.abs(J.sum(axis=1)).max() < 10 * np.finfo(dtype).eps


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_tanh_jacobian(dtype):
    x = _rng("J-tanh", dtype).uniform(-2.0, 2.0, size=6).astype(dtype)
    J = fastbp.jacobian("tanh", x)
    assert J.dtype == dtype and J.shape == (6, 6)
    testing.assert_close(J, np.diag(1.0 / np.cosh(x.astype(np.float64)) ** 2),
                       _kernel_rtol(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_jacobian_is_the_diagonal_of_derivatives(name, dtype):
    x = _rng("J", name, dtype).uniform(-2.0, 2.0, size=7).astype(dtype)
    J = fastbp.jacobian(name, x)
    assert J.dtype == dtype and J.shape == (7, 7)
    np.testing.assert_array_equal(J - np.diag(np.diag(J)), 0.0)
    testing.assert_close(np.diag(J), testing.derivative(name, x.astype(np.float64)),
                       _kernel_rtol(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name", fastbp.ACTIVATIONS)
def test_forward_kernel_over_a_wide_range(name, dtype):
    """f(x) from the forward kernel on [-40, 40], through the branch points of
    the approximations (|x| = 0.5 and 20 for tanh, 0 for the rest): a
    handful of ulp from NumPy's libm-based reference."""
    x = np.concatenate([np.linspace(-40.0, 40.0, 8002),
                        [-0.5, 0.5, np.nextafter(0.5, 0), -20.0, 20.0, 19.06, 0.0, -0.0]])
    pre = x.astype(dtype).reshape(-1, 9)  # rows of 9 for softmax
    out = np.empty_like(pre)
    kernels.forward(kernels.CODES[name], pre, out)
    expected = testing.activation(name, pre.astype(np.float64).T).T
    tol = KERNEL_RTOL if dtype == np.float64 else F32_KERNEL_RTOL
    np.testing.assert_allclose(out, expected, rtol=tol, atol=0)


TAILS = np.array([-30.0, -12.0, -1e-3, 1e-3, 12.0, 30.0])


@pytest.mark.parametrize("name, accurate", [("softplus", TAILS == TAILS),
                                            ("sigmoid", TAILS < 1.0),
                                            ("tanh", np.abs(TAILS) < 1.0)])
def test_derivatives_in_the_tails(name, accurate):
    """Derivatives taken from y = f(x) keep their relative accuracy where y
    determines them well: softplus' = -expm1(-y) everywhere, y (1 - y) for
    sigmoid below 0.  Elsewhere (1 - y^2 and y (1 - y) as y -> 1, as in
    PyTorch) they lose relative digits but stay within a few eps of the truth."""
    J = np.diag(fastbp.jacobian(name, TAILS))
    exact = testing.derivative(name, TAILS)
    assert np.abs(J - exact).max() <= 4 * np.finfo(np.float64).eps
    np.testing.assert_allclose(J[accurate], exact[accurate], rtol=KERNEL_RTOL, atol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name, expected", [("relu", [0.0, 0.0, 1.0, 0.0]),
                                            ("leaky_relu", [0.01, 0.01, 1.0, 0.01])])
def test_jacobian_at_the_kink(name, expected, dtype):
    tiny = np.finfo(dtype).tiny
    J = fastbp.jacobian(name, np.array([0.0, -0.0, tiny, -tiny], dtype=dtype))
    np.testing.assert_allclose(np.diag(J), expected, rtol=_kernel_rtol(dtype), atol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("m, n", [(1, 5), (4, 5), (3, 1)])
@pytest.mark.parametrize("name", fastbp.ACTIVATIONS)
def test_kernel_vjp_is_the_explicit_product(name, m, n, dtype):
    """vjp_inplace(code, out, g) turns every row g into J(x)^T g, J taken at
    that row's x, where out = f(x) comes from the forward kernel."""
    code = kernels.CODES[name]
    rng = _rng("vjp", name, m, n, dtype)
    pre = rng.uniform(-2.0, 2.0, size=(m, n)).astype(dtype)
    v = rng.normal(size=(m, n)).astype(dtype)
    pre64, v64 = pre.astype(np.float64), v.astype(np.float64)
    rtol = _kernel_rtol(dtype)

    out = np.empty_like(pre)
    kernels.forward(code, pre, out)
    testing.assert_close(out, testing.activation(name, pre64.T).T, rtol, "forward kernel")

    g = v.copy()
    out_before = out.copy()
    kernels.vjp_inplace(code, out, g)
    assert g.dtype == dtype
    np.testing.assert_array_equal(out, out_before)
    independent = np.stack([testing.jacobian(name, pre64[s]).T @ v64[s] for s in range(m)])
    testing.assert_close(g, independent, rtol, "J^T v vs naive J")
    # And against fastbp's own explicit Jacobian, on the same float values.
    explicit = np.stack([fastbp.jacobian(name, pre[s]).astype(np.float64).T @ v64[s]
                         for s in range(m)])
    testing.assert_close(g, explicit, rtol, "J^T v vs fastbp.jacobian")
