"""The compiled calls a network makes: one set per activation table.

Every pass takes ``ext``, the hook through which registered (custom)
activations are computed (see ``activations``).  The entry points default it
to None, so networks of built-in activations call them directly and numba
caches them on disk; a set for custom activations binds a hook built at run
time, in closures, which numba compiles once per process (it cannot cache
closures over run-time objects).
"""
from typing import Callable, NamedTuple

from numba import njit, types

from . import passes, per_sample, training


class Entries(NamedTuple):
    predict: Callable
    loss_and_gradient: Callable
    step: Callable
    sample_step: Callable
    epoch: Callable
    sample_epoch: Callable
    evaluate: Callable


BUILTIN = Entries(passes.predict, passes.loss_and_gradient, training.step,
                  per_sample.sample_step, training.epoch, per_sample.sample_epoch,
                  training.evaluate)


def bound_to(ext):
    """The entry set whose passes reach custom activations through ``ext``."""

    def bind(fn):
        # fastmath set, as on every kernel (fastbp._kernels, "jit").
        @njit(nogil=True, error_model="numpy", fastmath=False)
        def entry(*args):
            return fn(*args, ext)
        return entry

    return Entries(*(bind(fn) for fn in BUILTIN))


def direct(dispatcher, args):
    """The machine code ``dispatcher`` runs for ``args``, callable without numba's
    dispatch, or None.

    numba's dispatcher works out every argument's type on every call to pick
    the compiled version, a large part of a batch-1 ``train_step``
    (docs/decisions/0009-direct-calls.md).  The function returned skips that: it takes ``args`` plus None for the
    omitted ``ext``, and of each array argument it checks only that it is an
    array of the same item size, and unboxes it as the learnt type with its
    real shape and strides.  Its callers must therefore pass arrays of the
    types ``args`` had (dtype, dimensions, C order, aligned, writeable): an
    array of other dimensions would be misread.  One exception: arrays a
    kernel only reads and whose order it tests itself (X, target and labels
    of the training entries, ``scans.check_batch``) need only the dtype and
    dimensions.  None where no compiled
    version takes ``args`` followed by the omitted ``ext`` (the sets
    ``bound_to`` makes have one signature, a tuple of ``*args``) or numba's
    internals are not as expected: the caller keeps the dispatcher.
    """
    try:
        key = tuple(dispatcher.typeof_pyval(arg) for arg in args)
        for signature in dispatcher.signatures:
            rest = signature[len(key):]
            if (tuple(signature[:len(key)]) == key and len(rest) == 1
                    and isinstance(rest[0], types.Omitted)):
                return dispatcher.get_overload(signature)
    except Exception:  # pragma: no cover - a numba whose internals differ
        return None
    return None
