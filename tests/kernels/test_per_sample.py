"""``_kernels.per_sample``: the fused steps of one sample under plain SGD.

``sample_epoch`` and ``sample_step`` must give what the general path gives
(``training.epoch`` with batches of one, ``training.step``) to rounding, with
the same statuses; and ``sample_steps``' own copy of ``passes.forward_at``
for one sample must compute what forward_at computes.
"""
import numpy as np
import pytest

from fastbp import layout
from fastbp._kernels import losses, optim, passes, per_sample, status, training
from fastbp._kernels.layout import regions, row_width

from ._common import DTYPES, diverging, sgd_hyper, table, targets_of

N = 12
# name: (sizes, activations, loss, kind of target, weight decay)
NETS = {
    "sse": ([4, 8, 2], ["tanh", "identity"], "sse", "rows", 0.0),
    "mse-decay": ([4, 8, 2], ["leaky_relu", "tanh"], "mse", "rows", 0.01),
    "deep": ([4, 6, 5, 7, 2], ["relu", "sigmoid", "softplus", "identity"], "sse", "rows", 0.0),
    "labels": ([4, 8, 3], ["tanh", "softmax"], "cross_entropy", "labels", 0.0),
    "probs": ([4, 8, 3], ["softmax", "softmax"], "cross_entropy", "probs", 0.001),
}
# The fused update does the general path's operations in its order
# (optim.plain_sgd on d * x); what differs is the products' summation order
# (dense's reordered loops against the fused row-by-row sums).  So rounding
# only: an ulp or two per step over 2 x 12 steps, relative to the largest
# parameter (observed 2e-16 in float64, 1.5e-7 in float32, whose unit roundoff
# is 6e-8).  The bounds leave a factor of 10 or more; a wrong term or a
# skipped update is off by O(lr).
TOL = {np.float64: 1e-12, np.float32: 2e-6}


def _problem(name, dtype):
    sizes, names, loss, kind, decay = NETS[name]
    rng = np.random.default_rng(list(NETS).index(name))
    params = np.concatenate([rng.normal(0, 1 / np.sqrt(a), a * b + b)
                             for a, b in zip(sizes[:-1], sizes[1:])]).astype(dtype)
    X = rng.normal(size=(N, sizes[0])).astype(dtype)
    target, labels = targets_of(kind, rng, N, sizes[-1], dtype)
    return table(sizes, names), losses.CODES[loss], params, X, target, labels, decay


def _close(got, want, dtype, what):
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype] * np.abs(want).max(),
                               err_msg=what)


def _general_epoch(params, layers, code, X, target, labels, order, rng, reshuffle, hyper):
    """training.epoch with batches of 1 (buffers as fit makes them)."""
    n_in, k = X.shape[1], layers[-1, layout.N_OUT]
    tb = target[:0] if labels.size else np.empty((1, k), X.dtype)
    lb = np.empty(1, np.int64) if labels.size else labels
    work = np.empty(layout.workspace_size(layers, 1), X.dtype)
    return training.epoch(params, layers, code, X, target, labels, np.int64(1), order, rng,
                          reshuffle, np.empty(n_in, X.dtype), tb, lb, work, optim.SGD, hyper,
                          np.zeros((2, params.size), X.dtype))


def _fused_epoch(params, layers, code, X, target, labels, order, rng, reshuffle, hyper):
    work = np.empty(layout.workspace_size(layers, 1), X.dtype)
    return per_sample.sample_epoch(params, layers, code, X, target, labels, order, rng,
                                   reshuffle, work, hyper)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reshuffle", [False, True])
@pytest.mark.parametrize("name", list(NETS))
def test_sample_epoch_is_the_general_epoch_of_batches_of_one(name, reshuffle, dtype):
    layers, code, params, X, target, labels, decay = _problem(name, dtype)
    runs = []
    for epoch in (_fused_epoch, _general_epoch):
        p, hyper = params.copy(), sgd_hyper(0.05, dtype, decay)
        order, rng = np.arange(N, dtype=np.int64), np.array([5], np.uint64)
        results = [epoch(p, layers, code, X, target, labels, order, rng, reshuffle, hyper)
                   for _ in range(2)]
        runs.append((p, hyper, order, rng, results))
    (fused, fused_hyper, fused_order, fused_rng, fused_results), general = runs[0], runs[1]
    for (value, batches, done), (want, want_batches, want_done) in zip(fused_results,
                                                                       general[4]):
        assert (batches, done) == (want_batches, want_done) == (N, status.OK)
        assert value == pytest.approx(want, rel=TOL[dtype])
    _close(fused, general[0], dtype, "params")
    assert fused_hyper[optim.STEPS] == general[1][optim.STEPS] == 2 * N
    np.testing.assert_array_equal(fused_order, general[2])
    np.testing.assert_array_equal(fused_rng, general[3])
    assert not np.array_equal(fused, params)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(NETS))
def test_sample_step_is_the_general_step_on_one_sample(name, dtype):
    layers, code, params, X, target, labels, decay = _problem(name, dtype)
    fused, general = params.copy(), params.copy()
    h1, h2 = sgd_hyper(0.05, dtype, decay), sgd_hyper(0.05, dtype, decay)
    work = np.empty(layout.workspace_size(layers, 1), dtype)
    for r in range(3):
        t, lab = (target, labels[r:r + 1]) if labels.size else (target[r:r + 1], labels)
        value, done = per_sample.sample_step(fused, layers, code, X[r:r + 1], t, lab, work, h1)
        want, want_done = training.step(general, layers, code, X[r:r + 1], t, lab, work,
                                        optim.SGD, h2, np.zeros((2, params.size), dtype))
        assert done == want_done == status.OK
        assert value == pytest.approx(want, rel=TOL[dtype])
        _close(fused, general, dtype, f"params after {r + 1} steps")
    assert h1[optim.STEPS] == h2[optim.STEPS] == 3


def _forward_left_in_work(layers, work):
    """(pre-activations, outputs) of every layer for one sample, as a pass
    leaves them in ``work``: units entries each from pre0 and out0."""
    _, pre0, out0, _, _ = regions(layers, work)
    units = row_width(layers)[1]
    return work[pre0:pre0 + units].copy(), work[out0:out0 + units].copy()


def _predicted(params, layers, x, work_size):
    """What forward_at leaves in a workspace of the same size, through predict."""
    work = np.full(work_size, np.nan, x.dtype)
    result = np.empty((1, layers[-1, layout.N_OUT]), x.dtype)
    assert passes.predict(params, layers, x[None], work, result) == status.OK
    return _forward_left_in_work(layers, work)


WIDE = ([100, 96, 3], ["tanh", "identity"])   # 9600 weights: forward takes gemm for one row


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(NETS) + ["wide"])
def test_the_fused_forward_is_forward_at(name, dtype):
    """At lr = 0 a step changes no parameter; the pre-activations and outputs
    it leaves in the workspace are its copy of forward_at's for that sample.
    Bit for bit where dense.forward loops (forward_row is its loop); where a
    layer has BLAS_MIN weights or more, forward calls gemm for one sample and
    the copy keeps its loop: to rounding there."""
    if name == "wide":
        rng = np.random.default_rng(9)
        (sizes, names), code = WIDE, losses.SSE
        layers = table(sizes, names)
        params = rng.normal(0, 0.1, layout.n_params(layers)).astype(dtype)
        X = rng.normal(size=(N, sizes[0])).astype(dtype)
        target, labels = rng.normal(size=(N, 3)).astype(dtype), np.empty(0, np.int64)
    else:
        layers, code, params, X, target, labels, _ = _problem(name, dtype)
    work = np.full(layout.workspace_size(layers, 1), np.nan, dtype)
    hyper, before = sgd_hyper(0.0, dtype), params.copy()
    exact = name != "wide"

    def same(got, want, what):
        if exact:
            np.testing.assert_array_equal(got, want, err_msg=what)
        else:
            _close(got, want, dtype, what)

    r = 4
    t, lab = (target, labels[r:r + 1]) if labels.size else (target[r:r + 1], labels)
    per_sample.sample_step(params, layers, code, X[r:r + 1], t, lab, work, hyper)
    np.testing.assert_array_equal(params, before)
    for got, want, what in zip(_forward_left_in_work(layers, work),
                               _predicted(params, layers, X[r], work.size),
                               ["pre-activations", "outputs"]):
        same(got, want, what)
    # sample_epoch through a shuffled order: the last sample's are left.
    order = np.arange(N, dtype=np.int64)
    per_sample.sample_epoch(params, layers, code, X, target, labels, order,
                            np.array([3], np.uint64), True, work, hyper)
    np.testing.assert_array_equal(params, before)
    for got, want, what in zip(_forward_left_in_work(layers, work),
                               _predicted(params, layers, X[order[-1]], work.size),
                               ["pre-activations", "outputs"]):
        same(got, want, what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["loss", "gradient", "step"])
def test_statuses_and_parameters_are_the_general_epochs(case, dtype):
    layers = table([1, 1], ["identity"])
    X, lr, expected = diverging(case, dtype)
    T, labels = np.zeros((2, 1), dtype), np.empty(0, np.int64)
    outcomes = []
    for epoch in (_fused_epoch, _general_epoch):
        params, hyper = np.array([1.0, 0.0], dtype), sgd_hyper(lr, dtype)
        value, batches, done = epoch(params, layers, losses.SSE, X, T, labels,
                                     np.arange(2, dtype=np.int64), np.zeros(1, np.uint64),
                                     False, hyper)
        outcomes.append((value, batches, done, params, hyper[optim.STEPS]))
    (value, batches, done, params, steps), want = outcomes
    assert done == want[2] == expected and batches == want[1] == steps == want[4]
    assert value == want[0]
    np.testing.assert_array_equal(params, want[3])
