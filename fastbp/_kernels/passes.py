"""Forward and backward passes of a whole network over the flat layout
(``layout.py``: the layer table and the workspace's regions).

Names ending in 0 are offsets into a flat array (``pre0`` is where the
pre-activations X_i start in ``work``); the others are arrays.  Gradients use
the parameter layout.  Inputs are 2-D C-ordered arrays, read flat.
"""
import numpy as np

from . import activations, dense, entry, jit, losses
from .layout import ACT, U_OFF, regions
from .scans import check_batch, first_nonfinite
from .status import BAD_INPUT, OK
from .views import START, flat


# forward_at, output_delta and backward are inlined by numba into the entries
# that call them: each layer of compiled calls costs its whole subtree's
# optimisation twice (docs/decisions/0011-inlining.md).
@jit(inline="always")
def forward_at(params, layers, inp, i0, m, work, pre0, out0, free0, ext):
    """Fill X_i and Y_i for every layer; returns where Y_n starts in ``work``.

    ``free0``: a region of ``work`` the pass may overwrite (cap * widest
    entries: the deltas' region, unused until the loss).
    """
    src, s0 = inp, i0
    y0 = out0
    for i in range(layers.shape[0]):
        n_in, n_out, w, u, act = layers[i]
        x0, y0 = pre0 + m * u, out0 + m * u
        dense.forward(params, w, src, s0, work, x0, m, n_in, n_out, free0)
        activations.forward_at(act, work, x0, y0, m, n_out, ext)
        src, s0 = work, y0
    return y0


@jit(inline="always")
def output_delta(loss, layers, m, work, pre0, out0, delta0, target, labels, ext):
    """Loss of the last forward pass over m samples; writes K_n at ``delta0``.

    ``target`` and ``labels`` are read for their first m rows only.
    """
    n_in, k, w, u, act = layers[layers.shape[0] - 1]
    if loss == losses.CROSS_ENTROPY:
        return losses.cross_entropy(work, pre0 + m * u, work, out0 + m * u, target, labels,
                                    m, k, work, delta0)
    return losses.squared_error(loss, work, pre0 + m * u, out0 + m * u, target, m, k, act,
                                delta0, ext)


@jit(inline="always")
def backward(params, layers, inp, i0, m, work, pre0, out0, delta0, spare0, grad, grad_inp,
             ext):
    """The recursion K_i = J_i^T (A_{i+1}^T K_{i+1}), dL/dA_i = K_i Y_{i-1}^T.

    K_n is at ``delta0`` on entry; ``spare0`` is the other ping-pong region.
    ``grad`` receives dL/dparams; ``grad_inp`` (2-D) receives dL/dY_0 when it
    has rows, and is skipped (saving one product) when it has none.
    """
    for i in range(layers.shape[0] - 1, -1, -1):
        n_in, n_out, w, u, act = layers[i]
        if i > 0:
            below = layers[i - 1]
            src, s0 = work, out0 + m * below[U_OFF]
        else:
            src, s0 = inp, i0
        dense.parameter_gradient(work, delta0, src, s0, grad, w, m, n_in, n_out)
        if i > 0:
            dense.input_gradient(work, delta0, params, w, work, spare0, m, n_in, n_out)
            activations.vjp_at(below[ACT], work, pre0 + m * below[U_OFF], s0, spare0, m, n_in,
                               ext)
            delta0, spare0 = spare0, delta0
        elif grad_inp.shape[0] > 0:
            dense.input_gradient(work, delta0, params, w, flat(grad_inp), START,
                                 m, n_in, n_out)


@entry
def predict(params, layers, X, work, result, ext=None):
    """Outputs for every row of X, as many rows at a time as ``work`` holds;
    returns a status (BAD_INPUT, before anything is written, if X is not finite)."""
    if first_nonfinite(X) >= 0:
        return BAD_INPUT
    cap, pre0, out0, delta0, _ = regions(layers, work)
    inp = flat(X)
    n, n_in = X.shape
    n_out = result.shape[1]
    outputs = flat(result)
    for lo in range(0, n, cap):
        m = min(n, lo + cap) - lo
        y0 = forward_at(params, layers, inp, lo * n_in, m, work, pre0, out0, delta0, ext)
        # A loop, not slice assignment, which compiles a shape-error path that
        # formats strings (docs/decisions/0016-views-instead-of-reshape.md).
        for k in range(m * n_out):
            outputs[lo * n_out + k] = work[y0 + k]
    return OK


@entry
def loss_and_gradient(params, layers, loss, X, target, labels, work, grad, grad_inp,
                      ext=None):
    """Check the batch, then forward, loss and backward in one compiled call.

    ``grad`` may be the gradient's room at the start of ``work``, which the
    regions never overlap.  Returns (loss, status); on a refused batch
    nothing is computed.
    """
    status = check_batch(layers, X, target, labels)
    if status != OK:
        return np.nan, status
    _, pre0, out0, delta0, spare0 = regions(layers, work)
    inp, m = flat(X), X.shape[0]
    forward_at(params, layers, inp, START, m, work, pre0, out0, delta0, ext)
    value = output_delta(loss, layers, m, work, pre0, out0, delta0, target, labels, ext)
    backward(params, layers, inp, START, m, work, pre0, out0, delta0, spare0, grad, grad_inp,
             ext)
    return value, OK
