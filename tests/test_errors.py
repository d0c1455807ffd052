"""Bad input gets a clear exception and leaves the network exactly as it was.

The rule (docs/design.md, "Validation"): every refused call raises a ``ValueError`` (wrong shape,
value or name) or a ``TypeError`` (wrong kind of object or dtype) whose message
names the argument (and the layer where there is one) and states what was
expected and what was given -- and it is raised before anything is written, so
the flat parameter array is bit-identical afterwards and every per-layer view
still points into it.
"""
import re

import numpy as np
import pytest

import fastbp
from fastbp.testing import layer_offsets

N_IN, N_HIDDEN, N_OUT = 3, 5, 2
SIZES = (N_IN, N_HIDDEN, N_OUT)
M = 4  # rows of a good batch

DTYPES = [np.float64, np.float32]


# --- helpers -----------------------------------------------------------------

def address(array):
    return array.__array_interface__["data"][0]


def snapshot(net):
    return {"obj": net.params, "bytes": net.params.tobytes(),
            "dtype": net.params.dtype, "shape": net.params.shape}


def assert_untouched(net, before):
    """Parameters bit-identical, same array object, weights/biases still views of it."""
    params = net.params
    assert params is before["obj"], "params was replaced by another array"
    assert params.dtype == before["dtype"] and params.shape == before["shape"]
    assert params.tobytes() == before["bytes"], "parameters changed"
    base = address(params)
    item = params.itemsize
    for i, (w_start, b_start) in enumerate(layer_offsets(net.sizes)):
        w, b = net.weights[i], net.biases[i]
        assert np.shares_memory(w, params) and np.shares_memory(b, params)
        assert address(w) == base + w_start * item
        assert address(b) == base + b_start * item
        assert w.shape == (net.sizes[i + 1], net.sizes[i])
        assert b.shape == (net.sizes[i + 1],)


def make_net(dtype=np.float64, last="softmax"):
    return fastbp.Network(SIZES, ["tanh", last], dtype=dtype, seed=123)


def rejected(net, fn, exc, pattern):
    """Call fn, expect exc matching pattern; check net untouched; return the ExceptionInfo."""
    before = snapshot(net)
    probe = np.linspace(-1.0, 1.0, 2 * N_IN).reshape(2, N_IN)
    y_before = net.forward(probe)
    with pytest.raises(exc, match=pattern) as info:
        fn()
    assert_untouched(net, before)
    # The network still computes exactly what it computed before the refused call.
    assert net.forward(probe).tobytes() == y_before.tobytes()
    return info


def good_X(m=M, dtype=np.float64):
    return np.linspace(-1.0, 1.0, m * N_IN).reshape(m, N_IN).astype(dtype)


def sse_targets_for(X):
    a = np.asarray(X)
    if a.ndim >= 2:
        return np.zeros((a.shape[0], N_OUT))
    return np.zeros(N_OUT)


def label_targets_for(X):
    a = np.asarray(X)
    if a.ndim >= 2:
        return np.zeros(a.shape[0], dtype=np.int64)
    return np.int64(0)


# Every way of feeding X to the network: forward, loss_and_gradient with a
# valid target for each loss (so X is the only thing wrong), and train_step.
METHODS = ["forward", "sse", "mse", "cross_entropy_labels", "cross_entropy_rows",
           "step_sse", "step_cross_entropy_labels"]


def call_with_X(net, method, X):
    if method == "forward":
        return net.forward(X)
    if method == "step_sse":
        return net.train_step(X, sse_targets_for(X), fastbp.SGD(lr=0.1), loss="sse")
    if method == "step_cross_entropy_labels":
        return net.train_step(X, label_targets_for(X), fastbp.SGD(lr=0.1),
                              loss="cross_entropy")
    if method in ("sse", "mse"):
        return net.loss_and_gradient(X, sse_targets_for(X), loss=method)
    if method == "cross_entropy_labels":
        return net.loss_and_gradient(X, label_targets_for(X), loss="cross_entropy")
    rows = sse_targets_for(X)
    rows[..., 0] = 1.0
    return net.loss_and_gradient(X, rows, loss="cross_entropy")


def with_value(shape, index, value, dtype=np.float64):
    a = np.linspace(-1.0, 1.0, int(np.prod(shape))).reshape(shape).astype(dtype)
    a[index] = value
    return a


# --- X: shape, emptiness, values, dtype (forward and loss_and_gradient) ------

BAD_X_SHAPES = [
    # (X, regex for the message): "X", what was expected, what was given
    pytest.param(np.zeros((M, N_IN + 1)), r"got shape \(4, 4\)", id="2d-too-wide"),
    pytest.param(np.zeros((M, N_IN - 1)), r"got shape \(4, 2\)", id="2d-too-narrow"),
    pytest.param(np.zeros(N_IN + 2), r"got shape \(5,\)", id="1d-wrong-width"),
    pytest.param(np.zeros((N_IN, M)), r"got shape \(3, 4\)", id="2d-transposed"),
    pytest.param(np.float64(0.5), r"got shape \(\)", id="0d-scalar"),
    pytest.param(np.zeros((2, M, N_IN)), r"got shape \(2, 4, 3\)", id="3d"),
    pytest.param(np.zeros((1, 1, M, N_IN)), r"got shape \(1, 1, 4, 3\)", id="4d"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("X, given", BAD_X_SHAPES)
def test_X_wrong_shape(method, X, given):
    net = make_net()
    expected = r"X: expected one sample of shape \(3,\) or a batch of shape \(m, 3\)"
    rejected(net, lambda: call_with_X(net, method, X), ValueError, expected + ".*" + given)


@pytest.mark.parametrize("method", METHODS)
def test_X_empty_batch(method):
    net = make_net()
    X = np.zeros((0, N_IN))
    rejected(net, lambda: call_with_X(net, method, X), ValueError,
             r"X: empty batch.*\(0, 3\).*at least one sample")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("X, where", [
    pytest.param(with_value((M, N_IN), (1, 2), np.nan), r"\(1, 2\)", id="nan-2d"),
    pytest.param(with_value((M, N_IN), (3, 0), np.inf), r"\(3, 0\)", id="+inf-2d"),
    pytest.param(with_value((M, N_IN), (0, 1), -np.inf), r"\(0, 1\)", id="-inf-2d"),
    pytest.param(with_value((N_IN,), 2, np.nan), r"\(2,\)", id="nan-1d"),
    pytest.param(with_value((N_IN,), 0, -np.inf), r"\(0,\)", id="-inf-1d"),
    pytest.param(with_value((M, N_IN), (2, 1), np.nan, np.float32), r"\(2, 1\)",
                 id="nan-float32-input"),
])
def test_X_not_finite(dtype, method, X, where):
    net = make_net(dtype)
    rejected(net, lambda: call_with_X(net, method, X), ValueError,
             r"X contains NaN or infinity \(first at index " + where + r"\).*finite")


@pytest.mark.parametrize("X, T", [
    pytest.param(np.zeros((M, N_IN + 1)), np.zeros((M, N_OUT)), id="X-width"),
    pytest.param(np.zeros((M, N_IN)), np.zeros((M + 1, N_OUT)), id="T-rows"),
    pytest.param(with_value((M, N_IN), (1, 1), np.nan), np.zeros((M, N_OUT)), id="X-nan"),
])
def test_refused_train_step_leaves_a_new_optimizer_new(X, T):
    """A new optimizer takes the size of the first network it updates; a
    refused call must not bind it."""
    net = make_net(last="identity")
    opt = fastbp.SGD(lr=0.1, momentum=0.9)
    rejected(net, lambda: net.train_step(X, T, opt), ValueError, "X|T")
    assert opt.state_dict()["state"] is None and opt.steps == 0
    other = fastbp.Network([2, 2], ["identity"], seed=0)
    other.train_step(np.ones((1, 2)), np.zeros((1, 2)), opt)
    assert opt.steps == 1


@pytest.mark.parametrize("call", ["loss_and_gradient", "train_step"])
def test_a_wrong_width_is_refused_before_anything_is_allocated(call):
    """Buffers are sized by X's rows: a wide batch of the wrong width must be
    refused first, not allocated for."""
    import tracemalloc

    net = make_net(last="identity")
    X, T = np.zeros((200_000, N_IN + 1)), np.zeros((200_000, N_OUT))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"X: expected"):
            with_targets(net, call, X, T, "sse")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # the workspace alone would take 200,000 x 24 x 8 bytes


@pytest.mark.parametrize("dtype", DTYPES)
def test_values_whose_sum_overflows_are_finite(dtype):
    """The checks sum an array first (NaN and infinity carry into the sum);
    a sum that overflows on finite values must not refuse them."""
    big = np.finfo(dtype).max
    net = fastbp.Network(SIZES, ["tanh", "identity"], dtype=dtype, seed=0)
    net.params = np.full(net.n_params, big, dtype)
    assert np.all(net.params == big)
    values = np.full(net.n_params, big, dtype)
    values[7] = np.nan
    with pytest.raises(ValueError, match=r"params contains NaN or infinity \(first at index \(7,\)\)"):
        net.params = values
    assert np.all(net.params == big)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("X, kind", [
    pytest.param(np.array([["a", "b", "c"]] * M), "<U1", id="str"),
    pytest.param(np.array([[b"1", b"2", b"3"]] * M), "|S1", id="bytes"),
    pytest.param(np.ones((M, N_IN), dtype=object), "object", id="object"),
    pytest.param(np.ones((M, N_IN), dtype=np.complex128), "complex128", id="complex"),
    pytest.param(np.ones(N_IN, dtype=np.complex64), "complex64", id="complex-1d"),
    pytest.param([["1.0", "2.0", "3.0"]], "<U3", id="list-of-str"),
])
def test_X_non_numeric_dtype(method, X, kind):
    net = make_net()
    rejected(net, lambda: call_with_X(net, method, X), TypeError,
             r"X: expected real numbers, got an array of dtype " + re.escape(kind))


# --- T: shape, values, dtype (loss_and_gradient) -----------------------------

@pytest.mark.parametrize("loss", ["sse", "mse", "cross_entropy"])
@pytest.mark.parametrize("X, T, expected, given", [
    pytest.param(good_X(), np.zeros((M - 1, N_OUT)), r"\(4, 2\)", r"\(3, 2\)", id="too-few-rows"),
    pytest.param(good_X(), np.zeros((M + 1, N_OUT)), r"\(4, 2\)", r"\(5, 2\)", id="too-many-rows"),
    pytest.param(good_X(), np.zeros((M, N_OUT + 1)), r"\(4, 2\)", r"\(4, 3\)", id="too-wide"),
    pytest.param(good_X(), np.zeros((M, 1)), r"\(4, 2\)", r"\(4, 1\)", id="too-narrow"),
    pytest.param(good_X(), np.zeros((1, N_OUT)), r"\(4, 2\)", r"\(1, 2\)", id="one-row-no-broadcast"),
    pytest.param(good_X(), np.float64(0.0), r"\(4, 2\)", r"\(\)", id="0d"),
    pytest.param(good_X(), np.zeros((M, N_OUT, 1)), r"\(4, 2\)", r"\(4, 2, 1\)", id="3d"),
    pytest.param(good_X(), np.zeros((0, N_OUT)), r"\(4, 2\)", r"\(0, 2\)", id="empty"),
    pytest.param(good_X()[0], np.zeros(N_OUT + 1), r"\(2,\)", r"\(3,\)", id="1d-X-wrong-width"),
    pytest.param(good_X()[0], np.zeros((1, N_OUT)), r"\(2,\)", r"\(1, 2\)", id="1d-X-2d-T"),
])
@pytest.mark.parametrize("call", ["loss_and_gradient", "train_step"])
def test_T_wrong_shape(call, loss, X, T, expected, given):
    net = make_net()
    rejected(net, lambda: with_targets(net, call, X, T, loss), ValueError,
             r"T: expected shape " + expected + r".*got " + given)


def with_targets(net, call, X, T, loss):
    if call == "train_step":
        return net.train_step(X, T, fastbp.SGD(lr=0.1), loss=loss)
    return net.loss_and_gradient(X, T, loss=loss)


def test_T_1d_for_single_output_hints_reshape():
    net = fastbp.Network([N_IN, 1], ["identity"], seed=0)
    info = rejected(net, lambda: net.loss_and_gradient(good_X(), np.zeros(M)), ValueError,
                    r"T: expected shape \(4, 1\).*got \(4,\)")
    assert "reshape(-1, 1)" in str(info.value)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["sse", "mse", "cross_entropy"])
@pytest.mark.parametrize("X, T, where", [
    pytest.param(good_X(), with_value((M, N_OUT), (2, 1), np.nan), r"\(2, 1\)", id="nan"),
    pytest.param(good_X(), with_value((M, N_OUT), (0, 0), np.inf), r"\(0, 0\)", id="+inf"),
    pytest.param(good_X(), with_value((M, N_OUT), (3, 1), -np.inf), r"\(3, 1\)", id="-inf"),
    pytest.param(good_X()[0], with_value((N_OUT,), 1, np.nan), r"\(1,\)", id="nan-1d"),
    pytest.param(good_X(), with_value((M, N_OUT), (1, 0), np.inf, np.float32), r"\(1, 0\)",
                 id="inf-float32-target"),
])
def test_T_not_finite(dtype, loss, X, T, where):
    net = make_net(dtype)
    rejected(net, lambda: net.loss_and_gradient(X, T, loss=loss), ValueError,
             r"T contains NaN or infinity \(first at index " + where + r"\)")


@pytest.mark.parametrize("loss", ["sse", "mse", "cross_entropy"])
@pytest.mark.parametrize("T, kind", [
    pytest.param(np.array([["a", "b"]] * M), "<U1", id="str"),
    pytest.param(np.zeros((M, N_OUT), dtype=object), "object", id="object"),
    pytest.param(np.zeros((M, N_OUT), dtype=np.complex128), "complex128", id="complex"),
    pytest.param(np.array(["0", "1", "1", "0"]), "<U1", id="str-labels"),
    pytest.param(np.array([0, 1, 1, 0], dtype=object), "object", id="object-labels"),
])
def test_T_non_numeric_dtype(loss, T, kind):
    net = make_net()
    rejected(net, lambda: net.loss_and_gradient(good_X(), T, loss=loss), TypeError,
             r"T: expected real numbers, got an array of dtype " + re.escape(kind))


# --- cross_entropy specifics ---------------------------------------------------

@pytest.mark.parametrize("X, labels, bad, at", [
    pytest.param(good_X(), np.array([0, 1, -1, 0]), -1, 2, id="negative"),
    pytest.param(good_X(), np.array([0, 1, 1, N_OUT]), N_OUT, 3, id="equal-to-k"),
    pytest.param(good_X(), np.array([7, 1, 1, 0], dtype=np.int32), 7, 0, id="large-int32"),
    pytest.param(good_X(), np.array([0, 1, 250, 0], dtype=np.uint8), 250, 2, id="large-uint8"),
    pytest.param(good_X()[0], np.int64(-3), -3, 0, id="1d-X-negative"),
    pytest.param(good_X()[0], N_OUT, N_OUT, 0, id="1d-X-python-int-k"),
])
def test_cross_entropy_labels_out_of_range(X, labels, bad, at):
    net = make_net()
    rejected(net, lambda: net.loss_and_gradient(X, labels, loss="cross_entropy"), ValueError,
             rf"T: class labels must lie in \[0, 2\) for 2 outputs; found {bad} at index {at}")


@pytest.mark.parametrize("X, labels, expected, given", [
    pytest.param(good_X(), np.array([0, 1, 1]), r"\(4,\)", r"\(3,\)", id="too-few"),
    pytest.param(good_X(), np.zeros((M, 1), dtype=int), r"\(4,\)", r"\(4, 1\)", id="column"),
    pytest.param(good_X()[0], np.array([1]), r"\(\)", r"\(1,\)", id="1d-X-array-label"),
])
@pytest.mark.parametrize("call", ["loss_and_gradient", "train_step"])
def test_cross_entropy_labels_wrong_shape(call, X, labels, expected, given):
    net = make_net()
    rejected(net, lambda: with_targets(net, call, X, labels, "cross_entropy"), ValueError,
             r"T: .*integer class labels (must have|of) shape " + expected + r".*got " + given)


def test_cross_entropy_float_labels_get_a_hint():
    net = make_net()
    info = rejected(
        net, lambda: net.loss_and_gradient(good_X(), np.array([0.0, 1.0, 1.0, 0.0]),
                                           loss="cross_entropy"),
        ValueError, r"T: expected shape \(4, 2\).*got \(4,\)")
    assert "integer class labels of shape (4,)" in str(info.value)


@pytest.mark.parametrize("last", ["identity", "tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("T", [np.zeros(M, dtype=int), np.eye(N_OUT)[[0, 1, 1, 0]]],
                         ids=["labels", "rows"])
def test_cross_entropy_needs_softmax_output(last, T):
    net = make_net(last=last)
    rejected(net, lambda: net.loss_and_gradient(good_X(), T, loss="cross_entropy"), ValueError,
             rf"loss: 'cross_entropy' needs a softmax output layer.*last activation is '{last}'")


# --- names: losses and activations -------------------------------------------

@pytest.mark.parametrize("loss", ["hinge", "SSE", "cross-entropy", "", None, 0])
def test_unknown_loss_lists_valid_names(loss):
    net = make_net()
    info = rejected(net, lambda: net.loss_and_gradient(good_X(), np.zeros((M, N_OUT)), loss=loss),
                    ValueError, r"loss: unknown loss " + re.escape(repr(loss)))
    message = str(info.value)
    assert len(fastbp.LOSSES) == 3
    for name in fastbp.LOSSES:
        assert repr(name) in message


@pytest.mark.parametrize("activations, where, bad", [
    (["tanh", "softmaxx"], r"activations\[1\]", "'softmaxx'"),
    (["Tanh", "softmax"], r"activations\[0\]", "'Tanh'"),
    (["tanh", None], r"activations\[1\]", "None"),
    (["tanh", "gelu"], r"activations\[1\]", "'gelu'"),
])
def test_unknown_activation_lists_valid_names(activations, where, bad):
    with pytest.raises(ValueError, match=where + r": unknown activation " + re.escape(bad)) as info:
        fastbp.Network(SIZES, activations)
    message = str(info.value)
    assert len(fastbp.ACTIVATIONS) == 7
    for name in fastbp.ACTIVATIONS:
        assert repr(name) in message


# --- constructor: sizes, activations, dtype ----------------------------------

@pytest.mark.parametrize("sizes", [[], [3], (7,), np.array([4])])
def test_sizes_fewer_than_two(sizes):
    # The given widths are echoed (NumPy 2 prints np.int64(4) for a NumPy integer).
    with pytest.raises(ValueError, match=r"sizes: expected at least two widths.*"
                                         r"got \[((np\.int64\()?\d+\)?)?\]"):
        fastbp.Network(sizes, [])


@pytest.mark.parametrize("sizes", [3, None, 2.5])
def test_sizes_not_a_sequence(sizes):
    with pytest.raises(TypeError, match=r"sizes: expected a sequence of layer widths, got "
                                        + re.escape(repr(sizes))):
        fastbp.Network(sizes, ["tanh"])


@pytest.mark.parametrize("sizes, index, value", [
    ([3, 0, 2], 1, 0),
    ([0, 4, 2], 0, 0),
    ([3, 4, -2], 2, -2),
    ([3, -1, 2], 1, -1),
])
def test_sizes_non_positive(sizes, index, value):
    with pytest.raises(ValueError,
                       match=rf"sizes\[{index}\]: expected a positive integer width, got {value}"):
        fastbp.Network(sizes, ["tanh", "tanh"])


@pytest.mark.parametrize("width", [2.5, 2.0, "5", None, True, np.float64(3.0), 1 + 0j])
def test_sizes_non_integer(width):
    with pytest.raises(TypeError, match=r"sizes\[1\]: expected a positive integer, got "
                                        + re.escape(repr(width))):
        fastbp.Network([3, width, 2], ["tanh", "tanh"])


@pytest.mark.parametrize("activations, n_given", [
    (["tanh"], 1), (["tanh", "tanh", "softmax"], 3), ([], 0),
])
def test_activations_wrong_length(activations, n_given):
    with pytest.raises(ValueError, match=rf"activations: expected 2 names \(one per layer, "
                                         rf"len\(sizes\) - 1\), got {n_given}"):
        fastbp.Network(SIZES, activations)


@pytest.mark.parametrize("activations", ["tanh", "softmax"])
def test_activations_plain_string(activations):
    with pytest.raises(TypeError, match=rf"activations: expected a sequence of 2 names.*"
                                        rf"got the string '{activations}'") as info:
        fastbp.Network(SIZES, activations)
    assert f"[{activations!r}] * 2" in str(info.value)


def test_activations_not_iterable():
    with pytest.raises(TypeError, match=r"activations: expected a sequence of names, got 5"):
        fastbp.Network(SIZES, 5)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, "float16", np.float16, np.complex128,
                                   "int8", object, np.bool_, np.longdouble, [("a", "f8")]])
def test_network_dtype_must_be_float32_or_float64(dtype):
    if np.dtype(np.longdouble) == np.dtype(np.float64) and dtype is np.longdouble:
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises(TypeError, match=r"dtype: expected np.float32 or np.float64, got "
                                        + re.escape(repr(dtype))):
        fastbp.Network(SIZES, ["tanh", "softmax"], dtype=dtype)


@pytest.mark.parametrize("dtype", ["not-a-dtype", "flaot32"])
def test_network_dtype_unparseable(dtype):
    with pytest.raises(TypeError, match=r"dtype: expected np.float32 or np.float64, got "
                                        + re.escape(repr(dtype))):
        fastbp.Network(SIZES, ["tanh", "softmax"], dtype=dtype)


# --- params setter -----------------------------------------------------------

def n_params():
    return sum(b * a + b for a, b in zip(SIZES[:-1], SIZES[1:]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(n_params() - 1,), (n_params() + 1,), (1, n_params()),
                                   (n_params(), 1), (), (0,)])
def test_params_setter_wrong_shape(dtype, shape):
    assert n_params() == 3 * 5 + 5 + 5 * 2 + 2
    net = make_net(dtype)
    values = np.ones(shape)
    rejected(net, lambda: setattr(net, "params", values), ValueError,
             rf"params: expected shape \({n_params()},\), got " + re.escape(str(shape)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_params_setter_not_finite(dtype, value):
    net = make_net(dtype)
    values = net.params.astype(np.float64) + 1.0  # valid except for one entry
    values[7] = value
    rejected(net, lambda: setattr(net, "params", values), ValueError,
             r"params contains NaN or infinity")


def test_params_setter_nan_index_is_1d():
    net = make_net()
    values = net.params.copy()
    values[7] = np.nan
    rejected(net, lambda: setattr(net, "params", values), ValueError,
             r"params contains NaN or infinity \(first at index \(7,\)\)")


@pytest.mark.parametrize("values, kind", [
    (np.full(n_params(), "1"), "<U1"),
    (np.ones(n_params(), dtype=object), "object"),
    (np.ones(n_params(), dtype=np.complex128), "complex128"),
])
def test_params_setter_non_numeric(values, kind):
    net = make_net()
    rejected(net, lambda: setattr(net, "params", values), TypeError,
             r"params: expected real numbers, got an array of dtype " + re.escape(kind))


# --- split -------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(n_params() - 1,), (n_params() + 1,), (0,), (1, n_params()),
                                   (n_params(), 1), ()])
def test_split_wrong_length_or_shape(shape):
    net = make_net()
    rejected(net, lambda: net.split(np.zeros(shape)), ValueError,
             rf"flat: expected a 1-D array of {n_params()} values, got shape "
             + re.escape(str(shape)))


# --- fastbp.jacobian ---------------------------------------------------------

@pytest.mark.parametrize("name", ["tan", "Softmax", "", None])
def test_jacobian_unknown_name(name):
    with pytest.raises(ValueError, match=r"name: unknown activation " + re.escape(repr(name))) \
            as info:
        fastbp.jacobian(name, np.zeros(3))
    for valid in fastbp.ACTIVATIONS:
        assert repr(valid) in str(info.value)


@pytest.mark.parametrize("x", [np.zeros((2, 3)), np.zeros((1, 3)), np.zeros((3, 1)),
                               np.float64(1.0), np.zeros(0), np.zeros((2, 2, 2))],
                         ids=["2d", "row", "column", "0d", "empty", "3d"])
@pytest.mark.parametrize("name", ["tanh", "softmax"])
def test_jacobian_needs_nonempty_1d_x(name, x):
    with pytest.raises(ValueError, match=r"x: expected a non-empty 1-D array, got shape "
                                         + re.escape(str(np.shape(x)))):
        fastbp.jacobian(name, x)


@pytest.mark.parametrize("name", ["tanh", "softmax"])
def test_jacobian_rejects_nonfinite_and_non_numeric(name):
    with pytest.raises(ValueError, match=r"x contains NaN or infinity \(first at index \(1,\)\)"):
        fastbp.jacobian(name, np.array([0.0, np.nan, 1.0]))
    with pytest.raises(TypeError, match=r"x: expected real numbers.*complex128"):
        fastbp.jacobian(name, np.ones(3, dtype=np.complex128))


# --- defects found while writing these tests, now fixed ---

@pytest.mark.parametrize("method", ["forward", "sse"])
def test_X_ragged_list_names_the_argument(method):
    net = make_net()
    X = [[0.0, 1.0, 2.0], [3.0, 4.0]]
    if method == "forward":
        fn = lambda: net.forward(X)  # noqa: E731
    else:
        fn = lambda: net.loss_and_gradient(X, np.zeros((2, N_OUT)))  # noqa: E731
    rejected(net, fn, ValueError, r"^X\b")


def test_T_ragged_list_names_the_argument():
    net = make_net()
    rejected(net, lambda: net.loss_and_gradient(good_X(2), [[0.0, 1.0], [1.0]]),
             ValueError, r"^T\b")


@pytest.mark.parametrize("call", ["fit", "train_step", "loss_and_gradient"])
def test_integer_labels_under_a_squared_error_say_which_loss_takes_them(call):
    """Labels given to a softmax network under the default loss ("sse") are
    refused with the shape message and the loss that takes them."""
    net = fastbp.Network([3, 5, 4], ["tanh", "softmax"], seed=0)
    X, labels = good_X(6)[:, :3].copy(), np.array([0, 1, 2, 3, 0, 1])
    run = {"fit": lambda: net.fit(X, labels, epochs=1, progress=False),
           "train_step": lambda: net.train_step(X, labels, fastbp.SGD(lr=0.1)),
           "loss_and_gradient": lambda: net.loss_and_gradient(X, labels)}[call]
    rejected(net, run, ValueError,
             r"^T: expected shape \(6, 4\).*got \(6,\); integer class labels need "
             r"loss='cross_entropy'")


# --- the checks above can fail ---------------------------------------------------

def test_untouched_check_detects_a_write_before_the_error():
    net = make_net()

    def writes_then_raises():
        net.weights[1][1, 2] += 1.0
        raise ValueError("X: pretend validation failed late")

    with pytest.raises(AssertionError, match="parameters changed"):
        rejected(net, writes_then_raises, ValueError, "X: pretend")


def test_untouched_check_detects_a_rebound_view():
    net = make_net()

    def rebinds_then_raises():
        net.biases[0] = net.biases[0].copy()
        raise ValueError("X: pretend validation failed late")

    with pytest.raises(AssertionError):
        rejected(net, rebinds_then_raises, ValueError, "X: pretend")
