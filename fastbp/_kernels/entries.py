"""The compiled calls a network makes: one set per activation table.

Every pass takes ``ext``, the hook through which registered (custom)
activations are computed (see ``activations``).  The built-in set fixes it to
None in module-level functions, which numba caches on disk; a set for
custom activations binds a hook built at run time, in closures, which numba
compiles once per process (it cannot cache closures over run-time objects).
"""
from typing import Callable, NamedTuple

from numba import njit

from . import jit, passes, training


class Entries(NamedTuple):
    predict: Callable
    loss_and_gradient: Callable
    step: Callable
    epoch: Callable
    evaluate: Callable


@jit
def _predict(params, layers, X, work, result):
    return passes.predict(params, layers, X, work, result, None)


@jit
def _loss_and_gradient(params, layers, loss, X, target, labels, work, grad, grad_inp):
    return passes.loss_and_gradient(params, layers, loss, X, target, labels, work, grad,
                                    grad_inp, None)


@jit
def _step(params, layers, loss, X, target, labels, work, grad, no_grad_inp,
          kind, hyper, state, count):
    return training.step(params, layers, loss, X, target, labels, work, grad, no_grad_inp,
                         kind, hyper, state, count, None)


@jit
def _epoch(params, layers, loss, X, T, labels, batch_size, order, rng, reshuffle,
           xb, tb, lb, work, grad, no_grad_inp, kind, hyper, state, count):
    return training.epoch(params, layers, loss, X, T, labels, batch_size, order, rng,
                          reshuffle, xb, tb, lb, work, grad, no_grad_inp, kind, hyper,
                          state, count, None)


@jit
def _evaluate(params, layers, loss, X, T, labels, work):
    return training.evaluate(params, layers, loss, X, T, labels, work, None)


BUILTIN = Entries(_predict, _loss_and_gradient, _step, _epoch, _evaluate)


def bound_to(ext):
    """The entry set whose passes reach custom activations through ``ext``."""

    def bind(fn):
        @njit(nogil=True, error_model="numpy")
        def entry(*args):
            return fn(*args, ext)
        return entry

    return Entries(*(bind(fn) for fn in (passes.predict, passes.loss_and_gradient,
                                         training.step, training.epoch, training.evaluate)))
