"""Training in compiled calls: one step, one whole epoch, one evaluation.

An epoch shuffles, slices minibatches (the last one may be smaller), and runs
forward, backward and update for each, so no Python runs per step.  Batches
are gathered by index into small buffers; the data itself is never copied.
"""
import numpy as np

from . import activations, dense, entry, jit, losses, optim, passes
from .status import BAD_GRADIENT, BAD_LOSS, BAD_STEP, OK
from .views import START, flat, matrix, segment


@entry
def step(params, layers, loss, X, target, labels, work, kind, hyper, state, ext=None):
    """Check the batch, then one forward, backward and update.

    Returns (loss before the update, status).
    """
    status = passes.check_batch(layers, X, target, labels)
    if status != OK:
        return np.nan, status
    inp, m = flat(X), X.shape[0]
    # forward, loss, backward written out here, in ``epoch`` and in
    # ``passes.loss_and_gradient`` rather than shared: each layer of compiled
    # calls re-optimises everything below it, 1-3 s of every cold compile.
    _, pre, out, delta, spare = passes.regions(layers, work)
    passes.forward_at(params, layers, inp, START, m, work, pre, out, delta, ext)
    value = passes.output_delta(loss, layers, m, work, pre, out, delta, target, labels, ext)
    grad = passes.gradient(layers, work)
    # No input gradient: a view of no rows says so (passes.backward).
    passes.backward(params, layers, inp, START, m, work, pre, out, delta, spare, grad,
                    matrix(work, START, 0, X.shape[1]), ext)
    if not np.isfinite(value):
        return value, BAD_LOSS
    return value, optim.update(kind, hyper, state, params, grad)


# Releases the GIL like every kernel.  Keeping it saved 0.03 us of a tiny
# train_step (0.93-0.99x), but a batch-1 step of a 784-512-512-10 network
# takes about 160 us, and two threads training such networks then took 2.47x
# one thread's time instead of 1.27x (session 6 review): not kept.
@entry
def sample_step(params, layers, loss, X, target, labels, work, hyper, ext=None):
    """``step`` for one sample under plain SGD (no momentum, no clipping: the
    caller makes sure), by ``sample_steps``'s fused step: 0.6x the time.

    An entry of its own rather than a branch of ``step``: the branch would add
    2.3 s to the first compile of ``step`` for every network.
    """
    status = passes.check_batch(layers, X, target, labels)
    if status != OK:
        return np.nan, status
    # ``labels[:0]``: no order, the one row.
    value, _, status = sample_steps(params, layers, loss, X, target, labels, labels[:0], work,
                                    hyper, ext)
    return value, status


@entry
def epoch(params, layers, loss, X, T, labels, batch_size, order, rng, reshuffle,
          xb, tb, lb, work, kind, hyper, state, ext=None):
    """One pass over the data.

    ``xb`` (flat), ``tb`` and ``lb`` receive each batch's rows, gathered by
    index.  Returns (epoch loss, batches completed, status of the batch that
    stopped it).  The epoch loss follows the loss's own convention: the sum of
    the batch losses for "sse", their mean weighted by batch size for the mean
    losses, so it is comparable with the loss of the whole set.
    """
    n, n_in = X.shape
    _, pre, out, delta, spare = passes.regions(layers, work)
    grad = passes.gradient(layers, work)
    _, k_last, _, u_last, act_last = layers[layers.shape[0] - 1]
    no_input_gradient = matrix(work, START, 0, n_in)  # as in ``step``
    if reshuffle:
        optim.shuffle(order, rng)
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
                # path that formats strings (seconds of every cold compile).
                for k in range(tb.shape[1]):
                    tb[r, k] = T[row, k]
        passes.forward_at(params, layers, xb, START, m, work, pre, out, delta, ext)
        # passes.output_delta written out: one compiled layer fewer, 1 s less of
        # the cold compile of fit (measured; see passes.loss_and_gradient).
        if loss == losses.CROSS_ENTROPY:
            value = losses.cross_entropy(work, pre + m * u_last, work, out + m * u_last, tb, lb,
                                         m, k_last, work, delta)
        else:
            value = losses.squared_error(loss, work, pre + m * u_last, out + m * u_last, tb, m,
                                         k_last, act_last, delta, ext)
        passes.backward(params, layers, xb, START, m, work, pre, out, delta, spare, grad,
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
def sample_epoch(params, layers, loss, X, T, labels, order, rng, reshuffle, work, hyper,
                 ext=None):
    """``epoch`` for batches of one sample under plain SGD: ``sample_steps``
    over the (reshuffled) ``order``."""
    if reshuffle:
        optim.shuffle(order, rng)
    return sample_steps(params, layers, loss, X, T, labels, order, work, hyper, ext)


@jit
def sample_steps(params, layers, loss, X, T, labels, order, work, hyper, ext):
    """Steps of one sample under plain SGD (no momentum, no clipping: the
    caller makes sure) with the backward pass and the update fused, on the rows
    ``order`` of X and T (or labels), or on every row in turn if ``order`` is
    empty.

    Going down the layers, each row of A_i adds its share of K_{i-1} and is
    updated in the same visit, while it is in cache: the update needs no pass
    of its own and no gradient is ever stored.  The results are ``epoch``'s up to
    rounding, and so are the statuses: a failed step leaves the parameters as
    they were before it (the old values wait in ``grad``).  Returns what
    ``epoch`` returns.

    One loop for ``sample_epoch`` and ``sample_step``: the step as a function
    of its own, called per sample, took 1.15-1.7x the time (inlined by numba
    or not; measured on the tiny workload).

    Not compiled with ``REORDER``: tried, it measured 0.90x the time only
    while the helpers it shares with the general path took its flags, which
    made the general path's rounding depend on which kernel compiled first
    (see ``fastbp._kernels``); with every kernel's flags set, no faster.
    """
    n, n_in = X.shape
    _, pre, out, delta, spare = passes.regions(layers, work)
    grad = passes.gradient(layers, work)  # where the old values wait
    last = layers.shape[0] - 1
    _, k_last, _, u_last, act_last = layers[last]
    as_dtype = params.dtype.type
    lr, decay = as_dtype(hyper[optim.LR]), as_dtype(hyper[optim.DECAY])
    limit = as_dtype(hyper[optim.LIMIT])
    use_labels = labels.size > 0
    inp = flat(X)
    total = 0.0
    for b in range(n):
        row = order[b] if order.size > 0 else b
        # The sample's target row or label, as a view (views.matrix/segment:
        # a slice here took 1.08x the time of the step).
        tb, lb = T, labels
        if use_labels:
            lb = segment(labels, row, 1)
        else:
            tb = matrix(flat(T), row * k_last, 1, k_last)
        # passes.forward_at's loop, minus its batch loops and BLAS branch:
        # 1.1x the whole step.
        src, s0 = inp, row * n_in
        for i in range(last + 1):
            n_from, n_to, w, u, act = layers[i]
            dense.forward_row(params, w, segment(src, s0, n_from), work, pre + u, n_from, n_to)
            activations.forward_at(act, work, pre + u, out + u, 1, n_to, ext)
            src, s0 = work, out + u
        if loss == losses.CROSS_ENTROPY:
            value = losses.cross_entropy(work, pre + u_last, work, out + u_last, tb, lb,
                                         1, k_last, work, delta)
        else:
            value = losses.squared_error(loss, work, pre + u_last, out + u_last, tb, 1,
                                         k_last, act_last, delta, ext)
        if not np.isfinite(value):
            return total, b, BAD_LOSS
        # Whether every gradient entry is finite, tested a row at a time
        # below; the new values are tested together at the end.  Testing each
        # gradient entry and new value as it was computed made the tiny step
        # 1.3-1.4x as long as testing nothing; this way takes 0.88x its time.
        fine = True
        d0, g0 = delta, spare
        for i in range(last, -1, -1):
            n_from, n_to, w, _, _ = layers[i]
            below = layers[max(i - 1, 0)]
            # K_{i-1} (before the activation's J^T) is summed into g.
            g = segment(work, g0, n_from)
            if i > 0:
                x = segment(work, out + below[passes.U_OFF], n_from)
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
                activations.vjp_at(below[passes.ACT], work, pre + below[passes.U_OFF],
                                   out + below[passes.U_OFF], g0, 1, n_from, ext)
                d0, g0 = g0, d0
        ok = passes.all_finite(params)
        if not (fine and ok):
            for k in range(params.size):
                params[k] = grad[k]
            return total, b, BAD_GRADIENT if not fine else BAD_STEP
        hyper[optim.STEPS] += 1.0
        total += value
    if loss != losses.SSE:
        total /= n
    return total, n, OK


@entry
def evaluate(params, layers, loss, X, T, labels, work, ext=None):
    """(loss over all of X in the loss's convention, correct argmax predictions).

    Runs as many rows at a time as ``work`` holds.  Correct predictions are
    counted against labels or the argmax of target rows.
    """
    cap, pre, out, delta, _ = passes.regions(layers, work)
    n, n_in = X.shape
    k = layers[layers.shape[0] - 1, passes.N_OUT]
    inp = flat(X)
    use_labels = labels.size > 0
    weighted = loss != losses.SSE
    total = 0.0
    correct = 0
    for lo in range(0, n, cap):
        m = min(n, lo + cap) - lo
        lab = labels[lo:lo + m] if use_labels else labels
        t = T if use_labels else T[lo:lo + m]
        y0 = passes.forward_at(params, layers, inp, lo * n_in, m, work, pre, out, delta, ext)
        value = passes.output_delta(loss, layers, m, work, pre, out, delta, t, lab, ext)
        total += value * m if weighted else value
        for r in range(m):
            guess = np.argmax(segment(work, y0 + r * k, k))
            truth = lab[r] if use_labels else np.argmax(t[r])
            correct += guess == truth
    if weighted:
        total /= n
    return total, correct
