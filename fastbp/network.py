"""``Network``: the object users hold, a thin layer over the compiled passes."""
import threading

import numpy as np

from . import _checks, layout
from ._kernels import passes

# Initialisation by activation: He for the relu family, Glorot otherwise.
_HE = ("relu", "leaky_relu", "softplus")
# Workspaces kept per thread, one per batch size; fit uses at most two.
_MAX_WORKSPACES = 4


class _Workspace:
    """Forward/backward buffers for one batch size, reused across calls."""

    def __init__(self, m, units, widest, dtype):
        self.pre = np.empty(m * units, dtype)     # X_i of every layer
        self.out = np.empty(m * units, dtype)     # Y_i of every layer
        self.delta = np.empty(m * widest, dtype)  # K_i, ping-pong with spare
        self.spare = np.empty(m * widest, dtype)


class Network:
    """A dense feed-forward network trained by backpropagation.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, inputs first: ``[784, 256, 10]`` is a network with 784
        inputs, one hidden layer of 256 units and 10 outputs.
    activations : sequence of str
        One activation per layer (``len(sizes) - 1`` names), from
        ``fastbp.ACTIVATIONS``.
    dtype : np.float32 or np.float64
        Dtype of the parameters, gradients and outputs.  Inputs of any other
        real dtype are converted to it once per call.
    seed : int, np.random.Generator or None
        Seeds the initial weights (Glorot uniform, He normal for the relu
        family); biases start at zero.

    Attributes
    ----------
    params : ndarray
        Every parameter in one contiguous 1-D array: for each layer, the
        row-major weight block then the biases.
    weights, biases : list of ndarray
        Views into ``params``: ``weights[i]`` has shape ``(sizes[i+1], sizes[i])``
        (A_{i+1} of the derivation), ``biases[i]`` has shape ``(sizes[i+1],)``.
    """

    def __init__(self, sizes, activations, dtype=np.float64, seed=None):
        dtype = _checks.network_dtype(dtype)
        sizes = _checks.sizes(sizes)
        names, codes = _checks.activation_names(activations, len(sizes) - 1)
        self._setup(sizes, names, dtype)
        self._initialise(np.random.default_rng(seed))

    def _setup(self, sizes, names, dtype):
        self._sizes = sizes
        self._activations = names
        self._dtype = dtype
        codes = [_checks.activation_code(name) for name in names]
        self._layers = layout.layer_table(sizes, codes)
        self._params = np.zeros(layout.n_params(sizes), dtype)
        self.weights, self.biases = self.split(self._params)
        self._units = sum(sizes[1:])
        self._widest = max(sizes)
        self._no_grad_inp = np.empty((0, sizes[0]), dtype)
        self._local = threading.local()

    def _initialise(self, rng):
        for w, name in zip(self.weights, self._activations):
            n_out, n_in = w.shape
            if name in _HE:
                w[...] = rng.normal(0.0, np.sqrt(2.0 / n_in), size=w.shape)
            else:
                limit = np.sqrt(6.0 / (n_in + n_out))
                w[...] = rng.uniform(-limit, limit, size=w.shape)

    # --- what the network is ---------------------------------------------

    @property
    def sizes(self):
        """Layer widths, inputs first (tuple of int)."""
        return self._sizes

    @property
    def activations(self):
        """Activation names, one per layer (tuple of str)."""
        return self._activations

    @property
    def dtype(self):
        return self._dtype

    @property
    def n_params(self):
        return self._params.size

    @property
    def params(self):
        """The flat parameter array (weights and biases are views into it)."""
        return self._params

    @params.setter
    def params(self, values):
        values = np.asarray(values)
        if values.shape != self._params.shape:
            raise ValueError(
                f"params: expected shape {self._params.shape}, got {values.shape}")
        values = _checks.samples(values.reshape(1, -1), values.size, self._dtype, "params")[0]
        # Copy in place so weights, biases and anything else holding a view stay valid.
        self._params[...] = values[0]

    def split(self, flat):
        """(weights, biases) as lists of views into ``flat``, a 1-D array in the
        parameter layout (``params``, a gradient, an optimizer state)."""
        flat = np.asarray(flat)
        if flat.ndim != 1 or flat.size != layout.n_params(self._sizes):
            raise ValueError(
                f"flat: expected a 1-D array of {layout.n_params(self._sizes)} values, "
                f"got shape {flat.shape}")
        return layout.split(flat, self._sizes)

    def __repr__(self):
        return (f"Network(sizes={list(self._sizes)}, activations={list(self._activations)}, "
                f"dtype=np.{self._dtype.name})")

    # --- buffers ---------------------------------------------------------

    def _workspace(self, m):
        # Per thread, so that concurrent calls on one network never share buffers.
        spaces = getattr(self._local, "spaces", None)
        if spaces is None:
            spaces = self._local.spaces = {}
        space = spaces.get(m)
        if space is None:
            if len(spaces) >= _MAX_WORKSPACES:
                spaces.pop(next(iter(spaces)))
            space = spaces[m] = _Workspace(m, self._units, self._widest, self._dtype)
        return space

    def __getstate__(self):
        return {"sizes": self._sizes, "activations": self._activations,
                "dtype": self._dtype.str, "params": self._params}

    def __setstate__(self, state):
        self._setup(tuple(state["sizes"]), tuple(state["activations"]), np.dtype(state["dtype"]))
        self._params[...] = state["params"]

    # --- computing -------------------------------------------------------

    def forward(self, X):
        """Network outputs for X: (m, sizes[0]) -> (m, sizes[-1]); 1-D -> 1-D."""
        X, one = _checks.samples(X, self._sizes[0], self._dtype)
        space = self._workspace(X.shape[0])
        y = passes.forward(self._params, self._layers, X, space.pre, space.out)
        y = y.copy()
        return y[0] if one else y

    def loss_and_gradient(self, X, T, loss="sse", *, input_gradient=False):
        """Loss of the batch and its gradient with respect to every parameter.

        Parameters
        ----------
        X : array_like, (m, sizes[0]) or (sizes[0],)
            Inputs, one sample per row; a 1-D array is one sample.
        T : array_like
            Targets: shaped like the output for ``"sse"`` and ``"mse"``; for
            ``"cross_entropy"`` also integer class labels, shape (m,) (or a
            scalar for a 1-D X).
        loss : {"sse", "mse", "cross_entropy"}
            ``"sse"`` is the derivation's sum of squared errors over the batch;
            ``"mse"`` its mean over all elements (PyTorch's ``MSELoss()``);
            ``"cross_entropy"`` the batch mean of -sum t log softmax (needs a
            softmax output layer).
        input_gradient : bool
            Also return dL/dX, shaped like X.

        Returns
        -------
        loss : float
        grad : ndarray, the parameter layout and the network's dtype
        grad_X : ndarray, only when ``input_gradient`` is true
        """
        code = _checks.loss_code(loss, self._activations[-1])
        X, one = _checks.samples(X, self._sizes[0], self._dtype)
        m = X.shape[0]
        target, labels = _checks.targets(T, code, m, one, self._sizes[-1], self._dtype)
        space = self._workspace(m)
        grad = np.empty_like(self._params)
        grad_inp = np.empty_like(X) if input_gradient else self._no_grad_inp
        value = passes.loss_and_gradient(
            self._params, self._layers, code, X, target, labels,
            space.pre, space.out, space.delta, space.spare, grad, grad_inp)
        if not input_gradient:
            return value, grad
        return value, grad, (grad_inp[0] if one else grad_inp)
