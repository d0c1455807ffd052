"""Direct calls: a network calls its compiled entries without numba's dispatch
(``_engine.Engine.call``, ``entries.direct``) when ``_checks.batch`` finds the
user's arrays exactly in the kernels' form.  The direct path must give what
the dispatcher gives, bit for bit, and every other array must not reach it:
the compiled code behind it does not check the types of what it is given.
"""
import pickle
import threading

import numpy as np
import pytest
from numba import njit

import fastbp
from fastbp import _checks
from fastbp._kernels import entries, per_sample, training

DTYPES = [np.float64, np.float32]


def problem(dtype, labels=False, m=1):
    rng = np.random.default_rng(3)
    net = fastbp.Network([3, 7, 4], ["tanh", "softmax"], dtype=dtype, seed=4)
    X = rng.standard_normal((m, 3)).astype(dtype)
    T = rng.integers(0, 4, m) if labels else rng.dirichlet(np.ones(4), m).astype(dtype)
    return net, X, T


class Counting:
    """Wraps a learnt direct call and counts its calls."""

    def __init__(self, run):
        self.run, self.calls = run, 0

    def __call__(self, *args):
        self.calls += 1
        return self.run(*args)


def dispatched_only(monkeypatch):
    """Make every network keep numba's dispatcher (as if ``direct`` found nothing)."""
    monkeypatch.setattr(entries, "direct", lambda dispatcher, args: None)


CALLS = {
    # name: (entry it runs, how to call it on net, X, T)
    "sample_step": ("sample_step",
                    lambda net, X, T, opt: net.train_step(X[:1], T[:1], opt, "cross_entropy")),
    "step": ("step", lambda net, X, T, opt: net.train_step(X, T, opt, "cross_entropy")),
    "loss_and_gradient": ("loss_and_gradient",
                          lambda net, X, T, opt: net.loss_and_gradient(X, T, "cross_entropy")),
    "forward": ("predict", lambda net, X, T, opt: net.forward(X)),
}


@pytest.mark.parametrize("labels", [False, True], ids=["rows", "labels"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("call", list(CALLS))
def test_direct_calls_match_the_dispatcher_bit_for_bit(monkeypatch, call, dtype, labels):
    name, run = CALLS[call]
    direct_net, X, T = problem(dtype, labels, m=5)
    net = fastbp.Network.__new__(fastbp.Network)
    net.__setstate__(direct_net.__getstate__())
    opt = fastbp.SGD(lr=0.1) if call == "sample_step" else fastbp.Adam(lr=0.01)
    direct_opt = pickle.loads(pickle.dumps(opt))

    # The direct path: learnt on the first call, taken on every later one.
    first = run(direct_net, X, T, direct_opt)
    learnt = direct_net._engine._direct[name]
    assert callable(learnt) and learnt is not getattr(direct_net._engine.entries, name)
    spy = direct_net._engine._direct[name] = Counting(learnt)
    later = [run(direct_net, X, T, direct_opt) for _ in range(4)]
    assert spy.calls == 4

    dispatched_only(monkeypatch)
    expected = [run(net, X, T, opt) for _ in range(5)]
    assert net._engine._direct[name] is False
    for got, want in zip([first] + later, expected):
        for part, expected_part in zip(np.atleast_1d(got), np.atleast_1d(want)) \
                if call != "loss_and_gradient" else zip(got, want):
            np.testing.assert_array_equal(part, expected_part)
    np.testing.assert_array_equal(direct_net.params, net.params)


def test_only_arrays_in_the_kernels_form_are_exact():
    """``batch``'s exact flag: the guard in front of the direct calls."""
    f8 = np.dtype(np.float64)
    X, T = np.zeros((2, 3)), np.zeros((2, 4))
    labels = np.zeros(2, np.int64)

    def exact(X, T, loss=0):
        try:
            return _checks.batch(X, T, loss, 3, 4, f8, _checks.empty_rows(4, f8))[4]
        except ValueError:  # refused by the full checks: not exact either
            return False

    assert exact(X, T)
    assert exact(X, labels, loss=fastbp._LOSS_CODES["cross_entropy"])

    def read_only(array):
        array = array.copy()
        array.flags.writeable = False
        return array

    def unaligned(shape):
        array = np.zeros(int(np.prod(shape)) * 8 + 1, np.uint8)[1:].view(np.float64)
        array = array.reshape(shape)
        assert not array.flags.aligned and array.flags.c_contiguous
        return array

    for other in (read_only(X), unaligned(X.shape), np.asfortranarray(np.ones((2, 3))),
                  np.zeros((4, 3))[::2], X.astype(np.float32),
                  X.astype(X.dtype.newbyteorder()), X.tolist()):
        assert not exact(other, T)
    for other in (read_only(T), unaligned(T.shape), np.asfortranarray(np.ones((2, 4))),
                  T.astype(np.float32), T.tolist()):
        assert not exact(X, other)
    assert not exact(X, read_only(labels), loss=fastbp._LOSS_CODES["cross_entropy"])
    # The right dtype in other dimensions.
    assert not exact(X[0], T[0])
    assert not exact(np.zeros((2, 3, 3)), T)
    assert not exact(X, np.zeros(2))
    assert not exact(X, np.zeros((2, 4, 1)))
    assert not exact(X, np.zeros((2, 1), np.int64), loss=fastbp._LOSS_CODES["cross_entropy"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_other_arrays_after_a_direct_call_go_through_the_dispatcher(dtype):
    """Read-only, strided, byte-swapped, converted and 1-D inputs, after the
    direct call was learnt, give what the same values in exact arrays give.  Of
    them, only arrays of the learnt dtypes and dimensions reach the direct
    call (train_step's fast path leaves their order to the kernel): it
    computes with read-only ones, which it only reads, and with unaligned
    ones, as numba's dispatch does (it types them as aligned), and refuses
    strided ones (BAD_LAYOUT), which then go through the dispatcher,
    converted."""
    base, X, T = problem(dtype, m=1)
    opt = fastbp.SGD(lr=0.1)
    read_only_X, read_only_T = X.copy(), T.copy()
    read_only_X.flags.writeable = read_only_T.flags.writeable = False
    strided_X, strided_T = np.zeros((1, 6), dtype), np.zeros((1, 8), dtype)
    strided_X[:, ::2], strided_T[:, ::2] = X, T
    size = np.dtype(dtype).itemsize
    unaligned_X = np.zeros(3 * size + 1, np.uint8)[1:].view(dtype).reshape(1, 3)
    unaligned_X[...] = X
    assert not unaligned_X.flags.aligned
    label = int(np.argmax(T[0]))
    strided_labels = np.array([label, -1])[::2]
    read_only_labels = np.array([label])
    read_only_labels.flags.writeable = False
    # Non-native byte order: the learnt dtype's kind and item size, other values
    # (the direct call would read the bytes as native numbers).
    swapped_X, swapped_T = (a.astype(a.dtype.newbyteorder()) for a in (X, T))
    swapped_labels = np.array([label], dtype=np.dtype(np.int64).newbyteorder())
    assert swapped_X.dtype.itemsize == X.dtype.itemsize and swapped_X.dtype != X.dtype
    # (X, T, calls of the direct call they make)
    variants = [(read_only_X, T, 1), (X, read_only_T, 1), (strided_X[:, ::2], T, 1),
                (X, strided_T[:, ::2], 1), (unaligned_X, T, 1), (X, strided_labels, 1),
                (X, read_only_labels, 1),
                (X.astype(np.float64 if dtype == np.float32 else np.float32), T, 0),
                (swapped_X, T, 0), (X, swapped_T, 0), (X, swapped_labels, 0),
                (X[0], T[0], 0), (X.tolist(), T.tolist(), 0)]
    for Xv, Tv, calls in variants:
        net, opt_v = pickle.loads(pickle.dumps((base, opt)))
        want_net, want_opt = pickle.loads(pickle.dumps((base, opt)))
        net.train_step(X, T, opt_v, "cross_entropy")  # learns the direct call
        want_net.train_step(X, T, want_opt, "cross_entropy")
        spy = net._engine._direct["sample_step"] = Counting(net._engine._direct["sample_step"])
        got = net.train_step(Xv, Tv, opt_v, "cross_entropy")
        assert spy.calls == calls
        # the same values, made exact
        exact_X = np.atleast_2d(np.array(Xv, dtype))
        exact_T = (np.array(Tv) if np.asarray(Tv).dtype.kind == "i"
                   else np.atleast_2d(np.array(Tv, dtype)))
        want = want_net.train_step(exact_X, exact_T, want_opt, "cross_entropy")
        assert got == want
        np.testing.assert_array_equal(net.params, want_net.params)
        net.train_step(X, T, opt_v, "cross_entropy")
        assert spy.calls == calls + 1  # exact again: direct


@pytest.mark.parametrize("dtype", DTYPES)
def test_batches_out_of_order_are_refused_by_the_direct_call_and_converted(dtype):
    """Every-other-row views of X, T and labels (batches of 3) reach the
    learnt direct call, which refuses them; the step then gives what copies
    of them give, and the parameters what the copies make of them."""
    base, X, T = problem(dtype, m=6)
    labels = np.random.default_rng(5).integers(0, 4, 6)
    opt = fastbp.SGD(lr=0.1, momentum=0.5)
    for Xv, Tv in ((X[::2], T[1::2]), (X[:3], T[::2]), (X[::2], labels[:3]),
                   (X[:3], labels[::2])):
        net, opt_v = pickle.loads(pickle.dumps((base, opt)))
        want_net, want_opt = pickle.loads(pickle.dumps((base, opt)))
        for n, o, t in ((net, opt_v, T[:3]), (want_net, want_opt, T[:3]),
                        (net, opt_v, labels[:3]), (want_net, want_opt, labels[:3])):
            n.train_step(X[:3], t, o, "cross_entropy")  # learns the direct call
        spy = net._engine._direct["step"] = Counting(net._engine._direct["step"])
        got = net.train_step(Xv, Tv, opt_v, "cross_entropy")
        assert spy.calls == 1
        want = want_net.train_step(Xv.copy(), Tv.copy(), want_opt, "cross_entropy")
        assert got == want
        np.testing.assert_array_equal(net.params, want_net.params)


def test_a_first_call_that_is_not_exact_learns_nothing():
    net, X, T = problem(np.float64, m=1)
    X.flags.writeable = False
    net.train_step(X, T, fastbp.SGD(lr=0.1), "cross_entropy")
    net.forward(X)
    net.loss_and_gradient(X, T, "cross_entropy")
    assert net._engine._direct == {}


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_of_read_only_arrays_goes_through_the_dispatcher(dtype):
    net, X, _ = problem(dtype, m=4)
    want = net.forward(X)
    spy = net._engine._direct["predict"] = Counting(net._engine._direct["predict"])
    read_only = X.copy()
    read_only.flags.writeable = False
    np.testing.assert_array_equal(net.forward(read_only), want)
    assert spy.calls == 0
    # Converted input is a new array in the kernels' form: it may go directly.
    wider = np.float64 if dtype == np.float32 else np.longdouble  # converts back exactly
    for other in (np.asfortranarray(X), X.tolist(), X.astype(wider), X):
        np.testing.assert_array_equal(net.forward(other), want)
    np.testing.assert_array_equal(net.forward(X[1]), want[1])


def test_networks_of_registered_activations_keep_the_dispatcher():
    """Their entries take ``*args`` (``entries.bound_to``): no direct call, and
    the same result as before."""
    fastbp.register_activation("direct_test_cube", njit(lambda x: x * x * x),
                               njit(lambda x: 3.0 * x * x))
    net = fastbp.Network([3, 5, 2], ["direct_test_cube", "identity"], seed=0)
    X, T = np.full((1, 3), 0.5), np.ones((1, 2))
    opt = fastbp.SGD(lr=0.1)
    values = [net.train_step(X, T, opt) for _ in range(3)]
    assert net._engine._direct["sample_step"] is False
    assert values[2] < values[0]  # it trains


def test_an_optimizer_unpickled_from_read_only_buffers_owns_writeable_state():
    """Out-of-band pickle buffers can be read-only; the kernels write the
    optimizer's arrays, so unpickling copies them."""
    net, X, T = problem(np.float64, m=3)
    opt = fastbp.Adam(lr=0.01)
    net.train_step(X, T, opt, "cross_entropy")
    buffers = []
    data = pickle.dumps(opt, protocol=5, buffer_callback=buffers.append)
    loaded = pickle.loads(data, buffers=[b.raw().toreadonly() for b in buffers])
    assert buffers  # the arrays did travel out of band
    for array in (loaded._hyper, loaded._block):
        assert array.flags.writeable and array.flags.c_contiguous
    twin = pickle.loads(pickle.dumps(opt))
    net_twin = pickle.loads(pickle.dumps(net))
    assert net.train_step(X, T, loaded, "cross_entropy") == \
        net_twin.train_step(X, T, twin, "cross_entropy")
    assert loaded.steps == 2


def test_read_only_params_are_refused_by_training_and_read_through_the_dispatcher():
    """A user may make ``net.params`` read-only; that changes its numba type,
    so training refuses clearly and the reading calls keep the dispatcher."""
    net, X, T = problem(np.float64, m=1)
    opt = fastbp.SGD(lr=0.1)
    net.train_step(X, T, opt, "cross_entropy")
    before_loss = net.loss_and_gradient(X, T, "cross_entropy")
    before_out = net.forward(X)
    net.params.flags.writeable = False
    before = net.params.copy()
    for direct in ("sample_step", "loss_and_gradient", "predict"):
        if direct in net._engine._direct:
            net._engine._direct[direct] = Counting(net._engine._direct[direct])
    with pytest.raises(ValueError, match="params: this network's parameters are read-only"):
        net.train_step(X, T, opt, "cross_entropy")
    with pytest.raises(ValueError, match="params: this network's parameters are read-only"):
        net.fit(X, T, epochs=1, optimizer=fastbp.SGD(lr=0.1), progress=False)
    np.testing.assert_array_equal(net.params, before)
    value, grad = net.loss_and_gradient(X, T, "cross_entropy")
    assert value == before_loss[0]
    np.testing.assert_array_equal(grad, before_loss[1])
    np.testing.assert_array_equal(net.forward(X), before_out)
    assert all(run.calls == 0 for run in net._engine._direct.values())
    assert opt.steps == 1


@pytest.mark.parametrize("how", ["load_state_dict", "pickle"])
def test_optimizer_state_given_in_fortran_order_is_kept_in_c_order(how):
    net, X, T = problem(np.float64, m=3)
    opt = fastbp.SGD(lr=0.1)
    net.train_step(X, T, opt, "cross_entropy")
    saved = opt.state_dict()
    saved["state"] = np.asfortranarray(saved["state"])
    if how == "load_state_dict":
        loaded = fastbp.SGD(lr=0.1)
        loaded.load_state_dict(saved)
    else:
        loaded = pickle.loads(pickle.dumps(opt))
        loaded._block = np.asfortranarray(loaded._block)
        loaded = pickle.loads(pickle.dumps(loaded))
    loaded.bind(net.params)
    assert loaded._block.flags.c_contiguous


def test_every_direct_call_gets_the_types_it_was_learnt_with(monkeypatch):
    """Wrap every learnt direct call with a check of its arguments' numba
    types, then run what users do: switch optimizers, labels and target rows,
    unpickled and reloaded optimizers, read-only and converted input, both
    dtypes."""
    learnt = []
    real = entries.direct

    def kinds(dispatcher, args):
        # X, T and labels (arguments 3-5 of step and sample_step) are only
        # read, and their order is checked by the kernel (``views.c_ordered``):
        # for them, train_step's fast path vouches for dtype and dimensions.
        found = [dispatcher.typeof_pyval(arg) for arg in args]
        if dispatcher in (training.step, per_sample.sample_step):
            found[3:6] = [(t.dtype, t.ndim) for t in found[3:6]]
        return found

    def checked(dispatcher, args):
        run = real(dispatcher, args)
        if not run:
            return run
        learnt_kinds = kinds(dispatcher, args)
        learnt.append(dispatcher)

        def call(*given):
            assert kinds(dispatcher, given[:-1]) == learnt_kinds
            return run(*given)
        return call

    monkeypatch.setattr(entries, "direct", checked)
    for dtype in DTYPES:
        net, X, T = problem(dtype, m=4)
        labels = np.random.default_rng(0).integers(0, 4, 4)
        read_only = X.copy()
        read_only.flags.writeable = False
        sgd, adam = fastbp.SGD(lr=0.01), fastbp.Adam(lr=0.01)
        rms = fastbp.RMSprop(lr=0.01, momentum=0.5, clip_norm=1.0)
        for opt in (sgd, adam, rms, sgd, pickle.loads(pickle.dumps(adam))):
            for x, t in ((X, T), (X, labels), (X[:1], T[:1]), (X[:1], labels[:1]),
                         (read_only, T), (X.tolist(), labels.tolist()), (X[0], T[0])):
                net.train_step(x, t, opt, "cross_entropy")
                net.loss_and_gradient(x, t, "cross_entropy")
                net.forward(x)
        reloaded = fastbp.Adam(lr=0.01)
        state = adam.state_dict()
        state["state"] = np.asfortranarray(state["state"])
        reloaded.load_state_dict(state)
        net.train_step(X, T, reloaded, "cross_entropy")
        net.train_step(X, T, fastbp.SGD(lr=0.01, momentum=0.9), "cross_entropy")
    assert len(learnt) == 2 * 4  # step, sample_step, loss_and_gradient, predict per dtype


def _outcome(call):
    """What a call gave: its value, or its error's type and message."""
    try:
        return "ok", call()
    except (ValueError, TypeError, FloatingPointError) as error:
        return type(error).__name__, str(error)


def _in_a_new_thread(call):
    """``call()`` in a thread of its own (which has no workspace yet)."""
    result = []
    thread = threading.Thread(target=lambda: result.append(_outcome(call)))
    thread.start()
    thread.join()
    return result[0]


def _after_a_good_step(net, opt, X, T):
    """Calls a training loop may make once ``train_step``'s fast path is armed
    (one good call on exact arrays), each named for what it changes.  The
    refused ones come first, while the optimizer has state to lose."""
    dtype = X.dtype.type
    other_net = fastbp.Network([3, 5, 4], ["tanh", "softmax"], dtype=dtype, seed=0)
    bound_elsewhere = fastbp.SGD(lr=0.1)
    other_net.train_step(X, T, bound_elsewhere, "cross_entropy")
    twin_net = pickle.loads(pickle.dumps(net))  # the same size
    wide = np.zeros((len(X), 6), dtype)
    wide[:, ::2] = X
    nan_X = X.copy()
    nan_X[0, 1] = np.nan
    bad_T = T.copy()
    bad_T[-1, 0] = np.inf
    labels = np.arange(len(X)) % 4
    same_size = np.int64 if dtype == np.float64 else np.int32  # integers of X's item size
    one_hot = np.eye(4, dtype=same_size)[np.arange(len(X)) % 4]
    three_X, three_T = np.repeat(X[:1], 3, axis=0), np.repeat(T[:1], 3, axis=0)

    def step(X=X, T=T, loss="cross_entropy", optimizer=opt, on=net):
        return on.train_step(X, T, optimizer, loss)

    def setting(name, value, then=step):
        def call():
            setattr(opt, name, value)
            return then()
        return call

    def read_only(flag):
        def call():
            net.params.flags.writeable = not flag
            return step(loss="sse")
        return call

    return {
        "again": step,
        "NaN in X": lambda: step(nan_X),
        "inf in T": lambda: step(T=bad_T),
        "X too wide": lambda: step(np.zeros((len(X), 4), dtype)),
        "T too wide": lambda: step(T=np.zeros((len(X), 5), dtype)),
        "no rows": lambda: step(X[:0], T[:0]),
        # (m, 3, 2): its first two dimensions would pass the kernel's shape check
        "X in 3-D": lambda: step(np.repeat(X[..., None], 2, axis=2)),
        "T in 3-D": lambda: step(T=T[..., None]),
        "other dtype": lambda: step(X.astype(np.float16)),
        "T of other dtype": lambda: step(T=T.astype(np.float16)),
        "X of integers, same item size": lambda: step(np.round(X * 3).astype(same_size)),
        "T of integers, same item size": lambda: step(T=one_hot),
        "labels with sse": lambda: step(T=labels, loss="sse"),
        "labels of another width": lambda: step(T=labels[:, None]),
        "unknown loss": lambda: step(loss="hinge"),
        "unhashable loss": lambda: step(loss=["sse"]),
        "labels in range? no": lambda: step(T=labels + 4),
        "read-only params": read_only(True),
        "writeable again": read_only(False),
        "not an optimizer": lambda: step(optimizer="sgd"),
        "bound elsewhere": lambda: step(optimizer=bound_elsewhere),
        "after the refusals": step,
        "labels": lambda: step(T=labels),
        "labels again": lambda: step(T=labels),
        "labels of int32": lambda: step(T=labels.astype(np.int32)),
        "three rows": lambda: step(three_X, three_T),
        "three rows again": lambda: step(three_X, three_T),
        "one row": lambda: step(X[:1], T[:1]),
        "one row again": lambda: step(X[:1], T[:1]),
        "smaller again": step,
        "in a new thread": lambda: _in_a_new_thread(step),
        "a twin network, same optimizer": lambda: step(on=twin_net),
        "back on this one": step,
        "back on this one, again": step,
        "lr changed": setting("lr", 0.0),
        "lr back": setting("lr", 0.1),
        "momentum": setting("momentum", 0.5),
        "momentum, again": step,
        "momentum off": setting("momentum", 0.0),
        "other loss": lambda: step(loss="sse"),
        "strided X": lambda: step(wide[:, ::2]),
        "Fortran T": lambda: step(np.repeat(X, 2, axis=0),
                                  np.asfortranarray(np.repeat(T, 2, axis=0))),
        "reset": lambda: (opt.reset(), step()),
        "new optimizer": lambda: step(optimizer=fastbp.Adam(lr=0.01)),
        "diverges": setting("lr", 1e308, lambda: [step() for _ in range(5)]),
        "after divergence": setting("lr", 0.1),
    }


# Calls the fast path must take (the rest may go either way).
FAST_CALLS = ["again", "after the refusals", "labels again", "three rows again",
              "one row again", "smaller again", "back on this one, again", "momentum, again"]
OPTIMIZERS = {"sgd": lambda: fastbp.SGD(lr=0.1),
              "momentum": lambda: fastbp.SGD(lr=0.1, momentum=0.9),
              "adam": lambda: fastbp.Adam(lr=0.01)}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("m", [1, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_train_step_after_a_good_step_does_what_the_full_path_does(monkeypatch, dtype, m,
                                                                   optimizer):
    """``train_step`` takes a fast path once a good call has bound the
    optimizer and learnt the direct call.  Every later call, good or bad,
    must give what the full path gives (the same values bit for bit, the
    same errors) and leave the same parameters and optimizer state."""
    base, X, T = problem(dtype, m=m)
    results, full_path_calls = [], {}
    for fast in (True, False):
        net = pickle.loads(pickle.dumps(base))
        opt = OPTIMIZERS[optimizer]()
        if not fast:
            dispatched_only(monkeypatch)  # no direct call: the fast path never runs
        net.train_step(X, T, opt, "cross_entropy")
        assert bool(net._engine._direct["sample_step" if m == 1 and optimizer == "sgd" else "step"]) \
            == fast
        spy = net._engine._checked_step = Counting(net._engine._checked_step)
        outcomes = {}
        for name, call in _after_a_good_step(net, opt, X, T).items():
            before = spy.calls
            outcomes[name] = _outcome(call)
            outcomes[name + ": params"] = net.params.copy()
            outcomes[name + ": optimizer"] = opt.state_dict()
            if fast:
                full_path_calls[name] = spy.calls - before
        results.append(outcomes)
    fast, full = results
    assert fast.keys() == full.keys()
    for name in fast:
        np.testing.assert_equal(fast[name], full[name], err_msg=name)
    assert {name: full_path_calls[name] for name in FAST_CALLS} == dict.fromkeys(FAST_CALLS, 0)
    # The scenario does reach the failures it names.
    assert fast["NaN in X"][1].startswith("X contains NaN")
    assert fast["inf in T"][1].startswith("T contains NaN")
    for error in ("X too wide", "T too wide", "X in 3-D", "T in 3-D", "bound elsewhere",
                  "labels in range? no", "read-only params", "labels of another width",
                  "labels with sse"):
        assert fast[error][0] == "ValueError", error
    assert fast["diverges"][0] == "DivergenceError"
    assert np.isfinite(fast["diverges: params"]).all()  # the failed step was undone
    # a rate of 0 changes nothing: the new rate was used at once
    np.testing.assert_array_equal(fast["lr changed: params"],
                                  fast["back on this one, again: params"])


@pytest.mark.parametrize("T", [[[-0.85, 0.2]] * 2, [[-0.05, 0.2]] * 2, [[0.0, 0.0]] * 2])
def test_negative_and_zero_losses_are_losses(T):
    """Cross-entropy on target rows with negative entries has a negative loss,
    and all-zero rows a zero one: train_step returns them, after one update
    (a status encoded as a negative loss once raised here, after two)."""
    net = fastbp.Network([2, 2], ["softmax"], seed=0)
    net.params[:] = [0, 0, 0, 10, 0, 0]
    twin = pickle.loads(pickle.dumps(net))
    X, T = np.ones((2, 2)), np.array(T)
    opt, twin_opt = fastbp.SGD(lr=0.01), fastbp.SGD(lr=0.01)
    for _ in range(2):  # learns the direct call
        net.train_step(X, np.full((2, 2), 0.5), opt, "cross_entropy")
        twin.train_step(X, np.full((2, 2), 0.5), twin_opt, "cross_entropy")
    want, _ = twin.loss_and_gradient(X, T, "cross_entropy")
    got = net.train_step(X, T, opt, "cross_entropy")
    assert got == want and (got < 0 or got == 0)
    assert opt.steps == 3
