"""Optimizers with the semantics of their ``torch.optim`` namesakes.

An optimizer holds hyperparameters and, once it has been used with a network,
its state: two arrays in the parameter layout (momentum or moment estimates)
and the number of updates done.  Every update is one compiled loop over the
flat parameters (``fastbp._kernels.optim.update``), which keeps the old state in two
more arrays while it writes, to undo a step that diverges; plain SGD has no
state and needs neither.  Gradient clipping by global norm (torch's
``clip_grad_norm_``) is part of the update: ``clip_norm=...``.
"""
from typing import NamedTuple

import numpy as np

from . import _checks, schedules
from ._kernels import optim as optim_kernels


class Update(NamedTuple):
    """What the compiled update of one optimizer takes, for one network's parameters."""

    kind: int            # SGD, ADAM or RMSPROP of ``fastbp._kernels.optim``
    hyper: np.ndarray    # float64 hyperparameters, and the count of updates done
    state: np.ndarray    # (rows, n_params): the state, then the update's scratch rows
    fused: bool          # plain SGD (no state, no clipping): fusable into the backward pass


class Optimizer:
    """Base class.  ``lr`` is a float or a schedule (``fastbp.StepDecay`` ...).

    ``bind``, ``update_for`` and ``state`` are how a network drives the
    compiled update (``fastbp._engine``); a training loop of your own passes
    the optimizer to ``Network.train_step`` and never calls them.
    ``state_dict`` and ``load_state_dict`` save and restore everything.
    """

    _kind = None
    # Class defaults, so optimizers pickled before these existed still load.
    _bound = None  # the parameters ``_update`` was made for
    _update = None

    def __init__(self, lr, weight_decay, clip_norm):
        if isinstance(lr, schedules.Schedule):
            self.lr = lr
        else:
            self.lr = _checks.positive_number(lr, "lr")
        self.weight_decay = _checks.nonnegative_number(weight_decay, "weight_decay")
        self.clip_norm = None if clip_norm is None else _checks.positive_number(clip_norm, "clip_norm")
        self.epoch = 0  # epochs completed: the schedule's clock, advanced by ``fit``
        self._hyper = np.zeros(optim_kernels.N_HYPER)
        # What the update kernel gets: the state in rows 0-1 (``state``), then
        # the scratch rows it keeps the old state in while it writes.
        self._block = None

    def __setattr__(self, name, value):
        # Any change to a public attribute (a hyperparameter, the epoch) makes
        # the kernels' copy of the hyperparameters stale.
        object.__setattr__(self, name, value)
        if not name.startswith("_"):
            object.__setattr__(self, "_stale", True)

    # --- what the compiled update takes ----------------------------------

    def learning_rate(self, epoch=None):
        """The learning rate at ``epoch`` (default: the current one)."""
        epoch = self.epoch if epoch is None else epoch
        return self.lr(epoch) if callable(self.lr) else self.lr

    def update_for(self, params):
        """The ``Update`` made by the last ``bind(params)`` if nothing has
        changed since (a training loop's usual call), else None.  Changes nothing."""
        if self._bound is params and not self._stale:
            return self._update
        return None

    def bind(self, params):
        """The ``Update`` the compiled calls take to update ``params``.

        The first call makes the optimizer's state, zero, in the parameter
        layout; later calls reuse it.  Raises ``ValueError``, changing
        nothing, if the state was made for parameters of another size or dtype.
        """
        update = self.update_for(params)
        if update is not None:
            return update
        block = self._block
        if block is not None and (block.shape[1] != params.size or block.dtype != params.dtype):
            raise ValueError(
                f"optimizer: its state is for {block.shape[1]} parameters of "
                f"{block.dtype}, but this network has {params.size} of {params.dtype}; "
                "use one optimizer per network, or call optimizer.reset()")
        rows = 2 + self._scratch_rows()
        if block is None or block.shape[0] < rows:
            # New, or short of the scratch rows the update needs: loaded or
            # unpickled (the state alone), or given momentum since.
            grown = np.zeros((rows, params.size), params.dtype)
            if block is not None:
                grown[:2] = block[:2]
            self._block = block = grown
            self._stale = True
        hyper = self._hyper
        if self._stale or isinstance(self.lr, schedules.Schedule):
            hyper[optim_kernels.LR] = self.learning_rate()
            hyper[optim_kernels.DECAY] = self.weight_decay
            hyper[optim_kernels.MAX_NORM] = 0.0 if self.clip_norm is None else self.clip_norm
            hyper[optim_kernels.LIMIT] = np.finfo(params.dtype).max
            self._fill(hyper)
            self._stale = False
        fused = self._scratch_rows() == 0 and self.clip_norm is None
        self._update = Update(self._kind, hyper, block, fused)
        # A schedule's rate may change whenever it is asked: never reuse it.
        self._bound = None if isinstance(self.lr, schedules.Schedule) else params
        return self._update

    def _fill(self, hyper):
        raise NotImplementedError

    def _scratch_rows(self):
        """Rows of scratch the update needs beyond the state: the state's size."""
        return 2

    @property
    def state(self):
        """The optimizer's state, (2, n_params) in the parameter layout
        (momentum or moment estimates), or None before its first update;
        read-only (``load_state_dict`` sets it)."""
        return None if self._block is None else self._block[:2]

    def __getstate__(self):
        # The cached update holds a network's parameters, not this object's to
        # carry; of the block only the state travels (the scratch rows regrow).
        return {**self.__dict__, "_bound": None, "_update": None, "_block": self.state}

    def __setstate__(self, state):
        if "_state" in state:  # pickled before the block existed
            state["_block"] = state.pop("_state")
        count = state.pop("_count", None)  # pickled when the count had an array of its own
        for old in ("_ready", "_args", "_plain"):  # pickled under earlier names
            state.pop(old, None)
        self.__dict__.update(state)
        self._stale = True  # derive the update afresh (older pickles lack some of it)
        # Own, writeable, C-ordered copies (pickle's out-of-band buffers can be
        # read-only): the kernels write them, and a network calls its kernels
        # with the argument types it saw first (``_engine.Engine.call``).
        # Of a pickled ``hyper`` only the count is kept: ``bind`` fills every
        # other slot afresh, whatever the slots meant when it was pickled.
        hyper = np.zeros(optim_kernels.N_HYPER)
        old = np.asarray(self._hyper, dtype=np.float64)
        if count is not None:
            hyper[optim_kernels.STEPS] = count[0]
        elif old.size > optim_kernels.STEPS:
            hyper[optim_kernels.STEPS] = old[optim_kernels.STEPS]
        self._hyper = hyper
        if self._block is not None:
            self._block = np.array(self._block, order="C")

    # --- state -----------------------------------------------------------

    @property
    def steps(self):
        """Number of updates applied so far."""
        return int(self._hyper[optim_kernels.STEPS])

    def reset(self):
        """Forget the state, as a newly made optimizer."""
        self._block = None
        self._stale = True
        self._hyper[optim_kernels.STEPS] = 0
        self.epoch = 0

    def config(self):
        """Hyperparameters as a JSON-ready dict (``from_config`` rebuilds the optimizer)."""
        lr = self.lr.config() if isinstance(self.lr, schedules.Schedule) else self.lr
        return {"type": type(self).__name__, "lr": lr, **{f: getattr(self, f) for f in self._fields}}

    def state_dict(self):
        """Everything needed to resume exactly: config, state arrays, step and epoch."""
        return {"config": self.config(), "steps": self.steps, "epoch": self.epoch,
                "state": None if self.state is None else self.state.copy()}

    def load_state_dict(self, saved):
        """Restore what ``state_dict`` returned (the hyperparameters included)."""
        kind = saved["config"].get("type")
        if kind != type(self).__name__:
            raise ValueError(f"state: saved by a {kind} optimizer, not by {type(self).__name__}; "
                             f"rebuild it with fastbp.optimizers.from_config(state['config'])")
        fresh = from_config(saved["config"])
        state = saved["state"]
        if state is not None:
            state = np.array(state, order="C")  # the kernels' layout (``Engine.call``)
            if state.ndim != 2 or state.shape[0] != 2 or state.dtype.kind != "f":
                raise ValueError(f"state: expected a float array of shape (2, n_params), got "
                                 f"{state.dtype} {state.shape}")
        self.__dict__.update({k: v for k, v in fresh.__dict__.items()
                              if not k.startswith("_")})
        self._block = state
        self._stale = True
        self._hyper[optim_kernels.STEPS] = int(saved["steps"])
        self.epoch = int(saved["epoch"])

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD`` (dampening 0).

    ``buf = momentum * buf + g``; the step is ``g + momentum * buf`` with
    Nesterov, ``buf`` without; weight decay adds ``weight_decay * p`` to g.
    """

    _kind = optim_kernels.SGD
    _fields = ("momentum", "nesterov", "weight_decay", "clip_norm")

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, clip_norm=None):
        super().__init__(lr, weight_decay, clip_norm)
        self.momentum = _checks.fraction(momentum, "momentum")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov: Nesterov momentum needs momentum > 0")
        self.nesterov = bool(nesterov)

    def _fill(self, h):
        h[optim_kernels.MOMENTUM] = self.momentum
        h[optim_kernels.NESTEROV] = self.nesterov

    def _scratch_rows(self):
        # Without momentum there is no state to keep: the old parameters go
        # into the gradient buffer.
        return 0 if self.momentum == 0 else 2


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (weight decay added to the gradient)."""

    _kind = optim_kernels.ADAM
    _decoupled = False
    _fields = ("betas", "eps", "weight_decay", "clip_norm")

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, clip_norm=None):
        super().__init__(lr, weight_decay, clip_norm)
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas: expected a pair (beta1, beta2), got {betas!r}") from None
        self.betas = (_checks.fraction(beta1, "betas[0]"), _checks.fraction(beta2, "betas[1]"))
        self.eps = _checks.nonnegative_number(eps, "eps")

    def _fill(self, h):
        h[optim_kernels.BETA1], h[optim_kernels.BETA2] = self.betas
        h[optim_kernels.EPS] = self.eps
        h[optim_kernels.DECOUPLED] = self._decoupled


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: decoupled weight decay ``p *= 1 - lr * wd``."""

    _decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, clip_norm=None):
        super().__init__(lr, betas, eps, weight_decay, clip_norm)


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop`` (not centered)."""

    _kind = optim_kernels.RMSPROP
    _fields = ("alpha", "eps", "momentum", "weight_decay", "clip_norm")

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0,
                 clip_norm=None):
        super().__init__(lr, weight_decay, clip_norm)
        self.alpha = _checks.fraction(alpha, "alpha")
        self.eps = _checks.nonnegative_number(eps, "eps")
        self.momentum = _checks.fraction(momentum, "momentum")

    def _fill(self, h):
        h[optim_kernels.MOMENTUM] = self.momentum
        h[optim_kernels.ALPHA] = self.alpha
        h[optim_kernels.EPS] = self.eps


_TYPES = {cls.__name__: cls for cls in (SGD, Adam, AdamW, RMSprop)}


def from_config(config):
    """An optimizer from ``Optimizer.config()`` output."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in _TYPES:
        raise ValueError(f"optimizer: unknown type {kind!r}; valid types are {sorted(_TYPES)}")
    config["lr"] = schedules.from_config(config["lr"])
    if "betas" in config:
        config["betas"] = tuple(config["betas"])
    return _TYPES[kind](**config)
