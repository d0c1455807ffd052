"""fastbp.Ensemble: every member ends bit for bit where it would trained alone.

Each test trains an ensemble and, member by member, a ``Network`` built from
the same initial parameters, optimizer, rows and shuffle seed, and compares
the parameters (and optimizer state) exactly, in float64, on one and on two
threads.
"""
import concurrent.futures
import copy

import numpy as np
import pytest

import fastbp
from fastbp.ensemble import member_seeds

SIZES, ACTS = [5, 12, 3], ["tanh", "identity"]
SOFT = ["tanh", "softmax"]
MEMBERS = 4


def data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0]))
    T = rng.standard_normal((n, SIZES[-1]))
    labels = rng.integers(0, SIZES[-1], n)
    return X, T, labels


def alone(ens0, i, X, T, optimizer, seeds, indices=None, **fit):
    """Member i of ``ens0`` (an untrained copy) trained alone as a Network."""
    net = fastbp.Network(SIZES, ens0.activations, dtype=ens0.dtype)
    net.params = ens0.params[i]
    rows = slice(None) if indices is None else indices[i]
    net.fit(X[rows], T[rows], optimizer=optimizer, seed=seeds[i], progress=False, **fit)
    return net


OPTIMIZERS = {
    "sgd": lambda: fastbp.SGD(lr=0.05),
    "momentum": lambda: fastbp.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda: fastbp.Adam(lr=1e-2, clip_norm=1.0),
    "adamw": lambda: fastbp.AdamW(lr=1e-2),
    "rmsprop": lambda: fastbp.RMSprop(lr=1e-3, momentum=0.5),
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", list(OPTIMIZERS))
@pytest.mark.parametrize("loss, target", [("sse", "rows"), ("mse", "rows"),
                                          ("cross_entropy", "labels"),
                                          ("cross_entropy", "rows")])
@pytest.mark.parametrize("batch_size", [1, 16])
def test_members_equal_networks_trained_alone(threads, kind, loss, target, batch_size):
    X, T, labels = data()
    acts = SOFT if loss == "cross_entropy" else ACTS
    if target == "labels":
        T = labels
    elif loss == "cross_entropy":
        T = np.abs(T) / np.abs(T).sum(axis=1, keepdims=True)
    ens = fastbp.Ensemble(SIZES, acts, MEMBERS, seed=3)
    start = copy.deepcopy(ens)
    opt = OPTIMIZERS[kind]()
    history = ens.fit(X, T, epochs=3, batch_size=batch_size, optimizer=opt, loss=loss, seed=11,
                      threads=threads)
    seeds = member_seeds(11, MEMBERS)
    for i in range(MEMBERS):
        own = OPTIMIZERS[kind]()
        net = alone(start, i, X, T, own, seeds, epochs=3, batch_size=batch_size, loss=loss)
        assert np.array_equal(ens.params[i], net.params), f"member {i}"
        mine = ens.optimizers[i]
        assert mine.steps == own.steps and mine.epoch == own.epoch == 3
        if own.state is not None:
            assert np.array_equal(mine.state, own.state)
    assert history.losses().shape == (3, MEMBERS)
    assert np.all(np.isfinite(history.losses()))
    assert ens.status == ["ok"] * MEMBERS


def test_initialisation_rule_and_views():
    ens = fastbp.Ensemble(SIZES, ACTS, 3, seed=5)
    assert ens.params.shape == (3, ens.n_params) and ens.params.flags.c_contiguous
    children = np.random.SeedSequence(5).spawn(3)
    for i, child in enumerate(children):
        net = fastbp.Network(SIZES, ACTS, seed=child)
        assert np.array_equal(ens[i].params, net.params)
    assert not np.array_equal(ens.params[0], ens.params[1])
    # A member's parameters are a view of its row, both ways.
    member = ens[1]
    assert np.shares_memory(member.params, ens.params)
    X, T, _ = data()
    before = ens.params.copy()
    member.fit(X, T, epochs=1, optimizer=fastbp.SGD(lr=0.01), progress=False)
    assert np.array_equal(ens.params[1], member.params)
    assert not np.array_equal(ens.params[1], before[1])
    assert np.array_equal(ens.params[[0, 2]], before[[0, 2]])
    ens.params = before
    assert np.array_equal(member.params, before[1])
    assert np.array_equal(member.weights[0], before[1][:12 * 5].reshape(12, 5))
    assert ens[-1] is ens[2] and list(ens) == [ens[0], ens[1], ens[2]] and len(ens) == 3


def test_from_networks_copies_and_round_trips_values():
    nets = [fastbp.Network(SIZES, ACTS, seed=s) for s in range(3)]
    ens = fastbp.Ensemble.from_networks(nets)
    for net, member in zip(nets, ens):
        assert np.array_equal(member.params, net.params)
        assert not np.shares_memory(member.params, net.params)
    with pytest.raises(ValueError, match=r"networks\[1\]"):
        fastbp.Ensemble.from_networks([nets[0], fastbp.Network([5, 4, 3], ACTS)])
    with pytest.raises(TypeError, match="networks"):
        fastbp.Ensemble.from_networks([])


def test_per_member_hyperparameters_and_sample_indices():
    X, T, _ = data(n=90)
    rates = [1e-3, 3e-3, 1e-2, 3e-2]
    bags = fastbp.bootstrap(90, MEMBERS, seed=2)
    ens = fastbp.Ensemble(SIZES, ACTS, MEMBERS, seed=8)
    start = copy.deepcopy(ens)
    ens.fit(X, T, epochs=2, batch_size=8, optimizer=[fastbp.Adam(lr) for lr in rates],
            loss="mse", seed=[4, 5, 6, 7], sample_indices=bags)
    for i, lr in enumerate(rates):
        net = alone(start, i, X, T, fastbp.Adam(lr), [4, 5, 6, 7], bags, epochs=2,
                    batch_size=8, loss="mse")
        assert np.array_equal(ens.params[i], net.params), f"member {i}"


def test_kfold_members_train_on_their_folds():
    X, T, _ = data(n=50)
    train, test = fastbp.kfold(50, 5, seed=1)
    assert sorted(np.concatenate(test).tolist()) == list(range(50))
    for tr, te in zip(train, test):
        assert len(te) == 10 and len(tr) == 40 and not set(tr) & set(te)
        assert np.all(np.diff(tr) > 0)
    ens = fastbp.Ensemble(SIZES, ACTS, 5, seed=0)
    start = copy.deepcopy(ens)
    ens.fit(X, T, epochs=2, batch_size=7, optimizer=fastbp.SGD(lr=0.02, momentum=0.9),
            loss="mse", seed=3, sample_indices=train)
    seeds = member_seeds(3, 5)
    for i in range(5):
        net = alone(start, i, X, T, fastbp.SGD(lr=0.02, momentum=0.9), seeds, train,
                    epochs=2, batch_size=7, loss="mse")
        assert np.array_equal(ens.params[i], net.params)
    unshuffled_train, unshuffled_test = fastbp.kfold(7, 3)
    assert [t.tolist() for t in unshuffled_test] == [[0, 1, 2], [3, 4], [5, 6]]
    assert unshuffled_train[1].tolist() == [0, 1, 2, 5, 6]


def test_a_diverging_member_stops_and_the_others_go_on():
    X, T, _ = data()
    ens = fastbp.Ensemble(SIZES, ACTS, 3, seed=4)
    start = copy.deepcopy(ens)
    rates = [0.01, 1e6, 0.02]
    history = ens.fit(X, T * 1e3, epochs=3, batch_size=16,
                      optimizer=[fastbp.SGD(lr) for lr in rates], loss="sse", seed=[1, 2, 3])
    assert ens.status[0] == ens.status[2] == "ok"
    assert list(history.diverged) == [1]
    stopped = history.diverged[1]
    assert f"diverged at epoch {stopped}," in ens.status[1]
    losses = history.losses()
    assert np.isnan(losses[stopped:, 1]).all() and np.isfinite(losses[:stopped, 1]).all()
    assert np.isfinite(losses[:, [0, 2]]).all() and losses.shape == (3, 3)
    for i, lr in enumerate(rates):
        net = fastbp.Network(SIZES, ACTS)
        net.params = start.params[i]
        try:
            net.fit(X, T * 1e3, epochs=3, batch_size=16, optimizer=fastbp.SGD(lr), loss="sse",
                    seed=[1, 2, 3][i], progress=False)
        except fastbp.DivergenceError:
            assert i == 1
        assert np.array_equal(ens.params[i], net.params), f"member {i}"
        assert np.all(np.isfinite(ens.params[i]))


@pytest.mark.parametrize("patience", [None, 2])
def test_validation_and_early_stopping_per_member(patience):
    X, T, labels = data(n=150)
    train, test = fastbp.kfold(150, 3, seed=4)
    ens = fastbp.Ensemble(SIZES, SOFT, 3, seed=2)
    start = copy.deepcopy(ens)
    rates = [3e-2, 1e-1, 3e-1]
    history = ens.fit(X, labels, epochs=12, batch_size=10,
                      optimizer=[fastbp.SGD(lr, momentum=0.9) for lr in rates],
                      loss="cross_entropy", seed=5, sample_indices=train,
                      validation_data=(X, labels), validation_indices=test, patience=patience)
    seeds = member_seeds(5, 3)
    val_loss = history.losses("val_loss")
    stopped = []
    for i, lr in enumerate(rates):
        net = fastbp.Network(SIZES, SOFT)
        net.params = start.params[i]
        alone = net.fit(X[train[i]], labels[train[i]], epochs=12, batch_size=10,
                        optimizer=fastbp.SGD(lr, momentum=0.9), loss="cross_entropy",
                        seed=seeds[i], validation_data=(X[test[i]], labels[test[i]]),
                        patience=patience, progress=False)
        assert np.array_equal(ens.params[i], net.params), f"member {i}"
        done = len(alone)
        np.testing.assert_array_equal(val_loss[:done, i], alone.val_loss)
        np.testing.assert_array_equal(history.losses("val_accuracy")[:done, i],
                                      alone.val_accuracy)
        assert np.isnan(val_loss[done:, i]).all()
        assert history.stopped_early[i] == alone.stopped_early
        assert history.best_epoch[i] == alone.best_epoch
        stopped.append(alone.stopped_early)
    if patience is not None:
        assert any(stopped), "no member's patience ran out: the test shows nothing"
        assert len(history) == 12 or all(stopped)


def test_a_callback_stops_every_member():
    X, T, _ = data()
    ens = fastbp.Ensemble(SIZES, ACTS, 2, seed=0)
    seen = []
    history = ens.fit(X, T, epochs=10, loss="mse",
                      callbacks=[lambda e, h: seen.append(len(h)) or len(h) == 3])
    assert seen == [1, 2, 3] and len(history) == 3
    assert [opt.epoch for opt in ens.optimizers] == [3, 3]


def test_fit_continues_with_its_optimizers():
    X, T, _ = data()
    ens = fastbp.Ensemble(SIZES, ACTS, 2, seed=9)
    start = copy.deepcopy(ens)
    ens.fit(X, T, epochs=2, optimizer=fastbp.Adam(1e-2), loss="mse", seed=1)
    ens.fit(X, T, epochs=1, optimizer=ens.optimizers, loss="mse", seed=2)
    for i in range(2):
        opt = fastbp.Adam(1e-2)
        net = alone(start, i, X, T, opt, member_seeds(1, 2), epochs=2, loss="mse")
        net.fit(X, T, epochs=1, optimizer=opt, loss="mse", seed=member_seeds(2, 2)[i],
                progress=False)
        assert np.array_equal(ens.params[i], net.params)
        assert ens.optimizers[i].steps == opt.steps and ens.optimizers[i].epoch == 3


def test_float32_members_equal_networks_trained_alone():
    X, T, _ = data()
    ens = fastbp.Ensemble(SIZES, ACTS, 3, dtype=np.float32, seed=6)
    start = copy.deepcopy(ens)
    ens.fit(X, T, epochs=2, batch_size=10, optimizer=fastbp.Adam(1e-2), loss="mse", seed=0,
            threads=2)
    seeds = member_seeds(0, 3)
    for i in range(3):
        net = fastbp.Network(SIZES, ACTS, dtype=np.float32)
        net.params = start.params[i]
        net.fit(X, T, epochs=2, batch_size=10, optimizer=fastbp.Adam(1e-2), loss="mse",
                seed=seeds[i], progress=False)
        assert np.array_equal(ens.params[i], net.params)


def test_predictions():
    X, _, _ = data(n=30)
    ens = fastbp.Ensemble(SIZES, SOFT, 3, seed=1)
    outputs = ens.predict(X)
    assert outputs.shape == (3, 30, 3)
    for i in range(3):
        np.testing.assert_array_equal(outputs[i], ens[i].forward(X))
    np.testing.assert_array_equal(ens.predict(X, threads=1), outputs)
    with pytest.raises(ValueError, match="X contains NaN"):
        ens.predict(np.full((2, 5), np.nan))
    with pytest.raises(ValueError, match="threads"):
        ens.predict(X, threads=0)
    mean, std = ens.predict_mean(X, return_std=True)
    np.testing.assert_allclose(mean, outputs.mean(axis=0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(std, outputs.std(axis=0), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ens.predict_classes(X), np.argmax(mean, axis=1))
    assert ens.predict(X[0]).shape == (3, 3)
    values, grads = ens.loss_and_gradient(X, np.zeros(30, np.int64), "cross_entropy")
    for i in range(3):
        value, grad = ens[i].loss_and_gradient(X, np.zeros(30, np.int64), "cross_entropy")
        assert values[i] == value and np.array_equal(grads[i], grad)


BAD_FITS = [
    (dict(sample_indices=[np.arange(10)] * 3), ValueError, "sample_indices: expected 4"),
    (dict(sample_indices=[np.arange(10)] * 3 + [np.array([0, 200])]), ValueError,
     r"sample_indices\[3\]: row indices must be in \[0, 120\)"),
    (dict(sample_indices=[np.arange(10)] * 3 + [np.array([], np.int64)]), ValueError,
     r"sample_indices\[3\]: expected a non-empty"),
    (dict(sample_indices=[np.arange(10)] * 3 + [np.array([-1, 2])]), ValueError,
     r"sample_indices\[3\]"),
    (dict(seed=[1, 2]), ValueError, "seed: expected 4 integers"),
    (dict(seed=-3), ValueError, "seed"),
    (dict(optimizer=[fastbp.Adam()] * 4), ValueError, "same optimizer object"),
    (dict(optimizer=[fastbp.Adam(), fastbp.SGD(), fastbp.Adam(), fastbp.Adam()]), ValueError,
     r"optimizer\[1\]: a SGD"),
    (dict(optimizer=[fastbp.Adam()] * 2), ValueError, "expected 4 optimizers"),
    (dict(optimizer=fastbp.LBFGS()), TypeError, "optimizer"),
    (dict(optimizer="adam"), TypeError, "optimizer"),
    (dict(shuffle="no"), TypeError, "shuffle"),
    (dict(threads=0), ValueError, "threads"),
    (dict(epochs=-1), ValueError, "epochs"),
    (dict(loss="hinge"), ValueError, "loss"),
    (dict(validation_indices=[np.arange(3)] * 4), ValueError, "validation_indices: given"),
    (dict(validation_data=(np.zeros((5, 5)), np.zeros((5, 3))),
          validation_indices=[np.arange(3)] * 3 + [np.array([7])]), ValueError,
     r"validation_indices\[3\]"),
    (dict(validation_data=(np.zeros((5, 4)), np.zeros((5, 3)))), ValueError,
     r"validation_data\[0\]"),
    (dict(patience=0), ValueError, "patience"),
    (dict(callbacks=5), TypeError, "callbacks"),
    (dict(callbacks=[5]), TypeError, r"callbacks\[0\]"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD_FITS)
def test_bad_fit_arguments_change_nothing(kwargs, error, message):
    X, T, _ = data()
    ens = fastbp.Ensemble(SIZES, ACTS, MEMBERS, seed=0)
    before = ens.params.copy()
    optimizer = kwargs.get("optimizer")
    with pytest.raises(error, match=message):
        ens.fit(X, T, **{"epochs": 1, "loss": "mse", **kwargs})
    assert np.array_equal(ens.params, before)
    assert ens.optimizers is None
    for opt in (optimizer if isinstance(optimizer, list) else [optimizer]):
        if isinstance(opt, fastbp.Optimizer):
            assert opt.state is None and opt.steps == 0


def test_bad_construction():
    with pytest.raises(ValueError, match="members"):
        fastbp.Ensemble(SIZES, ACTS, 0)
    with pytest.raises(ValueError, match="seed"):
        fastbp.Ensemble(SIZES, ACTS, 2, seed=-1)
    with pytest.raises(ValueError, match="activations"):
        fastbp.Ensemble(SIZES, ["tanh"], 2)
    ens = fastbp.Ensemble(SIZES, ACTS, 2)
    with pytest.raises(ValueError, match="params: expected shape"):
        ens.params = np.zeros((3, ens.n_params))
    with pytest.raises(ValueError, match="params"):
        ens.params = np.full((2, ens.n_params), np.nan)
    with pytest.raises(IndexError):
        ens[2]
    with pytest.raises(ValueError, match="k: expected at most"):
        fastbp.kfold(3, 4)


def test_fit_distributed_with_an_executor_equals_fit():
    X, T, _ = data()
    here = fastbp.Ensemble(SIZES, ACTS, 5, seed=1)
    there = fastbp.Ensemble.from_networks(here)
    expected = here.fit(X, T, epochs=2, batch_size=8, optimizer=fastbp.Adam(1e-2), loss="mse",
                        seed=3)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        with pytest.raises(TypeError, match="callbacks"):
            there.fit_distributed(pool, X, T, callbacks=[print])
        got = there.fit_distributed(pool, X, T, parts=2, epochs=2, batch_size=8,
                                    optimizer=fastbp.Adam(1e-2), loss="mse", seed=3)
    assert np.array_equal(there.params, here.params)
    np.testing.assert_array_equal(got.losses(), expected.losses())
    assert [o.steps for o in there.optimizers] == [o.steps for o in here.optimizers]

