"""Training in compiled calls: one step, one whole epoch, one evaluation.

An epoch shuffles, slices minibatches (the last one may be smaller), and runs
forward, backward and update for each, so no Python runs per step.  Batches
are gathered by index into the workspace; the data itself is never copied.
A workspace sized for m rows serves any batch of at most m rows.
"""
import numpy as np

from . import jit, losses, optim, passes


@jit
def step(params, layers, loss, inp, target, labels, pre, out, delta, spare, grad,
         no_grad_inp, kind, hyper, state, count):
    """One forward, backward and update; returns (loss before the update, status)."""
    value = passes.loss_and_gradient(params, layers, loss, inp, target, labels,
                                     pre, out, delta, spare, grad, no_grad_inp)
    if not np.isfinite(value):
        return value, optim.BAD_LOSS
    return value, optim.update(kind, hyper, state, count, params, grad)


@jit
def _gather(src, order, lo, dst):
    for r in range(dst.shape[0]):
        dst[r] = src[order[lo + r]]


@jit
def epoch(params, layers, loss, X, T, labels, batch_size, order, rng, reshuffle,
          xb, tb, lb, pre, out, delta, spare, grad, no_grad_inp,
          kind, hyper, state, count):
    """One pass over the data.

    Returns (epoch loss, batches completed, status of the batch that stopped
    it).  The epoch loss follows the loss's own convention: the sum of the batch
    losses for "sse", their mean weighted by batch size for the mean losses, so
    it is comparable with the loss of the whole set.
    """
    n = X.shape[0]
    if reshuffle:
        optim.shuffle(order, rng)
    weighted = loss != losses.SSE
    total = 0.0
    n_batches = (n + batch_size - 1) // batch_size
    for b in range(n_batches):
        lo = b * batch_size
        m = min(n, lo + batch_size) - lo
        x = xb[:m]
        _gather(X, order, lo, x)
        if labels.size > 0:
            lab = lb[:m]
            _gather(labels, order, lo, lab)
            t = tb
        else:
            lab = lb
            t = tb[:m]
            _gather(T, order, lo, t)
        value, status = step(params, layers, loss, x, t, lab, pre, out, delta, spare,
                             grad, no_grad_inp, kind, hyper, state, count)
        if status != optim.OK:
            return total, b, status
        total += value * m if weighted else value
    if weighted:
        total /= n
    return total, n_batches, optim.OK


@jit
def evaluate(params, layers, loss, X, T, labels, chunk, pre, out, delta):
    """(loss over all of X in the loss's convention, correct argmax predictions).

    Runs ``chunk`` rows at a time so the workspace stays small.  Correct
    predictions are counted against labels or the argmax of target rows.
    """
    n = X.shape[0]
    weighted = loss != losses.SSE
    total = 0.0
    correct = 0
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        x = X[lo:hi]
        lab = labels[lo:hi] if labels.size > 0 else labels
        t = T[lo:hi] if labels.size == 0 else T
        y = passes.forward(params, layers, x, pre, out)
        value = passes.output_delta(loss, layers, pre, out, t, lab, delta)
        total += value * (hi - lo) if weighted else value
        for r in range(hi - lo):
            guess = np.argmax(y[r])
            truth = lab[r] if labels.size > 0 else np.argmax(t[r])
            correct += guess == truth
    if weighted:
        total /= n
    return total, correct

