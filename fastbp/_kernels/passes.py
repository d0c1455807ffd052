"""Forward and backward passes of a whole network over the flat layout.

``layers`` is an int64 table with one row per layer i = 1..n of the derivation:

    [n_in, n_out, w_off, u_off, act]

- parameters: A_i is ``params[w_off : w_off + n_out*n_in]`` (row-major
  (n_out, n_in)) and B_i the ``n_out`` entries right after it;
- ``act`` is the activation code (``activations.CODES``, or a registered
  custom code reached through ``ext``, see ``activations``);
- a workspace ``work`` for up to ``cap`` samples is one flat buffer: room for
  a training step's gradient (``grad_room``: the parameter count rounded up to
  ``GRAD_ALIGN`` entries), then four regions, ``[pre | out | delta | spare]``:
  X_i and Y_i of every layer (cap *
  units entries each, units = sum of the layer widths), then the deltas K_i,
  which ping-pong between two regions of cap * widest entries.  For a batch of
  m <= cap samples, X_i is the m x n_out block (sample-major) starting at
  ``m * u_off`` of ``pre``, and Y_i likewise in ``out``.

Gradients use the parameter layout.  Inputs are 2-D C-ordered arrays, read
flat.
"""
import numpy as np

from . import REORDER, activations, dense, entry, jit, losses
from .status import BAD_INPUT, BAD_LABEL, BAD_LAYOUT, BAD_SHAPE, BAD_TARGET, OK
from .views import START, c_ordered, flat, segment

N_IN, N_OUT, W_OFF, U_OFF, ACT = range(5)


# The gradient's room is rounded up to this many entries, so the regions after
# it start as aligned as ``work`` itself (16 float32 are 64 bytes).
GRAD_ALIGN = 16


@jit
def grad_room(n_params):
    """Entries of ``work`` before its regions: the gradient's room (the
    Python layer sizes workspaces with this very function)."""
    return (n_params + GRAD_ALIGN - 1) // GRAD_ALIGN * GRAD_ALIGN


@jit
def n_params(layers):
    """Length of the parameter layout: the last layer's block ends it."""
    n_in, n_out, w, _, _ = layers[layers.shape[0] - 1]
    return w + n_out * (n_in + 1)


@jit(inline="always")
def gradient(layers, work):
    """The gradient at the start of ``work``, in the parameter layout.

    It shares the workspace rather than coming as an argument of its own:
    every array argument costs the direct call about 11 ns to unbox.
    Inlined: a compiled call returning a view hands the entries, which do not
    count references, one they never release (see ``fastbp._kernels``).
    """
    return segment(work, START, n_params(layers))


@jit
def regions(layers, work):
    """(cap, start of pre, out, delta, spare) for this network's ``work``."""
    units = 0
    widest = layers[0, N_IN]
    for i in range(layers.shape[0]):
        units += layers[i, N_OUT]
        widest = max(widest, layers[i, N_OUT])
    pre = grad_room(n_params(layers))
    cap = (work.size - pre) // (2 * units + 2 * widest)
    out = pre + cap * units
    return cap, pre, out, out + cap * units, out + cap * units + cap * widest


# forward_at and backward are inlined by numba into the entries that call
# them rather than compiled on their own: numba optimises a callee, links it
# into its caller and optimises it again there, so each layer of compiled
# calls costs its whole subtree twice.  The cold compile of fit took 7.4 s
# instead of 8.8 (float64) and 7.7 instead of 9.0 (float32); the compile of
# every entry together is unchanged (12.9 s: each entry has its own copy);
# steps and epochs time the same (session 7).  ``regions`` stays a call: the
# per-sample epoch ran 1.02-1.10x longer with it inlined.
@jit(inline="always")
def forward_at(params, layers, inp, i0, m, work, pre, out, free, ext):
    """Fill X_i and Y_i for every layer; returns where Y_n starts in ``work``.

    ``free`` is a region of ``work`` the pass may overwrite (cap * widest
    entries: the deltas' region, unused until the loss).
    """
    src, s0 = inp, i0
    y0 = out
    for i in range(layers.shape[0]):
        n_in, n_out, w, u, act = layers[i]
        x0, y0 = pre + m * u, out + m * u
        dense.forward(params, w, src, s0, work, x0, m, n_in, n_out, free)
        activations.forward_at(act, work, x0, y0, m, n_out, ext)
        src, s0 = work, y0
    return y0


@jit
def check_batch(layers, X, target, labels):
    """Status of a batch before anything is computed: the shapes (the Python
    layer's fast path leaves them to this), finite X and T, labels in range.

    Checking here rather than in Python saves a compiled call per array, which
    at batch 1 costs more than the step itself.  The layout too: train_step's
    direct calls hand arrays over whatever their order (``c_ordered``).
    """
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


@entry
def predict(params, layers, X, work, result, ext=None):
    """Outputs for every row of X, as many rows at a time as ``work`` holds;
    returns a status (BAD_INPUT, before anything is written, if X is not finite)."""
    if first_nonfinite(X) >= 0:
        return BAD_INPUT
    cap, pre, out, delta, _ = regions(layers, work)
    inp = flat(X)
    n, n_in = X.shape
    n_out = result.shape[1]
    outputs = flat(result)
    for lo in range(0, n, cap):
        m = min(n, lo + cap) - lo
        y0 = forward_at(params, layers, inp, lo * n_in, m, work, pre, out, delta, ext)
        # A loop, not slice assignment: that compiles a shape-mismatch error
        # path which formats strings (seconds of every cold compile).
        for k in range(m * n_out):
            outputs[lo * n_out + k] = work[y0 + k]
    return OK


@jit
def output_delta(loss, layers, m, work, pre, out, delta, target, labels, ext):
    """Loss of the last forward pass over m samples; writes K_n at ``delta``.

    ``target`` and ``labels`` are read for their first m rows only.
    """
    n_in, k, w, u, act = layers[layers.shape[0] - 1]
    if loss == losses.CROSS_ENTROPY:
        return losses.cross_entropy(work, pre + m * u, work, out + m * u, target, labels,
                                    m, k, work, delta)
    return losses.squared_error(loss, work, pre + m * u, out + m * u, target, m, k, act, delta,
                                ext)


@jit(inline="always")
def backward(params, layers, inp, i0, m, work, pre, out, delta, spare, grad, grad_inp, ext):
    """The recursion K_i = J_i^T (A_{i+1}^T K_{i+1}), dL/dA_i = K_i Y_{i-1}^T.

    K_n is at ``delta`` on entry; ``spare`` is the other ping-pong region.
    ``grad`` receives dL/dparams; ``grad_inp`` (2-D) receives dL/dY_0 when it
    has rows, and is skipped (saving one product) when it has none.
    """
    for i in range(layers.shape[0] - 1, -1, -1):
        n_in, n_out, w, u, act = layers[i]
        if i > 0:
            below = layers[i - 1]
            src, s0 = work, out + m * below[U_OFF]
        else:
            src, s0 = inp, i0
        dense.parameter_gradient(work, delta, src, s0, grad, w, m, n_in, n_out)
        if i > 0:
            dense.input_gradient(work, delta, params, w, work, spare, m, n_in, n_out)
            activations.vjp_at(below[ACT], work, pre + m * below[U_OFF], s0, spare, m, n_in,
                               ext)
            delta, spare = spare, delta
        elif grad_inp.shape[0] > 0:
            dense.input_gradient(work, delta, params, w, flat(grad_inp), START,
                                 m, n_in, n_out)


@entry
def loss_and_gradient(params, layers, loss, X, target, labels, work, grad, grad_inp,
                      ext=None):
    """Check the batch, then forward, loss and backward in one compiled call.

    ``grad`` may be the gradient's room at the start of ``work`` (lbfgs passes
    the workspace's ``grad``), which the regions never overlap.

    Returns (loss, status); on a bad batch nothing is computed.
    """
    status = check_batch(layers, X, target, labels)
    if status != OK:
        return np.nan, status
    _, pre, out, delta, spare = regions(layers, work)
    inp, m = flat(X), X.shape[0]
    forward_at(params, layers, inp, START, m, work, pre, out, delta, ext)
    value = output_delta(loss, layers, m, work, pre, out, delta, target, labels, ext)
    backward(params, layers, inp, START, m, work, pre, out, delta, spare, grad, grad_inp, ext)
    return value, OK


SCAN_BLOCK = 512


@jit(fastmath=REORDER)
def all_finite(values):
    """Whether no value of the 1-D ``values`` is NaN or infinite: x * 0 is 0
    for a finite x and NaN otherwise (LLVM may not fold it to 0 without
    ``nnan``), and their sum vectorises under reordering: 50 ns for the tiny
    network's 337 values, against 67 ns for an AND over comparisons."""
    total = values.dtype.type(0.0)
    for i in range(values.size):
        total += values[i] * values.dtype.type(0.0)
    return total == 0.0


@jit
def first_nonfinite(a):
    """Flat index of the first NaN or infinity in ``a``, or -1 (allocates nothing).

    Block by block: a loop that returns at the first bad value cannot be
    vectorised, a test of a whole block (``all_finite``) can.  Measured on
    128 x 784 values with an AND over the block's comparisons: 103 -> 4 us in
    float32, 55 -> 9 us in float64.
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
