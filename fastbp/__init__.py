"""fastbp: dense neural networks trained on the CPU by compiled backpropagation."""
from ._kernels.losses import CODES as _LOSS_CODES
from .activations import ACTIVATIONS, jacobian
from .custom import register_activation
from .ensemble import Ensemble, EnsembleHistory, bootstrap, kfold
from .errors import DivergenceError
from .gradcheck import gradcheck
from .history import History
from .interop import from_torch
from .io import load
from .lbfgs import LBFGS
from .network import Network
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSprop
from .schedules import CosineDecay, ExponentialDecay, StepDecay

LOSSES = tuple(_LOSS_CODES)
__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "LOSSES", "Network", "jacobian", "register_activation", "gradcheck",
    "load", "from_torch", "History", "DivergenceError",
    "Ensemble", "EnsembleHistory", "bootstrap", "kfold",
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "LBFGS",
    "StepDecay", "ExponentialDecay", "CosineDecay", "__version__",
]
