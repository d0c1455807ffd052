"""Where a tiny ``train_step`` call's time goes: the whole call, the compiled
kernel called directly (as ``Engine.call`` does) and through numba's
dispatcher, a no-op kernel with the same arguments (compiled as the entry
points are, and with NRT; directly and through the dispatcher), and each
piece of the Python around them.  Medians of 7 runs of 200,000 calls,
each figure including a lambda's call (printed as "nothing").  It times
the engine's own pieces, so it reads the network's engine and its learnt
direct calls, as no module of fastbp does.

    OPENBLAS_NUM_THREADS=1 python tools/call_overhead.py
"""
import timeit

import numpy as np
from numba import njit

import fastbp
from fastbp import _checks
from fastbp._kernels import entries, entry
from fastbp.optimizers import Optimizer


def _no_op(params, layers, loss, X, target, labels, work, hyper, ext=None):
    return 0.0, 0


# compiled as the entry points are (without NRT), and with NRT for comparison
_no_op_entry = njit(**{**entry.keywords, "cache": False})(_no_op)
_no_op_nrt = njit(nogil=True)(_no_op)


def median_ns(fn, calls):
    return float(np.median(timeit.repeat(fn, number=calls, repeat=7))) / calls * 1e9


def main(calls=200_000):
    """Print each part's median time over ``calls`` calls (tests pass a few)."""
    X, T = np.random.default_rng(0).standard_normal((1, 2)), np.zeros((1, 1))
    net = fastbp.Network([2, 16, 16, 1], ["tanh", "tanh", "identity"], seed=0)
    opt = fastbp.SGD(lr=0.01)
    net.train_step(X, T, opt)  # compiled (or loaded), workspace and state made
    engine = net._engine  # the seam between the network and its compiled calls
    space = engine.workspace(1)
    update = opt.bind(net.params)
    args = (net.params, engine.layers, 0, X, T, _checks.NO_LABELS, space.work, update.hyper)
    kernel, sizes, dtype = engine.entries.sample_step, net.sizes, net.dtype
    no_rows = engine.no_target
    _no_op_entry(*args)
    _no_op_nrt(*args)
    direct, no_op_direct = engine._direct["sample_step"], entries.direct(_no_op_entry, args)
    with_ext = args + (None,)  # the direct calls take the omitted ext too
    parts = {
        "train_step": lambda: net.train_step(X, T, opt),
        "sample_step direct": lambda: direct(*with_ext),
        "sample_step kernel": lambda: kernel(*args),
        "no-op direct": lambda: no_op_direct(*with_ext),
        "no-op, same args": lambda: _no_op_entry(*args),
        "no-op with NRT": lambda: _no_op_nrt(*args),
        "_checks.batch": lambda: _checks.batch(X, T, 0, sizes[0], sizes[-1], dtype, no_rows),
        "_checks.kernel_form": lambda: _checks.kernel_form(X, T, 0, dtype),
        "workspace": lambda: engine.workspace(1),
        "update_for": lambda: opt.update_for(net.params),
        "loss_code": lambda: engine.loss_code("sse"),
        "isinstance": lambda: isinstance(opt, Optimizer),
        "nothing": lambda: None,
    }
    for name, fn in parts.items():
        print(f"{name:20s} {median_ns(fn, calls):7.0f} ns")


if __name__ == "__main__":
    main()
