"""``_kernels.entries``: the entry sets and the direct calls."""
import inspect

import numpy as np
import pytest
from numba import njit
from numba.core.dispatcher import Dispatcher

from fastbp import layout
from fastbp._kernels import _NRT_OPTION, entries, passes, per_sample, status, training

from ._common import table

MODULES = {"predict": passes, "loss_and_gradient": passes, "step": training,
           "sample_step": per_sample, "epoch": training, "sample_epoch": per_sample,
           "evaluate": training}


def test_builtin_names_every_entry_once():
    assert entries.Entries._fields == tuple(MODULES)
    for name, module in MODULES.items():
        fn = getattr(entries.BUILTIN, name)
        assert fn is getattr(module, name)
        last = list(inspect.signature(fn.py_func).parameters.values())[-1]
        assert last.name == "ext" and last.default is None   # None: built-in activations


@pytest.mark.skipif(not _NRT_OPTION, reason="this numba has no _nrt option: every kernel keeps NRT")
def test_every_function_compiled_as_an_entry_is_in_builtin():
    """``entry`` (no NRT) marks what Python calls: each is in the set."""
    found = {name for module in set(MODULES.values()) for name, fn in vars(module).items()
             if isinstance(fn, Dispatcher) and fn.py_func.__module__ == module.__name__
             and fn.targetoptions.get("_nrt") is False}
    assert found == set(MODULES)


def _fake(k):
    """An entry that shows which entry it is and what ``ext`` does."""
    @njit
    def fn(x, ext):
        return ext(x) + k
    return fn


@njit
def _hook(x):
    return 10.0 * x


def test_bound_to_wraps_each_entry_with_the_hook(monkeypatch):
    monkeypatch.setattr(entries, "BUILTIN", entries.Entries(*(_fake(k) for k in range(7))))
    bound = entries.bound_to(_hook)
    assert isinstance(bound, entries.Entries)
    assert [fn(2.0) for fn in bound] == [20.0 + k for k in range(7)]


def test_bound_to_makes_a_new_set_of_compiled_functions():
    bound = entries.bound_to(_hook)   # nothing is compiled until called
    assert all(isinstance(fn, Dispatcher) for fn in bound)
    assert not set(map(id, bound)) & set(map(id, entries.BUILTIN))


def _predict_args(dtype=np.float64):
    layers = table([3, 4, 2], ["tanh", "softmax"])
    rng = np.random.default_rng(0)
    params = rng.normal(size=layout.n_params(layers)).astype(dtype)
    X = rng.normal(size=(5, 3)).astype(dtype)
    work = np.empty(layout.workspace_size(layers, 5), dtype)
    return params, layers, X, work, np.empty((5, 2), dtype)


def test_a_direct_call_gives_what_the_dispatcher_gives():
    args = _predict_args()
    assert passes.predict(*args) == status.OK
    want = args[-1].copy()
    run = entries.direct(passes.predict, args)
    assert callable(run) and run is not passes.predict
    args[-1][:] = np.nan
    assert run(*args, None) == status.OK
    np.testing.assert_array_equal(args[-1], want)


def test_loss_and_gradient_direct_gives_what_the_dispatcher_gives():
    params, layers, X, work, _ = _predict_args()
    args = (params, layers, 2, X, np.empty((0, 2)), np.array([0, 1, 1, 0, 1]), work,
            np.empty_like(params), np.empty_like(X))
    value, done = passes.loss_and_gradient(*args)
    grad, grad_inp = args[-2].copy(), args[-1].copy()
    run = entries.direct(passes.loss_and_gradient, args)
    assert run(*args, None) == (value, done)
    np.testing.assert_array_equal(args[-2], grad)
    np.testing.assert_array_equal(args[-1], grad_inp)


def test_direct_is_none_for_types_never_compiled():
    args = _predict_args()
    passes.predict(*args)
    wrong_x = (args[0], args[1], args[2].astype(np.int64), args[3], args[4])
    assert entries.direct(passes.predict, wrong_x) is None
    assert entries.direct(passes.predict, args[:4]) is None   # an argument short


def test_direct_is_none_for_a_bound_set(monkeypatch):
    """A bound entry takes ``*args``: no signature of them and an omitted ext."""
    monkeypatch.setattr(entries, "BUILTIN", entries.Entries(*(_fake(k) for k in range(7))))
    bound = entries.bound_to(_hook)
    assert bound.predict(1.5) == 15.0
    assert bound.predict.signatures   # compiled, yet
    assert entries.direct(bound.predict, (1.5,)) is None
