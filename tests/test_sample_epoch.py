"""Per-sample plain SGD: ``fit(batch_size=1)`` with SGD without momentum or
clipping runs ``_kernels.per_sample.sample_epoch``, and ``train_step`` on one
sample under that SGD runs ``sample_step``: both take the steps of
``sample_steps``, which fuse the backward pass with the update.  Both must give what the general
path gives (``epoch``, ``train_step`` on a batch, reached here with a clip
norm too large to clip anything) up to rounding, fail with the same reasons at
the same sample, and leave the parameters as they were before a failing
sample.
"""
import copy
import os
import re

import numba
import numpy as np
import pytest

import fastbp
from fastbp._kernels import entries

DTYPES = [np.float64, np.float32]
# After 2 x 23 steps; float64 results differ from the general path's by
# rounding only (a few 1e-16), float32 ones by a few ulps of float32.
TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=2e-5, atol=2e-6)}

CASES = {
    # name: (sizes, activations, loss, weight decay)
    "tanh-sse": ([4, 8, 2], ["tanh", "identity"], "sse", 0.0),
    "mse-decay": ([4, 8, 2], ["tanh", "identity"], "mse", 0.01),
    "deep-mixed": ([4, 6, 5, 7, 2], ["relu", "sigmoid", "softplus", "identity"], "sse", 0.0),
    "leaky-tanh-out": ([4, 8, 2], ["leaky_relu", "tanh"], "mse", 0.0),
    "labels": ([4, 8, 3], ["tanh", "softmax"], "cross_entropy", 0.0),
    "probabilities": ([4, 8, 3], ["tanh", "softmax"], "cross_entropy", 0.001),
    "softmax-sse": ([4, 8, 3], ["tanh", "softmax"], "sse", 0.0),
}


def problem(case, dtype, n=23):
    sizes, acts, loss, decay = CASES[case]
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    if case == "labels":
        T = rng.integers(0, sizes[-1], n)
    elif case == "probabilities":
        T = rng.dirichlet(np.ones(sizes[-1]), n).astype(dtype)
    else:
        T = (0.5 * rng.standard_normal((n, sizes[-1]))).astype(dtype)
    net = fastbp.Network(sizes, acts, dtype=dtype, seed=2)
    return net, X, T, loss, decay


def test_plain_sgd_selects_the_fused_epoch():
    def plain(opt):
        return opt.bind(np.zeros(3)).fused

    assert plain(fastbp.SGD(lr=0.1))
    assert plain(fastbp.SGD(lr=0.1, weight_decay=0.1))
    assert not plain(fastbp.SGD(lr=0.1, momentum=0.5))
    assert not plain(fastbp.SGD(lr=0.1, clip_norm=1.0))
    assert not plain(fastbp.Adam())
    assert not plain(fastbp.RMSprop())


def test_batches_of_one_run_the_fused_kernels(monkeypatch):
    """A spy on the entry point: batch 1 with plain SGD goes through it, other
    batch sizes and optimizers do not."""
    calls = []
    real = entries.BUILTIN

    class Spy:
        def __getattr__(self, name):
            if name in ("sample_epoch", "sample_step"):
                calls.append(name)
            return getattr(real, name)

    monkeypatch.setattr(entries, "BUILTIN", Spy())  # what new networks take
    net, X, T, loss, _ = problem("tanh-sse", np.float64)
    net.fit(X, T, epochs=2, batch_size=1, optimizer=fastbp.SGD(lr=0.01), progress=False)
    assert calls == ["sample_epoch"] * 2
    net.fit(X, T, epochs=1, batch_size=2, optimizer=fastbp.SGD(lr=0.01), progress=False)
    net.fit(X, T, epochs=1, batch_size=1, optimizer=fastbp.SGD(lr=0.01, momentum=0.1),
            progress=False)
    assert calls == ["sample_epoch"] * 2
    # train_step likewise, through sample_step.
    calls.clear()
    net.train_step(X[:1], T[:1], fastbp.SGD(lr=0.01))
    net.train_step(X[0], T[0], fastbp.SGD(lr=0.01, weight_decay=0.1))
    assert calls == ["sample_step"] * 2
    net.train_step(X[:2], T[:2], fastbp.SGD(lr=0.01))
    net.train_step(X[:1], T[:1], fastbp.SGD(lr=0.01, clip_norm=1.0))
    net.train_step(X[:1], T[:1], fastbp.Adam())
    assert calls == ["sample_step"] * 2


@pytest.mark.parametrize("step", ["fused", "general"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_fit_without_shuffle_equals_train_steps(case, dtype, step):
    """Against train_step on each sample: fused like fit's, or the general
    step (a clip norm too large to clip anything sends it there)."""
    net, X, T, loss, decay = problem(case, dtype)
    manual = copy.deepcopy(net)
    opt_fit = fastbp.SGD(lr=0.05, weight_decay=decay)
    opt_manual = fastbp.SGD(lr=0.05, weight_decay=decay,
                            clip_norm=1e30 if step == "general" else None)
    history = net.fit(X, T, epochs=2, batch_size=1, optimizer=opt_fit, loss=loss,
                      shuffle=False, progress=False)
    losses = []
    for _ in range(2):
        values = [manual.train_step(X[i:i + 1], T[i:i + 1], opt_manual, loss=loss)
                  for i in range(len(X))]
        losses.append(sum(values) if loss == "sse" else sum(values) / len(X))
    np.testing.assert_allclose(net.params, manual.params, **TOL[dtype])
    assert opt_fit.steps == opt_manual.steps == 2 * len(X)
    assert history.loss == pytest.approx(losses, rel=TOL[dtype]["rtol"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["tanh-sse", "labels", "deep-mixed"])
def test_shuffled_fit_equals_the_general_epoch(case, dtype):
    """Against ``fit`` through the general epoch (a clip norm too large to
    clip anything sends it there): same order of samples, same results."""
    net, X, T, loss, decay = problem(case, dtype)
    general = copy.deepcopy(net)
    h1 = net.fit(X, T, epochs=3, batch_size=1, optimizer=fastbp.SGD(lr=0.05), loss=loss,
                 seed=7, progress=False)
    h2 = general.fit(X, T, epochs=3, batch_size=1, loss=loss, seed=7, progress=False,
                     optimizer=fastbp.SGD(lr=0.05, clip_norm=1e30))
    np.testing.assert_allclose(net.params, general.params, **TOL[dtype])
    np.testing.assert_allclose(h1.loss, h2.loss, rtol=TOL[dtype]["rtol"])


def diverging(case):
    """(network, X, T, lr, the reason, the failing sample) for fit with shuffle off."""
    if case == "loss":          # the second sample's loss is (1e200)^2
        net = fastbp.Network([1, 1], ["identity"], seed=0)
        net.params = [1.0, 0.0]
        return net, [[1e-3], [1e200]], [[0.0], [0.0]], 1e-3, "the loss is not finite", 1
    if case == "gradient":      # loss 1e308, gradient 2e308
        net = fastbp.Network([1, 1], ["identity"], seed=0)
        net.params = [1.0, 0.0]
        return net, [[1e-3], [1e154]], [[0.0], [0.0]], 1e-3, "the gradient is not finite", 1
    if case == "late-gradient":
        # Finite loss (1e220) and top-layer gradient (2e220); the first layer's
        # weight gradient 2e110 * 1e200 overflows after the top layer has
        # been updated, so the fused update must undo it.
        net = fastbp.Network([1, 1, 1], ["identity", "identity"], seed=0)
        net.params = [1e-90, 0.0, 1.0, 0.0]
        return net, [[1.0], [1e200]], [[0.0], [0.0]], 1e-3, "the gradient is not finite", 1
    if case == "infinite-input":
        # The second sample's first layer gives inf, which tanh makes 1: the
        # loss is finite, the tanh layer's delta 0, and its weight gradient
        # 0 * inf = NaN, though no product of finite numbers overflows.
        net = fastbp.Network([1, 1, 1, 1], ["identity", "tanh", "identity"], seed=0)
        net.params = [1e200, 0.0, 1.0, 0.0, 1.0, 0.0]
        return net, [[1e-3], [1e200]], [[0.0], [0.0]], 1e-3, "the gradient is not finite", 1
    net = fastbp.Network([8, 16, 4], ["tanh", "identity"], seed=0)   # "step"
    return net, np.ones((2, 8)), np.zeros((2, 4)), 1e308, "would make a parameter non-finite", 0


@pytest.mark.parametrize("case", ["loss", "gradient", "late-gradient", "infinite-input", "step"])
def test_divergence_reasons_and_parameters(case):
    net, X, T, lr, reason, failing = diverging(case)
    replay = copy.deepcopy(net)
    for i in range(failing):  # the samples before the failing one, by train_step
        replay.train_step(np.array(X[i:i + 1]), np.array(T[i:i + 1]), fastbp.SGD(lr=lr))
    opt = fastbp.SGD(lr=lr)
    with pytest.raises(fastbp.DivergenceError, match=re.escape(reason)) as info:
        net.fit(X, T, epochs=2, batch_size=1, optimizer=opt, shuffle=False, progress=False)
    assert (info.value.epoch, info.value.batch) == (0, failing)
    np.testing.assert_array_equal(net.params, replay.params)
    assert opt.steps == failing
    # train_step, fused and general, refuses the same sample alike.
    for step_opt in (fastbp.SGD(lr=lr), fastbp.SGD(lr=lr, clip_norm=1e300)):
        with pytest.raises(fastbp.DivergenceError, match=re.escape(reason)):
            replay.train_step(np.array(X[failing:failing + 1]),
                              np.array(T[failing:failing + 1]), step_opt)
        np.testing.assert_array_equal(net.params, replay.params)
        assert step_opt.steps == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_batch_of_two_takes_the_general_step(dtype):
    net, X, T, loss, decay = problem("tanh-sse", dtype)
    general = copy.deepcopy(net)
    net.train_step(X[:2], T[:2], fastbp.SGD(lr=0.05), loss=loss)
    general.train_step(X[:2], T[:2], fastbp.SGD(lr=0.05, clip_norm=1e30), loss=loss)
    np.testing.assert_array_equal(net.params, general.params)


def test_float32_update_overflow_is_refused():
    """lr * step overflows float32 but not float64: the check is on the stored value."""
    net = fastbp.Network([8, 16, 4], ["tanh", "identity"], dtype=np.float32, seed=0)
    before = net.params.copy()
    with pytest.raises(fastbp.DivergenceError, match="would make a parameter non-finite"):
        net.fit(np.ones((3, 8), np.float32), np.zeros((3, 4), np.float32), epochs=1,
                batch_size=1, optimizer=fastbp.SGD(lr=1e39), progress=False)
    np.testing.assert_array_equal(net.params, before)


@numba.njit
def _cube(x):
    return x * x * x


@numba.njit
def _cube_derivative(x):
    return 3.0 * x * x


def test_registered_activation_takes_the_fused_path_too():
    fastbp.register_activation("sample_epoch_cube", _cube, _cube_derivative)
    net = fastbp.Network([3, 5, 2], ["sample_epoch_cube", "identity"], seed=0)
    manual = copy.deepcopy(net)
    rng = np.random.default_rng(0)
    X, T = 0.5 * rng.standard_normal((9, 3)), rng.standard_normal((9, 2))
    net.fit(X, T, epochs=1, batch_size=1, optimizer=fastbp.SGD(lr=0.05), shuffle=False,
            progress=False)
    fused = copy.deepcopy(manual)
    opt = fastbp.SGD(lr=0.05, clip_norm=1e30)  # the general step
    opt_fused = fastbp.SGD(lr=0.05)            # sample_step
    for i in range(len(X)):
        manual.train_step(X[i:i + 1], T[i:i + 1], opt)
        fused.train_step(X[i:i + 1], T[i:i + 1], opt_fused)
    np.testing.assert_allclose(net.params, manual.params, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(fused.params, net.params)


@pytest.mark.parametrize("case", ["tanh-sse", "labels"])
def test_train_step_of_one_sample_takes_read_only_arrays(case):
    """The fused step reads the target through views, never writes it."""
    net, X, T, loss, _ = problem(case, np.float64)
    writable = copy.deepcopy(net)
    X, T = X[:1].copy(), T[:1].copy()
    a = writable.train_step(X, T, fastbp.SGD(lr=0.05), loss=loss)
    X.flags.writeable = T.flags.writeable = False
    b = net.train_step(X, T, fastbp.SGD(lr=0.05), loss=loss)
    assert a == b
    np.testing.assert_array_equal(net.params, writable.params)


_GENERAL_FITS = """
import hashlib, sys
import numpy as np
import fastbp
from fastbp._kernels import entries
rng = np.random.default_rng(0)
X, T = rng.standard_normal((50, 4)), rng.standard_normal((50, 2))
if sys.argv[1] == "sample-first":  # the fused kernel, which reorders, compiles first
    warm = fastbp.Network([4, 6, 2], ["tanh", "identity"], seed=0)
    warm.fit(X[:3], T[:3], epochs=1, batch_size=1, optimizer=fastbp.SGD(lr=0.01),
             progress=False)
digest = hashlib.sha256()
for opt in (fastbp.SGD(lr=0.05, weight_decay=0.01), fastbp.Adam(lr=0.01)):
    net = fastbp.Network([4, 6, 2], ["tanh", "identity"], seed=0)
    net.fit(X, T, epochs=5, batch_size=4, shuffle=False, optimizer=opt, progress=False)
    digest.update(net.params.tobytes())
print(digest.hexdigest())
"""


def test_general_results_do_not_depend_on_which_kernel_compiled_first(tmp_path):
    """The helpers ``sample_steps`` shares with the general path (the SGD
    rule, the activation loops) must not take its flags when it happens to
    compile them first (numba then keeps and caches that version for every
    caller), should its flags ever differ from theirs.  Two cold processes: bit-identical parameters
    from the general path whether or not the fused kernel compiled first."""
    import subprocess
    import sys

    digests = {}
    for order in ("sample-first", "general-only"):
        env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / order))
        done = subprocess.run([sys.executable, "-c", _GENERAL_FITS, order], env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        digests[order] = done.stdout.strip()
    assert len(digests["general-only"]) == 64
    assert digests["sample-first"] == digests["general-only"]
