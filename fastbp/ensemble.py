"""``Ensemble``: many networks of one architecture, trained in one compiled call per epoch.

The members' parameters are the rows of one 2-D array; each member is also a
``Network`` whose parameters are a view of its row.  ``fit`` runs an epoch of
every member in one call of ``fastbp._kernels.ensemble.epochs``, the members
spread over numba's threads, each running exactly the epoch ``Network.fit``
runs, so that member i ends bit for bit where it would trained alone
(docs/design.md, "Ensembles").
"""
import contextlib
import copy
import numbers
import time

import numba
import numpy as np

from . import _checks, layout
from . import progress as progress_bars
from ._engine import diverged
from ._kernels import blas
from ._kernels import ensemble as kernels
from ._kernels.entries import BUILTIN
from ._kernels.losses import CROSS_ENTROPY
from ._kernels.status import OK
from .network import Network
from .optimizers import Adam, Optimizer
from .training import _seed_state


class Ensemble:
    """``members`` networks of one architecture, trained together.

    Parameters
    ----------
    sizes, activations, dtype
        As for ``fastbp.Network``.
    members : int
        How many networks.
    seed : int, np.random.SeedSequence or None
        Member i is initialised as ``Network(sizes, activations, dtype,
        seed=np.random.SeedSequence(seed).spawn(members)[i])`` would be, so any
        member can be rebuilt alone.

    Attributes
    ----------
    params : ndarray, shape (members, n_params)
        Row i is member i's flat parameters (``Network.params``' layout).
    optimizers : list of fastbp optimizers or None
        The members' optimizers of the last ``fit``: pass them to the next
        ``fit`` to continue where it stopped.
    status : list of str
        Per member: "ok", or why its training stopped ("diverged in epoch 3: ...").
    """

    def __init__(self, sizes, activations, members, dtype=np.float64, seed=None):
        members = _checks.count(members, "members", 1)
        if not (seed is None or isinstance(seed, np.random.SeedSequence)
                or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)
                    and seed >= 0)):
            raise ValueError(f"seed: expected None, an integer >= 0 or a "
                             f"np.random.SeedSequence, got {seed!r}")
        root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self._adopt([Network(sizes, activations, dtype=dtype, seed=child)
                     for child in root.spawn(members)])

    @classmethod
    def from_networks(cls, networks):
        """An ensemble of copies of ``networks`` (one architecture and dtype);
        the networks themselves are left as they are."""
        networks = list(networks)
        if not networks or not all(isinstance(n, Network) for n in networks):
            raise TypeError("networks: expected a non-empty sequence of fastbp.Network")
        first = networks[0]
        for i, net in enumerate(networks):
            if (net.sizes, net.activations, net.dtype) != (first.sizes, first.activations,
                                                           first.dtype):
                raise ValueError(f"networks[{i}]: {net!r} differs from networks[0], {first!r}; "
                                 "an ensemble's members share one architecture and dtype")
        copies = []
        for net in networks:
            twin = Network(first.sizes, first.activations, dtype=first.dtype, seed=0)
            twin.params = net.params
            copies.append(twin)
        ensemble = cls.__new__(cls)
        ensemble._adopt(copies)
        return ensemble

    def _adopt(self, nets):
        self._params = np.empty((len(nets), nets[0].n_params), nets[0].dtype)
        for row, net in zip(self._params, nets):
            net._share(row)
        self._members = nets
        self.optimizers = None
        self.status = ["ok"] * len(nets)

    # --- pickling (and copy.deepcopy) -----------------------------------

    def __getstate__(self):
        # The members travel as Network states whose parameters are the rows;
        # unpickling puts the rows back into one array the members view.
        return {"members": [net.__getstate__() for net in self._members],
                "optimizers": self.optimizers, "status": self.status}

    def __setstate__(self, state):
        nets = []
        for member in state["members"]:
            net = Network.__new__(Network)
            net.__setstate__(member)
            nets.append(net)
        self._adopt(nets)
        self.optimizers, self.status = state["optimizers"], list(state["status"])

    # --- what the ensemble is -------------------------------------------

    @property
    def members(self):
        """Number of networks (int)."""
        return len(self._members)

    @property
    def sizes(self):
        return self._members[0].sizes

    @property
    def activations(self):
        return self._members[0].activations

    @property
    def dtype(self):
        return self._members[0].dtype

    @property
    def n_params(self):
        """Parameters of one member (int)."""
        return self._params.shape[1]

    @property
    def params(self):
        """(members, n_params): row i is member i's parameters."""
        return self._params

    @params.setter
    def params(self, values):
        values = _checks.numeric(values, "params")
        if values.shape != self._params.shape:
            raise ValueError(f"params: expected shape {self._params.shape}, got {values.shape}")
        values = np.ascontiguousarray(values, dtype=self.dtype)
        _checks.finite(values, "params")
        self._params[...] = values

    def __len__(self):
        return len(self._members)

    def __getitem__(self, i):
        """Member i as a ``Network`` whose parameters are a view of row i."""
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"index: expected an integer, got {type(i).__name__}")
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for an ensemble of {len(self)} members")
        return self._members[i]

    def __iter__(self):
        return iter(self._members)

    def __repr__(self):
        return (f"Ensemble(sizes={list(self.sizes)}, activations={list(self.activations)}, "
                f"members={len(self)}, dtype=np.{self.dtype.name})")

    # --- computing ------------------------------------------------------

    def predict(self, X, *, threads=None):
        """Every member's outputs for X: (members, m, sizes[-1]) ((members,
        sizes[-1]) for one 1-D sample), each member's equal to its
        ``forward(X)``; the members spread over ``threads`` of numba's threads
        (default: all), BLAS on one thread per product meanwhile."""
        X, one = _checks.samples(X, self.sizes[0], self.dtype)
        threads = _checks.threads(threads)
        engine = self._members[0]._engine
        out = np.empty((len(self), X.shape[0], self.sizes[-1]), self.dtype)
        if engine.entries is not BUILTIN:  # a registered activation: member by member
            for i, net in enumerate(self._members):
                out[i] = net.forward(X, threads=threads)
        else:
            rows = min(X.shape[0], layout.CHUNK_ROWS)
            work = np.empty((len(self), layout.workspace_size(engine.layers, rows)),
                            self.dtype)
            with _numba_threads(threads), blas.serial():
                kernels.outputs(self._params, engine.layers, X, work, out)
        return out[:, 0] if one else out

    def predict_mean(self, X, return_std=False):
        """The members' mean output for X, and with ``return_std`` their
        standard deviation (population, ddof=0), each (m, sizes[-1]); for a
        softmax output, the mean probability of each class."""
        outputs = self.predict(X)
        mean = outputs.mean(axis=0)
        return (mean, outputs.std(axis=0)) if return_std else mean

    def predict_classes(self, X):
        """The class of highest mean probability (softmax outputs), int64 (m,)."""
        self._members[0]._require_softmax("predict_classes")
        return np.argmax(self.predict_mean(X), axis=-1)

    def loss_and_gradient(self, X, T, loss="sse"):
        """(losses (members,), gradients (members, n_params)) on one batch."""
        values = np.empty(len(self))
        grads = np.empty_like(self._params)
        for i, net in enumerate(self._members):
            values[i], grads[i] = net.loss_and_gradient(X, T, loss)
        return values, grads

    # --- training -------------------------------------------------------

    def fit(self, X, T, *, epochs=10, batch_size=32, optimizer=None, loss="sse", shuffle=True,
            seed=None, sample_indices=None, validation_data=None, validation_indices=None,
            progress=True, patience=None, min_delta=0.0, callbacks=(), threads=None):
        """Train every member for ``epochs`` passes over its rows of (X, T).

        Parameters
        ----------
        X, T, epochs, batch_size, loss, shuffle, progress, min_delta
            As for ``Network.fit``.
        optimizer : fastbp optimizer, or a list of ``members`` of one kind
            One optimizer is a template: each member trains with a copy of
            it (its state, if it has one, copied too).  A list gives member
            i ``optimizer[i]``, so hyperparameters can differ per member
            (a learning-rate sweep: ``[fastbp.Adam(lr) for lr in rates]``).
            Default: ``fastbp.Adam()``.  The optimizers used are kept in
            ``optimizers`` to continue training.
        seed : int, sequence of ``members`` ints, or None
            The members' shuffle seeds.  Member i shuffles as ``Network.fit``
            with ``seed=seeds[i]`` does, where ``seeds`` is the sequence given
            or ``fastbp.ensemble.member_seeds(seed, members)`` for one int.
        sample_indices : sequence of ``members`` index arrays, or None
            The rows of X each member trains on (``bootstrap``, ``kfold``);
            the data is never copied.  Member i trains as ``Network.fit`` on
            ``X[sample_indices[i]]`` would.  Default: every row.
        validation_data : (X_val, T_val), optional
            Evaluated for every member after every epoch, as ``Network.fit``
            does.
        validation_indices : sequence of ``members`` index arrays, or None
            The rows of X_val each member is evaluated on (a k-fold member's
            held-out fold: ``validation_data=(X, T)``, ``validation_indices=test``).
        patience : int or None
            Early stopping per member, as ``Network.fit``'s: a member whose
            watched loss has not improved for ``patience`` epochs gets its best
            parameters back and stops, while the others go on; at the end,
            every member gets its best parameters back.
        callbacks : sequence of callables
            Each called as ``callback(ensemble, history)`` after every epoch;
            training stops when one returns True.
        threads : int or None
            The most threads the members are spread over (numba's threads;
            default: all of them).  BLAS runs on one thread per product meanwhile.

        Returns
        -------
        EnsembleHistory
            Per-epoch losses of every member.  A member that diverges keeps
            its parameters from before the failing batch and stops, and
            ``status`` says so, while the others go on.
        """
        # --- everything is checked before anything is touched ------------
        members = len(self)
        engine = self._members[0]._engine
        if engine.entries is not BUILTIN:
            raise ValueError(f"activations: {list(self.activations)} include a registered "
                             "activation; Ensemble.fit trains built-in activations only "
                             "(train such members one by one with Network.fit)")
        code = engine.loss_code(loss)
        X, one = _checks.samples(X, self.sizes[0], self.dtype)
        if one:
            raise ValueError(f"X: fit needs a batch of shape (m, {self.sizes[0]}), "
                             "got a 1-D sample")
        n = X.shape[0]
        target, labels = _checks.targets(T, code, n, False, self.sizes[-1], self.dtype)
        epochs = _checks.count(epochs, "epochs", 0)
        batch_size = _checks.count(batch_size, "batch_size", 1)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle: expected True or False, got {shuffle!r}")
        threads = _checks.threads(threads)
        orders, lengths = _indices(sample_indices, n, members, "sample_indices")
        seeds = _shuffle_seeds(seed, members)
        optimizers = _optimizers(optimizer, members)
        if patience is not None:
            patience = _checks.count(patience, "patience", 1)
        min_delta = _checks.nonnegative_number(min_delta, "min_delta")
        callbacks = _callables(callbacks)
        validation = None
        if validation_data is not None:
            validation = _validation_sets(validation_data, validation_indices, code, self)
        elif validation_indices is not None:
            raise ValueError("validation_indices: given without validation_data")
        if not self._params.flags.writeable:
            _checks.read_only_params()
        # Bound only once everything else is known good: a refused call
        # leaves every optimizer as it was.
        for opt, row in zip(optimizers, self._params):
            opt.bind(row)
        self.optimizers = optimizers
        self.status = ["ok"] * members

        run = _Run(self, engine, code, X, target, labels, batch_size, orders, lengths, seeds,
                   shuffle, optimizers)
        watch = _Watch(self, engine, code, validation, patience, min_delta)
        history = EnsembleHistory(members)
        bar = progress_bars.bar(progress, epochs)
        try:
            with _numba_threads(threads):
                self._epochs(run, watch, history, bar, epochs, callbacks)
        except KeyboardInterrupt:
            history.interrupted = True
        finally:
            bar.close()
        if not history.interrupted:
            watch.restore_all()
        return history

    def fit_distributed(self, client, X, T, *, parts=None, optimizer=None, seed=None,
                        sample_indices=None, validation_indices=None, **options):
        """``fit``, with the members split into ``parts`` sub-ensembles trained
        on the workers of ``client`` (a ``dask.distributed.Client``, or any
        executor with ``submit``, such as ``concurrent.futures``'); every
        member ends exactly as ``fit`` on one machine leaves it.

        ``parts``: how many sub-ensembles (default: one per worker the client
        reports, else 2).  ``optimizer``, ``seed``, ``sample_indices`` and
        ``validation_indices`` are per member, as for ``fit``, and split with
        the members; ``options`` are ``fit``'s other keyword arguments
        (``callbacks`` and ``progress`` would run on the workers: not taken).
        The given optimizers receive their members' trained state.  Nothing
        here changes until every part has come back.
        """
        members = len(self)
        for name in ("callbacks", "progress"):
            if name in options:
                raise TypeError(f"{name}: not taken by fit_distributed (it would run on "
                                "the workers); use fit")
        if parts is None:
            info = getattr(client, "scheduler_info", None)
            parts = len(info().get("workers", {})) if callable(info) else 2
        parts = min(_checks.count(max(parts, 1), "parts", 1), members)
        X = _checks.samples(X, self.sizes[0], self.dtype)[0]
        n = X.shape[0]
        orders, lengths = _indices(sample_indices, n, members, "sample_indices")
        rows = [orders[i, :lengths[i]] for i in range(members)]
        seeds = _shuffle_seeds(seed, members)
        given = _optimizers(optimizer, members)
        held = None
        if validation_indices is not None:
            valid = options.get("validation_data")
            if valid is None:
                raise ValueError("validation_indices: given without validation_data")
            count = np.shape(valid[0])[0] if isinstance(valid, (tuple, list)) else 0
            orders_v, lengths_v = _indices(validation_indices, count, members,
                                           "validation_indices")
            held = [orders_v[i, :lengths_v[i]] for i in range(members)]
        groups = np.array_split(np.arange(members), parts)
        futures = []
        for group in groups:
            sub = Ensemble.from_networks([self._members[i] for i in group])
            kwargs = dict(options, optimizer=[copy.deepcopy(given[i]) for i in group],
                          seed=[seeds[i] for i in group],
                          sample_indices=[rows[i] for i in group], progress=False)
            if held is not None:
                kwargs["validation_indices"] = [held[i] for i in group]
            futures.append(client.submit(_fit_part, sub, X, T, kwargs))
        results = (client.gather(futures) if hasattr(client, "gather")
                   else [future.result() for future in futures])
        history = EnsembleHistory(members)
        for group, (sub, part) in zip(groups, results):
            self._params[group] = sub.params
            for i, trained in zip(group, sub.optimizers):
                given[i].load_state_dict(trained.state_dict())
            for j, i in enumerate(group):
                self.status[i] = sub.status[j]
            history.merge(group, part)
        self.optimizers = given
        return history

    def _epochs(self, run, watch, history, bar, epochs, callbacks):
        """``fit``'s loop: an epoch of every training member, then the bookkeeping."""
        for e in range(epochs):
            losses, elapsed = run.epoch(e, self.status, history)
            history.loss.append(losses)
            history.time.append(elapsed)
            watch(losses, history, run.active, self.status)
            active = int(run.active.sum())
            bar.update(f"loss {np.nanmean(losses) if active else np.nan:.4g} (mean of "
                       f"{active} training)")
            if any([bool(callback(self, history)) for callback in callbacks]):
                return
            if not run.active.any():
                return


@contextlib.contextmanager
def _numba_threads(threads):
    """numba's threads (which run the members) capped at ``threads`` meanwhile."""
    if threads is None:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _fit_part(ensemble, X, T, options):
    """A worker's share of ``fit_distributed``: the trained sub-ensemble and its history."""
    history = ensemble.fit(X, T, **options)
    return ensemble, history


def _callables(callbacks):
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise TypeError(f"callbacks: expected a sequence of callables, "
                        f"got {type(callbacks).__name__}") from None
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{i}]: expected a callable, got {callback!r}")
    return callbacks


def _validation_sets(validation_data, indices, code, ens):
    """Per member, the (X, target, labels) it is evaluated on."""
    try:
        Xv, Tv = validation_data
    except (TypeError, ValueError):
        raise ValueError("validation_data: expected a pair (X_val, T_val)") from None
    Xv, one = _checks.samples(Xv, ens.sizes[0], ens.dtype, "validation_data[0]")
    target, labels = _checks.targets(Tv, code, Xv.shape[0], one, ens.sizes[-1], ens.dtype,
                                     "validation_data[1]")
    if indices is None:
        return [(Xv, target, labels)] * len(ens)
    orders, lengths = _indices(indices, Xv.shape[0], len(ens), "validation_indices")
    sets = []
    for rows, length in zip(orders, lengths):
        rows = rows[:length]
        sets.append((np.ascontiguousarray(Xv[rows]),
                     target if labels.size else np.ascontiguousarray(target[rows]),
                     np.ascontiguousarray(labels[rows]) if labels.size else labels))
    return sets


class _Run:
    """The buffers of one ``fit`` and its compiled epochs."""

    def __init__(self, ens, engine, code, X, target, labels, batch_size, orders, lengths,
                 seeds, shuffle, optimizers):
        members, sizes, dtype = len(ens), ens.sizes, ens.dtype
        self.ens, self.engine, self.code = ens, engine, code
        self.X, self.target, self.labels = X, target, labels
        self.batch_size, self.orders, self.lengths = batch_size, orders, lengths
        self.shuffle, self.optimizers = shuffle, optimizers
        self.starts = [opt.epoch for opt in optimizers]
        rows = min(batch_size, int(lengths.max()))
        self.work = np.empty((members, layout.workspace_size(engine.layers, rows)), dtype)
        self.xb = np.empty((members, rows * sizes[0]), dtype)
        self.tb = np.empty((members, 0 if labels.size else rows, sizes[-1]), dtype)
        self.lb = np.empty((members, rows if labels.size else 0), np.int64)
        self.rngs = np.stack([_seed_state(s) for s in seeds])
        updates = [opt.bind(row) for opt, row in zip(optimizers, ens.params)]
        # A member of one row takes batches of one, as fit would.
        self.fused = np.array([u.fused and min(batch_size, int(n_i)) == 1
                               for u, n_i in zip(updates, lengths)])
        self.state = np.zeros((members, max(u.state.shape[0] for u in updates),
                               ens.n_params), dtype)
        self.hyper = np.empty((members, updates[0].hyper.size))
        self.active = np.ones(members, np.bool_)
        self.result = np.zeros((members, 3))

    def epoch(self, e, status, history):
        """Epoch ``e`` of the run for every active member: (losses, seconds)."""
        ens, optimizers = self.ens, self.optimizers
        for i, opt in enumerate(optimizers):
            if self.active[i]:
                opt.epoch = self.starts[i] + e
        updates = [opt.bind(row) for opt, row in zip(optimizers, ens.params)]
        for i, u in enumerate(updates):
            self.hyper[i] = u.hyper
            self.state[i, :u.state.shape[0]] = u.state
        self.result[:, 2] = OK
        began = time.perf_counter()
        with blas.serial():
            kernels.epochs(ens.params, self.engine.layers, self.code, self.X, self.target,
                           self.labels, self.batch_size, self.orders, self.lengths, self.rngs,
                           self.shuffle, self.xb, self.tb, self.lb, self.work, updates[0].kind,
                           self.hyper, self.state, self.fused, self.active, self.result)
        elapsed = time.perf_counter() - began
        losses = np.full(len(ens), np.nan)
        for i, (u, opt) in enumerate(zip(updates, optimizers)):
            if not self.active[i]:
                continue
            u.hyper[...] = self.hyper[i]
            u.state[...] = self.state[i, :u.state.shape[0]]
            if self.result[i, 2] != OK:
                self.active[i] = False
                status[i] = str(diverged(int(self.result[i, 2]), opt.epoch,
                                         int(self.result[i, 1])))
                history.diverged[i] = opt.epoch
            else:
                opt.epoch = self.starts[i] + e + 1
                losses[i] = self.result[i, 0]
        return losses, elapsed


class _Watch:
    """Validation and early stopping, per member, as ``Network.fit``'s bookkeeping."""

    def __init__(self, ens, engine, code, validation, patience, min_delta):
        self.ens, self.engine, self.code = ens, engine, code
        self.validation, self.patience, self.min_delta = validation, patience, min_delta
        members = len(ens)
        self.best_score = np.full(members, np.inf)
        self.best_params = [None] * members
        self.waited = np.zeros(members, np.int64)

    def __call__(self, losses, history, active, status):
        members = len(self.ens)
        scores = losses.copy()
        if self.validation is not None:
            val_loss = np.full(members, np.nan)
            accuracy = np.full(members, np.nan)
            for i in np.flatnonzero(np.isfinite(losses)):
                Xv, target, labels = self.validation[i]
                val_loss[i], correct = self.engine.evaluate(self.ens.params[i], self.code, Xv,
                                                            target, labels)
                accuracy[i] = correct / Xv.shape[0]
            history.val_loss.append(val_loss)
            if self.code == CROSS_ENTROPY:
                history.val_accuracy.append(accuracy)
            scores = val_loss
        if self.patience is None:
            return
        epoch = len(history) - 1
        for i in np.flatnonzero(np.isfinite(losses)):
            if scores[i] < self.best_score[i] - self.min_delta:
                self.best_score[i], self.waited[i] = scores[i], 0
                self.best_params[i] = self.ens.params[i].copy()
                history.best_epoch[i] = epoch
            else:
                self.waited[i] += 1
                if self.waited[i] >= self.patience:
                    active[i] = False
                    self.ens.params[i] = self.best_params[i]
                    history.stopped_early[i] = True
                    status[i] = (f"stopped early after epoch {epoch}, best epoch "
                                 f"{history.best_epoch[i]}")

    def restore_all(self):
        """Every member's best parameters back (with patience)."""
        for i, best in enumerate(self.best_params):
            if best is not None:
                self.ens.params[i] = best


class EnsembleHistory:
    """What ``Ensemble.fit`` returns.

    Attributes
    ----------
    loss : list of ndarray
        Per epoch, every member's epoch loss (NaN for a member that had
        stopped, or diverged in that epoch).
    val_loss, val_accuracy : list of ndarray
        Per epoch, every training member's loss (and accuracy, for
        cross_entropy) on its validation rows (NaN for the others).
    best_epoch, stopped_early : list
        Per member, with ``patience``: the epoch whose parameters it got
        back, and whether its patience ran out.
    time : list of float
        Wall seconds of each epoch's compiled call (all members).
    diverged : dict
        Member index: the epoch in which it diverged.
    interrupted : bool
        Ctrl-C ended training.
    """

    def __init__(self, members):
        self.members = members
        self.loss, self.val_loss, self.val_accuracy, self.time = [], [], [], []
        self.diverged = {}
        self.best_epoch = [None] * members
        self.stopped_early = [False] * members
        self.interrupted = False

    def __len__(self):
        return len(self.loss)

    def merge(self, members, part):
        """Take in ``part``, the history of the members ``members`` (indices)."""
        for name in ("loss", "val_loss", "val_accuracy"):
            mine, theirs = getattr(self, name), getattr(part, name)
            while len(mine) < len(theirs):
                mine.append(np.full(self.members, np.nan))
            for epoch, values in enumerate(theirs):
                mine[epoch][members] = values
        # The parts ran side by side: an epoch took as long as its slowest part.
        longest = max(len(self.time), len(part.time))
        self.time = [max(self.time[k] if k < len(self.time) else 0.0,
                         part.time[k] if k < len(part.time) else 0.0) for k in range(longest)]
        for j, i in enumerate(members):
            self.best_epoch[i] = part.best_epoch[j]
            self.stopped_early[i] = part.stopped_early[j]
            if j in part.diverged:
                self.diverged[int(i)] = part.diverged[j]
        self.interrupted |= part.interrupted

    def losses(self, which="loss"):
        """(epochs, members) array of ``loss`` (or ``"val_loss"``, ``"val_accuracy"``)."""
        values = getattr(self, which)
        return np.array(values).reshape(len(values), self.members)

    def __repr__(self):
        return f"EnsembleHistory({len(self)} epochs, {self.members} members)"


def member_seeds(seed, members):
    """The members' shuffle seeds ``Ensemble.fit(seed=seed)`` uses: ``members``
    ints drawn from ``np.random.SeedSequence(seed)``."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(members, np.uint64)
            >> np.uint64(1)]


def bootstrap(n, members, seed=None):
    """``members`` bootstrap samples of ``n`` rows (drawn with replacement),
    (members, n) int64, for ``Ensemble.fit(sample_indices=...)`` (bagging)."""
    n = _checks.count(n, "n", 1)
    members = _checks.count(members, "members", 1)
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(members, n), dtype=np.int64)


def kfold(n, k, seed=None):
    """k-fold cross-validation of ``n`` rows: (train, test), two lists of k
    int64 index arrays; fold i tests on ``test[i]`` and trains on
    ``train[i]``, the other rows.  Rows are shuffled by ``seed`` first (None:
    in order, as scikit-learn's ``KFold(shuffle=False)``); fold sizes differ by
    at most one, the first ``n % k`` folds being the larger; ``train[i]`` is
    in increasing order."""
    n = _checks.count(n, "n", 2)
    k = _checks.count(k, "k", 2)
    if k > n:
        raise ValueError(f"k: expected at most n = {n} folds, got {k}")
    rows = np.arange(n, dtype=np.int64)
    if seed is not None:
        np.random.default_rng(seed).shuffle(rows)
    test = np.array_split(rows, k)
    train = []
    for fold in test:
        keep = np.ones(n, np.bool_)
        keep[fold] = False
        train.append(np.flatnonzero(keep).astype(np.int64))
    return train, test


def _indices(indices, n, members, name):
    """(orders (members, longest) int64, lengths (members,)) from index arrays ``name``."""
    if indices is None:
        return np.tile(np.arange(n, dtype=np.int64), (members, 1)), np.full(members, n)
    if isinstance(indices, np.ndarray) and indices.ndim == 2:
        indices = list(indices)
    try:
        indices = list(indices)
    except TypeError:
        raise TypeError(f"{name}: expected {members} index arrays, "
                        f"got {type(indices).__name__}") from None
    if len(indices) != members:
        raise ValueError(f"{name}: expected {members} index arrays, one per member, "
                         f"got {len(indices)}")
    arrays = []
    for i, rows in enumerate(indices):
        rows = np.asarray(rows)
        if rows.ndim != 1 or rows.size == 0 or (rows.dtype.kind not in "iu"):
            raise ValueError(f"{name}[{i}]: expected a non-empty 1-D array of row "
                             f"indices, got {rows.dtype} {rows.shape}")
        if rows.min() < 0 or rows.max() >= n:
            raise ValueError(f"{name}[{i}]: row indices must be in [0, {n}), "
                             f"got {rows.min()} to {rows.max()}")
        arrays.append(rows.astype(np.int64))
    lengths = np.array([a.size for a in arrays], dtype=np.int64)
    orders = np.zeros((members, int(lengths.max())), np.int64)
    for row, a in zip(orders, arrays):
        row[:a.size] = a
    return orders, lengths


def _shuffle_seeds(seed, members):
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"seed: expected None, an integer >= 0 or {members} of them, "
                             f"got {seed!r}")
        return member_seeds(seed, members)
    try:
        seeds = list(seed)
    except TypeError:
        raise TypeError(f"seed: expected None, an integer >= 0 or {members} of them, "
                        f"got {seed!r}") from None
    if len(seeds) != members or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0
            for s in seeds):
        raise ValueError(f"seed: expected {members} integers >= 0, one per member, got {seed!r}")
    return [int(s) for s in seeds]


def _optimizers(optimizer, members):
    """One optimizer per member, of one kind (``fit``'s ``optimizer``)."""
    if optimizer is None:
        optimizer = Adam()
    if isinstance(optimizer, Optimizer):
        return [copy.deepcopy(optimizer) for _ in range(members)]
    try:
        optimizers = list(optimizer)
    except TypeError:
        raise TypeError(f"optimizer: expected a fastbp optimizer or a list of {members}, "
                        f"got {type(optimizer).__name__}") from None
    if len(optimizers) != members:
        raise ValueError(f"optimizer: expected {members} optimizers, one per member, "
                         f"got {len(optimizers)}")
    for i, opt in enumerate(optimizers):
        if not isinstance(opt, Optimizer):
            raise TypeError(f"optimizer[{i}]: expected a first-order fastbp optimizer such as "
                            f"fastbp.Adam() (L-BFGS does not train ensembles), "
                            f"got {type(opt).__name__}")
        if type(opt) is not type(optimizers[0]):
            raise ValueError(f"optimizer[{i}]: a {type(opt).__name__}, but optimizer[0] is a "
                             f"{type(optimizers[0]).__name__}; the members' optimizers are of "
                             "one kind (their hyperparameters may differ)")
    if len({id(opt) for opt in optimizers}) != members:
        raise ValueError("optimizer: the same optimizer object appears twice; each member "
                         "needs its own (its state is the member's)")
    return optimizers
