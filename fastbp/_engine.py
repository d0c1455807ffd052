"""The seam between the objects users hold and the compiled entries.

One ``Engine`` per network owns what its compiled calls need beyond the
parameters: the layer table, the entry set (the cached set for built-in
activations, or one compiled for registered ones), a workspace per thread,
the direct calls learnt for arrays in the kernels' form, and the translation
of the statuses the entries return into exceptions.  ``Network``,
``training`` and ``lbfgs`` call it by name; input reaches it through
``_checks``, the one door, which converts it and words every refusal.
"""
import threading

import numpy as np

from . import _checks, custom, layout
from ._kernels import blas
from ._kernels import entries as entry_sets
from ._kernels import status
from .errors import DivergenceError
from .optimizers import Optimizer

_REASONS = {
    status.BAD_LOSS: "the loss is not finite",
    status.BAD_GRADIENT: "the gradient is not finite",
    status.BAD_STEP: "the update would make a parameter non-finite",
}

# Globals for train_step's fast path: one lookup less each.
_OK, _BAD_LAYOUT, _NO_LABELS = status.OK, status.BAD_LAYOUT, _checks.NO_LABELS


def diverged(code, epoch, batch):
    """The ``DivergenceError`` for a training status ``code`` at (epoch, batch)."""
    return DivergenceError(
        f"training diverged at epoch {epoch}, batch {batch}: {_REASONS[code]}; the "
        "parameters from before this batch are kept (try a smaller learning rate, "
        "gradient clipping with clip_norm=..., or scaling the inputs)", epoch, batch)


class Workspace:
    """Forward/backward buffers for up to ``rows`` samples, reused across calls.

    ``work`` holds a training step's gradient (``grad``, a view of its start),
    then X_i, Y_i and the deltas K_i (``fastbp._kernels.layout``); a batch of
    m <= rows samples uses the first part of each region.
    """

    def __init__(self, rows, table, n_params, dtype):
        self.rows = rows
        self.work = np.empty(layout.workspace_size(table, rows), dtype)
        self.grad = self.work[:n_params]


class Engine:
    """The compiled side of one network of layer widths ``sizes``, activation
    ``codes`` (the last named ``output``) and ``dtype``."""

    def __init__(self, sizes, codes, output, dtype):
        self.sizes, self.dtype = sizes, dtype
        self.layers = layout.layer_table(sizes, codes)
        self.n_params = layout.n_params(self.layers)
        registered = custom.entries(codes)
        self.entries = entry_sets.BUILTIN if registered is None else registered
        self.no_input_gradient = np.empty((0, sizes[0]), dtype)
        self.no_target = _checks.empty_rows(sizes[-1], dtype)  # beside labels
        self._output = output
        self._loss_codes = {}
        # entry name -> its compiled code, called without numba's dispatch
        # (``call``, and ``train_step``'s fast path)
        self._direct = {}
        self._local = threading.local()

    def workspace(self, rows):
        """This thread's workspace, grown to at least ``rows`` samples.

        Per thread, so concurrent calls on one network never share buffers.
        """
        space = getattr(self._local, "space", None)
        if space is None or space.rows < rows:
            space = self._local.space = Workspace(rows, self.layers, self.n_params, self.dtype)
        return space

    def loss_code(self, loss):
        """The kernels' code of loss name ``loss`` (checked against the output)."""
        try:
            return self._loss_codes[loss]
        except (KeyError, TypeError):  # new here, or not a name at all
            code = _checks.loss_code(loss, self._output)
            self._loss_codes[loss] = code
            return code

    def call(self, name, exact, args):
        """Entry ``name`` on ``args``, which end in None (the entries' omitted ``ext``).

        ``exact`` says that every argument has the numba type it has in every
        other exact call, so that such calls go straight to the compiled code,
        without numba's dispatch (``entries.direct``), once one has gone
        through it.  The user's arrays are vouched for by ``_checks.batch``
        (or ``forward``'s own test), the parameters by a test that they are
        still writeable (users can make them read-only); the rest are this
        network's own buffers and its optimizers' arrays, which stay 1-D or
        2-D, C-ordered, aligned and writeable (``Optimizer.__setstate__`` and
        ``load_state_dict`` copy to make sure).
        """
        run = self._direct.get(name) if exact else False
        if run:
            return run(*args)
        kernel = getattr(self.entries, name)
        result = kernel(*args[:-1])
        if run is None:  # exact, and the first such call: learn the direct call
            self._direct[name] = entry_sets.direct(kernel, args[:-1]) or False
        return result

    @staticmethod
    def threads(threads):
        """Context: the BLAS products of the calls inside run on at most
        ``threads`` threads (None: as many as OpenBLAS allows).

        Each product picks its own count in compiled code (``blas.gemm``): one
        thread below ``blas.SERIAL_BELOW`` multiply-adds, else OpenBLAS's
        count capped by this bound.
        """
        return blas.limit(_checks.threads(threads))

    # --- the calls ------------------------------------------------------

    def forward(self, params, X, one):
        """Outputs for X, (m, sizes[0]) of the network's dtype and C-ordered."""
        space = self.workspace(min(X.shape[0], layout.CHUNK_ROWS))
        Y = np.empty((X.shape[0], self.sizes[-1]), self.dtype)
        # X is 2-D, C-ordered and of the network's dtype now: aligned and
        # writeable too, it has the one type the direct call takes.
        done = self.call("predict", X.flags.carray and params.flags.writeable,
                         (params, self.layers, X, space.work, Y, None))
        if done != _OK:
            _checks.refused(done, X, one, None, None, self.sizes)
        return Y

    def loss_and_gradient(self, params, X, T, loss, input_gradient):
        """(loss, gradient, dL/dX or None, whether X was one 1-D sample)."""
        code = self.loss_code(loss)
        sizes = self.sizes
        X, target, labels, one, exact = _checks.batch(X, T, code, sizes[0], sizes[-1],
                                                      self.dtype, self.no_target)
        space = self.workspace(X.shape[0])
        grad = np.empty_like(params)
        grad_inp = np.empty_like(X) if input_gradient else self.no_input_gradient
        value, done = self.call("loss_and_gradient", exact and params.flags.writeable, (
            params, self.layers, code, X, target, labels, space.work, grad, grad_inp, None))
        if done != _OK:
            _checks.refused(done, X, one, target, labels, sizes, code)
        return value, grad, (grad_inp if input_gradient else None), one

    def train_step(self, params, X, T, optimizer, loss):
        """One update of ``params`` on a batch; returns the loss before it."""
        # The call a training loop repeats goes first: the optimizer bound to
        # these parameters and unchanged since, X and T in the kernels' form
        # (``_checks.kernel_form``, whose order, shapes and values the kernel
        # checks), the loss known, this thread's workspace big enough and the
        # direct call learnt.  Anything else goes the full way, which converts.
        try:
            update = optimizer.update_for(params)
        except AttributeError:  # not a fastbp optimizer: the full way says so
            update = None
        if update is not None and params.flags.writeable:
            try:
                code = self._loss_codes[loss]
            except (KeyError, TypeError):  # new here, or not a name at all
                code = None
            labels = _checks.kernel_form(X, T, code, self.dtype)
            space = getattr(self._local, "space", None)
            if labels is not None and code is not None and space is not None:
                kind, hyper, state, fused = update
                m = len(X)
                fused = fused and m == 1
                run = self._direct.get("sample_step" if fused else "step")
                if run and m <= space.rows:
                    target = T if labels is _NO_LABELS else self.no_target
                    if fused:
                        value, done = run(params, self.layers, code, X, target, labels,
                                          space.work, hyper, None)
                    else:
                        value, done = run(params, self.layers, code, X, target, labels,
                                          space.work, kind, hyper, state, None)
                    if done == _OK:
                        return value
                    if done != _BAD_LAYOUT:  # which the full way converts
                        self._step_failed(done, optimizer, X, False, target, labels, code)
        return self._checked_step(params, X, T, optimizer, loss)

    def _checked_step(self, params, X, T, optimizer, loss):
        """``train_step`` on any input: checks, converts, binds the optimizer."""
        code = self.loss_code(loss)
        sizes = self.sizes
        X, target, labels, one, exact = _checks.batch(X, T, code, sizes[0], sizes[-1],
                                                      self.dtype, self.no_target)
        if not params.flags.writeable:  # a user's choice, which would change its type
            _checks.read_only_params()
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected a fastbp optimizer such as fastbp.SGD(lr=0.01), "
                            f"got {type(optimizer).__name__} (fastbp.LBFGS is full-batch: "
                            "use it with fit)")
        if optimizer.state is None:
            # A new optimizer is bound to input known to be good, so that a
            # refused call leaves it new, free for any network.
            _checks.batch_values(X, one, target, labels, sizes, code)
        update = optimizer.bind(params)
        m = X.shape[0]
        space = self.workspace(m)
        if m == 1 and update.fused:  # as fit(batch_size=1)
            value, done = self.call("sample_step", exact, (
                params, self.layers, code, X, target, labels, space.work, update.hyper, None))
        else:
            value, done = self.call("step", exact, (
                params, self.layers, code, X, target, labels, space.work, update.kind,
                update.hyper, update.state, None))
        if done != _OK:
            self._step_failed(done, optimizer, X, one, target, labels, code)
        return value

    def _step_failed(self, done, optimizer, X, one, target, labels, code):
        """Raise what a training step's status ``done`` stands for."""
        if done >= status.BAD_INPUT:
            _checks.refused(done, X, one, target, labels, self.sizes, code)
        raise diverged(done, optimizer.epoch, 0)

    def epoch(self, params, code, X, target, labels, batch_size, order, rng, shuffle, batch,
              update, epoch):
        """One epoch of ``fit`` in one compiled call; returns its loss.

        ``batch`` is the (inputs, target rows, labels) buffers a batch is
        gathered into; a diverging batch raises ``DivergenceError`` naming
        ``epoch`` and the batch, with the parameters from before it kept.
        """
        space = self.workspace(batch_size)
        if batch_size == 1 and update.fused:
            value, done, outcome = self.entries.sample_epoch(
                params, self.layers, code, X, target, labels, order, rng, shuffle,
                space.work, update.hyper)
        else:
            xb, tb, lb = batch
            value, done, outcome = self.entries.epoch(
                params, self.layers, code, X, target, labels, batch_size, order, rng,
                shuffle, xb, tb, lb, space.work, update.kind, update.hyper, update.state)
        if outcome != _OK:
            raise diverged(outcome, epoch, done)
        return value

    def evaluate(self, params, code, X, target, labels):
        """(loss over all of X in the loss's convention, correct argmax predictions)."""
        space = self.workspace(layout.CHUNK_ROWS)
        return self.entries.evaluate(params, self.layers, code, X, target, labels, space.work)

    def gradient(self, params, code, X, target, labels, rows):
        """(loss, gradient) of X's rows, already checked by ``_checks``, in a
        workspace of ``rows`` (at least X's); the gradient is the
        workspace's, valid until the next call."""
        space = self.workspace(rows)
        value, done = self.entries.loss_and_gradient(
            params, self.layers, code, X, target, labels, space.work, space.grad,
            self.no_input_gradient)
        if done != _OK:  # pragma: no cover - the rows were checked
            _checks.refused(done, X, False, target, labels, self.sizes, code)
        return value, space.grad
