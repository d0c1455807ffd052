"""Training: ``fit`` and ``train_step`` and what surrounds them.

Covers: digits to >= 95 % test accuracy; seeded runs bit-identical, other
seeds different; ``shuffle=False`` equal to a manual loop of ``train_step``;
``History`` contents; the epoch loss; divergence (``fastbp.DivergenceError``,
parameters kept from before the failing batch) in ``fit`` and ``train_step``;
early stopping; callbacks; KeyboardInterrupt; the prediction helpers and
``score``; ``train_step`` allocating nothing in steady state; concurrent
``forward`` calls; float32 and float64.
"""
import copy
import re
import threading
import tracemalloc

import numpy as np
import pytest

import fastbp

DTYPES = [np.float64, np.float32]


def regression_data(n=23, n_in=4, n_out=2, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    T = np.tanh(X @ rng.standard_normal((n_in, n_out))) + 0.1 * rng.standard_normal((n, n_out))
    return X.astype(dtype), T.astype(dtype)


def classification_data(n=40, n_in=5, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    y = np.argmax(X @ rng.standard_normal((n_in, n_classes)), axis=1)
    return X, y


def regression_net(dtype=np.float64, seed=0, sizes=(4, 8, 2)):
    return fastbp.Network(sizes, ["tanh"] * (len(sizes) - 2) + ["identity"], dtype=dtype,
                          seed=seed)


def classifier(dtype=np.float64, seed=0):
    return fastbp.Network([5, 12, 3], ["tanh", "softmax"], dtype=dtype, seed=seed)


# --- digits ------------------------------------------------------------------------

def test_fit_digits_reaches_95_percent():
    datasets = pytest.importorskip("sklearn.datasets")
    selection = pytest.importorskip("sklearn.model_selection")
    X, y = datasets.load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = selection.train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y)
    net = fastbp.Network([64, 64, 10], ["tanh", "softmax"], seed=0)
    history = net.fit(X_train, y_train, epochs=30, batch_size=32,
                      optimizer=fastbp.Adam(lr=3e-3), loss="cross_entropy", seed=0,
                      validation_data=(X_test, y_test), progress=False)
    accuracy = net.score(X_test, y_test)
    assert accuracy >= 0.95, accuracy
    assert history.val_accuracy[-1] == pytest.approx(accuracy, abs=1e-12)
    assert history.loss[-1] < history.loss[0] / 5


# --- reproducibility and the shuffle -----------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_seeded_runs_are_bit_identical_and_the_seed_matters(dtype):
    X, T = regression_data(n=50, dtype=dtype)

    def run(net_seed, fit_seed):
        net = regression_net(dtype, seed=net_seed)
        history = net.fit(X, T, epochs=4, batch_size=8, optimizer=fastbp.Adam(lr=0.01),
                          loss="mse", seed=fit_seed, progress=False)
        return net.params.copy(), history.loss

    first, loss1 = run(0, 7)
    second, loss2 = run(0, 7)
    assert np.array_equal(first, second) and loss1 == loss2
    other_fit_seed, _ = run(0, 8)
    assert not np.array_equal(first, other_fit_seed)
    other_net_seed, _ = run(1, 7)
    assert not np.array_equal(first, other_net_seed)


def test_without_shuffle_the_fit_seed_does_not_matter():
    X, T = regression_data()
    results = []
    for seed in (1, 2, None):
        net = regression_net()
        net.fit(X, T, epochs=3, batch_size=5, optimizer=fastbp.SGD(lr=0.05), loss="sse",
                shuffle=False, seed=seed, progress=False)
        results.append(net.params.copy())
    assert all(np.array_equal(results[0], r) for r in results[1:])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["sse", "mse", "cross_entropy"])
def test_fit_without_shuffle_equals_manual_train_steps(dtype, loss):
    """23 samples in batches of 5: four of 5, then one of 3; two epochs."""
    if loss == "cross_entropy":
        X, T = classification_data(n=23)
        X = X.astype(dtype)
        net = classifier(dtype)
    else:
        X, T = regression_data(n=23, dtype=dtype)
        net = regression_net(dtype)
    manual = copy.deepcopy(net)
    opt_fit, opt_manual = fastbp.Adam(lr=0.01), fastbp.Adam(lr=0.01)
    history = net.fit(X, T, epochs=2, batch_size=5, optimizer=opt_fit, loss=loss,
                      shuffle=False, seed=0, progress=False)
    epoch_losses = []
    for _ in range(2):
        values, sizes = [], []
        for lo in range(0, 23, 5):
            values.append(manual.train_step(X[lo:lo + 5], T[lo:lo + 5], opt_manual, loss=loss))
            sizes.append(len(X[lo:lo + 5]))
        assert sizes == [5, 5, 5, 5, 3]
        if loss == "sse":
            epoch_losses.append(sum(values))
        else:  # batch means weighted by batch size: the mean over the epoch
            epoch_losses.append(sum(v * m for v, m in zip(values, sizes)) / 23)
    assert np.array_equal(net.params, manual.params)
    assert opt_fit.steps == opt_manual.steps == 10
    assert history.loss == pytest.approx(epoch_losses, rel=1e-12)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("loss", ["sse", "mse", "cross_entropy"])
def test_full_batch_epoch_loss_is_the_loss_before_the_step(loss, shuffle):
    """One full batch per epoch: the epoch's loss is loss_and_gradient's before the step.

    Without shuffling the rows are summed in the same order: equal.  Shuffled,
    the same rows are summed in another order: equal up to rounding.
    """
    if loss == "cross_entropy":
        X, T = classification_data()
        net = classifier()
    else:
        X, T = regression_data()
        net = regression_net()
    opt = fastbp.SGD(lr=0.01)
    for _ in range(3):
        before, grad = net.loss_and_gradient(X, T, loss=loss)
        params = net.params.copy()
        history = net.fit(X, T, epochs=1, batch_size=len(X), optimizer=opt, loss=loss,
                          shuffle=shuffle, progress=False)
        assert len(history.loss) == 1
        if loss == "sse" and not shuffle:
            assert history.loss[0] == before
        else:
            assert history.loss[0] == pytest.approx(before, rel=1e-14)
        # ... and the step was the SGD step on that batch's gradient.
        np.testing.assert_allclose(net.params, params - 0.01 * grad, rtol=1e-12, atol=1e-15)


# --- History --------------------------------------------------------------------

def test_history_with_validation_data():
    X, y = classification_data(n=60)
    Xv, yv = classification_data(n=25, seed=1)
    net = classifier()
    seen = []

    def record(net, history):
        value, _ = net.loss_and_gradient(Xv, yv, loss="cross_entropy")
        seen.append((value, net.score(Xv, yv), len(history)))

    history = net.fit(X, y, epochs=4, batch_size=16, optimizer=fastbp.Adam(lr=0.01),
                      loss="cross_entropy", seed=0, validation_data=(Xv, yv),
                      callbacks=[record], progress=False)
    assert len(history) == 4
    for name in ("loss", "val_loss", "val_accuracy", "time"):
        values = getattr(history, name)
        assert isinstance(values, list) and len(values) == 4, name
        assert all(isinstance(v, float) and np.isfinite(v) for v in values), name
    assert all(t > 0 for t in history.time)
    assert history.loss[-1] < history.loss[0]
    assert [s[2] for s in seen] == [1, 2, 3, 4]
    assert history.val_loss == pytest.approx([s[0] for s in seen], rel=1e-12)
    assert history.val_accuracy == pytest.approx([s[1] for s in seen], abs=1e-15)
    assert history.best_epoch is None
    assert not history.stopped_early and not history.interrupted
    assert history.as_dict() == {"loss": history.loss, "val_loss": history.val_loss,
                                 "val_accuracy": history.val_accuracy, "time": history.time}
    assert "4 epochs" in repr(history)


def test_history_with_one_hot_validation_targets():
    X, y = classification_data(n=60)
    Xv, yv = classification_data(n=25, seed=1)
    labels, one_hot = classifier(), classifier()
    a = labels.fit(X, y, epochs=2, optimizer=fastbp.SGD(lr=0.1), loss="cross_entropy",
                   seed=0, validation_data=(Xv, yv), progress=False)
    b = one_hot.fit(X, np.eye(3)[y], epochs=2, optimizer=fastbp.SGD(lr=0.1),
                    loss="cross_entropy", seed=0, validation_data=(Xv, np.eye(3)[yv]),
                    progress=False)
    assert a.val_accuracy == b.val_accuracy
    assert b.val_loss == pytest.approx(a.val_loss, rel=1e-12)


def test_history_regression_has_no_accuracy_and_without_validation_no_val_loss():
    X, T = regression_data()
    net = regression_net()
    history = net.fit(X, T, epochs=3, batch_size=8, optimizer=fastbp.SGD(lr=0.01),
                      loss="mse", validation_data=regression_data(n=9, seed=5),
                      progress=False)
    assert len(history.val_loss) == 3 and history.val_accuracy == []
    history = net.fit(X, T, epochs=3, batch_size=8, optimizer=fastbp.SGD(lr=0.01),
                      loss="mse", progress=False)
    assert len(history.loss) == 3 and history.val_loss == [] and history.val_accuracy == []


def test_zero_epochs_change_nothing():
    X, T = regression_data()
    net = regression_net()
    before = net.params.copy()
    opt = fastbp.Adam()
    history = net.fit(X, T, epochs=0, optimizer=opt, progress=False)
    assert len(history) == 0 and opt.steps == 0
    np.testing.assert_array_equal(net.params, before)


# --- divergence ------------------------------------------------------------------

def optimizer_snapshot(opt):
    saved = opt.state_dict()
    state = None if saved["state"] is None else saved["state"].copy()
    return saved["steps"], saved["epoch"], state


def assert_same_optimizer(opt, snapshot):
    steps, epoch, state = optimizer_snapshot(opt)
    assert (steps, epoch) == snapshot[:2]
    if snapshot[2] is None:
        assert state is None
    else:
        np.testing.assert_array_equal(state, snapshot[2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make_opt", [lambda: fastbp.SGD(lr=1e6),
                                      lambda: fastbp.SGD(lr=0.5, momentum=0.9)],
                         ids=["sgd-1e6", "sgd-momentum"])
def test_train_step_divergence_keeps_parameters_and_state(dtype, make_opt):
    X, T = regression_data(n=40, dtype=dtype)
    net = regression_net(dtype)
    opt = make_opt()
    for step in range(2000):
        lo = (step % 5) * 8
        params, state = net.params.copy(), optimizer_snapshot(opt)
        try:
            net.train_step(X[lo:lo + 8], T[lo:lo + 8], opt, loss="sse")
        except fastbp.DivergenceError as exc:
            error = exc
            break
    else:
        pytest.fail("training did not diverge")
    assert step > 0  # some steps succeeded first
    assert isinstance(error, FloatingPointError)
    assert error.epoch == 0 and error.batch == 0
    assert re.search(r"epoch 0, batch 0", str(error)), str(error)
    # The failing call wrote nothing.
    assert np.all(np.isfinite(net.params))
    np.testing.assert_array_equal(net.params, params)
    assert_same_optimizer(opt, state)
    assert opt.steps == step


def assert_untouched(net, before, opt):
    np.testing.assert_array_equal(net.params, before)
    assert opt.steps == 0
    state = opt.state_dict()["state"]
    assert state is not None and not np.any(state)


@pytest.mark.parametrize("make_opt", [
    lambda: fastbp.SGD(lr=1e-3, momentum=0.5),
    lambda: fastbp.SGD(lr=1e-3),                  # one pass, its own gradient check
    lambda: fastbp.SGD(lr=1e-3, clip_norm=1.0),   # one pass after clip_scale's check
], ids=["momentum", "plain", "plain-clipped"])
@pytest.mark.parametrize("case", ["loss", "gradient"])
def test_train_step_divergence_reasons(case, make_opt):
    """The loss overflows, or the loss is finite but the gradient overflows."""
    net = fastbp.Network([1, 1], ["identity"], seed=0)
    net.params = [1.0, 0.0]  # y = x
    x, reason = {
        "loss": (1e200, "the loss is not finite"),          # (1e200)^2
        "gradient": (1e154, "the gradient is not finite"),  # loss 1e308, gradient 2e308
    }[case]
    opt = make_opt()
    opt.epoch = 3
    with pytest.raises(fastbp.DivergenceError, match=re.escape(reason)) as info:
        net.train_step([[x]], [[0.0]], opt, loss="sse")
    assert "epoch 3, batch 0" in str(info.value)
    assert (info.value.epoch, info.value.batch) == (3, 0)
    assert_untouched(net, [1.0, 0.0], opt)


def overflow_lr(dtype):
    """Finite as a float64 hyperparameter; lr * step overflows the parameter dtype."""
    return 1e308 if dtype == np.float64 else 1e39


OVERFLOW_OPTIMIZERS = {
    "sgd": lambda lr: fastbp.SGD(lr=lr),
    "sgd-nesterov": lambda lr: fastbp.SGD(lr=lr, momentum=0.5, nesterov=True),
    "adam": lambda lr: fastbp.Adam(lr=lr),
    "adamw": lambda lr: fastbp.AdamW(lr=lr),
    "rmsprop": lambda lr: fastbp.RMSprop(lr=lr, momentum=0.5),
}


@pytest.mark.parametrize("name", list(OVERFLOW_OPTIMIZERS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_train_step_update_overflow_is_refused(dtype, name):
    """Finite loss and gradient, but lr * step overflows: nothing is written.

    Guards two ways to miss it: a finiteness test that fastmath folds away
    (x - x), and for float32 testing the float64 candidate, which is finite,
    rather than the value as stored.
    """
    net = fastbp.Network([8, 16, 4], ["tanh", "identity"], dtype=dtype, seed=0)
    before = net.params.copy()
    opt = OVERFLOW_OPTIMIZERS[name](overflow_lr(dtype))
    X, T = np.ones((3, 8)), np.zeros((3, 4))
    with pytest.raises(fastbp.DivergenceError,
                       match=re.escape("would make a parameter non-finite")) as info:
        net.train_step(X, T, opt, loss="sse")
    assert (info.value.epoch, info.value.batch) == (0, 0)
    assert_untouched(net, before, opt)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_update_overflow_at_the_first_batch_keeps_the_initial_parameters(dtype):
    X, T = regression_data(n=40, dtype=dtype)
    net = regression_net(dtype)
    before = net.params.copy()
    opt = fastbp.SGD(lr=overflow_lr(dtype))
    with pytest.raises(fastbp.DivergenceError) as info:
        net.fit(X, T, epochs=3, batch_size=8, optimizer=opt, loss="sse", progress=False)
    assert (info.value.epoch, info.value.batch) == (0, 0), str(info.value)
    assert "would make a parameter non-finite" in str(info.value)
    np.testing.assert_array_equal(net.params, before)
    assert opt.steps == 0


def _diverging_fit(seed):
    X, T = regression_data(n=40)
    net = regression_net()
    with pytest.raises(fastbp.DivergenceError) as info:
        net.fit(X, T, epochs=200, batch_size=8, optimizer=fastbp.SGD(lr=1.0), loss="sse",
                seed=seed, progress=False)
    return net, info.value


def test_fit_divergence_with_shuffle_keeps_finite_parameters_of_a_replay():
    """With shuffling the replay is fit itself: the same seed stops at the same
    place with the same parameters; when the failing batch is the first of its
    epoch, a fit of the epochs before it is a complete replay."""
    X, T = regression_data(n=40)
    for seed in range(40):
        net, error = _diverging_fit(seed)
        again, error_again = _diverging_fit(seed)
        assert (error.epoch, error.batch) == (error_again.epoch, error_again.batch)
        assert f"epoch {error.epoch}, batch {error.batch}" in str(error)
        np.testing.assert_array_equal(net.params, again.params)
        assert np.all(np.isfinite(net.params))
        if error.batch == 0 and error.epoch > 0:
            break
    else:
        pytest.fail("no seed in range(40) diverged at the first batch of an epoch")
    replay = regression_net()
    replay.fit(X, T, epochs=error.epoch, batch_size=8, optimizer=fastbp.SGD(lr=1.0),
               loss="sse", seed=seed, progress=False)
    np.testing.assert_array_equal(net.params, replay.params)


# --- early stopping, callbacks, interrupts ---------------------------------------

def overfitting_problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    T = np.sin(X.sum(axis=1, keepdims=True)) + 0.5 * rng.standard_normal((30, 1))
    Xv = rng.standard_normal((30, 4))
    Tv = np.sin(Xv.sum(axis=1, keepdims=True))
    net = fastbp.Network([4, 32, 1], ["tanh", "identity"], seed=0)
    return net, X, T, (Xv, Tv)


def test_early_stopping_restores_the_best_parameters():
    net, X, T, validation = overfitting_problem()
    snapshots = []
    patience = 5
    history = net.fit(X, T, epochs=200, batch_size=10, optimizer=fastbp.Adam(lr=0.02),
                      loss="mse", seed=0, validation_data=validation, patience=patience,
                      callbacks=[lambda n, h: snapshots.append(n.params.copy())],
                      progress=False)
    assert history.stopped_early
    best = int(np.argmin(history.val_loss))
    assert history.best_epoch == best > 0
    assert len(history) == best + patience + 1 < 200
    assert all(v >= history.val_loss[best] for v in history.val_loss[best + 1:])
    np.testing.assert_array_equal(net.params, snapshots[best])
    assert not np.array_equal(net.params, snapshots[-1])
    # The restored parameters give the best validation loss.
    value, _ = net.loss_and_gradient(*validation, loss="mse")
    assert value == pytest.approx(history.val_loss[best], rel=1e-12)


def test_early_stopping_min_delta_and_training_loss():
    """Without validation data the training loss is watched; min_delta makes
    small improvements not count."""
    net, X, T, _ = overfitting_problem()
    strict = copy.deepcopy(net)
    history = net.fit(X, T, epochs=300, batch_size=30, optimizer=fastbp.SGD(lr=1e-3),
                      loss="mse", patience=2, min_delta=1e-3, progress=False)
    # The full-batch loss falls slowly and steadily: by less than 1e-3 per epoch.
    assert history.stopped_early and len(history) < 300
    steps = -np.diff(history.loss)
    assert np.all(steps > 0)
    history_strict = strict.fit(X, T, epochs=20, batch_size=30, optimizer=fastbp.SGD(lr=1e-3),
                                loss="mse", patience=2, progress=False)
    assert not history_strict.stopped_early and len(history_strict) == 20
    assert history_strict.best_epoch == 19


def test_callbacks_are_called_once_per_epoch_and_true_stops():
    X, T = regression_data()
    net = regression_net()
    calls_a, calls_b = [], []

    def a(n, h):
        assert n is net and isinstance(h, fastbp.History)
        calls_a.append((len(h), n.params.copy()))
        return len(h) == 3  # stop after the third epoch

    def b(n, h):
        calls_b.append(len(h))
        return None

    history = net.fit(X, T, epochs=10, batch_size=8, optimizer=fastbp.SGD(lr=0.01),
                      loss="mse", callbacks=[a, b], progress=False)
    assert len(history) == 3
    assert [c[0] for c in calls_a] == [1, 2, 3] and calls_b == [1, 2, 3]
    assert not history.stopped_early and not history.interrupted
    np.testing.assert_array_equal(calls_a[-1][1], net.params)


def test_non_callable_callback_is_refused_before_training():
    X, T = regression_data()
    net = regression_net()
    before = net.params.copy()
    with pytest.raises(TypeError, match=r"callbacks\[1\]"):
        net.fit(X, T, epochs=2, callbacks=[lambda n, h: None, "stop"], progress=False)
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("shuffle", [False, True])
def test_keyboard_interrupt_in_a_callback_returns_the_history_so_far(shuffle):
    """Ctrl-C during epoch 2's callback: fit returns, interrupted, three epochs
    recorded, the parameters those after three complete epochs."""
    X, T = regression_data(n=40)
    net = regression_net()
    reference = copy.deepcopy(net)
    calls = []

    def interrupt(n, h):
        calls.append(len(h))
        if len(h) == 3:  # epoch 2 (0-based) has just finished
            raise KeyboardInterrupt

    opt = fastbp.Adam(lr=0.01)
    history = net.fit(X, T, epochs=10, batch_size=8, optimizer=opt, loss="mse",
                      shuffle=shuffle, seed=5, callbacks=[interrupt], progress=False)
    assert history.interrupted and not history.stopped_early
    assert calls == [1, 2, 3]
    assert len(history) == len(history.time) == 3
    ref_opt = fastbp.Adam(lr=0.01)
    ref_history = reference.fit(X, T, epochs=3, batch_size=8, optimizer=ref_opt, loss="mse",
                                shuffle=shuffle, seed=5, progress=False)
    assert history.loss == ref_history.loss
    np.testing.assert_array_equal(net.params, reference.params)
    assert opt.steps == ref_opt.steps == 15 and opt.epoch == 3
    np.testing.assert_array_equal(opt.state_dict()["state"], ref_opt.state_dict()["state"])


# --- predictions and score --------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_helpers(dtype):
    X, y = classification_data(n=30)
    net = classifier(dtype)
    net.fit(X, y, epochs=5, optimizer=fastbp.Adam(lr=0.02), loss="cross_entropy", seed=0,
            progress=False)
    out = net.forward(X)
    np.testing.assert_array_equal(net.predict(X), out)
    proba = net.predict_proba(X)
    assert proba.dtype == dtype and proba.shape == (30, 3)
    np.testing.assert_array_equal(proba, out)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6 if dtype == np.float32 else 1e-14)
    classes = net.predict_classes(X)
    assert classes.shape == (30,) and classes.dtype.kind == "i"
    np.testing.assert_array_equal(classes, np.argmax(out, axis=1))
    assert net.predict_classes(X[3]) == classes[3]
    np.testing.assert_array_equal(net.predict_proba(X[3]), out[3])


def test_predict_proba_and_classes_need_softmax():
    net = regression_net()
    with pytest.raises(ValueError, match="softmax"):
        net.predict_proba(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="softmax"):
        net.predict_classes(np.zeros((2, 4)))


def test_score_is_accuracy_for_labels_and_one_hot():
    X, y = classification_data(n=50)
    net = classifier()
    net.fit(X, y, epochs=3, optimizer=fastbp.SGD(lr=0.05), loss="cross_entropy", seed=0,
            progress=False)
    expected = np.mean(net.predict_classes(X) == y)
    assert 0 < expected < 1
    assert net.score(X, y) == expected
    assert net.score(X, np.eye(3)[y]) == expected
    assert net.score(X, y.astype(np.int32)) == expected
    assert net.score(X[0], y[0]) == float(net.predict_classes(X[0]) == y[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_out", [1, 3])
def test_score_is_r2_for_regression(dtype, n_out):
    metrics = pytest.importorskip("sklearn.metrics")
    X, T = regression_data(n=40, n_out=n_out, dtype=dtype)
    net = regression_net(dtype, sizes=(4, 8, n_out))
    net.fit(X, T, epochs=10, optimizer=fastbp.Adam(lr=0.02), loss="mse", seed=0,
            progress=False)
    Y = net.forward(X).astype(np.float64)
    expected = metrics.r2_score(T.astype(np.float64), Y)
    assert 0 < expected < 1
    assert net.score(X, T) == pytest.approx(expected, rel=1e-12)
    if n_out == 1:  # a 1-D target for one output
        assert net.score(X, T[:, 0]) == pytest.approx(expected, rel=1e-12)
    # A bad fit gives a negative R², as scikit-learn.
    assert net.score(X, -10 * T) == pytest.approx(metrics.r2_score(-10 * T, Y), rel=1e-12)


def test_score_r2_with_a_constant_target_column_matches_sklearn():
    """r2_score scores an output with a constant target 0.0 (1.0 if predicted exactly)."""
    metrics = pytest.importorskip("sklearn.metrics")
    X, T = regression_data(n=40, n_out=2)
    T[:, 1] = 0.5
    net = regression_net(sizes=(4, 8, 2))
    expected = metrics.r2_score(T, net.forward(X))
    assert net.score(X, T) == pytest.approx(expected, rel=1e-12)


# --- memory: train_step allocates nothing in steady state --------------------------

SLACK = 2048  # bytes: the Python objects a call makes (tuples, floats, views)


def traced_peak(fn):
    """Peak bytes traced above the level at the start of one call of fn."""
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    return tracemalloc.get_traced_memory()[1] - base


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["sgd-momentum-sse", "adam-clip-labels", "rmsprop-one-hot",
                                  "plain-sgd-one-sample"])
def test_train_step_allocates_nothing_in_steady_state(dtype, case):
    sizes = (256, 512, 512, 10)
    net = fastbp.Network(sizes, ["tanh", "relu", "softmax"], dtype=dtype, seed=0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 256)).astype(dtype)
    labels = rng.integers(0, 10, size=64)
    if case == "sgd-momentum-sse":
        opt, T, loss = fastbp.SGD(lr=1e-3, momentum=0.9), rng.random((64, 10)).astype(dtype), "sse"
    elif case == "adam-clip-labels":
        opt, T, loss = fastbp.Adam(lr=1e-4, clip_norm=1.0), labels, "cross_entropy"
    elif case == "rmsprop-one-hot":
        opt, T, loss = fastbp.RMSprop(lr=1e-4, momentum=0.5), np.eye(10, dtype=dtype)[labels], \
            "cross_entropy"
    else:  # the fused per-sample kernel, sample_step
        X = X[:1]
        opt, T, loss = fastbp.SGD(lr=1e-3), rng.random((1, 10)).astype(dtype), "sse"
    # Megabytes of buffers: parameters, gradient, optimizer state, activations.
    assert net.params.nbytes > 1_500_000
    for _ in range(3):  # warm-up: compilation, workspace, optimizer state
        net.train_step(X, T, opt, loss=loss)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        # The probe sees a NumPy allocation the size of the gradient.
        assert traced_peak(lambda: np.empty_like(net.params)) >= net.params.nbytes
        for _ in range(4):
            peak = traced_peak(lambda: net.train_step(X, T, opt, loss=loss))
            assert peak < SLACK, peak
    finally:
        if started:
            tracemalloc.stop()
    assert opt.steps == 7 and np.all(np.isfinite(net.params))


# --- threads ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_concurrent_forward_matches_serial(dtype):
    net = fastbp.Network([16, 64, 64, 4], ["tanh", "sigmoid", "softmax"], dtype=dtype, seed=0)
    rng = np.random.default_rng(1)
    inputs = [[rng.standard_normal((m, 16)).astype(dtype) for m in (3 + t, 50 + 7 * t, 1)]
              for t in range(4)]
    serial = [[net.forward(X) for X in batch] for batch in inputs]
    results = [[] for _ in range(4)]
    errors = []
    barrier = threading.Barrier(4)

    def worker(t):
        try:
            barrier.wait()
            for _ in range(30):
                results[t].append([net.forward(X) for X in inputs[t]])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors, errors
    for t in range(4):
        assert len(results[t]) == 30
        for outputs in results[t]:
            for y, expected in zip(outputs, serial[t]):
                assert np.array_equal(y, expected)


# --- dtypes -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_fit_in_both_dtypes(dtype, loss):
    if loss == "cross_entropy":
        X, T = classification_data(n=80)
        net = classifier(dtype)
    else:
        X, T = regression_data(n=80)
        net = regression_net(dtype)
    # float64 data into a float32 network is converted once, by the stated policy.
    history = net.fit(X, T, epochs=30, batch_size=16, optimizer=fastbp.Adam(lr=0.01),
                      loss=loss, seed=0, validation_data=(X, T), progress=False)
    assert net.params.dtype == dtype and net.forward(X).dtype == dtype
    assert all(np.isfinite(history.loss)) and history.loss[-1] < 0.5 * history.loss[0]
    if loss == "cross_entropy":
        assert history.val_accuracy[-1] >= 0.9
    # The two dtypes train alike.
    other = classifier if loss == "cross_entropy" else regression_net
    twin = other(np.float32 if dtype == np.float64 else np.float64)
    twin_history = twin.fit(X, T, epochs=30, batch_size=16, optimizer=fastbp.Adam(lr=0.01),
                            loss=loss, seed=0, progress=False)
    assert twin_history.loss[0] == pytest.approx(history.loss[0], rel=1e-4)
    assert twin_history.loss[-1] == pytest.approx(history.loss[-1], rel=1e-2)


def test_real_ctrl_c_during_a_compiled_epoch_stops_after_it():
    """SIGINT delivered while the (GIL-free) epoch kernel runs: fit finishes that
    epoch's compiled call and returns; no step is ever half done."""
    import _thread
    import threading

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 32))
    T = rng.normal(size=(20000, 4))
    net = fastbp.Network([32, 64, 64, 4], ["tanh", "tanh", "identity"], seed=0)
    net.fit(X[:64], T[:64], epochs=1, batch_size=32, optimizer=fastbp.SGD(1e-3),
            loss="mse", progress=False)          # compile outside the timed part
    opt = fastbp.SGD(lr=1e-3)
    batches = 20000 // 50
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        history = net.fit(X, T, epochs=10_000, batch_size=50, optimizer=opt, loss="mse",
                          seed=0, progress=False)
    finally:
        timer.cancel()
    assert history.interrupted
    assert len(history) < 10_000
    # Steps come in whole epochs: the interrupt never lands inside the compiled call.
    assert opt.steps % batches == 0
    assert opt.steps // batches in (len(history), len(history) + 1)
    assert np.all(np.isfinite(net.params))
