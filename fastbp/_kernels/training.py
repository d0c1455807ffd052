"""Training in compiled calls: one step, one whole epoch, one evaluation.

An epoch shuffles, slices minibatches (the last one may be smaller), and runs
forward, backward and update for each, so no Python runs per step.  Batches
are gathered by index into small buffers; the data itself is never copied.
The per-sample path, which fuses the backward pass with the update, is in
``per_sample.py``.
"""
import numpy as np

from . import entry, losses, optim, passes
from .layout import N_OUT, gradient, regions
from .scans import check_batch
from .shuffle import shuffle
from .status import BAD_LOSS, OK
from .views import START, flat, matrix, segment


@entry
def step(params, layers, loss, X, target, labels, work, kind, hyper, state, ext=None):
    """Check the batch, then one forward, backward and update.

    Returns (loss before the update, status).
    """
    status = check_batch(layers, X, target, labels)
    if status != OK:
        return np.nan, status
    inp, m = flat(X), X.shape[0]
    _, pre0, out0, delta0, spare0 = regions(layers, work)
    passes.forward_at(params, layers, inp, START, m, work, pre0, out0, delta0, ext)
    value = passes.output_delta(loss, layers, m, work, pre0, out0, delta0, target, labels, ext)
    grad = gradient(layers, work)
    # No input gradient: a view of no rows says so (passes.backward).
    passes.backward(params, layers, inp, START, m, work, pre0, out0, delta0, spare0, grad,
                    matrix(work, START, 0, X.shape[1]), ext)
    if not np.isfinite(value):
        return value, BAD_LOSS
    return value, optim.update(kind, hyper, state, params, grad)


@entry
def epoch(params, layers, loss, X, target, labels, batch_size, order, rng, reshuffle,
          xb, tb, lb, work, kind, hyper, state, ext=None):
    """One pass over the data.

    ``xb`` (flat), ``tb`` and ``lb`` receive each batch's rows, gathered by
    index.  The epoch visits the rows ``order`` names, once each in its
    order (reshuffled first if asked): every row of X, or a subset (an
    ensemble member's sample).  Returns (epoch loss, batches completed, status
    of the batch that stopped it).  The epoch loss follows the loss's own
    convention: the sum of the batch losses for "sse", their mean weighted by
    batch size for the mean losses, so it is comparable with the loss of the
    rows visited.
    """
    n, n_in = order.size, X.shape[1]
    _, pre0, out0, delta0, spare0 = regions(layers, work)
    grad = gradient(layers, work)
    no_input_gradient = matrix(work, START, 0, n_in)  # as in ``step``
    if reshuffle:
        shuffle(order, rng)
    use_labels = labels.size > 0
    weighted = loss != losses.SSE
    total = 0.0
    n_batches = (n + batch_size - 1) // batch_size
    for b in range(n_batches):
        lo = b * batch_size
        m = min(n, lo + batch_size) - lo
        for r in range(m):
            row = order[lo + r]
            for k in range(n_in):
                xb[r * n_in + k] = X[row, k]
            if use_labels:
                lb[r] = labels[row]
            else:
                # Element by element: a row assignment compiles a shape-error
                # path that formats strings.
                for k in range(tb.shape[1]):
                    tb[r, k] = target[row, k]
        passes.forward_at(params, layers, xb, START, m, work, pre0, out0, delta0, ext)
        value = passes.output_delta(loss, layers, m, work, pre0, out0, delta0, tb, lb, ext)
        passes.backward(params, layers, xb, START, m, work, pre0, out0, delta0, spare0, grad,
                        no_input_gradient, ext)
        if not np.isfinite(value):
            return total, b, BAD_LOSS
        status = optim.update(kind, hyper, state, params, grad)
        if status != OK:
            return total, b, status
        total += value * m if weighted else value
    if weighted:
        total /= n
    return total, n_batches, OK


@entry
def evaluate(params, layers, loss, X, target, labels, work, ext=None):
    """(loss over all of X in the loss's convention, correct argmax predictions).

    Runs as many rows at a time as ``work`` holds.  Correct predictions are
    counted against labels or the argmax of target rows.
    """
    cap, pre0, out0, delta0, _ = regions(layers, work)
    n, n_in = X.shape
    k = layers[layers.shape[0] - 1, N_OUT]
    inp = flat(X)
    use_labels = labels.size > 0
    weighted = loss != losses.SSE
    total = 0.0
    correct = 0
    for lo in range(0, n, cap):
        m = min(n, lo + cap) - lo
        lab = labels[lo:lo + m] if use_labels else labels
        t = target if use_labels else target[lo:lo + m]
        y0 = passes.forward_at(params, layers, inp, lo * n_in, m, work, pre0, out0, delta0, ext)
        value = passes.output_delta(loss, layers, m, work, pre0, out0, delta0, t, lab, ext)
        total += value * m if weighted else value
        for r in range(m):
            guess = np.argmax(segment(work, y0 + r * k, k))
            truth = lab[r] if use_labels else np.argmax(t[r])
            correct += guess == truth
    if weighted:
        total /= n
    return total, correct
