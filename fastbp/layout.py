"""The flat memory layout of a network's parameters, seen from Python.

All parameters live in one contiguous 1-D array.  Layer i (1-based, as in the
derivation) contributes A_i, a row-major (n_i, n_{i-1}) block, followed by B_i
(n_i entries).  Gradients and optimizer states use the same layout.  The
layer table built here is the one place the offsets are computed; the
parameter count and the workspace's size come from the kernels' own
functions (``fastbp._kernels.layout``), so both layers read one definition.
"""
import numpy as np

from ._kernels import layout as kernel_layout
from ._kernels.layout import ACT, N_IN, N_OUT, U_OFF, W_OFF

# Passes over a large input (forward, fit's validation, L-BFGS's objective)
# run this many rows at a time, so their workspace needs this many rows only.
CHUNK_ROWS = 1024


def layer_table(sizes, codes):
    """The int64 table the compiled passes walk (``fastbp._kernels.layout``)."""
    table = np.zeros((len(sizes) - 1, 5), dtype=np.int64)
    w_off = u_off = 0
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        table[i, [N_IN, N_OUT, W_OFF, U_OFF, ACT]] = n_in, n_out, w_off, u_off, codes[i]
        w_off += n_out * n_in + n_out
        u_off += n_out
    return table


def n_params(table):
    """Length of the parameter layout of a layer table."""
    return int(kernel_layout.n_params.py_func(table))


def workspace_size(table, rows):
    """Entries of a workspace for up to ``rows`` samples (its layout:
    ``fastbp._kernels.layout``)."""
    width, _, _ = kernel_layout.row_width.py_func(table)
    return int(kernel_layout.grad_room.py_func(n_params(table)) + rows * width)


def split(flat, table):
    """(weights, biases): lists of views into ``flat``, one entry per layer."""
    weights, biases = [], []
    for n_in, n_out, w_off, _, _ in table.tolist():
        weights.append(flat[w_off:w_off + n_out * n_in].reshape(n_out, n_in))
        biases.append(flat[w_off + n_out * n_in:w_off + n_out * (n_in + 1)])
    return weights, biases
