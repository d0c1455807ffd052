"""The kernels' own guards: scans of values for NaN, infinity and bad labels,
and the check of a batch that every training entry makes before it computes.

These are cheap tests that return a status (``status.py``); ``fastbp._checks``
turns a refused status into the message that names the argument.  They run
inside the compiled call because at batch 1 a separate call per array would
cost more than the step (docs/decisions/0015-finiteness-scans.md).
"""
import numpy as np

from . import REORDER, jit
from .layout import N_IN, N_OUT
from .status import BAD_INPUT, BAD_LABEL, BAD_LAYOUT, BAD_SHAPE, BAD_TARGET, OK
from .views import c_ordered, flat, segment

SCAN_BLOCK = 512


@jit(fastmath=REORDER)
def all_finite(values):
    """Whether no value of the 1-D ``values`` is NaN or infinite.

    x * 0 is 0 for a finite x and NaN otherwise (LLVM may not fold it to 0
    without ``nnan``), and a sum of them vectorises under reordering.
    """
    total = values.dtype.type(0.0)
    for i in range(values.size):
        total += values[i] * values.dtype.type(0.0)
    return total == 0.0


@jit
def first_nonfinite(a):
    """Flat index of the first NaN or infinity in ``a``, or -1 (allocates nothing).

    Block by block: a loop that returns at the first bad value cannot be
    vectorised, a test of a whole block (``all_finite``) can.
    """
    values = flat(a)
    n = values.size
    for lo in range(0, n, SCAN_BLOCK):
        # Not min(): with the literal block size it compiles an overload of its own.
        block = segment(values, lo, n - lo if n - lo < SCAN_BLOCK else SCAN_BLOCK)
        if not all_finite(block):
            for i in range(block.size):
                if not np.isfinite(block[i]):
                    return lo + i
    return -1


@jit
def first_out_of_range(labels, n_classes):
    """Index of the first label outside [0, n_classes), or -1."""
    for i in range(labels.size):
        if labels[i] < 0 or labels[i] >= n_classes:
            return i
    return -1


@jit
def check_batch(layers, X, target, labels):
    """Status of a batch before anything is computed: its layout (a direct
    call hands arrays over whatever their order, ``views.c_ordered``), the
    shapes (``_checks.batch``'s fast path leaves them to this), finite X and
    target, labels in range."""
    if not (c_ordered(X) and c_ordered(target) and c_ordered(labels)):
        return BAD_LAYOUT
    m, k = X.shape[0], layers[layers.shape[0] - 1, N_OUT]
    if m == 0 or X.shape[1] != layers[0, N_IN]:
        return BAD_SHAPE
    if labels.size > 0:
        if labels.shape[0] != m:
            return BAD_SHAPE
    elif target.shape[0] != m or target.shape[1] != k:
        return BAD_SHAPE
    if first_nonfinite(X) >= 0:
        return BAD_INPUT
    if first_nonfinite(target) >= 0:
        return BAD_TARGET
    if first_out_of_range(labels, k) >= 0:
        return BAD_LABEL
    return OK
