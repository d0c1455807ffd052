"""The flat memory layout of a network's parameters and activations.

All parameters live in one contiguous 1-D array.  Layer i (1-based, as in the
derivation) contributes A_i, a row-major (n_i, n_{i-1}) block, followed by B_i
(n_i entries).  Gradients and optimizer states use the same layout.
"""
import numpy as np

from ._kernels.passes import ACT, N_IN, N_OUT, U_OFF, W_OFF

# Passes over a large input (forward, fit's validation) run this many rows at a
# time, so their workspace needs this many rows only.
CHUNK_ROWS = 1024


def layer_table(sizes, codes):
    """The int64 table the compiled passes walk (see ``_kernels.passes``)."""
    table = np.zeros((len(sizes) - 1, 5), dtype=np.int64)
    w_off = u_off = 0
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        table[i, [N_IN, N_OUT, W_OFF, U_OFF, ACT]] = n_in, n_out, w_off, u_off, codes[i]
        w_off += n_out * n_in + n_out
        u_off += n_out
    return table


def n_params(sizes):
    return sum(n_out * n_in + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def split(flat, sizes):
    """(weights, biases): lists of views into ``flat``, one entry per layer."""
    weights, biases = [], []
    start = 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        weights.append(flat[start:start + n_out * n_in].reshape(n_out, n_in))
        start += n_out * n_in
        biases.append(flat[start:start + n_out])
        start += n_out
    return weights, biases
