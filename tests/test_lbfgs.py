"""Full-batch L-BFGS through ``fit(optimizer=fastbp.LBFGS())``."""
import numpy as np
import pytest

import fastbp
from fastbp import layout


def smooth_problem(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    T = np.stack([np.sin(2 * X[:, 0]) * X[:, 1], np.cos(X[:, 0] + X[:, 1])], axis=1)
    return X, T


def test_lbfgs_beats_adam_in_the_same_number_of_gradient_evaluations():
    X, T = smooth_problem()
    lb_net = fastbp.Network([2, 16, 16, 2], ["tanh", "tanh", "identity"], seed=0)
    opt = fastbp.LBFGS()
    lb_net.fit(X, T, epochs=50, optimizer=opt, loss="mse", progress=False)
    evals = opt.evaluations
    assert 50 <= evals <= 80  # about one evaluation per iteration
    # Adam, full batch, one gradient evaluation per step; its learning rate is
    # the best of a small sweep so the comparison is fair to it.
    best_adam = np.inf
    for lr in (3e-3, 1e-2, 3e-2, 1e-1):
        net = fastbp.Network([2, 16, 16, 2], ["tanh", "tanh", "identity"], seed=0)
        net.fit(X, T, epochs=evals, batch_size=len(X), shuffle=False,
                optimizer=fastbp.Adam(lr=lr), loss="mse", progress=False)
        best_adam = min(best_adam, net.loss_and_gradient(X, T, "mse")[0])
    lb_loss = lb_net.loss_and_gradient(X, T, "mse")[0]
    # Seen: 1.3e-3 against Adam's best 7.3e-3 (lr=0.03) in 56 evaluations.
    assert lb_loss < 0.5 * best_adam, (lb_loss, best_adam)


def test_history_is_per_iteration_and_ends_at_the_final_parameters():
    X, T = smooth_problem(80)
    net = fastbp.Network([2, 8, 2], ["tanh", "identity"], seed=1)
    opt = fastbp.LBFGS(tol=0.0, ftol=0.0)
    history = net.fit(X, T, epochs=25, optimizer=opt, loss="mse", progress=False)
    assert len(history) == 25 == opt.result.nit
    assert np.all(np.diff(history.loss) <= 0)  # L-BFGS-B only accepts decreases
    assert history.loss[-1] == pytest.approx(net.loss_and_gradient(X, T, "mse")[0], rel=1e-12)
    assert opt.evaluations == opt.result.nfev >= 25


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", ["sse", "mse", "cross_entropy"])
def test_objective_over_chunks_is_the_loss_of_the_whole_set(loss, dtype):
    """More rows than one chunk: the chunked objective equals one big call."""
    n = layout.CHUNK_ROWS * 2 + 37
    rng = np.random.default_rng(2)
    X = rng.normal(size=(n, 3)).astype(dtype)
    if loss == "cross_entropy":
        net = fastbp.Network([3, 5, 4], ["tanh", "softmax"], dtype=dtype, seed=2)
        T = rng.integers(0, 4, n)
    else:
        net = fastbp.Network([3, 5, 2], ["sigmoid", "identity"], dtype=dtype, seed=2)
        T = rng.normal(size=(n, 2)).astype(dtype)
    from fastbp import _checks, lbfgs
    code = _checks.loss_code(loss, net.activations[-1])
    target, labels = _checks.targets(T, code, n, False, net.sizes[-1], net.dtype)
    decay = 0.3
    f = lbfgs.objective(net, net._engine, code, X, target, labels, decay)
    p = net.params.astype(np.float64)
    value, grad = f(p)
    want_value, want_grad = net.loss_and_gradient(X, T, loss)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert value == pytest.approx(want_value + 0.5 * decay * p @ p, rel=tol)
    np.testing.assert_allclose(grad, want_grad + decay * p, rtol=tol, atol=tol * np.abs(want_grad).max())
    assert grad.dtype == np.float64


def test_weight_decay_shrinks_the_parameters():
    X, T = smooth_problem(100)
    norms = []
    for decay in (0.0, 0.1):
        net = fastbp.Network([2, 8, 2], ["tanh", "identity"], seed=3)
        net.fit(X, T, epochs=100, optimizer=fastbp.LBFGS(weight_decay=decay), loss="mse",
                progress=False)
        norms.append(np.linalg.norm(net.params))
    assert norms[1] < 0.8 * norms[0]


def test_float32_classification_with_validation_and_early_stopping():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    net = fastbp.Network([4, 10, 3], ["tanh", "softmax"], dtype=np.float32, seed=4)
    history = net.fit(X[:200], y[:200], epochs=200, optimizer=fastbp.LBFGS(),
                      loss="cross_entropy", validation_data=(X[200:], y[200:]),
                      patience=5, progress=False)
    assert len(history.val_loss) == len(history) == len(history.val_accuracy)
    assert history.val_accuracy[history.best_epoch] > 0.85
    # Early stopping restored the best parameters.
    assert net.score(X[200:], y[200:]) == history.val_accuracy[history.best_epoch]
    assert net.params.dtype == np.float32


def test_a_callback_stops_lbfgs_and_zero_epochs_change_nothing():
    X, T = smooth_problem(50)
    net = fastbp.Network([2, 4, 2], ["tanh", "identity"], seed=5)
    before = net.params.copy()
    history = net.fit(X, T, epochs=0, optimizer=fastbp.LBFGS(), progress=False)
    assert len(history) == 0 and np.array_equal(net.params, before)
    calls = []
    history = net.fit(X, T, epochs=50, optimizer=fastbp.LBFGS(tol=0.0, ftol=0.0),
                      loss="mse", progress=False,
                      callbacks=[lambda n, h: calls.append(len(h)) or len(h) == 3])
    assert calls == [1, 2, 3] and len(history) == 3
    assert history.loss[-1] == pytest.approx(net.loss_and_gradient(X, T, "mse")[0], rel=1e-12)


def test_max_evals_bounds_the_evaluations():
    X, T = smooth_problem(50)
    net = fastbp.Network([2, 4, 2], ["tanh", "identity"], seed=6)
    opt = fastbp.LBFGS(max_evals=7, tol=0.0, ftol=0.0)
    net.fit(X, T, epochs=100, optimizer=opt, loss="mse", progress=False)
    # SciPy checks maxfun after each iteration's line search, so it may overrun
    # by that line search's evaluations (at most 20).
    assert 7 <= opt.evaluations <= 7 + 20
    assert opt.result.nit < 100


@pytest.mark.parametrize("kwargs, name", [
    ({"history": 0}, "history"), ({"tol": -1.0}, "tol"), ({"max_evals": 0}, "max_evals"),
    ({"weight_decay": -0.1}, "weight_decay"), ({"ftol": float("nan")}, "ftol")])
def test_bad_settings_are_refused(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        fastbp.LBFGS(**kwargs)


def test_train_step_refuses_lbfgs():
    net = fastbp.Network([2, 3, 1], ["tanh", "identity"])
    with pytest.raises(TypeError, match="optimizer.*LBFGS.*fit"):
        net.train_step(np.zeros(2), np.zeros(1), fastbp.LBFGS())
