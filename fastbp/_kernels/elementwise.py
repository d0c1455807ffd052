"""Elementwise activations ("scalar functions", chapter 一 of the derivation).

Their Jacobian is diagonal, so ``J^T v = f'(x) * v``.  Every derivative here
is computed from the stored output ``y = f(x)`` rather than from ``x``: it is
cheaper for tanh and sigmoid, cannot overflow, and lets the backward pass read
only the layer outputs.
"""
import numpy as np

from . import fastfn, jit

# Codes are what the compiled passes dispatch on; names are what users write.
IDENTITY, TANH, SIGMOID, RELU, LEAKY_RELU, SOFTPLUS = range(6)
CODES = {
    "identity": IDENTITY,
    "tanh": TANH,
    "sigmoid": SIGMOID,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "softplus": SOFTPLUS,
}
LEAKY_SLOPE = 0.01  # PyTorch's default negative slope


@jit
def value(code, x):
    """f(x) for one scalar."""
    if code == TANH:
        return fastfn.tanh(x)
    if code == SIGMOID:
        return fastfn.sigmoid(x)
    if code == RELU:
        return x if x > 0 else 0.0 * x
    if code == LEAKY_RELU:
        return x if x > 0 else LEAKY_SLOPE * x
    if code == SOFTPLUS:
        # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|.
        return max(x, 0.0) + np.log1p(fastfn.exp(-abs(x)))
    return x


@jit
def derivative_from_output(code, y):
    """f'(x) written in terms of y = f(x)."""
    if code == TANH:
        return 1.0 - y * y
    if code == SIGMOID:
        return y * (1.0 - y)
    if code == RELU:
        # relu'(0) = 0, as PyTorch.
        return 1.0 if y > 0 else 0.0
    if code == LEAKY_RELU:
        # The slope is positive, so y > 0 exactly when x > 0.
        return 1.0 if y > 0 else LEAKY_SLOPE
    if code == SOFTPLUS:
        # softplus' = sigmoid(x) = 1 - e^{-y}; expm1 keeps it exact for tiny y.
        return -np.expm1(-y)
    return 1.0


@jit
def forward(code, pre, out):
    """out = f(pre) for a 2-D block (samples x features)."""
    # One loop per code, so that each inner loop is branch-free and vectorises.
    p = pre.reshape(pre.size)
    o = out.reshape(out.size)
    if code == TANH:
        for i in range(p.size):
            o[i] = fastfn.tanh(p[i])
    elif code == SIGMOID:
        for i in range(p.size):
            o[i] = fastfn.sigmoid(p[i])
    elif code == RELU:
        for i in range(p.size):
            o[i] = value(RELU, p[i])
    elif code == LEAKY_RELU:
        for i in range(p.size):
            o[i] = value(LEAKY_RELU, p[i])
    elif code == SOFTPLUS:
        for i in range(p.size):
            o[i] = value(SOFTPLUS, p[i])
    else:
        o[:] = p


@jit
def vjp_inplace(code, out, g):
    """g <- J^T g = f'(x) * g for a 2-D block, f'(x) taken from out = f(x)."""
    o = out.reshape(out.size)
    v = g.reshape(g.size)
    if code == TANH:
        for i in range(v.size):
            v[i] *= 1.0 - o[i] * o[i]
    elif code == SIGMOID:
        for i in range(v.size):
            v[i] *= o[i] * (1.0 - o[i])
    elif code != IDENTITY:
        for i in range(v.size):
            v[i] *= derivative_from_output(code, o[i])
