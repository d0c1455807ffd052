"""Losses and their output deltas K_n = J_n^T dL/dY_n.

The network's outputs (and pre-activations) are m rows of k values stored flat
from an offset; targets are (m, k) arrays or integer labels.  The loss is
accumulated in float64 whatever the network's dtype.
"""
import numpy as np

from . import REORDER, activations, fastfn, jit
from .views import segment

SSE, MSE, CROSS_ENTROPY = range(3)
CODES = {"sse": SSE, "mse": MSE, "cross_entropy": CROSS_ENTROPY}


# The two losses are inlined by numba into the passes that call them: one
# compiled layer fewer for every cold compile (docs/decisions/0011-inlining.md).
@jit(inline="always")
def squared_error(code, work, x0, y0, target, m, k, act_code, d0, ext):
    """sse (sum over all elements) or mse (mean over all elements)."""
    scale = 1.0 if code == SSE else 1.0 / (m * k)
    y = segment(work, y0, m * k)
    d = segment(work, d0, m * k)
    total = 0.0
    for s in range(m):
        for j in range(k):
            r = y[s * k + j] - target[s, j]
            total += r * r
            d[s * k + j] = 2.0 * scale * r
    activations.vjp_at(act_code, work, x0, y0, d0, m, k, ext)
    return total * scale


# REORDER: the sum reassociates, so its loop (and the exps in it) vectorises,
# as in vector.softmax_value.
@jit(fastmath=REORDER)
def _log_sum_exp(x):
    top = x[0]
    for j in range(1, x.size):
        top = max(top, x[j])
    total = 0.0
    for j in range(x.size):
        total += fastfn.exp(x[j] - top)
    return top + np.log(total)


@jit(inline="always")
def cross_entropy(pre, p0, out, o0, target, labels, m, k, delta, d0):
    """Mean over the batch of -sum_j t_j log softmax(x)_j.

    The output layer must be softmax; its J^T dL/dY collapses to
    (s sum(t) - t) / m, i.e. (s - t) / m for probability rows, which is what is
    written to ``delta`` (stable, O(n)).  log softmax is taken from the
    pre-activations, never log(s), which would underflow.  Targets are either
    ``labels`` (integer class per row; ``target`` then has no rows) or
    probability rows in ``target``.
    """
    inv_m = 1.0 / m
    total = 0.0
    use_labels = labels.size > 0
    for s in range(m):
        x = segment(pre, p0 + s * k, k)
        y = segment(out, o0 + s * k, k)
        d = segment(delta, d0 + s * k, k)
        lse = _log_sum_exp(x)
        if use_labels:
            c = labels[s]
            total += lse - x[c]
            for j in range(k):
                d[j] = y[j] * inv_m
            d[c] -= inv_m
        else:
            mass = 0.0
            for j in range(k):
                t = target[s, j]
                total += t * (lse - x[j])
                mass += t
            for j in range(k):
                d[j] = (y[j] * mass - target[s, j]) * inv_m
    return total * inv_m
