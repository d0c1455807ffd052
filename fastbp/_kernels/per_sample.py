"""Training one sample at a time under plain SGD, with the backward pass and
the update fused (docs/decisions/0006-fused-per-sample-step.md).

``fit(batch_size=1)`` with SGD without momentum or clipping runs
``sample_epoch``; ``train_step`` on one sample under that SGD runs
``sample_step``.  Both take the steps of ``sample_steps``.  Their results are
``training.epoch``'s and ``training.step``'s up to rounding, and so are their
statuses (``tests/test_sample_epoch.py`` holds them to it).
"""
import numpy as np

from . import activations, dense, entry, jit, losses, optim, passes
from .layout import ACT, U_OFF, gradient, regions
from .scans import all_finite, check_batch
from .shuffle import shuffle
from .status import BAD_GRADIENT, BAD_LOSS, BAD_STEP, OK
from .views import flat, matrix, segment


@entry
def sample_step(params, layers, loss, X, target, labels, work, hyper, ext=None):
    """``training.step`` for one sample under plain SGD (no momentum, no
    clipping: the caller makes sure), by ``sample_steps``'s fused step.

    An entry of its own, not a branch of ``step``, which would add the fused
    loops to the first compile of ``step`` for every network.
    """
    status = check_batch(layers, X, target, labels)
    if status != OK:
        return np.nan, status
    # ``labels[:0]``: no order, the one row.
    value, _, status = sample_steps(params, layers, loss, X, target, labels, labels[:0], work,
                                    hyper, ext)
    return value, status


@entry
def sample_epoch(params, layers, loss, X, target, labels, order, rng, reshuffle, work, hyper,
                 ext=None):
    """``training.epoch`` for batches of one sample under plain SGD:
    ``sample_steps`` over the (reshuffled) ``order``."""
    if reshuffle:
        shuffle(order, rng)
    return sample_steps(params, layers, loss, X, target, labels, order, work, hyper, ext)


@jit
def sample_steps(params, layers, loss, X, target, labels, order, work, hyper, ext):
    """Steps of one sample under plain SGD with the backward pass and the
    update fused, on the rows ``order`` of X and target (or labels), or on
    every row in turn if ``order`` is empty.

    Going down the layers, each row of A_i adds its share of K_{i-1} and is
    updated in the same visit, while it is in cache: the update needs no pass
    of its own and no gradient is ever stored.  A failed step leaves the
    parameters as they were before it (the old values wait in the gradient's
    room).  Returns what ``training.epoch`` returns.

    Not compiled with ``REORDER``: the fused update's order of operations is
    the general path's, so that the two agree.
    """
    n_in = X.shape[1]
    n = order.size if order.size > 0 else X.shape[0]
    _, pre0, out0, delta0, spare0 = regions(layers, work)
    grad = gradient(layers, work)  # where the old values wait
    last = layers.shape[0] - 1
    _, k_last, _, _, _ = layers[last]
    as_dtype = params.dtype.type
    lr, decay = as_dtype(hyper[optim.LR]), as_dtype(hyper[optim.DECAY])
    limit = as_dtype(hyper[optim.LIMIT])
    use_labels = labels.size > 0
    inp = flat(X)
    total = 0.0
    for b in range(n):
        row = order[b] if order.size > 0 else b
        # The sample's target row or label, as a view.
        tb, lb = target, labels
        if use_labels:
            lb = segment(labels, row, 1)
        else:
            tb = matrix(flat(target), row * k_last, 1, k_last)
        # Copies passes.forward_at for one sample, without its batch loop and
        # BLAS branch (tests/kernels/test_per_sample.py holds the two equal).
        src, s0 = inp, row * n_in
        for i in range(last + 1):
            n_from, n_to, w, u, act = layers[i]
            dense.forward_row(params, w, segment(src, s0, n_from), work, pre0 + u, n_from, n_to)
            activations.forward_at(act, work, pre0 + u, out0 + u, 1, n_to, ext)
            src, s0 = work, out0 + u
        value = passes.output_delta(loss, layers, 1, work, pre0, out0, delta0, tb, lb, ext)
        if not np.isfinite(value):
            return total, b, BAD_LOSS
        # Whether every gradient entry is finite, tested a row at a time
        # below; the new values are tested together at the end.
        fine = True
        d0, g0 = delta0, spare0
        for i in range(last, -1, -1):
            n_from, n_to, w, _, _ = layers[i]
            below = layers[max(i - 1, 0)]
            # K_{i-1} (before the activation's J^T) is summed into g.
            g = segment(work, g0, n_from)
            if i > 0:
                x = segment(work, out0 + below[U_OFF], n_from)
                for k in range(n_from):
                    g[k] = 0.0
            else:
                x = segment(inp, row * n_in, n_from)
            # |d x_k| <= limit for every k exactly when every x_k is finite
            # (else d x_k is inf or NaN whatever d is; ``max`` would skip a
            # NaN) and |d| max_k |x_k| <= limit, as rounding is monotonic:
            # one test a row, not one a weight.
            x_top = as_dtype(0.0)
            for k in range(n_from):
                x_top = max(x_top, abs(x[k]))
                fine &= abs(x[k]) <= limit
            b0 = w + n_to * n_from
            for j in range(n_to):
                d = work[d0 + j]
                a = segment(params, w + j * n_from, n_from)
                old = segment(grad, w + j * n_from, n_from)
                if i > 0:
                    for k in range(n_from):
                        g[k] += d * a[k]
                for k in range(n_from):
                    p = a[k]
                    old[k] = p
                    a[k] = optim.plain_sgd(p, d * x[k], lr, decay)
                p = params[b0 + j]
                q = optim.plain_sgd(p, d, lr, decay)
                # The bias's gradient entry is d: one that is not finite fails
                # this too (inf * 0 is NaN).
                fine &= abs(d) * x_top <= limit
                grad[b0 + j] = p
                params[b0 + j] = q
            if i > 0:
                activations.vjp_at(below[ACT], work, pre0 + below[U_OFF], out0 + below[U_OFF],
                                   g0, 1, n_from, ext)
                d0, g0 = g0, d0
        ok = all_finite(params)
        if not (fine and ok):
            for k in range(params.size):
                params[k] = grad[k]
            return total, b, BAD_GRADIENT if not fine else BAD_STEP
        hyper[optim.STEPS] += 1.0
        total += value
    if loss != losses.SSE:
        total /= n
    return total, n, OK
