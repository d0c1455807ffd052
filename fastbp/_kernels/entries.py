"""The compiled calls a network makes, as one set per activation table."""
from typing import Callable, NamedTuple

from . import passes, training


class Entries(NamedTuple):
    predict: Callable
    loss_and_gradient: Callable
    step: Callable
    epoch: Callable
    evaluate: Callable


# Networks of built-in activations only: compiled once, cached on disk.
BUILTIN = Entries(passes.predict, passes.loss_and_gradient, training.step, training.epoch,
                  training.evaluate)
