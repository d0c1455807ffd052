"""``Network``: the object users hold, a thin layer over the compiled passes."""
import threading

import numpy as np

from . import _checks, custom, interop, io, layout, training
from ._kernels import entries, passes, status
from ._kernels.entries import BUILTIN
from ._kernels.losses import CROSS_ENTROPY, MSE
from .optimizers import Optimizer

# Globals for train_step's fast path: one lookup less each.
_NDARRAY, _NO_LABELS, _OK = np.ndarray, _checks.NO_LABELS, status.OK
_BAD_LAYOUT = status.BAD_LAYOUT
_INT64 = np.dtype(np.int64)

# Initialisation by activation: He for the relu family, Glorot otherwise.
_HE = ("relu", "leaky_relu", "softplus")


class _Workspace:
    """Forward/backward buffers for up to ``rows`` samples, reused across calls.

    ``work`` holds a training step's gradient (``grad``, a view of its start),
    then X_i, Y_i and the deltas K_i (layout in ``_kernels.passes``); a batch
    of m <= rows samples uses the first part of each region.
    """

    def __init__(self, rows, units, widest, n_params, dtype):
        self.rows = rows
        room = passes.grad_room(n_params)
        self.work = np.empty(room + rows * (2 * units + 2 * widest), dtype)
        self.grad = self.work[:n_params]


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

    # The compiled calls this network makes (built-in activations: the cached set).
    _kernels = BUILTIN

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
        self._layers = layout.layer_table(sizes, codes)
        entries = custom.entries(codes)
        if entries is not None:  # passes compiled with registered activations
            self._kernels = entries
        self._params = np.zeros(layout.n_params(sizes), dtype)
        self.weights, self.biases = self.split(self._params)
        self._units = sum(sizes[1:])
        self._widest = max(sizes)
        self._no_grad_inp = np.empty((0, sizes[0]), dtype)
        self._no_target = _checks._no_rows(sizes[-1], dtype)  # beside labels
        self._loss_codes = {}
        # entry name -> its compiled code, called directly (by _call, and by
        # train_step's fast path)
        self._direct = {}
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
        """This thread's workspace, grown to at least m rows.

        Per thread, so concurrent calls on one network never share buffers.
        """
        space = getattr(self._local, "space", None)
        if space is None or space.rows < m:
            space = self._local.space = _Workspace(
                m, self._units, self._widest, self._params.size, self._dtype)
        return space

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

    def forward(self, X):
        """Network outputs for X: (m, sizes[0]) -> (m, sizes[-1]); 1-D -> 1-D."""
        X, one = _checks.samples(X, self._sizes[0], self._dtype, scan=False)
        space = self._workspace(min(X.shape[0], layout.CHUNK_ROWS))
        y = np.empty((X.shape[0], self._sizes[-1]), self._dtype)
        # X is 2-D, C-ordered and of the network's dtype now: aligned and
        # writeable too, it has the one type the direct call takes (_call).
        code = self._call("predict", X.flags.carray and self._params.flags.writeable,
                          (self._params, self._layers, X, space.work, y, None))
        if code != status.OK:
            _checks.refused(code, X, one, None, None, self._sizes)
        return y[0] if one else y

    predict = forward

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
        code = self._loss_code(loss)
        sizes = self._sizes
        X, target, labels, one, exact = _checks.batch(X, T, code, sizes[0], sizes[-1],
                                                      self._dtype)
        space = self._workspace(X.shape[0])
        grad = np.empty_like(self._params)
        grad_inp = np.empty_like(X) if input_gradient else self._no_grad_inp
        value, done = self._call("loss_and_gradient", exact and self._params.flags.writeable, (
            self._params, self._layers, code, X, target, labels, space.work, grad, grad_inp, None))
        if done != status.OK:
            _checks.refused(done, X, one, target, labels, sizes, code)
        if not input_gradient:
            return value, grad
        return value, grad, (grad_inp[0] if one else grad_inp)

    # --- training --------------------------------------------------------

    def train_step(self, X, T, optimizer, loss="sse"):
        """One forward, backward and update on one batch, in one compiled call.

        Returns the batch loss before the update.  Raises
        ``fastbp.DivergenceError`` (a ``FloatingPointError``), leaving the
        parameters and the optimizer as they were, when the loss, the gradient
        or the updated parameters would not be finite.
        """
        # At batch 1 the Python here is over half the call, so the call a
        # training loop repeats comes first, written out: X and T arrays of
        # the kernels' dtypes and dimensions (_checks.batch's exact test,
        # inline, but for their order: the kernel checks the order, the
        # widths and the values), the optimizer bound to these parameters
        # and unchanged since (Optimizer._kernel_args's fast case), this
        # thread's workspace big enough and the direct call learnt (_call's).
        # Tiny step 0.86-0.92x the time of calling those functions
        # (benchmarks/side_by_side.py, session 6); leaving the order to the
        # kernel, 0.93x again (session 7).
        # Anything else goes the full way; a failed step raises as it would
        # there.
        params = self._params
        space = getattr(self._local, "space", None)
        try:  # getattr(optimizer, "_ready", None) takes 20 ns longer
            bound = optimizer._ready is params and not optimizer._stale
        except AttributeError:  # not a fastbp optimizer: the full way says so
            bound = False
        if (bound and type(X) is _NDARRAY and type(T) is _NDARRAY and space is not None
                and X.ndim == 2 and (X.dtype is self._dtype or X.dtype == self._dtype)
                and params.flags.writeable):
            try:
                code = self._loss_codes[loss]
            except (KeyError, TypeError):  # new here, or not a name at all
                code = None
            if T.ndim == 2 and (T.dtype is X.dtype or T.dtype == X.dtype):
                target, labels = T, _NO_LABELS
            elif T.ndim == 1 and T.dtype == _INT64 and code == CROSS_ENTROPY:
                target, labels = self._no_target, T
            else:
                code = None
            m = len(X)
            kind, hyper, state = optimizer._args
            plain = m == 1 and optimizer._plain
            run = self._direct.get("sample_step" if plain else "step")
            if run and code is not None and m <= space.rows:
                # The arguments of _checked_step's calls, in the same order.
                if plain:
                    value, done = run(params, self._layers, code, X, target, labels,
                                      space.work, hyper, None)
                else:
                    value, done = run(params, self._layers, code, X, target, labels,
                                      space.work, kind, hyper, state, None)
                if done == _OK:
                    return value
                if done != _BAD_LAYOUT:  # which the full way converts
                    # A bound optimizer is not new: a refused call leaves it bound.
                    self._step_failed(done, optimizer, X, target, labels, code, new=False,
                                      one=False)
        return self._checked_step(X, T, optimizer, loss)

    def _checked_step(self, X, T, optimizer, loss):
        """``train_step`` on any input: checks, converts, binds the optimizer."""
        code = self._loss_code(loss)
        sizes, params = self._sizes, self._params
        X, target, labels, one, exact = _checks.batch(X, T, code, sizes[0], sizes[-1],
                                                      self._dtype)
        if not params.flags.writeable:  # a user's choice, which would change its type
            _checks.read_only_params()
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected a fastbp optimizer such as fastbp.SGD(lr=0.01), "
                            f"got {type(optimizer).__name__} (fastbp.LBFGS is full-batch: "
                            "use it with fit)")
        new = optimizer._block is None
        kind, hyper, state = optimizer._kernel_args(params)
        m = len(X)
        space = self._workspace(m)
        if m == 1 and optimizer._plain:  # as fit(batch_size=1): 0.6x the time
            value, done = self._call("sample_step", exact, (
                params, self._layers, code, X, target, labels, space.work, hyper, None))
        else:
            value, done = self._call("step", exact, (
                params, self._layers, code, X, target, labels, space.work, kind, hyper,
                state, None))
        if done != status.OK:
            self._step_failed(done, optimizer, X, target, labels, code, new=new, one=one)
        return value

    def _step_failed(self, done, optimizer, X, target, labels, code, *, new, one):
        """Raise what a training step's status ``done`` stands for; ``new``: the
        call bound ``optimizer`` (undone if the input was refused), ``one``: X
        was one 1-D sample."""
        if done >= status.BAD_INPUT:
            if new:
                optimizer._unbind()
            _checks.refused(done, X, one, target, labels, self._sizes, code)
        raise training.divergence(done, optimizer.epoch, 0)

    def _call(self, name, exact, args):
        """Entry ``name`` of ``self._kernels`` on ``args``, which end in None
        (the entries' omitted ``ext``).

        ``exact`` says that every argument has the numba type it has in
        every other exact call, so that such calls can go straight to the
        compiled code, without numba's dispatch (``entries.direct``), once
        one has gone through it.  The user's arrays are vouched for by
        ``_checks.batch`` (or ``forward``'s own test; ``train_step``'s fast
        path makes the same test but for the order, which the kernel tests,
        and calls learnt entries itself), the
        parameters by a test that they are still writeable (users can make
        them read-only);
        the rest are this network's own buffers and its optimizers' arrays,
        which stay 1-D or 2-D, C-ordered, aligned and writeable
        (``Optimizer.__setstate__`` and ``load_state_dict`` copy to make sure).
        """
        run = self._direct.get(name) if exact else False
        if run:
            return run(*args)
        kernel = getattr(self._kernels, name)
        result = kernel(*args[:-1])
        if run is None:  # exact, and the first such call: learn the direct call
            self._direct[name] = entries.direct(kernel, args[:-1]) or False
        return result

    def _loss_code(self, loss):
        try:
            return self._loss_codes[loss]
        except (KeyError, TypeError):  # new here, or not a name at all
            code = _checks.loss_code(loss, self._activations[-1])
            self._loss_codes[loss] = code
            return code

    def fit(self, X, T, *, epochs=10, batch_size=32, optimizer=None, loss="sse",
            shuffle=True, seed=None, validation_data=None, progress=True,
            patience=None, min_delta=0.0, callbacks=()):
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
        callbacks : sequence of callables
            Each called as ``callback(net, history)`` after every epoch;
            training stops when one returns True.

        Returns
        -------
        fastbp.History
            Interrupting with Ctrl-C ends training after the running epoch's
            compiled call and returns the history so far
            (``history.interrupted`` is True).
        """
        return training.fit(
            self, X, T, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
            loss=loss, shuffle=shuffle, seed=seed, validation_data=validation_data,
            progress_bar=progress, patience=patience, min_delta=min_delta,
            callbacks=callbacks)

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
        io.save(self, path, optimizer)

    def to_torch(self):
        """This network as a ``torch.nn.Sequential`` (needs PyTorch).

        Layer i becomes ``seq[2*i]``, an ``nn.Linear`` holding copies of
        ``weights[i]`` and ``biases[i]`` in the network's dtype, and
        ``seq[2*i+1]``, its activation module (``nn.Identity`` for
        ``"identity"``, so the positions stay regular).  ``fastbp.from_torch``
        converts it back; see it for the mapping and softplus's threshold.
        """
        return interop.to_torch(self)
