"""The compiled calls a network makes: one set per activation table.

Every pass takes ``ext``, the hook through which registered (custom)
activations are computed (see ``activations``).  The entry points default it
to None, so networks of built-in activations call them directly and numba
caches them on disk; a set for custom activations binds a hook built at run
time, in closures, which numba compiles once per process (it cannot cache
closures over run-time objects).
"""
from typing import Callable, NamedTuple

from numba import njit

from . import passes, training


class Entries(NamedTuple):
    predict: Callable
    loss_and_gradient: Callable
    step: Callable
    sample_step: Callable
    epoch: Callable
    sample_epoch: Callable
    evaluate: Callable


BUILTIN = Entries(passes.predict, passes.loss_and_gradient, training.step,
                  training.sample_step, training.epoch, training.sample_epoch,
                  training.evaluate)


def bound_to(ext):
    """The entry set whose passes reach custom activations through ``ext``."""

    def bind(fn):
        @njit(nogil=True, error_model="numpy")
        def entry(*args):
            return fn(*args, ext)
        return entry

    return Entries(*(bind(fn) for fn in BUILTIN))
