"""Forward and backward passes of a whole network over the flat layout.

``layers`` is an int64 table with one row per layer i = 1..n of the derivation:

    [n_in, n_out, w_off, u_off, act]

- parameters: A_i is ``params[w_off : w_off + n_out*n_in]`` viewed (n_out, n_in),
  and B_i the ``n_out`` entries right after it;
- activations: X_i and Y_i of a batch of m samples are the (m, n_out) blocks
  starting at ``m * u_off`` in the flat buffers ``pre`` and ``out``;
- ``act`` is the activation code (``activations.CODES``).

Gradients use the parameter layout; the deltas K_i ping-pong between two
buffers of at least m * max(width) entries.
"""
import numpy as np

from . import activations, dense, jit, losses

N_IN, N_OUT, W_OFF, U_OFF, ACT = range(5)


@jit
def _weights(flat, layer):
    n_in, n_out, w_off = layer[N_IN], layer[N_OUT], layer[W_OFF]
    return flat[w_off:w_off + n_out * n_in].reshape((n_out, n_in))


@jit
def _biases(flat, layer):
    start = layer[W_OFF] + layer[N_OUT] * layer[N_IN]
    return flat[start:start + layer[N_OUT]]


@jit
def _block(buf, m, offset, width):
    return buf[m * offset:m * (offset + width)].reshape((m, width))


@jit
def forward(params, layers, inp, pre, out):
    """Fill X_i (``pre``) and Y_i (``out``) for every layer; return Y_n."""
    m = inp.shape[0]
    y = inp
    for i in range(layers.shape[0]):
        layer = layers[i]
        x = _block(pre, m, layer[U_OFF], layer[N_OUT])
        dense.forward(_weights(params, layer), _biases(params, layer), y, x)
        y = _block(out, m, layer[U_OFF], layer[N_OUT])
        activations.forward(layer[ACT], x, y)
    return y


@jit
def predict(params, layers, X, chunk, pre, out, result):
    """Outputs of the network for every row of X, ``chunk`` rows at a time."""
    n = X.shape[0]
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        result[lo:hi] = forward(params, layers, X[lo:hi], pre, out)


@jit
def output_delta(loss, layers, pre, out, target, labels, delta):
    """Loss of the last forward pass; writes K_n into the start of ``delta``."""
    m = target.shape[0] if labels.size == 0 else labels.size
    last = layers[layers.shape[0] - 1]
    x = _block(pre, m, last[U_OFF], last[N_OUT])
    y = _block(out, m, last[U_OFF], last[N_OUT])
    k = _block(delta, m, 0, last[N_OUT])
    if loss == losses.CROSS_ENTROPY:
        return losses.cross_entropy(x, y, target, labels, k)
    return losses.squared_error(loss, y, target, last[ACT], k)


@jit
def backward(params, layers, inp, out, delta, spare, grad, grad_inp):
    """The recursion K_i = J_i^T (A_{i+1}^T K_{i+1}), dL/dA_i = K_i Y_{i-1}^T.

    ``delta`` holds K_n on entry; ``spare`` is the other ping-pong buffer.
    ``grad`` receives dL/dparams; ``grad_inp`` receives dL/dY_0 when it has
    rows, and is skipped (saving one product) when it has none.
    """
    m = inp.shape[0]
    for i in range(layers.shape[0] - 1, -1, -1):
        layer = layers[i]
        k = _block(delta, m, 0, layer[N_OUT])
        if i > 0:
            below = layers[i - 1]
            y_prev = _block(out, m, below[U_OFF], below[N_OUT])
        else:
            y_prev = inp
        dense.parameter_gradient(k, y_prev, _weights(grad, layer), _biases(grad, layer))
        if i > 0:
            g = _block(spare, m, 0, layer[N_IN])
            dense.input_gradient(k, _weights(params, layer), g)
            activations.vjp_inplace(below[ACT], y_prev, g)
            delta, spare = spare, delta
        elif grad_inp.shape[0] > 0:
            dense.input_gradient(k, _weights(params, layer), grad_inp)


@jit
def first_nonfinite(a):
    """Flat index of the first NaN or infinity in ``a``, or -1 (allocates nothing)."""
    flat = a.ravel()
    for i in range(flat.size):
        if not np.isfinite(flat[i]):
            return i
    return -1


@jit
def loss_and_gradient(params, layers, loss, inp, target, labels,
                      pre, out, delta, spare, grad, grad_inp):
    """forward, loss and backward in one compiled call; returns the loss."""
    forward(params, layers, inp, pre, out)
    value = output_delta(loss, layers, pre, out, target, labels, delta)
    backward(params, layers, inp, out, delta, spare, grad, grad_inp)
    return value


@jit
def first_out_of_range(labels, n_classes):
    """Index of the first label outside [0, n_classes), or -1."""
    for i in range(labels.size):
        if labels[i] < 0 or labels[i] >= n_classes:
            return i
    return -1
