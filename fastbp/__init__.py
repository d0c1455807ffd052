"""fastbp: dense neural networks trained on the CPU by compiled backpropagation."""
from ._kernels.losses import CODES as _LOSS_CODES
from .activations import ACTIVATIONS, jacobian
from .network import Network

LOSSES = tuple(_LOSS_CODES)
__version__ = "0.1.0"

__all__ = ["ACTIVATIONS", "LOSSES", "Network", "jacobian", "__version__"]
