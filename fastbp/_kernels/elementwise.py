"""Elementwise activations ("scalar functions", chapter 一 of the derivation).

Their Jacobian is diagonal, so ``J^T v = f'(x) * v``.  Every derivative here
is computed from the stored output ``y = f(x)`` rather than from ``x``: it is
cheaper for tanh and sigmoid, cannot overflow, and lets the backward pass read
only the layer outputs.
"""

from . import fastfn, jit
from .views import segment

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
        # softplus' = sigmoid(x) = 1 - e^{-y} = -expm1(-y): exact for tiny y too.
        return fastfn.softplus_slope(y)
    return 1.0


@jit
def forward(code, src, s0, dst, d0, count):
    """dst[d0 : d0+count] = f(src[s0 : s0+count])."""
    # One loop per function, over 1-D slices, so each loop is branch-free and
    # vectorises.
    x = segment(src, s0, count)
    y = segment(dst, d0, count)
    if code == TANH:
        for i in range(count):
            y[i] = fastfn.tanh_of(x[i])
    elif code == SIGMOID:
        for i in range(count):
            y[i] = fastfn.sigmoid_of(x[i])
    elif code == RELU:
        # 0 * x rather than 0 left of 0: a NaN takes this branch and stays NaN.
        for i in range(count):
            y[i] = x[i] if x[i] > 0 else 0.0 * x[i]
    elif code == LEAKY_RELU:
        for i in range(count):
            y[i] = x[i] if x[i] > 0 else LEAKY_SLOPE * x[i]
    elif code == SOFTPLUS:
        for i in range(count):
            y[i] = fastfn.softplus(x[i])
    else:
        for i in range(count):
            y[i] = x[i]


@jit
def vjp_inplace(code, out, o0, g, g0, count):
    """g[g0 : g0+count] *= f'(x), f'(x) taken from the outputs out[o0 : o0+count]."""
    y = segment(out, o0, count)
    v = segment(g, g0, count)
    if code == TANH:
        for i in range(count):
            v[i] *= 1.0 - y[i] * y[i]
    elif code == SIGMOID:
        for i in range(count):
            v[i] *= y[i] * (1.0 - y[i])
    # No loop over derivative_from_output for several codes: its branch on the
    # code keeps the loop scalar.  One loop for both kinks, with the slope left
    # of 0 as a value.
    elif code == RELU or code == LEAKY_RELU:
        left = 0.0 if code == RELU else LEAKY_SLOPE
        for i in range(count):
            v[i] *= 1.0 if y[i] > 0 else left
    elif code == SOFTPLUS:
        for i in range(count):
            v[i] *= fastfn.softplus_slope(y[i])
