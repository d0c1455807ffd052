"""Optimizer updates over the flat parameter layout, with torch.optim's semantics.

One optimizer is a ``kind`` code, a float64 ``hyper`` vector (which also
counts the updates done) and a ``state``
block in the parameter layout: rows 0 and 1 hold the optimizer's state (SGD
uses only row 0), rows 2 and 3, present for every kind but plain SGD, are
scratch.  An update never leaves a half-written step behind, and makes one
pass over the parameters: it writes each new value while keeping the old one
(the parameter in the gradient buffer, which the caller no longer needs, the
state in rows 2 and 3), and puts them all back if any new value is not finite
or the gradient was not.  Rows 2-3 cost two arrays of memory; a pass that only
checks, before the one that writes, would compute Adam's square roots and
divisions twice (docs/decisions/0012-one-pass-optimizer-update.md).
"""
import numpy as np

from . import REORDER, jit
from .status import BAD_GRADIENT, BAD_STEP, OK

SGD, ADAM, RMSPROP = range(3)
# Positions in ``hyper``, one per meaning; a kind reads only its own:
#   every kind: LR, DECAY (weight decay), MAX_NORM (0: no clipping), LIMIT (the
#     largest finite value of the parameters' dtype), STEPS (updates done,
#     exact as a float64 up to 2**53, advanced by the kernels)
#   SGD:     MOMENTUM, NESTEROV
#   ADAM:    BETA1, BETA2, EPS, DECOUPLED (AdamW's weight decay)
#   RMSPROP: MOMENTUM, ALPHA, EPS
# The count lives here rather than in an array of its own because every array
# argument costs a direct call time to unbox (docs/decisions/0014-fewer-array-arguments.md).
# STEPS keeps position 8, where optimizers pickled before these names kept it.
LR, MOMENTUM, ALPHA, EPS, DECAY, NESTEROV, MAX_NORM, LIMIT, STEPS, BETA1, BETA2, DECOUPLED = \
    range(12)
N_HYPER = 12
_FLOAT64_MAX = np.finfo(np.float64).max


# Each rule maps (parameter, gradient, state...) of one element to their new
# values; ``update`` stores them.  Coefficients arrive in the parameters'
# dtype, so float32 networks update in float32 arithmetic (as torch does), at
# twice the SIMD width.

@jit
def plain_sgd(p, g, lr, decay):
    """SGD without momentum (also the one-pass update of ``training.sample_epoch``)."""
    return p - lr * (g + decay * p)


@jit(inline="always")
def _sgd(p, g, buf, lr, decay, momentum, nesterov):
    if momentum == 0.0:
        return plain_sgd(p, g, lr, decay), buf
    g = g + decay * p
    buf = momentum * buf + g
    return p - lr * (g + momentum * buf if nesterov else buf), buf


@jit(inline="always")
def _adam(p, g, m, v, decay, shrink, decoupled, keep1, take1, keep2, take2, eps, step_size,
          root_c2):
    if decoupled:
        p = p * shrink
    else:
        g = g + decay * p
    m = m + take1 * (g - m)
    v = keep2 * v + take2 * g * g
    return p - step_size * m / (np.sqrt(v) / root_c2 + eps), m, v


@jit(inline="always")
def _rmsprop(p, g, sq, buf, lr, decay, keep, take, eps, momentum):
    g = g + decay * p
    sq = keep * sq + take * g * g
    avg = np.sqrt(sq) + eps
    if momentum == 0.0:
        return p - lr * g / avg, sq, buf
    buf = momentum * buf + g / avg
    return p - lr * buf, sq, buf


@jit(fastmath=REORDER)
def clip_scale(grad, max_norm):
    """Factor torch's clip_grad_norm_ applies (1 without clipping); NaN if grad is not finite."""
    total = 0.0
    for i in range(grad.size):
        total += grad[i] * grad[i]
    # A comparison, not np.isfinite: under fastmath LLVM may fold the x - x
    # that numba's isfinite is made of.  NaN and inf both fail it.
    if not total <= _FLOAT64_MAX:
        return np.nan
    if max_norm <= 0.0:
        return 1.0
    return min(1.0, max_norm / (np.sqrt(total) + 1e-6))


@jit
def update(kind, hyper, state, params, grad):
    """Apply one update in place and add 1 to ``hyper[STEPS]``; returns a status code.

    ``hyper[STEPS]`` holds the number of updates done so far (Adam's bias
    correction needs it); it lives in an array so the kernel keeps it in step
    with the parameters whatever interrupts the caller.  On any status but OK the
    parameters and the state are as they were.  ``grad`` and the scratch rows
    of ``state`` are overwritten; the scratch rows must be there for every kind
    but plain SGD (the Python optimizer allocates them).
    """
    as_dtype = params.dtype.type
    plain = kind == SGD and hyper[MOMENTUM] == 0.0
    scale = 1.0
    if hyper[MAX_NORM] > 0.0 or not plain:
        scale = clip_scale(grad, hyper[MAX_NORM])
        if not np.isfinite(scale):
            return BAD_GRADIENT
    step = hyper[STEPS] + 1.0
    scale = as_dtype(scale)
    lr, decay = as_dtype(hyper[LR]), as_dtype(hyper[DECAY])
    state_a, state_b = state[0], state[1]
    # Whether every new value is finite once stored: an AND over comparisons
    # (NaN fails them), which unlike a float sum vectorises without fastmath.
    limit = as_dtype(hyper[LIMIT])
    ok = True
    fine = True  # the gradient; clip_scale has checked it unless plain
    if plain:
        for i in range(params.size):
            p, g = params[i], grad[i]
            q = plain_sgd(p, g * scale, lr, decay)
            fine &= abs(g) <= limit
            ok &= abs(q) <= limit
            grad[i] = p
            params[i] = q
    elif kind == SGD:
        momentum, nesterov = as_dtype(hyper[MOMENTUM]), hyper[NESTEROV] != 0.0
        saved_a = state[2]
        for i in range(params.size):
            p, buf = params[i], state_a[i]
            q, buf_new = _sgd(p, grad[i] * scale, buf, lr, decay, momentum, nesterov)
            ok &= abs(q) <= limit
            grad[i], saved_a[i] = p, buf
            params[i], state_a[i] = q, buf_new
    elif kind == ADAM:
        # Bias corrections in float64 from the float64 betas, as torch does.
        beta1, beta2 = hyper[BETA1], hyper[BETA2]
        decoupled = hyper[DECOUPLED] != 0.0
        step_size = as_dtype(hyper[LR] / (1.0 - beta1 ** step))
        root_c2 = as_dtype(np.sqrt(1.0 - beta2 ** step))
        shrink = as_dtype(1.0 - hyper[LR] * hyper[DECAY])
        keep1, take1 = as_dtype(beta1), as_dtype(1.0 - beta1)
        keep2, take2 = as_dtype(beta2), as_dtype(1.0 - beta2)
        eps = as_dtype(hyper[EPS])
        saved_a, saved_b = state[2], state[3]
        for i in range(params.size):
            p, m, v = params[i], state_a[i], state_b[i]
            q, m_new, v_new = _adam(p, grad[i] * scale, m, v, decay, shrink, decoupled, keep1,
                                    take1, keep2, take2, eps, step_size, root_c2)
            ok &= abs(q) <= limit
            grad[i], saved_a[i], saved_b[i] = p, m, v
            params[i], state_a[i], state_b[i] = q, m_new, v_new
    else:
        keep, take = as_dtype(hyper[ALPHA]), as_dtype(1.0 - hyper[ALPHA])
        eps, momentum = as_dtype(hyper[EPS]), as_dtype(hyper[MOMENTUM])
        saved_a, saved_b = state[2], state[3]
        for i in range(params.size):
            p, sq, buf = params[i], state_a[i], state_b[i]
            q, sq_new, buf_new = _rmsprop(p, grad[i] * scale, sq, buf, lr, decay, keep, take,
                                          eps, momentum)
            ok &= abs(q) <= limit
            grad[i], saved_a[i], saved_b[i] = p, sq, buf
            params[i], state_a[i], state_b[i] = q, sq_new, buf_new
    if not (fine and ok):
        # Put everything back: the old values are in grad and state rows 2-3.
        # (In line: a function of its own would add to every cold compile.)
        for i in range(params.size):
            params[i] = grad[i]
        if not plain:
            saved_a, saved_b = state[2], state[3]
            for i in range(params.size):
                state_a[i] = saved_a[i]
            if kind != SGD:
                for i in range(params.size):
                    state_b[i] = saved_b[i]
        return BAD_GRADIENT if not fine else BAD_STEP
    hyper[STEPS] = step
    return OK
