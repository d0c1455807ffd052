"""What the kernel tests share: flat buffers with guard bands, small networks
in the kernels' layout, and the reference (``fastbp.testing``) on them.

Kernels are called as the entries call them: offsets and sizes as int64
(``off``), since a Python int literal would compile another specialisation,
and ``None`` for ``ext`` where a function takes it (built-in activations).
"""
import numpy as np

from fastbp import layout, testing
from fastbp._kernels import activations, optim, status

DTYPES = [np.float64, np.float32]
NAMES = list(activations.CODES)   # every built-in activation
ELEMENTWISE = [name for name in NAMES if not activations.is_vector(activations.CODES[name])]
# An exact value no kernel computes here: it fills the bands around an output
# region, which must read the same afterwards.
GUARD = -12345.0

# --- tolerances against the float64 reference --------------------------------
# float64 kernels against the reference in float64: the same sums in another
# order (and, for tanh, sigmoid, softplus and exp, fastfn's polynomials, a few
# ulp from libm), so rounding only: a few ulp per operation, over at most a few
# hundred operations per entry in these small problems (observed 1e-15 or
# below).  1e-12 leaves room; a wrong term is off by O(1).
RTOL64 = 1e-12
# float32 kernels against the float64 reference on the same float32 values:
# unit roundoff 6e-8, grown through a few layers and a loss, and by the
# derivatives taken from outputs (1 - y^2 loses digits as |y| nears 1).
# Observed 3e-7 at worst in the scaled measure of testing.assert_close; 1e-4
# (as tests/test_gradients.py) leaves room and still catches any real error,
# which is O(1).
RTOL32 = 1e-4
RTOL = {np.float64: RTOL64, np.float32: RTOL32}


def off(k):
    """An offset or size as the kernels take it (int64)."""
    return np.int64(k)


def padded(values, before, after, fill=np.nan):
    """(buffer, offset): ``values`` flat in a 1-D buffer from ``before``, with
    ``fill`` around: NaN by default, so that a read outside poisons the result."""
    values = np.asarray(values)
    buf = np.full(before + values.size + after, fill, values.dtype)
    buf[before:before + values.size] = values.ravel()
    return buf, off(before)


def guarded(size, dtype, before, after):
    """(buffer, offset) for an output of ``size`` entries from ``before``,
    GUARD everywhere."""
    return np.full(before + size + after, GUARD, dtype), off(before)


def assert_guards(buf, start, size, what=""):
    """Nothing outside buf[start : start + size] was written."""
    outside = np.concatenate([buf[:start], buf[start + size:]])
    assert np.all(outside == GUARD), f"{what}: written outside its region"


def codes(names):
    return [activations.CODES[name] for name in names]


def table(sizes, names):
    """The kernels' layer table of a network."""
    return layout.layer_table(list(sizes), codes(names))


def split64(params, sizes):
    """(weights, biases) of flat parameters, in float64, for the reference."""
    return testing.split(np.asarray(params, dtype=np.float64), list(sizes))


def as64(a):
    """The float64 values of ``a`` (labels, integer, stay as they are)."""
    a = np.asarray(a)
    return a if a.dtype.kind in "iu" else a.astype(np.float64)


def sgd_hyper(lr, dtype, decay=0.0):
    """``hyper`` of plain SGD (optim's positions), the limit of ``dtype``."""
    hyper = np.zeros(optim.N_HYPER)
    hyper[optim.LR], hyper[optim.DECAY] = lr, decay
    hyper[optim.LIMIT] = np.finfo(dtype).max
    return hyper


def targets_of(kind, rng, m, k, dtype):
    """(target, labels) as the training entries take them: rows of ``dtype``
    and no labels, or int64 labels and a target of no rows."""
    if kind == "labels":
        return np.empty((0, k), dtype), rng.integers(0, k, m).astype(np.int64)
    rows = testing.random_targets(rng, kind, m, k, False)
    return rows.astype(dtype), np.empty(0, np.int64)


def diverging(case, dtype):
    """(X, lr, status) for the network y = x (one identity layer, A = 1,
    B = 0) under sse, targets 0: sample 0 trains and sample 1 fails, except
    for "step", whose rate fails on any sample."""
    big = {  # loss (x^2) overflows; loss finite but dL/dA = 2 x^2 overflows
        "loss": {np.float64: 1e200, np.float32: 1e20},
        "gradient": {np.float64: 1e154, np.float32: 1.5e19},
    }
    if case == "step":   # lr * gradient overflows the parameters' dtype
        return np.array([[2.0], [2.0]], dtype), 1e308 if dtype == np.float64 else 1e39, \
            status.BAD_STEP
    return (np.array([[1e-3], [big[case][dtype]]], dtype), 1e-3,
            status.BAD_LOSS if case == "loss" else status.BAD_GRADIENT)
