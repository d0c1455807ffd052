"""The three matrix products of a dense layer, as loops over sample-major blocks.

Blocks are (samples x features), C order: one sample per row, as NumPy users
pass data, so a batch needs no transpose.  A weight matrix A is (n_out, n_in),
C order.  In every loop nest below the innermost loop walks a row of both
operands, i.e. runs at unit stride.
"""
from . import REORDER, jit


@jit(fastmath=REORDER)
def forward(weights, biases, inp, pre):
    """pre = inp A^T + 1 B^T: the derivation's X = A Y + B, one row per sample."""
    m, n_in = inp.shape
    n_out = weights.shape[0]
    for s in range(m):
        for j in range(n_out):
            acc = biases[j]
            for k in range(n_in):
                acc += weights[j, k] * inp[s, k]
            pre[s, j] = acc


@jit(fastmath=REORDER)
def parameter_gradient(delta, inp, grad_w, grad_b):
    """dL/dA = K^T Y (summed over samples), dL/dB = K^T 1."""
    m, n_in = inp.shape
    n_out = delta.shape[1]
    grad_w[:, :] = 0.0
    grad_b[:] = 0.0
    for s in range(m):
        for j in range(n_out):
            d = delta[s, j]
            grad_b[j] += d
            for k in range(n_in):
                grad_w[j, k] += d * inp[s, k]


@jit(fastmath=REORDER)
def input_gradient(delta, weights, grad_in):
    """grad_in = K A: the derivation's A^T K, one row per sample."""
    m, n_out = delta.shape
    grad_in[:, :] = 0.0
    for s in range(m):
        for j in range(n_out):
            d = delta[s, j]
            for k in range(weights.shape[1]):
                grad_in[s, k] += d * weights[j, k]
