"""Learning-rate schedules: callables from the epoch (0-based) to a learning rate.

Pass one as an optimizer's ``lr``: ``fastbp.SGD(lr=fastbp.CosineDecay(0.1, 50))``.
``fit`` evaluates it at the start of every epoch, so the whole epoch runs at one
rate, as with torch's ``lr_scheduler`` stepped once per epoch.
"""
import math

from ._checks import count, nonnegative_number, positive_number


class Schedule:
    """Base class: subclasses define ``__call__(epoch)`` and ``_fields``."""

    _fields = ()

    def config(self):
        """A JSON-ready description, from which ``from_config`` rebuilds it."""
        return {"type": type(self).__name__, **{f: getattr(self, f) for f in self._fields}}

    def __repr__(self):
        args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({args})"


class StepDecay(Schedule):
    """``lr * gamma ** (epoch // step_size)`` (torch's ``StepLR``)."""

    _fields = ("lr", "step_size", "gamma")

    def __init__(self, lr, step_size, gamma=0.1):
        self.lr = positive_number(lr, "lr")
        self.step_size = count(step_size, "step_size", 1)
        self.gamma = positive_number(gamma, "gamma")

    def __call__(self, epoch):
        return self.lr * self.gamma ** (epoch // self.step_size)


class ExponentialDecay(Schedule):
    """``lr * gamma ** epoch`` (torch's ``ExponentialLR``)."""

    _fields = ("lr", "gamma")

    def __init__(self, lr, gamma):
        self.lr = positive_number(lr, "lr")
        self.gamma = positive_number(gamma, "gamma")

    def __call__(self, epoch):
        return self.lr * self.gamma ** epoch


class CosineDecay(Schedule):
    """``eta_min + (lr - eta_min) (1 + cos(pi epoch / T_max)) / 2``, then ``eta_min``.

    The closed form of torch's ``CosineAnnealingLR`` over its first half period.
    """

    _fields = ("lr", "T_max", "eta_min")

    def __init__(self, lr, T_max, eta_min=0.0):
        self.lr = positive_number(lr, "lr")
        self.T_max = count(T_max, "T_max", 1)
        self.eta_min = nonnegative_number(eta_min, "eta_min")

    def __call__(self, epoch):
        t = min(epoch, self.T_max)
        return self.eta_min + (self.lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


_TYPES = {cls.__name__: cls for cls in (StepDecay, ExponentialDecay, CosineDecay)}


def from_config(config):
    """A schedule from ``Schedule.config()`` output, or a float learning rate as is."""
    if not isinstance(config, dict):
        return config
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in _TYPES:
        raise ValueError(f"schedule: unknown type {kind!r}; valid types are {sorted(_TYPES)}")
    return _TYPES[kind](**config)
