"""A slow, obvious NumPy reference of the backpropagation derivation, in
float64, for checking fastbp and other implementations.

Written from the derivation, not from fastbp's kernels, so that a check
compares two independent paths to the same numbers.  This module imports
nothing but NumPy (none of fastbp's compiled code); of a network it reads only
the public ``weights``, ``biases`` and ``activations``.

The derivation, as written here:

- feature-major: Y_i is an n_i x m block, one sample per column (fastbp's API
  takes one sample per row; the functions below convert);
- forward:  X_i = A_i Y_{i-1} + B_i 1^T,   Y_i = f_i(X_i);
- every activation has an explicit n_i x n_i Jacobian J_i = dY_i/dX_i
  (J[a, b] = df_a/dx_b), computed from the pre-activation X_i, and the backward
  pass multiplies by the full J_i^T one sample at a time (fastbp instead uses
  O(n) J^T v shortcuts taken from the outputs Y_i);
- backward: K_n = J_n^T dL/dY_n,   K_i = J_i^T (A_{i+1}^T K_{i+1}),
  dL/dA_i = K_i Y_{i-1}^T,   dL/dB_i = K_i 1,   dL/dY_0 = A_1^T K_1.

Lists inside the functions are indexed like the derivation: A[i], B[i], X[i],
K[i] for layers i = 1..n (index 0 unused) and Y[0] is the input.

Contents:

- activations: `activation`, `derivative`, `jacobian`,
  `jacobian_transpose_times`, `sigmoid`, `softmax`;
- the network: `forward_pass`, `forward`, `loss_and_output_gradient`,
  `loss_and_gradient`, `sgd_step`, `outputs_loss_and_gradient` (of a network
  object), the parameter layout (`layer_offsets`, `split`);
- random problems on which gradient checks are meaningful: `random_problem`,
  `random_sizes`, `random_targets`;
- optimizer rules, as torch.optim writes them: `sgd_update`, `adam_update`,
  `rmsprop_update`, `clip_factor`;
- central differences: `central_differences`;
- comparisons: `relative_error` (norm-wise), `max_relative_error` (largest
  entry), `assert_close` (elementwise).
"""
import numpy as np

LEAKY_SLOPE = 0.01  # PyTorch's default negative slope

__all__ = [
    "LEAKY_SLOPE", "KINK_MARGIN", "PRE_MAX", "GRAD_SHARE",
    "sigmoid", "softmax", "activation", "derivative", "jacobian",
    "jacobian_transpose_times", "forward_pass", "forward", "loss_and_output_gradient",
    "loss_and_gradient", "sgd_step", "outputs_loss_and_gradient", "layer_offsets", "split",
    "random_targets", "random_problem", "random_sizes",
    "sgd_update", "adam_update", "rmsprop_update", "clip_factor",
    "central_differences", "relative_error", "max_relative_error", "assert_close",
]


# --- activations: values and explicit Jacobians --------------------------

def sigmoid(x):
    """The logistic function 1 / (1 + e^-x), elementwise."""
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x):
    """Softmax of each column of an n x m block (or of one n-vector)."""
    e = np.exp(x - x.max(axis=0))
    return e / e.sum(axis=0)


def activation(name, x):
    """f(x) for an n x m block of pre-activations.

    Parameters
    ----------
    name : str
        ``identity``, ``tanh``, ``sigmoid``, ``relu``, ``leaky_relu``
        (slope ``LEAKY_SLOPE``), ``softplus`` or ``softmax`` (per column).
    x : ndarray, shape (n, m)
        Pre-activations, one sample per column.

    Returns
    -------
    ndarray, shape (n, m)
    """
    if name == "identity":
        return x.copy()
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return sigmoid(x)
    if name == "relu":
        return np.where(x > 0, x, 0.0)
    if name == "leaky_relu":
        return np.where(x > 0, x, LEAKY_SLOPE * x)
    if name == "softplus":
        return np.logaddexp(0.0, x)  # log(1 + e^x) without overflow
    if name == "softmax":
        return softmax(x)
    raise ValueError(f"unknown activation {name!r}")


def derivative(name, x):
    """f'(x) of an elementwise activation, from x itself (never from f(x)).

    relu'(0) is 0 and leaky_relu'(0) is ``LEAKY_SLOPE``.  Raises ValueError
    for softmax, which is not elementwise (see `jacobian`).
    """
    if name == "identity":
        return np.ones_like(x)
    if name == "tanh":
        return 1.0 / np.cosh(x) ** 2
    if name == "sigmoid":
        return sigmoid(x) * sigmoid(-x)
    if name == "relu":
        return np.where(x > 0, 1.0, 0.0)
    if name == "leaky_relu":
        return np.where(x > 0, 1.0, LEAKY_SLOPE)
    if name == "softplus":
        return sigmoid(x)
    raise ValueError(f"{name!r} is not an elementwise activation")


def jacobian(name, x):
    """Explicit J[a, b] = df_a/dx_b at one sample's pre-activations.

    Parameters
    ----------
    name : str
        An activation name, as for `activation`.
    x : array_like, shape (n,)

    Returns
    -------
    ndarray, shape (n, n), float64
        ``diag(f'(x))`` for an elementwise activation, ``diag(s) - s s^T`` for
        softmax.
    """
    x = np.asarray(x, dtype=np.float64)
    if name == "softmax":
        s = softmax(x)
        return np.diag(s) - np.outer(s, s)
    return np.diag(derivative(name, x))


def jacobian_transpose_times(name, X_i, V):
    """The columns J_i(c)^T V[:, c], J_i taken at sample c's own X_i[:, c].

    Builds every sample's full Jacobian: slow on purpose, and independent of
    the O(n) shortcuts an implementation takes.
    """
    columns = [jacobian(name, X_i[:, c]).T @ V[:, c] for c in range(X_i.shape[1])]
    return np.stack(columns, axis=1)


# --- the network ---------------------------------------------------------

def _columns(inputs):
    """The API's sample-major inputs ((m, n_0) or one sample (n_0,)) as Y_0, n_0 x m."""
    return np.atleast_2d(np.asarray(inputs, dtype=np.float64)).T


def forward_pass(weights, biases, activations, Y0):
    """Pre-activations and outputs of every layer for a feature-major input.

    Parameters
    ----------
    weights, biases : lists of array_like
        A_1..A_n, each (n_i, n_{i-1}), and B_1..B_n, each (n_i,).
    activations : list of str
        f_1..f_n.
    Y0 : ndarray, shape (n_0, m)
        The input block, one sample per column.

    Returns
    -------
    X : list
        ``[None, X_1, ..., X_n]``, each (n_i, m).
    Y : list
        ``[Y_0, Y_1, ..., Y_n]``, each (n_i, m).
    """
    A = [None] + [np.asarray(a, dtype=np.float64) for a in weights]
    B = [None] + [np.asarray(b, dtype=np.float64) for b in biases]
    f = [None] + list(activations)
    ones = np.ones(Y0.shape[1])
    X, Y = [None], [Y0]
    for i in range(1, len(A)):
        X.append(A[i] @ Y[i - 1] + np.outer(B[i], ones))
        Y.append(activation(f[i], X[i]))
    return X, Y


def forward(weights, biases, activations, inputs):
    """The network's output in the API's shape.

    Parameters
    ----------
    weights, biases, activations
        As for `forward_pass`.
    inputs : array_like, shape (m, n_0) or (n_0,)
        One sample per row; 1-D is one sample.

    Returns
    -------
    ndarray, shape (m, n_n) or (n_n,), float64
    """
    _, Y = forward_pass(weights, biases, activations, _columns(inputs))
    out = Y[-1].T
    return out[0] if np.ndim(inputs) == 1 else out


def _target_columns(targets, loss, n_out):
    """Targets as an n_n x m block; integer class labels become one-hot columns."""
    targets = np.asarray(targets)
    if loss == "cross_entropy" and targets.dtype.kind in "iu":
        return np.eye(n_out)[np.atleast_1d(targets)].T
    return np.atleast_2d(targets.astype(np.float64)).T


def loss_and_output_gradient(loss, Yn, T):
    """The loss L and dL/dY_n for an output block and a target block.

    Parameters
    ----------
    loss : {"sse", "mse", "cross_entropy"}
        Sum of squared errors, their mean over all entries, or the mean over
        the batch of -sum(t log y) (``Yn`` then holds softmax outputs).
    Yn, T : ndarray, shape (n_n, m)

    Returns
    -------
    L : float
    dL_dYn : ndarray, shape (n_n, m)
    """
    m = Yn.shape[1]
    if loss == "sse":
        return np.sum((Yn - T) ** 2), 2.0 * (Yn - T)
    if loss == "mse":
        return np.mean((Yn - T) ** 2), 2.0 * (Yn - T) / Yn.size
    if loss == "cross_entropy":
        # Yn = s = softmax(X_n).  The general chain rule, not the fused (s - t)/m:
        # L = -sum(t log s) / m, so dL/dY_n = -t / (m s).
        return -np.sum(T * np.log(Yn)) / m, -T / (m * Yn)
    raise ValueError(f"unknown loss {loss!r}")


def loss_and_gradient(weights, biases, activations, inputs, targets, loss="sse"):
    """The loss, dL/dparams and dL/dinputs, by the derivation's recursion.

    Parameters
    ----------
    weights, biases : lists of arrays
        A_1..A_n, each (n_i, n_{i-1}), and B_1..B_n, each (n_i,).
    activations : list of str
        f_1..f_n.
    inputs : array, (m, n_0) or (n_0,)
        One sample per row, as in fastbp's API; 1-D is one sample.
    targets : array
        Shaped like the output, or integer class labels for ``cross_entropy``.
    loss : {"sse", "mse", "cross_entropy"}
        ``cross_entropy`` expects a softmax output layer.

    Returns
    -------
    L : float
    grad : 1-D array in fastbp's parameter layout (per layer: A_i row-major, then B_i)
    grad_inputs : dL/dY_0 in the shape of ``inputs``
    """
    n = len(weights)
    if loss == "cross_entropy":
        assert activations[-1] == "softmax", "cross_entropy is defined on a softmax output"
    A = [None] + [np.asarray(a, dtype=np.float64) for a in weights]
    f = [None] + list(activations)
    X, Y = forward_pass(weights, biases, activations, _columns(inputs))
    m = Y[0].shape[1]
    T = _target_columns(targets, loss, A[n].shape[0])
    L, dL_dYn = loss_and_output_gradient(loss, Y[n], T)

    K = [None] * (n + 1)
    K[n] = jacobian_transpose_times(f[n], X[n], dL_dYn)
    for i in range(n - 1, 0, -1):
        K[i] = jacobian_transpose_times(f[i], X[i], A[i + 1].T @ K[i + 1])
    dA = [None] + [K[i] @ Y[i - 1].T for i in range(1, n + 1)]
    dB = [None] + [K[i] @ np.ones(m) for i in range(1, n + 1)]
    dY0 = A[1].T @ K[1]

    grad = np.concatenate([np.concatenate([dA[i].ravel(), dB[i]]) for i in range(1, n + 1)])
    grad_inputs = dY0.T
    return L, grad, (grad_inputs[0] if np.ndim(inputs) == 1 else grad_inputs)


def _sizes(weights):
    """Layer widths, inputs first, of weights A_1..A_n."""
    return [np.shape(weights[0])[1]] + [np.shape(a)[0] for a in weights]


def sgd_step(weights, biases, activations, inputs, targets, lr, loss="sse"):
    """One step of plain gradient descent on one batch, in float64.

    Parameters
    ----------
    weights, biases, activations, inputs, targets, loss
        As for `loss_and_gradient`.
    lr : float
        The learning rate.

    Returns
    -------
    weights, biases : lists of ndarray
        New arrays A_i - lr dL/dA_i and B_i - lr dL/dB_i; the arguments are
        not modified.
    """
    _, grad, _ = loss_and_gradient(weights, biases, activations, inputs, targets, loss)
    grad_weights, grad_biases = split(grad, _sizes(weights))
    new_weights = [np.asarray(a, np.float64) - lr * g for a, g in zip(weights, grad_weights)]
    new_biases = [np.asarray(b, np.float64) - lr * g for b, g in zip(biases, grad_biases)]
    return new_weights, new_biases


def outputs_loss_and_gradient(net, inputs, targets, loss="sse"):
    """Output, loss and parameter gradient of a network, in float64.

    Parameters
    ----------
    net : fastbp.Network
        Or any object with ``weights``, ``biases`` and ``activations`` as a
        Network has them; its parameters are read as they are, in float64.
    inputs, targets, loss
        As for `loss_and_gradient`.

    Returns
    -------
    outputs : ndarray, in the shape `forward` gives
    L : float
    grad : 1-D ndarray in fastbp's parameter layout
    """
    args = (list(net.weights), list(net.biases), list(net.activations))
    L, grad, _ = loss_and_gradient(*args, inputs, targets, loss)
    return forward(*args, inputs), float(L), grad


def layer_offsets(sizes):
    """The documented layout: for each layer, (start of A_i, start of B_i)."""
    out, start = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        out.append((start, start + n_out * n_in))
        start += n_out * n_in + n_out
    return out


def split(flat, sizes):
    """(weights, biases) of a flat vector in fastbp's parameter layout.

    Parameters
    ----------
    flat : ndarray, 1-D
        Per layer, A_i row-major then B_i.
    sizes : sequence of int
        Layer widths, inputs first.

    Returns
    -------
    weights, biases : lists of views into ``flat``
    """
    weights, biases, start = [], [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        weights.append(flat[start:start + n_out * n_in].reshape(n_out, n_in))
        start += n_out * n_in
        biases.append(flat[start:start + n_out])
        start += n_out
    return weights, biases


# --- random test problems ------------------------------------------------

KINK_MARGIN = 1e-3   # relu-family pre-activations stay this far from their kink at 0
PRE_MAX = 8.0        # |pre-activations| stay below this (torch's softplus turns linear at 20)
GRAD_SHARE = 1e-3    # every gradient block is at least this share of max(|L|, ||grad||)


def random_targets(rng, kind, m, n_out, one):
    """Targets for a batch of m (or one 1-D sample).

    Parameters
    ----------
    rng : numpy.random.Generator
    kind : {"rows", "labels", "probs"}
        Regression rows (standard normal), integer class labels, or
        probability rows (Dirichlet, so they sum to one).
    m, n_out : int
        Rows and outputs.
    one : bool
        Return the first row alone, 1-D (one sample).
    """
    if kind == "rows":
        t = rng.normal(size=(m, n_out))
    elif kind == "labels":
        t = rng.integers(0, n_out, size=m)
    elif kind == "probs":
        t = rng.dirichlet(np.ones(n_out), size=m)
    else:
        raise ValueError(kind)
    return t[0] if one else t


def random_problem(rng, sizes, activations, m, loss, kind, max_tries=500):
    """(params, inputs, targets) for which gradient checks are meaningful.

    m=None asks for one 1-D sample.  Draws are repeated (deterministically, from
    ``rng``) until no relu-family pre-activation lies within KINK_MARGIN of its
    kink, every pre-activation is below PRE_MAX in size, and every layer's
    parameter gradient and the input gradient have a norm of at least
    GRAD_SHARE * max(|L|, ||grad||).  The last condition means a wrong layer
    cannot hide in the norm of the whole vector, and that central differences,
    whose rounding error is ~ eps |L| / h per entry, can resolve every block
    (a deep stack of softmax or sigmoid layers can otherwise shrink the input
    gradient to 1e-5 |L|, below what differences of L can see).

    Parameters
    ----------
    rng : numpy.random.Generator
    sizes : sequence of int
        Layer widths, inputs first.
    activations : sequence of str
    m : int or None
        Batch rows; None for one 1-D sample.
    loss : str
        As for `loss_and_gradient`.
    kind : str
        The targets' kind, as for `random_targets`.
    max_tries : int
        Draws before giving up (RuntimeError).

    Returns
    -------
    params : 1-D ndarray in fastbp's parameter layout
    inputs, targets : ndarray
    """
    one = m is None
    rows = 1 if one else m
    for _ in range(max_tries):
        blocks = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            blocks += [rng.normal(0.0, 1.0 / np.sqrt(n_in), size=n_out * n_in),
                       rng.normal(0.0, 0.5, size=n_out)]
        params = np.concatenate(blocks)
        inputs = rng.normal(size=(rows, sizes[0]))
        inputs = inputs[0] if one else inputs
        targets = random_targets(rng, kind, rows, sizes[-1], one)
        weights, biases = split(params, sizes)
        X, _ = forward_pass(weights, biases, activations, _columns(inputs))
        if any(np.abs(X[i]).max() >= PRE_MAX for i in range(1, len(X))):
            continue
        if any(np.abs(X[i]).min() <= KINK_MARGIN
               for i in range(1, len(X)) if activations[i - 1] in ("relu", "leaky_relu")):
            continue
        L, grad, grad_inputs = loss_and_gradient(weights, biases, activations,
                                                 inputs, targets, loss)
        floor = GRAD_SHARE * max(abs(L), np.linalg.norm(grad))
        norms = [np.hypot(np.linalg.norm(w), np.linalg.norm(b))
                 for w, b in zip(*split(grad, sizes))]
        if floor > 0 and min(norms + [np.linalg.norm(grad_inputs)]) >= floor:
            return params, inputs, targets
    raise RuntimeError(f"no usable problem for {sizes} {activations} in {max_tries} draws")


def random_sizes(rng, activations):
    """Layer widths 1..4, with a width of 1 somewhere it is meaningful.

    A softmax layer gets at least 2 units (softmax of one value is the constant
    1, whose gradient is zero), and so does a cross_entropy output.
    """
    depth = len(activations)
    sizes = list(rng.integers(1, 5, size=depth + 1))
    floor = [1] + [2 if a == "softmax" else 1 for a in activations]
    sizes = [max(int(s), lo) for s, lo in zip(sizes, floor)]
    free = [i for i, lo in enumerate(floor) if lo == 1]
    sizes[free[rng.integers(len(free))]] = 1
    return sizes


# --- optimizer rules ------------------------------------------------------
#
# One step of torch.optim's optimizers on arrays, the operations written as
# torch's code writes them (torch's vectorised loops may fuse a multiply and an
# add, so its own results differ from these by rounding).  The arithmetic is
# the arrays': with the coefficients given as Python floats, a float32 array
# updates in float32 with them rounded to float32, as torch does; what torch
# computes in Python (the bias corrections) is computed in float64 here too.

def sgd_update(p, g, buf, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """``torch.optim.SGD`` (dampening 0): returns (new p, new momentum buffer).

    torch starts the buffer at g; starting from zeros, as here, is the same
    (momentum * 0 + g = g).
    """
    g = g + weight_decay * p
    if momentum != 0.0:
        buf = momentum * buf + g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


def adam_update(p, g, m, v, step, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                decoupled=False):
    """``torch.optim.Adam``, or ``AdamW`` with ``decoupled``: returns (p, m, v).

    ``step`` counts this update, from 1.  torch's ``lerp_`` computes
    m + (1 - beta1) (g - m), which is beta1 m + (1 - beta1) g.
    """
    beta1, beta2 = betas
    if decoupled:
        p = p * (1.0 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = m + (1.0 - beta1) * (g - m)
    v = beta2 * v + (1.0 - beta2) * g * g
    step_size = lr / (1.0 - beta1 ** step)
    denom = np.sqrt(v) / float(np.sqrt(1.0 - beta2 ** step)) + eps
    return p - step_size * m / denom, m, v


def rmsprop_update(p, g, square_avg, buf, lr, alpha=0.99, eps=1e-8, momentum=0.0,
                   weight_decay=0.0):
    """``torch.optim.RMSprop`` (not centered): returns (p, square_avg, buf)."""
    g = g + weight_decay * p
    square_avg = alpha * square_avg + (1.0 - alpha) * g * g
    avg = np.sqrt(square_avg) + eps
    if momentum != 0.0:
        buf = momentum * buf + g / avg
        return p - lr * buf, square_avg, buf
    return p - lr * g / avg, square_avg, buf


def clip_factor(grad, max_norm):
    """The factor ``torch.nn.utils.clip_grad_norm_`` multiplies the gradient
    by: max_norm / (||grad|| + 1e-6), or 1 if that is larger (norm in float64)."""
    norm = np.sqrt(np.sum(np.asarray(grad, dtype=np.float64) ** 2))
    return float(min(1.0, max_norm / (norm + 1e-6)))   # a Python float: g * it keeps g's dtype


# --- comparisons ---------------------------------------------------------

def central_differences(f, x, h):
    """(f() with x[k] + h  -  f() with x[k] - h) / 2h for every index k of x.

    ``x`` is modified in place during the walk and restored exactly; ``f``
    reads it.
    """
    flat = x.reshape(-1)
    assert np.shares_memory(flat, x)
    diffs = np.empty(flat.size)
    for k in range(flat.size):
        value = flat[k]
        flat[k] = value + h
        up = f()
        flat[k] = value - h
        down = f()
        flat[k] = value
        diffs[k] = (up - down) / (2.0 * h)
    return diffs.reshape(x.shape)


def relative_error(actual, desired):
    """||actual - desired|| / ||desired|| (norm-wise; 0 when both vanish)."""
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    scale = np.linalg.norm(desired)
    diff = np.linalg.norm(actual - desired)
    return diff / max(scale, np.finfo(np.float64).tiny)


def max_relative_error(actual, desired):
    """max |actual - desired| / max |desired|: the largest entry's error, scaled
    by the array's largest entry (0 when both vanish).

    Returns
    -------
    float
    """
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    scale = np.max(np.abs(desired), initial=0.0)
    diff = np.max(np.abs(actual - desired), initial=0.0)
    return float(diff / max(scale, np.finfo(np.float64).tiny))


def assert_close(actual, desired, rtol, what=""):
    """Elementwise |actual - desired| <= rtol * (|desired| + max|desired|).

    The absolute part is scaled by the array's largest entry, so an entry that
    cancels to near zero is judged against the array's scale, not its own.
    ``what`` names the comparison in the failure's message.
    """
    desired = np.asarray(desired, dtype=np.float64)
    scale = np.abs(desired).max(initial=0.0)
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), desired,
                               rtol=rtol, atol=rtol * scale, err_msg=what)
