"""``Network``: the object users hold, a thin layer over the compiled passes."""
import numpy as np

from . import _archive, _checks, _torch, custom, layout, training
from ._engine import Engine
from ._kernels.losses import CROSS_ENTROPY, MSE

# Initialisation by activation: He for the relu family, Glorot otherwise.
_HE = ("relu", "leaky_relu", "softplus")


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
        self._setup(sizes, names, codes, dtype)
        self._initialise(np.random.default_rng(seed))

    def _setup(self, sizes, names, codes, dtype):
        self._sizes = sizes
        self._activations = names
        self._dtype = dtype
        self._engine = Engine(sizes, codes, names[-1], dtype)
        self._params = np.zeros(self._engine.n_params, dtype)
        self.weights, self.biases = layout.split(self._params, self._engine.layers)

    def _share(self, row):
        """Keep the parameters in ``row`` from now on (a 1-D C-ordered array of
        the layout's length and dtype, an ensemble's row), with their values."""
        row[...] = self._params
        self._params = row
        self.weights, self.biases = layout.split(row, self._engine.layers)

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
        """Dtype of the parameters, gradients and outputs (np.dtype)."""
        return self._dtype

    @property
    def n_params(self):
        """Number of parameters: the length of ``params`` (int)."""
        return self._params.size

    @property
    def params(self):
        """The flat parameter array (weights and biases are views into it)."""
        return self._params

    @params.setter
    def params(self, values):
        values = _checks.numeric(values, "params")
        if values.shape != self._params.shape:
            raise ValueError(
                f"params: expected shape {self._params.shape}, got {values.shape}")
        values = np.ascontiguousarray(values, dtype=self._dtype)
        _checks.finite(values, "params")
        # Copy in place so weights, biases and anything else holding a view stay valid.
        self._params[...] = values

    def split(self, flat):
        """(weights, biases) as lists of views into ``flat``, a 1-D array in the
        parameter layout (``params``, a gradient, an optimizer state)."""
        flat = np.asarray(flat)
        if flat.ndim != 1 or flat.size != self._params.size:
            raise ValueError(
                f"flat: expected a 1-D array of {self._params.size} values, "
                f"got shape {flat.shape}")
        return layout.split(flat, self._engine.layers)

    def __repr__(self):
        return (f"Network(sizes={list(self._sizes)}, activations={list(self._activations)}, "
                f"dtype=np.{self._dtype.name})")

    # --- pickling --------------------------------------------------------

    def __getstate__(self):
        # Registered activations travel with the network (numba pickles
        # @njit functions by value), so a process that unpickles it, such
        # as a worker of a cluster, can run it.
        return {"sizes": self._sizes, "activations": self._activations,
                "dtype": self._dtype.str, "params": self._params,
                "custom": custom.registered(self._activations)}

    def __setstate__(self, state):
        custom.restore(state.get("custom", {}))
        sizes = tuple(state["sizes"])
        names, codes = _checks.activation_names(state["activations"], len(sizes) - 1)
        self._setup(sizes, names, codes, np.dtype(state["dtype"]))
        self._params[...] = state["params"]

    # --- computing -------------------------------------------------------

    def forward(self, X, *, threads=None):
        """Network outputs for X: (m, sizes[0]) -> (m, sizes[-1]); 1-D -> 1-D.

        ``threads``: the most threads a BLAS product may use (see ``fit``).
        """
        with self._engine.threads(threads):
            X, one = _checks.samples(X, self._sizes[0], self._dtype, scan=False)
            Y = self._engine.forward(self._params, X, one)
        return Y[0] if one else Y

    predict = forward

    def loss_and_gradient(self, X, T, loss="sse", *, input_gradient=False, threads=None):
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
        threads : int or None
            The most threads a BLAS product may use (see ``fit``).

        Returns
        -------
        loss : float
        grad : ndarray, the parameter layout and the network's dtype
        grad_X : ndarray, only when ``input_gradient`` is true
        """
        with self._engine.threads(threads):
            value, grad, grad_X, one = self._engine.loss_and_gradient(
                self._params, X, T, loss, input_gradient)
        if not input_gradient:
            return value, grad
        return value, grad, (grad_X[0] if one else grad_X)

    # --- training --------------------------------------------------------

    def train_step(self, X, T, optimizer, loss="sse", *, threads=None):
        """One forward, backward and update on one batch, in one compiled call.

        Returns the batch loss before the update.  Raises
        ``fastbp.DivergenceError`` (a ``FloatingPointError``), leaving the
        parameters and the optimizer as they were, when the loss, the gradient
        or the updated parameters would not be finite.  ``threads``: the most
        threads a BLAS product may use (see ``fit``).
        """
        if threads is None:  # the loop's call: no context to enter
            return self._engine.train_step(self._params, X, T, optimizer, loss)
        with self._engine.threads(threads):
            return self._engine.train_step(self._params, X, T, optimizer, loss)

    def fit(self, X, T, *, epochs=10, batch_size=32, optimizer=None, loss="sse",
            shuffle=True, seed=None, validation_data=None, progress=True,
            patience=None, min_delta=0.0, callbacks=(), threads=None):
        """Train on (X, T) for ``epochs`` passes; each epoch is one compiled call.

        Parameters
        ----------
        X, T : array_like
            Inputs (m, sizes[0]) and targets, as for ``loss_and_gradient``.
        epochs : int
            Passes over the data.
        batch_size : int
            Samples per update; the last batch of an epoch may be smaller.
        optimizer : fastbp optimizer, default ``fastbp.Adam()``
            Keeps its state across calls, so ``fit`` can be called again to
            continue.  Its ``lr`` may be a schedule, evaluated per epoch.
            ``fastbp.LBFGS()`` trains full-batch by L-BFGS instead: each epoch
            is one L-BFGS iteration; ``batch_size`` and ``shuffle`` do not apply.
        loss : {"sse", "mse", "cross_entropy"}
        shuffle : bool
            Reshuffle the samples (by index; the data is never copied) every epoch.
        seed : int or None
            Seeds the shuffling: the same seed, network and data give
            bit-identical parameters.
        validation_data : (X_val, T_val), optional
            Evaluated after every epoch: loss, and accuracy for cross_entropy.
        progress : bool
            Show a progress bar (tqdm's when installed) when stderr is a terminal.
        patience : int or None
            Early stopping: stop when the validation loss (the training loss
            without validation data) has not improved by more than
            ``min_delta`` for ``patience`` epochs, and restore the best parameters.
        min_delta : float
            The smallest decrease of the watched loss that early stopping
            counts as an improvement.
        callbacks : sequence of callables
            Each called as ``callback(net, history)`` after every epoch;
            training stops when one returns True.
        threads : int or None
            The most threads a BLAS product may use; None: as many as
            OpenBLAS allows (``OPENBLAS_NUM_THREADS``, threadpoolctl).  Only
            large products use more than one: below ``SERIAL_BELOW``
            multiply-adds (docs/decisions/0020-blas-threads.md) a product runs
            on one thread whatever the bound, since a second one gains too
            little there and stalls it on a busy machine.  The bound is
            process-wide while the call runs, as OpenBLAS's count is.

        Returns
        -------
        fastbp.History
            Interrupting with Ctrl-C ends training after the running epoch's
            compiled call and returns the history so far
            (``history.interrupted`` is True).
        """
        with self._engine.threads(threads):
            return training.fit(
                self, self._engine, X, T, epochs=epochs, batch_size=batch_size,
                optimizer=optimizer, loss=loss, shuffle=shuffle, seed=seed,
                validation_data=validation_data, progress_bar=progress, patience=patience,
                min_delta=min_delta, callbacks=callbacks)

    # --- predictions -----------------------------------------------------

    def _require_softmax(self, what):
        if self._activations[-1] != "softmax":
            raise ValueError(f"{what} needs a softmax output layer; this network's last "
                             f"activation is {self._activations[-1]!r}")

    def predict_proba(self, X):
        """Class probabilities (the softmax outputs), (m, n_classes)."""
        self._require_softmax("predict_proba")
        return self.forward(X)

    def predict_classes(self, X):
        """Most probable class of each sample, int64 (m,)."""
        self._require_softmax("predict_classes")
        return np.argmax(self.forward(X), axis=-1)

    def score(self, X, T):
        """Accuracy for a softmax output (T: labels or one-hot rows), else R².

        R² is the coefficient of determination averaged over the outputs, as
        scikit-learn's ``r2_score`` with ``multioutput="uniform_average"``.
        """
        if self._activations[-1] == "softmax":
            X, one = _checks.samples(X, self._sizes[0], self._dtype)
            target, labels = _checks.targets(T, CROSS_ENTROPY, X.shape[0], one,
                                             self._sizes[-1], self._dtype)
            truth = labels if labels.size else np.argmax(target, axis=1)
            return float(np.mean(self.predict_classes(X) == truth))
        X, one = _checks.samples(X, self._sizes[0], self._dtype)
        T = _checks.numeric(T, "T")
        if T.ndim == 1 and not one and self._sizes[-1] == 1:
            T = T.reshape(-1, 1)  # scikit-learn's y of shape (m,) for one output
        T = _checks.targets(T, MSE, X.shape[0], one, self._sizes[-1], np.float64)[0]
        Y = self.forward(X)
        residual = ((T - Y) ** 2).sum(axis=0)
        total = ((T - T.mean(axis=0)) ** 2).sum(axis=0)
        # As r2_score: an output whose target is constant scores 1 if predicted
        # exactly, else 0.
        constant = total == 0
        r2 = np.where(constant, np.where(residual == 0, 1.0, 0.0),
                      1.0 - residual / np.where(constant, 1.0, total))
        return float(np.mean(r2))

    # --- files -----------------------------------------------------------

    def save(self, path, optimizer=None):
        """Write the network (and the optimizer's state, to resume training) to
        ``path`` as ``.npz``; read it back with ``fastbp.load``."""
        _archive.save(path, self._sizes, self._activations, self._params, optimizer)

    def to_torch(self):
        """This network as a ``torch.nn.Sequential`` (needs PyTorch).

        Layer i becomes ``seq[2*i]``, an ``nn.Linear`` holding copies of
        ``weights[i]`` and ``biases[i]`` in the network's dtype, and
        ``seq[2*i+1]``, its activation module (``nn.Identity`` for
        ``"identity"``, so the positions stay regular).  ``fastbp.from_torch``
        converts it back; see it for the mapping and softplus's threshold.
        """
        return _torch.sequential(self.weights, self.biases, self._activations)
