"""``_kernels.training``: ``step``, ``epoch`` and ``evaluate`` against NumPy
loops of the reference's SGD step (``fastbp.testing.sgd_step``), and their
statuses when training diverges (the parameters from before the failing
batch kept)."""
import numpy as np
import pytest

from fastbp import layout, testing
from fastbp._kernels import losses, optim, passes, shuffle, status, training

from ._common import (DTYPES, GUARD, RTOL, as64, assert_guards, diverging, sgd_hyper, split64,
                      table, targets_of)

N = 10
LR = 0.1
# name: (sizes, activations, loss, kind of target)
NETS = {
    "sse": ([3, 6, 2], ["tanh", "identity"], "sse", "rows"),
    "mse": ([3, 6, 2], ["sigmoid", "identity"], "mse", "rows"),
    "labels": ([3, 6, 4], ["relu", "softmax"], "cross_entropy", "labels"),
    "probs": ([3, 6, 4], ["softplus", "softmax"], "cross_entropy", "probs"),
}


def _problem(name, dtype, n=N):
    sizes, names, loss, kind = NETS[name]
    rng = np.random.default_rng(list(NETS).index(name))
    params = np.concatenate([rng.normal(0, 1 / np.sqrt(a), a * b + b)
                             for a, b in zip(sizes[:-1], sizes[1:])]).astype(dtype)
    X = rng.normal(size=(n, sizes[0])).astype(dtype)
    target, labels = targets_of(kind, rng, n, sizes[-1], dtype)
    return sizes, names, losses.CODES[loss], loss, params, X, target, labels


def _reference_step(params, sizes, names, X, T, loss):
    """(loss before, parameters after) of testing.sgd_step, flat, float64."""
    weights, biases = split64(params, sizes)
    L, _, _ = testing.loss_and_gradient(weights, biases, names, X, T, loss)
    weights, biases = testing.sgd_step(weights, biases, names, X, T, LR, loss)
    return L, np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(weights, biases)])


def _rows_of(target, labels, rows):
    """The reference's targets for some rows."""
    return labels[rows] if labels.size else as64(target[rows])


def _state(params):
    return np.zeros((2, params.size), params.dtype)   # plain SGD keeps no state


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(NETS))
def test_step_is_one_sgd_step_of_the_reference(name, dtype):
    sizes, names, code, loss, params, X, target, labels = _problem(name, dtype, n=4)
    layers = table(sizes, names)
    L, want = _reference_step(params, sizes, names, as64(X), _rows_of(target, labels, slice(None)),
                              loss)
    size = layout.workspace_size(layers, 4)
    buf = np.full(size + 9, GUARD, dtype)
    hyper = sgd_hyper(LR, dtype)
    value, done = training.step(params, layers, code, X, target, labels, buf[:size],
                                optim.SGD, hyper, _state(params))
    assert done == status.OK and hyper[optim.STEPS] == 1
    assert value == pytest.approx(L, rel=RTOL[dtype])
    testing.assert_close(params, want, RTOL[dtype], "params")
    assert_guards(buf, 0, size, "work")


@pytest.mark.parametrize("dtype", DTYPES)
def test_step_is_loss_and_gradient_then_update(dtype):
    """Any optimizer kind: step computes the gradient loss_and_gradient
    computes and hands it to optim.update, with hyper and state: the same bits."""
    sizes, names, code, loss, params, X, target, labels = _problem("labels", dtype, n=4)
    layers = table(sizes, names)
    work = np.empty(layout.workspace_size(layers, 4), dtype)
    hyper = np.zeros(optim.N_HYPER)
    hyper[[optim.LR, optim.BETA1, optim.BETA2, optim.EPS, optim.LIMIT]] = \
        0.01, 0.9, 0.999, 1e-8, np.finfo(dtype).max
    p1, h1, s1 = params.copy(), hyper.copy(), np.zeros((4, params.size), dtype)
    p2, h2, s2 = params.copy(), hyper.copy(), np.zeros((4, params.size), dtype)
    for _ in range(3):
        value, done = training.step(p1, layers, code, X, target, labels, work, optim.ADAM,
                                    h1, s1)
        grad = np.empty_like(p2)
        want, ok = passes.loss_and_gradient(p2, layers, code, X, target, labels, work, grad,
                                            np.empty((0, sizes[0]), dtype))
        assert done == ok == status.OK and value == want
        assert optim.update(optim.ADAM, h2, s2, p2, grad) == status.OK
        np.testing.assert_array_equal(p1, p2)
        np.testing.assert_array_equal(s1[:2], s2[:2])
    assert h1[optim.STEPS] == h2[optim.STEPS] == 3


def _epoch(params, layers, code, X, target, labels, batch_size, order, rng, reshuffle, hyper):
    """training.epoch with batch buffers and workspace as fit makes them."""
    n_in, k = X.shape[1], layers[-1, layout.N_OUT]
    xb = np.empty(batch_size * n_in, X.dtype)
    tb = target[:0] if labels.size else np.empty((batch_size, k), X.dtype)
    lb = np.empty(batch_size, np.int64) if labels.size else labels
    work = np.empty(layout.workspace_size(layers, batch_size), X.dtype)
    return training.epoch(params, layers, code, X, target, labels, np.int64(batch_size), order,
                          rng, reshuffle, xb, tb, lb, work, optim.SGD, hyper, _state(params))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", [5, 3])   # divides N, and leaves a batch of 1
@pytest.mark.parametrize("reshuffle", [False, True])
@pytest.mark.parametrize("name", list(NETS))
def test_epoch_is_a_loop_of_reference_steps(name, reshuffle, batch_size, dtype):
    sizes, names, code, loss, params, X, target, labels = _problem(name, dtype)
    layers = table(sizes, names)
    order, rng = np.arange(N, dtype=np.int64), np.array([77], np.uint64)
    # The order the epoch will take: the shuffle kernel's (test_shuffle.py).
    want_order, want_rng = order.copy(), rng.copy()
    if reshuffle:
        shuffle.shuffle(want_order, want_rng)
    hyper = sgd_hyper(LR, dtype)
    p, total = params.astype(np.float64), 0.0
    value, batches, done = _epoch(params, layers, code, X, target, labels, batch_size, order,
                                  rng, reshuffle, hyper)
    for lo in range(0, N, batch_size):
        rows = want_order[lo:lo + batch_size]
        L, p = _reference_step(p, sizes, names, as64(X[rows]), _rows_of(target, labels, rows),
                               loss)
        total += L if loss == "sse" else L * len(rows)   # the epoch's convention
    total = total if loss == "sse" else total / N
    assert done == status.OK and batches == -(-N // batch_size) == hyper[optim.STEPS]
    assert value == pytest.approx(total, rel=RTOL[dtype])
    testing.assert_close(params, p, RTOL[dtype], "params")
    np.testing.assert_array_equal(order, want_order)
    np.testing.assert_array_equal(rng, want_rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(NETS))
def test_evaluate_is_the_loss_of_the_whole_set_and_the_correct_argmaxes(name, dtype):
    """A workspace of 3 rows: 10 rows in chunks of 3, 3, 3 and 1."""
    sizes, names, code, loss, params, X, target, labels = _problem(name, dtype)
    layers = table(sizes, names)
    work = np.empty(layout.workspace_size(layers, 3), dtype)
    value, correct = training.evaluate(params, layers, code, X, target, labels, work)
    T = _rows_of(target, labels, slice(None))
    weights, biases = split64(params, sizes)
    L, _, _ = testing.loss_and_gradient(weights, biases, names, as64(X), T, loss)
    outputs = testing.forward(weights, biases, names, as64(X))
    truth = labels if labels.size else np.argmax(target, axis=1)
    assert value == pytest.approx(L, rel=RTOL[dtype])
    assert correct == np.sum(np.argmax(outputs, axis=1) == truth)
    assert 0 < correct < N   # a count that could be wrong either way


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["loss", "gradient", "step"])
def test_divergence_statuses_keep_the_parameters(case, dtype):
    layers = table([1, 1], ["identity"])
    X, lr, expected = diverging(case, dtype)
    T, labels = np.zeros((2, 1), dtype), np.empty(0, np.int64)
    work = np.empty(layout.workspace_size(layers, 2), dtype)
    start = np.array([1.0, 0.0], dtype)
    bad = 0 if case == "step" else 1   # the step's overflow needs no special sample

    # step on the failing sample alone: nothing changes.
    params, hyper = start.copy(), sgd_hyper(lr, dtype)
    _, done = training.step(params, layers, losses.SSE, X[bad:bad + 1], T[:1], labels, work,
                            optim.SGD, hyper, _state(params))
    assert done == expected
    np.testing.assert_array_equal(params, start)
    assert hyper[optim.STEPS] == 0

    # An epoch of batches of 1: it stops at the failing batch, the ones before done.
    params, hyper = start.copy(), sgd_hyper(lr, dtype)
    value, batches, done = _epoch(params, layers, losses.SSE, X, T, labels, 1,
                                  np.arange(2, dtype=np.int64), np.zeros(1, np.uint64), False,
                                  hyper)
    assert done == expected and batches == bad == hyper[optim.STEPS]
    replay, replay_hyper = start.copy(), sgd_hyper(lr, dtype)
    for i in range(bad):
        training.step(replay, layers, losses.SSE, X[i:i + 1], T[:1], labels, work, optim.SGD,
                      replay_hyper, _state(replay))
    np.testing.assert_array_equal(params, replay)
    assert value == pytest.approx(float(X[0, 0]) ** 2 * bad, rel=RTOL[dtype])   # batch 0's
