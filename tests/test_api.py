"""The public API (docs/api.rst) behaves as documented.

Covers: ``sizes``/``activations``; the flat ``params`` array and its layout
(per layer the row-major A_i block, then B_i); ``weights``/``biases``/``split``
as views; ``forward`` on 1-D and 2-D input; float32 and float64 end to end and
the input conversion policy; seeded initialisation and its scale; pickling;
``repr``; steady-state memory of ``forward`` and ``loss_and_gradient``
(tracemalloc); and concurrent calls from several threads on one network.
"""
import copy
import pickle
import threading
import tracemalloc

import numpy as np
import pytest

import fastbp
from fastbp.testing import layer_offsets

DTYPES = [np.float64, np.float32]


# --- helpers -----------------------------------------------------------------

def expected_n_params(sizes):
    return sum(n_out * n_in + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def address(array):
    return array.__array_interface__["data"][0]


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


REFERENCE = {  # NumPy references, written independently of the kernels
    "identity": lambda x: x,
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "softmax": _softmax,
}


def reference_forward(flat, sizes, activations, X):
    """Forward pass reading A_i and B_i straight from the flat array at the documented offsets."""
    y = np.asarray(X, dtype=np.float64)
    for (n_in, n_out), (w0, b0), name in zip(zip(sizes[:-1], sizes[1:]),
                                             layer_offsets(sizes), activations):
        A = flat[w0:w0 + n_out * n_in].reshape(n_out, n_in)  # row-major (n_out, n_in)
        B = flat[b0:b0 + n_out]
        y = REFERENCE[name](y @ A.T + B)  # X_i = A_i Y_{i-1} + B_i, one row per sample
    return y


def data(m, n_in, n_out, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n_in)).astype(dtype)
    T = rng.standard_normal((m, n_out)).astype(dtype)
    labels = rng.integers(0, n_out, m)
    return X, T, labels


# --- sizes, activations, params, weights, biases, split ------------------------

def test_sizes_and_activations_are_tuples():
    net = fastbp.Network([784, 256, 128, 10], ["tanh", "tanh", "softmax"],
                         dtype=np.float32, seed=0)
    assert net.sizes == (784, 256, 128, 10) and type(net.sizes) is tuple
    assert net.activations == ("tanh", "tanh", "softmax") and type(net.activations) is tuple


def test_sizes_and_activations_from_other_sequences():
    net = fastbp.Network(np.array([5, 4, 3]), iter(["relu", "identity"]), seed=0)
    assert net.sizes == (5, 4, 3) and type(net.sizes) is tuple
    assert all(type(w) is int for w in net.sizes)
    assert net.activations == ("relu", "identity") and type(net.activations) is tuple


ARCHITECTURES = [
    ((3, 2), ["identity"]),
    ((4, 7, 3), ["tanh", "softmax"]),
    ((5, 6, 1, 4, 2), ["relu", "sigmoid", "leaky_relu", "softplus"]),
    ((784, 256, 128, 10), ["tanh", "tanh", "softmax"]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes, acts", ARCHITECTURES)
def test_params_is_one_contiguous_flat_array(sizes, acts, dtype):
    net = fastbp.Network(sizes, acts, dtype=dtype, seed=0)
    p = net.params
    assert isinstance(p, np.ndarray)
    assert p.ndim == 1 and p.shape == (expected_n_params(sizes),)
    assert p.flags.c_contiguous and p.flags.writeable
    assert p.dtype == np.dtype(dtype)
    assert net.n_params == expected_n_params(sizes)
    assert net.params is p  # the same array every time, not a fresh copy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes, acts", ARCHITECTURES)
def test_weights_and_biases_are_views_at_documented_offsets(sizes, acts, dtype):
    net = fastbp.Network(sizes, acts, dtype=dtype, seed=0)
    p = net.params
    assert len(net.weights) == len(net.biases) == len(sizes) - 1
    # Fill params with distinct values: each view must see exactly its block.
    p[:] = np.arange(p.size, dtype=dtype)
    for i, (w0, b0) in enumerate(layer_offsets(sizes)):
        n_in, n_out = sizes[i], sizes[i + 1]
        w, b = net.weights[i], net.biases[i]
        assert w.shape == (n_out, n_in) and b.shape == (n_out,)
        assert w.dtype == b.dtype == np.dtype(dtype)
        assert w.flags.c_contiguous
        assert np.shares_memory(w, p) and np.shares_memory(b, p)
        assert address(w) == address(p) + w0 * p.itemsize
        assert address(b) == address(p) + b0 * p.itemsize
        np.testing.assert_array_equal(w, np.arange(w0, w0 + n_out * n_in).reshape(n_out, n_in))
        np.testing.assert_array_equal(b, np.arange(b0, b0 + n_out))


@pytest.mark.parametrize("dtype", DTYPES)
def test_writing_through_weights_and_biases_changes_params(dtype):
    sizes = (5, 6, 1, 4, 2)
    net = fastbp.Network(sizes, ["relu", "sigmoid", "leaky_relu", "softplus"], dtype=dtype, seed=1)
    for i, (w0, b0) in enumerate(layer_offsets(sizes)):
        n_in, n_out = sizes[i], sizes[i + 1]
        r, c = n_out - 1, n_in // 2
        before = net.params.copy()
        net.weights[i][r, c] = 100.0 + i       # A_i[r, c] is params[w0 + r*n_in + c]
        net.biases[i][n_out - 1] = -50.0 - i   # B_i[j] is params[b0 + j]
        expected = before.copy()
        expected[w0 + r * n_in + c] = 100.0 + i
        expected[b0 + n_out - 1] = -50.0 - i
        np.testing.assert_array_equal(net.params, expected)
        # And the other way round: writing params shows up in the views.
        net.params[w0] = 7.0
        net.params[b0] = 9.0
        assert net.weights[i][0, 0] == 7.0 and net.biases[i][0] == 9.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_params_setter_copies_in_place(dtype):
    sizes = (4, 7, 3)
    net = fastbp.Network(sizes, ["tanh", "softmax"], dtype=dtype, seed=0)
    p, w, b = net.params, net.weights[1], net.biases[1]
    new = np.linspace(-1, 1, p.size)  # float64 and a list must both be accepted
    net.params = new.tolist()
    assert net.params is p and net.params.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(net.params, new.astype(dtype))
    (w0, b0) = layer_offsets(sizes)[1]
    np.testing.assert_array_equal(w, new[w0:w0 + 21].astype(dtype).reshape(3, 7))
    np.testing.assert_array_equal(b, new[b0:b0 + 3].astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_split_gradient_gives_views_in_the_same_layout(dtype):
    sizes = (5, 6, 1, 4, 2)
    net = fastbp.Network(sizes, ["relu", "sigmoid", "leaky_relu", "softmax"], dtype=dtype, seed=2)
    X, T, _ = data(9, 5, 2, dtype=dtype)
    _, grad = net.loss_and_gradient(X, T)
    assert grad.shape == net.params.shape and grad.dtype == np.dtype(dtype)
    gw, gb = net.split(grad)
    assert len(gw) == len(gb) == len(sizes) - 1
    for i, (w0, b0) in enumerate(layer_offsets(sizes)):
        n_in, n_out = sizes[i], sizes[i + 1]
        assert gw[i].shape == net.weights[i].shape == (n_out, n_in)
        assert gb[i].shape == net.biases[i].shape == (n_out,)
        assert address(gw[i]) == address(grad) + w0 * grad.itemsize
        assert address(gb[i]) == address(grad) + b0 * grad.itemsize
        np.testing.assert_array_equal(gw[i], grad[w0:w0 + n_out * n_in].reshape(n_out, n_in))
        np.testing.assert_array_equal(gb[i], grad[b0:b0 + n_out])
    gw[1][0, 3] = 42.0  # a view: the write lands in grad at the documented offset
    assert grad[layer_offsets(sizes)[1][0] + 3] == 42.0
    # split of params reproduces the network's own views
    pw, pb = net.split(net.params)
    for i in range(len(sizes) - 1):
        assert address(pw[i]) == address(net.weights[i])
        assert address(pb[i]) == address(net.biases[i])


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_follows_the_documented_layout(dtype):
    """forward computes X_i = A_i Y_{i-1} + B_i with A_i, B_i read from the documented offsets."""
    sizes = (4, 6, 5, 5, 5, 5, 5, 3)
    acts = ["identity", "tanh", "sigmoid", "relu", "leaky_relu", "softplus", "softmax"]
    assert set(acts) == set(fastbp.ACTIVATIONS)
    net = fastbp.Network(sizes, acts, dtype=dtype, seed=3)
    X, _, _ = data(11, 4, 3, seed=4)
    expected = reference_forward(net.params.astype(np.float64), sizes, acts, X)
    got = net.forward(X)
    assert got.shape == (11, 3) and got.dtype == np.dtype(dtype)
    # float64: only summation order differs; float32: a few units in the last place per layer.
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (2e-5, 1e-6)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("loss, sizes, acts", [
    ("sse", (3, 4, 2), ["tanh", "identity"]),
    ("mse", (3, 4, 3, 2), ["sigmoid", "softplus", "tanh"]),
    ("cross_entropy", (3, 4, 3), ["tanh", "softmax"]),
])
def test_gradient_layout_by_finite_differences(loss, sizes, acts):
    """Entry j of the gradient is dL/dparams[j] for every j: same layout as params."""
    net = fastbp.Network(sizes, acts, seed=5)
    net.biases[0][:] = np.linspace(-0.3, 0.3, sizes[1])  # non-zero biases
    X, T, labels = data(6, sizes[0], sizes[-1], seed=6)
    target = labels if loss == "cross_entropy" else T
    value, grad = net.loss_and_gradient(X, target, loss=loss)
    p0 = net.params.copy()
    h = 1e-5
    fd = np.empty_like(p0)
    for j in range(p0.size):
        p = p0.copy()
        p[j] = p0[j] + h
        net.params = p
        up, _ = net.loss_and_gradient(X, target, loss=loss)
        p[j] = p0[j] - h
        net.params = p
        down, _ = net.loss_and_gradient(X, target, loss=loss)
        fd[j] = (up - down) / (2 * h)
    net.params = p0
    assert net.loss_and_gradient(X, target, loss=loss)[0] == value
    # Central differences: truncation ~h^2 = 1e-10, rounding ~1e-16/h = 1e-11.
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 2, 1023, 1024, 1025, 2500])
def test_forward_any_batch_size_matches_reference(dtype, m):
    """(m, sizes[0]) -> (m, sizes[-1]) for small and large m, every row computed."""
    sizes, acts = (5, 8, 3), ["sigmoid", "softmax"]
    net = fastbp.Network(sizes, acts, dtype=dtype, seed=9)
    X, _, _ = data(m, 5, 3, seed=m)
    got = net.forward(X)
    assert got.shape == (m, 3) and got.dtype == np.dtype(dtype)
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (2e-5, 1e-6)
    np.testing.assert_allclose(got, reference_forward(net.params.astype(np.float64), sizes,
                                                      acts, X), rtol=rtol, atol=atol)


# --- forward on 1-D input ------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_1d_gives_1d_equal_to_the_batched_row(dtype):
    net = fastbp.Network([6, 9, 4], ["tanh", "softmax"], dtype=dtype, seed=0)
    X, T, labels = data(5, 6, 4, seed=1)
    batch = net.forward(X)
    assert batch.shape == (5, 4)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for i in range(5):
        row = net.forward(X[i])
        assert row.shape == (4,) and row.dtype == np.dtype(dtype)
        np.testing.assert_allclose(row, batch[i], rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["sse", "mse", "cross_entropy"])
def test_loss_and_gradient_1d_equals_one_row_batch(dtype, loss):
    net = fastbp.Network([6, 9, 4], ["tanh", "softmax"], dtype=dtype, seed=0)
    X, T, labels = data(3, 6, 4, seed=1)
    for i in range(3):
        t1 = labels[i] if loss == "cross_entropy" else T[i]
        tb = labels[i:i + 1] if loss == "cross_entropy" else T[i:i + 1]
        l1, g1, gx1 = net.loss_and_gradient(X[i], t1, loss=loss, input_gradient=True)
        lb, gb, gxb = net.loss_and_gradient(X[i:i + 1], tb, loss=loss, input_gradient=True)
        assert gx1.shape == (6,) and gxb.shape == (1, 6)
        rtol = 1e-12 if dtype == np.float64 else 1e-5
        assert l1 == pytest.approx(lb, rel=rtol)
        np.testing.assert_allclose(g1, gb, rtol=rtol, atol=1e-12)
        np.testing.assert_allclose(gx1, gxb[0], rtol=rtol, atol=1e-12)


# --- float32 and float64 end to end, input conversion ---------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_end_to_end(dtype):
    net = fastbp.Network([8, 16, 3], ["relu", "softmax"], dtype=dtype, seed=0)
    assert net.dtype == np.dtype(dtype)
    assert all(w.dtype == np.dtype(dtype) for w in net.weights)
    assert all(b.dtype == np.dtype(dtype) for b in net.biases)
    X, T, labels = data(10, 8, 3, seed=2)  # float64 inputs on either network
    assert net.forward(X).dtype == np.dtype(dtype)
    assert net.forward(X[0]).dtype == np.dtype(dtype)
    for target, loss in ((T, "sse"), (T, "mse"), (labels, "cross_entropy")):
        value, grad, grad_X = net.loss_and_gradient(X, target, loss=loss, input_gradient=True)
        assert isinstance(value, float) and np.isfinite(value) and value > 0
        assert grad.dtype == np.dtype(dtype) and grad.shape == net.params.shape
        assert grad_X.dtype == np.dtype(dtype) and grad_X.shape == X.shape
        assert not np.shares_memory(grad, net.params)


@pytest.mark.parametrize("acts", [["tanh", "tanh", "softmax"], ["relu", "sigmoid", "softmax"]])
def test_float32_agrees_with_float64(acts):
    """Same parameters in both precisions: float32 results within float32 rounding."""
    n64 = fastbp.Network([16, 64, 64, 4], acts, dtype=np.float64, seed=0)
    n32 = fastbp.Network([16, 64, 64, 4], acts, dtype=np.float32, seed=99)
    n32.params = n64.params
    X, T, labels = data(64, 16, 4, seed=3)
    # Outputs are softmax probabilities in [0, 1]; measured error ~4e-7.
    np.testing.assert_allclose(n32.forward(X), n64.forward(X), rtol=0, atol=1e-5)
    for target, loss in ((T, "sse"), (T, "mse"), (labels, "cross_entropy")):
        l64, g64 = n64.loss_and_gradient(X, target, loss=loss)
        l32, g32 = n32.loss_and_gradient(X, target, loss=loss)
        assert l32 == pytest.approx(l64, rel=1e-5)  # measured ~1e-8 (loss summed in float64)
        scale = np.abs(g64).max()
        assert np.abs(g32 - g64).max() <= 1e-5 * scale  # measured ~3e-7 of the largest entry


def _as(X, kind):
    if kind == "fortran":
        return np.asfortranarray(X)
    if kind == "strided":
        wide = np.zeros((X.shape[0], 2 * X.shape[1]), X.dtype)
        wide[:, ::2] = X
        return wide[:, ::2]
    if kind == "list":
        return X.tolist()
    return X.astype(kind)


INPUT_KINDS = [np.int64, np.int32, np.uint8, np.bool_, np.float16, np.float32, np.float64,
               "fortran", "strided", "list"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", INPUT_KINDS, ids=lambda k: getattr(k, "__name__", k))
def test_inputs_of_other_dtypes_are_converted(dtype, kind):
    """Any real input equals the same values converted to the network dtype first."""
    net = fastbp.Network([5, 7, 3], ["tanh", "identity"], dtype=dtype, seed=0)
    rng = np.random.default_rng(7)
    if kind is np.bool_:
        base = rng.integers(0, 2, (6, 5))
    elif kind is np.uint8:
        base = rng.integers(0, 7, (6, 5))
    elif kind in (np.int64, np.int32):
        base = rng.integers(-3, 4, (6, 5))
    else:
        base = rng.standard_normal((6, 5))
    X = _as(base, kind)
    T = _as(np.abs(base[:, :3]), kind)
    ref_X = np.ascontiguousarray(np.asarray(X), dtype=dtype)
    ref_T = np.ascontiguousarray(np.asarray(T), dtype=dtype)
    assert net.forward(X).tobytes() == net.forward(ref_X).tobytes()
    assert net.forward(X).dtype == np.dtype(dtype)
    l1, g1 = net.loss_and_gradient(X, T)
    l2, g2 = net.loss_and_gradient(ref_X, ref_T)
    assert l1 == l2 and g1.dtype == np.dtype(dtype)
    assert g1.tobytes() == g2.tobytes()


@pytest.mark.parametrize("label_dtype", [np.int8, np.int16, np.int32, np.uint8, np.uint64,
                                         "list"])
def test_integer_labels_of_any_width(label_dtype):
    net = fastbp.Network([5, 7, 4], ["tanh", "softmax"], seed=0)
    X, _, labels = data(8, 5, 4, seed=8)
    other = labels.tolist() if label_dtype == "list" else labels.astype(label_dtype)
    l1, g1 = net.loss_and_gradient(X, other, loss="cross_entropy")
    l2, g2 = net.loss_and_gradient(X, labels.astype(np.int64), loss="cross_entropy")
    assert l1 == l2 and g1.tobytes() == g2.tobytes()
    # and labels mean the same as the matching one-hot rows
    l3, g3 = net.loss_and_gradient(X, np.eye(4)[labels], loss="cross_entropy")
    assert l3 == pytest.approx(l2, rel=1e-12)
    np.testing.assert_allclose(g3, g2, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_integer_one_hot_rows_are_converted(dtype):
    net = fastbp.Network([5, 7, 4], ["tanh", "softmax"], dtype=dtype, seed=0)
    X, _, labels = data(8, 5, 4, seed=8)
    rows_int = np.eye(4, dtype=np.int64)[labels]
    l1, g1 = net.loss_and_gradient(X, rows_int, loss="cross_entropy")
    l2, g2 = net.loss_and_gradient(X, rows_int.astype(dtype), loss="cross_entropy")
    assert l1 == l2 and g1.tobytes() == g2.tobytes()


# --- initialisation ------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_seeded_init_is_reproducible(dtype):
    sizes, acts = (20, 30, 10), ["relu", "softmax"]
    a = fastbp.Network(sizes, acts, dtype=dtype, seed=0)
    b = fastbp.Network(sizes, acts, dtype=dtype, seed=0)
    c = fastbp.Network(sizes, acts, dtype=dtype, seed=1)
    g = fastbp.Network(sizes, acts, dtype=dtype, seed=np.random.default_rng(0))
    assert a.params.tobytes() == b.params.tobytes()
    assert g.params.tobytes() == a.params.tobytes()  # a Generator seeded 0 == seed=0
    weights = np.concatenate([w.ravel() for w in a.weights])
    weights_c = np.concatenate([w.ravel() for w in c.weights])
    assert np.mean(weights == weights_c) < 0.01  # continuous draws: virtually all differ
    # seed=None draws fresh weights each time
    n1 = fastbp.Network(sizes, acts, dtype=dtype)
    n2 = fastbp.Network(sizes, acts, dtype=dtype)
    assert np.mean(n1.weights[0] == n2.weights[0]) < 0.01


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["identity", "tanh", "sigmoid", "softmax"])
def test_glorot_uniform_init(act, dtype):
    fan_in, fan_out = 800, 600
    net = fastbp.Network([fan_in, fan_out], [act], dtype=dtype, seed=11)
    w = net.weights[0].astype(np.float64).ravel()  # 480,000 draws
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    assert np.all(net.biases[0] == 0)
    # Support [-bound, bound] (float32 rounding allowance), and the edges are reached:
    # P(max|w| < 0.999 bound) = 0.999**480000 ~ e^-480.
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() >= 0.999 * bound
    # std of U(-b, b) is b/sqrt(3); its sampling rel. s.e. is ~6.5e-4, tolerance 1% (~15 s.e.).
    assert np.std(w) == pytest.approx(bound / np.sqrt(3), rel=0.01)
    # mean 0: s.e. 8.3e-4 b, tolerance 1e-2 b (~12 s.e.)
    assert abs(np.mean(w)) < 0.01 * bound
    # uniform, not bell-shaped: half the mass within b/2 (s.e. 7e-4, tolerance 0.01)
    assert np.mean(np.abs(w) < bound / 2) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["relu", "leaky_relu"])
def test_he_normal_init(act, dtype):
    fan_in, fan_out = 800, 600  # not square: a fan_out-based std would be 15% off
    net = fastbp.Network([fan_in, fan_out], [act], dtype=dtype, seed=12)
    w = net.weights[0].astype(np.float64).ravel()
    std = np.sqrt(2.0 / fan_in)
    assert np.all(net.biases[0] == 0)
    # sample std: rel. s.e. ~1e-3, tolerance 1% (~10 s.e.)
    assert np.std(w) == pytest.approx(std, rel=0.01)
    # mean 0: s.e. 1.4e-3 std, tolerance 1e-2 std (~7 s.e.)
    assert abs(np.mean(w)) < 0.01 * std
    # normal tails: P(|w| > 2 std) = 0.0455, s.e. 3e-4, tolerance 0.004 (~13 s.e.);
    # a uniform of the same std has no mass there.
    assert np.mean(np.abs(w) > 2 * std) == pytest.approx(0.0455, abs=0.004)


def test_init_rule_is_chosen_per_layer():
    sizes = (300, 500, 400, 200)
    net = fastbp.Network(sizes, ["relu", "tanh", "leaky_relu"], seed=13)
    w1, w2, w3 = (w.ravel() for w in net.weights)
    # layer 1: He normal, fan_in 300 (150,000 draws: rel. s.e. of std ~1.8e-3)
    assert np.std(w1) == pytest.approx(np.sqrt(2 / 300), rel=0.02)
    assert np.mean(np.abs(w1) > 2 * np.sqrt(2 / 300)) == pytest.approx(0.0455, abs=0.005)
    # layer 2: Glorot uniform, bound sqrt(6 / (500 + 400))
    bound = np.sqrt(6 / 900)
    assert np.abs(w2).max() <= bound and np.abs(w2).max() >= 0.999 * bound
    assert np.std(w2) == pytest.approx(bound / np.sqrt(3), rel=0.02)
    # layer 3: He normal, fan_in 400 (80,000 draws: rel. s.e. ~2.5e-3)
    assert np.std(w3) == pytest.approx(np.sqrt(2 / 400), rel=0.025)
    assert all(np.all(b == 0) for b in net.biases)


# --- pickling and repr ---------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL])
def test_pickle_round_trip(dtype, protocol):
    net = fastbp.Network([6, 9, 4], ["leaky_relu", "softmax"], dtype=dtype, seed=21)
    X, T, labels = data(7, 6, 4, seed=22)
    y = net.forward(X)  # the network has been used (buffers exist) before pickling
    loss, grad = net.loss_and_gradient(X, labels, loss="cross_entropy")
    clone = pickle.loads(pickle.dumps(net, protocol=protocol))
    assert clone is not net
    assert clone.sizes == net.sizes and clone.activations == net.activations
    assert clone.dtype == net.dtype and clone.params.dtype == np.dtype(dtype)
    assert clone.params.tobytes() == net.params.tobytes()
    assert clone.forward(X).tobytes() == y.tobytes()
    assert clone.forward(X[2]).tobytes() == y[2].tobytes()
    loss2, grad2 = clone.loss_and_gradient(X, labels, loss="cross_entropy")
    assert loss2 == loss and grad2.tobytes() == grad.tobytes()
    # The clone owns its parameters, and its views point into them.
    assert not np.shares_memory(clone.params, net.params)
    for i, (w0, b0) in enumerate(layer_offsets(clone.sizes)):
        assert address(clone.weights[i]) == address(clone.params) + w0 * clone.params.itemsize
        assert address(clone.biases[i]) == address(clone.params) + b0 * clone.params.itemsize
    clone.weights[0][0, 0] += 1.0
    assert clone.params[0] != net.params[0]


def test_deepcopy_is_independent():
    net = fastbp.Network([3, 4, 2], ["tanh", "identity"], seed=0)
    twin = copy.deepcopy(net)
    assert twin.params.tobytes() == net.params.tobytes()
    twin.biases[1][0] = 5.0
    assert twin.params[-2] == 5.0 and net.params[-2] == 0.0


@pytest.mark.parametrize("dtype, name", [(np.float32, "float32"), (np.float64, "float64")])
def test_repr(dtype, name):
    net = fastbp.Network([784, 256, 10], ["tanh", "softmax"], dtype=dtype, seed=0)
    text = repr(net)
    assert text.startswith("Network(")
    assert "sizes=[784, 256, 10]" in text
    assert "activations=['tanh', 'softmax']" in text
    assert name in text
    # It reads back as the same architecture.
    again = eval(text, {"Network": fastbp.Network, "np": np})  # noqa: S307
    assert (again.sizes, again.activations, again.dtype) == (net.sizes, net.activations, net.dtype)


# --- memory: steady state allocates nothing but the result --------------------

SLACK = 2048  # bytes: Python objects (views, tuples, floats) made per call


class _Traced:
    def __enter__(self):
        self.started = not tracemalloc.is_tracing()
        if self.started:
            tracemalloc.start()
        return self

    def measure(self, fn):
        """(result, peak bytes traced above the level at entry) of one call of fn."""
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        return result, tracemalloc.get_traced_memory()[1] - base

    def __exit__(self, *exc):
        if self.started:
            tracemalloc.stop()


MEM_SIZES = (64, 256, 256, 10)


def _mem_case(dtype, loss):
    net = fastbp.Network(MEM_SIZES, ["tanh", "relu", "softmax"], dtype=dtype, seed=0)
    X, T, labels = data(64, 64, 10, seed=1, dtype=dtype)
    if loss == "cross_entropy_labels":
        return net, X, labels, "cross_entropy"
    if loss == "cross_entropy_rows":
        return net, X, np.eye(10, dtype=dtype)[labels], "cross_entropy"
    return net, X, T, loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["sse", "mse", "cross_entropy_labels", "cross_entropy_rows"])
def test_loss_and_gradient_steady_state_allocates_only_the_gradient(dtype, loss):
    net, X, T, name = _mem_case(dtype, loss)
    # Workspace of one batch: X_i and Y_i of every layer, two K buffers.
    buffers = 64 * (2 * sum(MEM_SIZES[1:]) + 2 * max(MEM_SIZES)) * np.dtype(dtype).itemsize
    assert buffers > 100 * SLACK  # a re-allocation could not hide in the slack
    for _ in range(3):  # warm-up: compilation, workspace for this batch size
        net.loss_and_gradient(X, T, loss=name)
    with _Traced() as traced:
        # The probe sees NumPy allocations of this size (the check below can fail).
        _, seen = traced.measure(lambda: np.empty(buffers // np.dtype(dtype).itemsize, dtype))
        assert seen >= buffers
        for _ in range(5):
            (value, grad), peak = traced.measure(lambda: net.loss_and_gradient(X, T, loss=name))
            assert grad.nbytes == net.params.nbytes
            assert peak <= grad.nbytes + SLACK, (peak, grad.nbytes)
            del grad


@pytest.mark.parametrize("dtype", DTYPES)
def test_alternating_two_batch_sizes_allocates_only_the_gradient(dtype):
    """fit's pattern (full batches, then a short last one) reuses both workspaces."""
    net, X, T, name = _mem_case(dtype, "cross_entropy_labels")
    for _ in range(2):
        net.loss_and_gradient(X, T, loss=name)
        net.loss_and_gradient(X[:17], T[:17], loss=name)
    with _Traced() as traced:
        for _ in range(3):
            for m in (64, 17):
                (_, grad), peak = traced.measure(
                    lambda: net.loss_and_gradient(X[:m], T[:m], loss=name))
                assert peak <= grad.nbytes + SLACK, (m, peak, grad.nbytes)
                del grad


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_steady_state_allocates_only_the_output(dtype):
    net, X, _, _ = _mem_case(dtype, "sse")
    for _ in range(3):
        net.forward(X)
        net.forward(X[0])
    with _Traced() as traced:
        for _ in range(5):
            y, peak = traced.measure(lambda: net.forward(X))
            assert y.shape == (64, 10) and peak <= y.nbytes + SLACK, (peak, y.nbytes)
            y1, peak1 = traced.measure(lambda: net.forward(X[0]))
            assert y1.shape == (10,) and peak1 <= y1.nbytes + SLACK, (peak1, y1.nbytes)
            del y, y1


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_on_a_large_set_allocates_only_the_output(dtype):
    net, _, _, _ = _mem_case(dtype, "sse")
    X = np.random.default_rng(3).standard_normal((3000, 64)).astype(dtype)
    for _ in range(2):
        net.forward(X)
    with _Traced() as traced:
        for _ in range(3):
            y, peak = traced.measure(lambda: net.forward(X))
            assert y.shape == (3000, 10) and peak <= y.nbytes + SLACK, (peak, y.nbytes)
            del y


# --- threads -------------------------------------------------------------------

N_THREADS = 4
CALLS = 60


def _thread_batches(thread, equal):
    """Each thread's own data; equal=True gives every thread the same batch size."""
    sizes = [32] * 3 if equal else [5 + thread, 17 + 2 * thread, 40 + 3 * thread]
    out = []
    for j, m in enumerate(sizes):
        X, T, labels = data(m, 32, 8, seed=100 * thread + j)
        out.append((X, T, labels))
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("equal", [False, True], ids=["distinct-batch-sizes", "equal-batch-sizes"])
def test_concurrent_calls_match_serial(dtype, equal):
    net = fastbp.Network([32, 128, 128, 8], ["tanh", "relu", "softmax"], dtype=dtype, seed=0)
    work = [_thread_batches(t, equal) for t in range(N_THREADS)]

    def run(batches):
        results = []
        for X, T, labels in batches:
            y = net.forward(X)
            y1 = net.forward(X[0])
            sse = net.loss_and_gradient(X, T, loss="sse")
            ce = net.loss_and_gradient(X, labels, loss="cross_entropy", input_gradient=True)
            results.append((y, y1, sse, ce))
        return results

    serial = [run(batches) for batches in work]
    params_before = net.params.tobytes()

    results = [[] for _ in range(N_THREADS)]
    errors = []
    barrier = threading.Barrier(N_THREADS)

    def worker(t):
        try:
            # A fresh thread starts with no buffers: creation is part of the race.
            barrier.wait()
            for _ in range(CALLS // len(work[t])):
                results[t].append(run(work[t]))
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(N_THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not any(th.is_alive() for th in threads)
    assert not errors, errors
    assert net.params.tobytes() == params_before
    for t in range(N_THREADS):
        assert len(results[t]) == CALLS // len(work[t])
        for rep in results[t]:
            for (y, y1, (l_s, g_s), (l_c, g_c, gx_c)), (ey, ey1, (el_s, eg_s), (el_c, eg_c, egx_c)) \
                    in zip(rep, serial[t]):
                # Same data, same network, deterministic kernels: bit-identical.
                assert y.tobytes() == ey.tobytes() and y1.tobytes() == ey1.tobytes()
                assert l_s == el_s and g_s.tobytes() == eg_s.tobytes()
                assert l_c == el_c and g_c.tobytes() == eg_c.tobytes()
                assert gx_c.tobytes() == egx_c.tobytes()
