"""Optimizer updates over the flat parameter layout, with torch.optim's semantics.

One optimizer is a ``kind`` code, a float64 ``hyper`` vector and a ``state``
block of shape (2, n_params) in the parameter layout (SGD uses only row 0).  The update is done
in two passes so that it never leaves a half-written step behind: the first
checks that the gradient is finite (and gets its norm, for clipping) and that
every new value would be finite; only then does the second write.
"""
import numpy as np
from numba import njit

SGD, ADAM, RMSPROP = range(3)
# Positions in ``hyper``.  The meaning of A, B, EPS and FLAG depends on the kind:
#   SGD:     A = momentum, FLAG = nesterov
#   ADAM:    A = beta1, B = beta2, EPS = eps, FLAG = decoupled weight decay (AdamW)
#   RMSPROP: A = momentum, B = alpha, EPS = eps
LR, A, B, EPS, DECAY, FLAG, MAX_NORM = range(7)
N_HYPER = 7

# Status codes shared with the training kernels.
OK, BAD_LOSS, BAD_GRADIENT, BAD_STEP = range(4)


@njit(cache=True, nogil=True)
def _element(kind, hyper, step_size, root_c2, p, g, s0, s1):
    """New (parameter, state 0, state 1) of one element; pure, writes nothing.

    ``step_size`` and ``root_c2`` are Adam's bias corrections, computed once per update.
    """
    lr, decay = hyper[LR], hyper[DECAY]
    if kind == SGD:
        momentum = hyper[A]
        g = g + decay * p
        if momentum != 0.0:
            s0 = momentum * s0 + g
            g = g + momentum * s0 if hyper[FLAG] != 0.0 else s0
        return p - lr * g, s0, s1
    if kind == ADAM:
        beta1, beta2 = hyper[A], hyper[B]
        if hyper[FLAG] != 0.0:
            p = p * (1.0 - lr * decay)
        else:
            g = g + decay * p
        s0 = s0 + (1.0 - beta1) * (g - s0)
        s1 = beta2 * s1 + (1.0 - beta2) * g * g
        denom = np.sqrt(s1) / root_c2 + hyper[EPS]
        return p - step_size * s0 / denom, s0, s1
    # RMSPROP
    momentum, alpha = hyper[A], hyper[B]
    g = g + decay * p
    s0 = alpha * s0 + (1.0 - alpha) * g * g
    avg = np.sqrt(s0) + hyper[EPS]
    if momentum != 0.0:
        s1 = momentum * s1 + g / avg
        return p - lr * s1, s0, s1
    return p - lr * g / avg, s0, s1


@njit(cache=True, nogil=True)
def clip_scale(grad, max_norm):
    """Factor torch's clip_grad_norm_ applies (1 without clipping); NaN if grad is not finite."""
    total = 0.0
    for i in range(grad.size):
        total += grad[i] * grad[i]
    if not np.isfinite(total):
        return np.nan
    if max_norm <= 0.0:
        return 1.0
    return min(1.0, max_norm / (np.sqrt(total) + 1e-6))


@njit(cache=True, nogil=True)
def update(kind, hyper, state, count, params, grad):
    """Apply one update in place and add 1 to ``count[0]``; returns a status code.

    ``count`` holds the number of updates done so far (Adam's bias correction
    needs it); it lives in an array so the kernel keeps it in step with the
    parameters whatever interrupts the caller.  On any status but OK nothing
    has been written.
    """
    step = count[0] + 1
    scale = clip_scale(grad, hyper[MAX_NORM])
    if not np.isfinite(scale):
        return BAD_GRADIENT
    step_size = hyper[LR] / (1.0 - hyper[A] ** step)
    root_c2 = np.sqrt(1.0 - hyper[B] ** step)
    s0 = state[0]
    s1 = state[1]
    for i in range(params.size):
        p, _, _ = _element(
            kind, hyper, step_size, root_c2, params[i], grad[i] * scale, s0[i], s1[i])
        if not np.isfinite(p):
            return BAD_STEP
    for i in range(params.size):
        params[i], s0[i], s1[i] = _element(
            kind, hyper, step_size, root_c2, params[i], grad[i] * scale, s0[i], s1[i])
    count[0] = step
    return OK


@njit(cache=True, nogil=True)
def next_random(rng):
    """splitmix64: a small, well-mixed generator whose state is one uint64 in ``rng``."""
    rng[0] += np.uint64(0x9E3779B97F4A7C15)
    z = rng[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def shuffle(order, rng):
    """Fisher-Yates shuffle of ``order`` in place, driven by ``rng``."""
    for i in range(order.size - 1, 0, -1):
        # The top 53 bits as a float in [0, 1): no modulo bias worth the name.
        u = (next_random(rng) >> np.uint64(11)) * (1.0 / 9007199254740992.0)
        j = int(u * (i + 1))
        order[i], order[j] = order[j], order[i]
