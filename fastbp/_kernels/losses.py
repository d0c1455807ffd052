"""Losses and their output deltas K_n = J_n^T dL/dY_n.

The loss is accumulated in float64 whatever the network's dtype.
"""
import numpy as np

from . import activations, fastfn, jit

SSE, MSE, CROSS_ENTROPY = range(3)
CODES = {"sse": SSE, "mse": MSE, "cross_entropy": CROSS_ENTROPY}


@jit
def squared_error(code, out, target, act_code, delta):
    """sse (sum over all elements) or mse (mean over all elements)."""
    m, k = out.shape
    scale = 1.0 if code == SSE else 1.0 / (m * k)
    total = 0.0
    for s in range(m):
        for j in range(k):
            r = out[s, j] - target[s, j]
            total += r * r
            delta[s, j] = 2.0 * scale * r
    activations.vjp_inplace(act_code, out, delta)
    return total * scale


@jit
def _log_sum_exp(x):
    top = x[0]
    for j in range(1, x.size):
        top = max(top, x[j])
    total = 0.0
    for j in range(x.size):
        total += fastfn.exp(x[j] - top)
    return top + np.log(total)


@jit
def cross_entropy(pre, out, target, labels, delta):
    """Mean over the batch of -sum_j t_j log softmax(x)_j.

    The output layer must be softmax; its J^T dL/dY collapses to
    (s sum(t) - t) / m, i.e. (s - t) / m for probability rows, which is what is
    written to ``delta`` (stable, O(n)).  log softmax is taken
    from the pre-activations, never log(s), which would underflow.  Targets are
    either ``labels`` (integer class per row; ``target`` then has no rows) or
    probability rows in ``target``.
    """
    m, k = out.shape
    inv_m = 1.0 / m
    total = 0.0
    use_labels = labels.size > 0
    for s in range(m):
        lse = _log_sum_exp(pre[s])
        if use_labels:
            c = labels[s]
            total += lse - pre[s, c]
            for j in range(k):
                delta[s, j] = out[s, j] * inv_m
            delta[s, c] -= inv_m
        else:
            mass = 0.0
            for j in range(k):
                t = target[s, j]
                total += t * (lse - pre[s, j])
                mass += t
            for j in range(k):
                delta[s, j] = (out[s, j] * mass - target[s, j]) * inv_m
    return total * inv_m
