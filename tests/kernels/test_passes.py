"""``_kernels.passes``: ``forward_at``, ``output_delta`` and ``backward``,
through the entries that run them, ``predict`` and ``loss_and_gradient``,
against ``fastbp.testing`` for every activation and loss, and the gradients
against central differences of the kernel's own loss in float64."""
import numpy as np
import pytest

from fastbp import layout, testing
from fastbp._kernels import losses, passes, status

from ._common import (DTYPES, GUARD, NAMES, RTOL, as64, assert_guards, guarded, split64,
                      table)

LOSS_CASES = [("sse", "rows"), ("mse", "rows"), ("cross_entropy", "labels"),
              ("cross_entropy", "probs")]
SIZES = [3, 5, 4, 3]   # two hidden layers: the deltas' two regions both serve
M = 5
CASES = [(hidden, loss, kind) for hidden in NAMES for loss, kind in LOSS_CASES]

# Central differences (as tests/test_gradients.py): truncation ~ h^2 |f'''| / 6,
# rounding ~ eps |L| / h per entry; h = 1e-5 balances them near 1e-10, and
# testing.random_problem keeps every gradient block >= 1e-3 |L| and every
# relu pre-activation >= 1e-3 from its kink, so the norm-wise error stays near
# 1e-8 (observed 9e-9 here).  A wrong term is off by O(1).
FD_STEP, FD_RTOL = 1e-5, 1e-6


def _problem(hidden, loss, kind):
    output = "softmax" if loss == "cross_entropy" else hidden
    names = [hidden, hidden, output]
    rng = np.random.default_rng([NAMES.index(hidden), len(loss), len(kind)])
    params, X, T = testing.random_problem(rng, SIZES, names, M, loss, kind)
    return names, params, X, T


def _kernel_arrays(params, X, T, dtype):
    """params, X, target and labels as the entries take them."""
    params, X = params.astype(dtype), X.astype(dtype)
    if T.dtype.kind in "iu":
        return params, X, np.empty((0, SIZES[-1]), dtype), T.astype(np.int64)
    return params, X, T.astype(dtype), np.empty(0, np.int64)


def _workspace(layers, rows, dtype):
    """A workspace for ``rows`` inside a guarded buffer: (buffer, work)."""
    size = layout.workspace_size(layers, rows)
    buf = np.full(5 + size + 7, GUARD, dtype)
    return buf, buf[5:5 + size]


def _loss_and_gradient(layers, code, params, X, target, labels, work, grad, grad_inp):
    value, done = passes.loss_and_gradient(params, layers, code, X, target, labels, work, grad,
                                           grad_inp)
    assert done == status.OK
    return value


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden, loss, kind", CASES)
def test_loss_and_gradient_is_the_references(hidden, loss, kind, dtype):
    names, params, X, T = _problem(hidden, loss, kind)
    layers, code = table(SIZES, names), losses.CODES[loss]
    params, X, target, labels = _kernel_arrays(params, X, T, dtype)
    n = params.size
    L, grad_want, grad_inp_want = testing.loss_and_gradient(
        *split64(params, SIZES), names, as64(X), as64(target) if target.size else labels, loss)

    # The gradient into the workspace's room, with the input gradient.
    buf, work = _workspace(layers, M, dtype)
    in_room = work[:n]
    inp_buf, g0 = guarded(M * SIZES[0], dtype, 3, 3)
    grad_inp = inp_buf[g0:g0 + M * SIZES[0]].reshape(M, SIZES[0])
    value = _loss_and_gradient(layers, code, params, X, target, labels, work, in_room, grad_inp)
    assert value == pytest.approx(L, rel=RTOL[dtype])
    testing.assert_close(in_room, grad_want, RTOL[dtype], "dL/dparams")
    testing.assert_close(grad_inp, grad_inp_want, RTOL[dtype], "dL/dX")
    assert_guards(buf, 5, work.size, "work")
    assert_guards(inp_buf, g0, grad_inp.size, "grad_inp")

    # Elsewhere, without the input gradient (no rows): the same bits.
    grad_buf, w0 = guarded(n, dtype, 4, 4)
    elsewhere = grad_buf[w0:w0 + n]
    before = work.copy()
    again = _loss_and_gradient(layers, code, params, X, target, labels, work, elsewhere,
                               np.empty((0, SIZES[0]), dtype))
    assert again == value
    np.testing.assert_array_equal(elsewhere, in_room)
    np.testing.assert_array_equal(work[:n], before[:n])   # the room was left alone
    assert_guards(grad_buf, w0, n, "grad")


@pytest.mark.parametrize("hidden, loss, kind", CASES)
def test_gradients_match_central_differences(hidden, loss, kind):
    """float64: dL/dparams and dL/dX against differences of the kernel's loss."""
    names, params, X, T = _problem(hidden, loss, kind)
    layers, code = table(SIZES, names), losses.CODES[loss]
    params, X, target, labels = _kernel_arrays(params, X, T, np.float64)
    _, work = _workspace(layers, M, np.float64)
    grad, grad_inp = np.empty_like(params), np.empty_like(X)
    no_rows, scratch = np.empty((0, SIZES[0])), np.empty_like(params)

    def loss_value():
        return _loss_and_gradient(layers, code, params, X, target, labels, work, scratch,
                                  no_rows)

    _loss_and_gradient(layers, code, params, X, target, labels, work, grad, grad_inp)
    for x, analytic, what in ((params, grad, "params"), (X, grad_inp, "X")):
        diffs = testing.central_differences(loss_value, x, FD_STEP)
        assert testing.relative_error(analytic.reshape(-1), diffs.reshape(-1)) < FD_RTOL, what


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", NAMES)
def test_predict_is_the_references_forward_in_chunks(hidden, dtype):
    """A workspace of 2 rows: the 5 rows go through in chunks of 2, 2 and 1."""
    names, params, X, _ = _problem(hidden, "sse", "rows")
    layers = table(SIZES, names)
    params, X = params.astype(dtype), X.astype(dtype)
    buf, work = _workspace(layers, 2, dtype)
    assert layout.workspace_size(layers, 3) > work.size
    out_buf, r0 = guarded(M * SIZES[-1], dtype, 6, 2)
    result = out_buf[r0:r0 + M * SIZES[-1]].reshape(M, SIZES[-1])
    assert passes.predict(params, layers, X, work, result) == status.OK
    want = testing.forward(*split64(params, SIZES), names, as64(X))
    testing.assert_close(result, want, RTOL[dtype], "outputs")
    assert_guards(out_buf, r0, result.size, "result")
    assert_guards(buf, 5, work.size, "work")


@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_refuses_input_that_is_not_finite_and_writes_nothing(dtype):
    names, params, X, _ = _problem("tanh", "sse", "rows")
    layers = table(SIZES, names)
    params, X = params.astype(dtype), X.astype(dtype)
    X[3, 1] = np.inf
    _, work = _workspace(layers, M, dtype)
    result = np.full((M, SIZES[-1]), GUARD, dtype)
    before = work.copy()
    assert passes.predict(params, layers, X, work, result) == status.BAD_INPUT
    assert np.all(result == GUARD)
    np.testing.assert_array_equal(work, before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_whose_products_take_blas(dtype):
    """Widths where dense's products call gemm (the forward one with Y
    transposed: 20 rows of 40 into 64), one pass through the same entries."""
    sizes, names = [40, 64, 48, 10], ["tanh", "relu", "softmax"]
    rng = np.random.default_rng(5)
    params = np.concatenate([rng.normal(0, 1 / np.sqrt(a), a * b + b)
                             for a, b in zip(sizes[:-1], sizes[1:])]).astype(dtype)
    X = rng.normal(size=(20, 40)).astype(dtype)
    labels = rng.integers(0, 10, 20).astype(np.int64)
    layers = table(sizes, names)
    _, work = _workspace(layers, 20, dtype)
    grad, grad_inp = np.empty_like(params), np.empty_like(X)
    value = _loss_and_gradient(layers, losses.CROSS_ENTROPY, params, X,
                               np.empty((0, 10), dtype), labels, work, grad, grad_inp)
    L, grad_want, grad_inp_want = testing.loss_and_gradient(
        *split64(params, sizes), names, as64(X), labels, "cross_entropy")
    assert value == pytest.approx(L, rel=RTOL[dtype])
    testing.assert_close(grad, grad_want, RTOL[dtype], "dL/dparams")
    testing.assert_close(grad_inp, grad_inp_want, RTOL[dtype], "dL/dX")
