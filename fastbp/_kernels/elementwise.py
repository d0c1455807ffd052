"""Elementwise activations ("scalar functions", chapter 一 of the derivation).

Their Jacobian is diagonal, so ``J^T v = f'(x) * v``.  Every derivative here
is computed from the stored output ``y = f(x)`` rather than from ``x``: it is
cheaper for tanh and sigmoid, cannot overflow, and lets the backward pass read
only the layer outputs.
"""
import numpy as np
from numba import njit

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


@njit(cache=True, nogil=True)
def value(code, x):
    """f(x) for one scalar."""
    if code == TANH:
        return np.tanh(x)
    if code == SIGMOID:
        # Split by sign so exp never overflows.
        if x >= 0:
            return 1.0 / (1.0 + np.exp(-x))
        e = np.exp(x)
        return e / (1.0 + e)
    if code == RELU:
        return x if x > 0 else 0.0 * x
    if code == LEAKY_RELU:
        return x if x > 0 else LEAKY_SLOPE * x
    if code == SOFTPLUS:
        # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|.
        return max(x, 0.0) + np.log1p(np.exp(-abs(x)))
    return x


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def forward(code, pre, out):
    """out = f(pre) for a 2-D block (samples x features)."""
    m, n = pre.shape
    for s in range(m):
        for j in range(n):
            out[s, j] = value(code, pre[s, j])


@njit(cache=True, nogil=True)
def vjp_inplace(code, out, g):
    """g <- J^T g = f'(x) * g for a 2-D block, f'(x) taken from out = f(x)."""
    if code == IDENTITY:
        return
    m, n = g.shape
    for s in range(m):
        for j in range(n):
            g[s, j] *= derivative_from_output(code, out[s, j])
