"""PyTorch modules for fastbp's activations, and a network as a ``torch.nn.Sequential``.

PyTorch is optional: it is imported inside the functions, never when fastbp is.
A fastbp layer i is ``Linear(n_{i-1}, n_i)`` followed by its activation module;
``nn.Linear.weight`` is ``(n_out, n_in)`` row-major, the layout of ``A_i`` in
``Network.weights``, so parameters are copied block for block, unchanged.
``fastbp.from_torch`` (``interop.py``) reads such modules back.
"""
from ._kernels.elementwise import LEAKY_SLOPE

# torch's Softplus returns x itself where beta * x > threshold; fastbp's softplus
# is log(1 + e^x) everywhere.  The two differ by log1p(e^-x) < e^-threshold there:
# at most 2.1e-9 (1e-10 relative) for the default threshold of 20 -- below
# float32's resolution at 20 (1.9e-6), visible in float64.
SOFTPLUS_THRESHOLD = 20.0

# fastbp activation -> (torch.nn class, the arguments to_torch builds it with).
MODULES = {
    "identity": ("Identity", {}),
    "tanh": ("Tanh", {}),
    "sigmoid": ("Sigmoid", {}),
    "relu": ("ReLU", {}),
    "leaky_relu": ("LeakyReLU", {"negative_slope": LEAKY_SLOPE}),
    "softplus": ("Softplus", {"beta": 1.0, "threshold": SOFTPLUS_THRESHOLD}),
    "softmax": ("Softmax", {"dim": -1}),
}


def torch_module():
    """The ``torch`` package, or an ImportError that says how to install it."""
    try:
        import torch
    except ImportError:
        raise ImportError(
            "PyTorch interchange needs PyTorch, which is not installed: "
            "pip install torch (its CPU build), or in a clone of fastbp pip install '.[test]'") from None
    return torch


def sequential(weights, biases, activations):
    """A ``torch.nn.Sequential`` of copies of these layers; see ``Network.to_torch``."""
    torch = torch_module()
    nn = torch.nn
    for i, name in enumerate(activations):
        if name not in MODULES:
            raise ValueError(
                f"net: activation {name!r} of layer {i} is registered with fastbp only; "
                "PyTorch has no module for it")
    modules = []
    for w, b, name in zip(weights, biases, activations):
        n_out, n_in = w.shape
        # skip_init: no random initialisation, so torch's global RNG is left alone.
        linear = nn.utils.skip_init(nn.Linear, n_in, n_out, dtype=getattr(torch, w.dtype.name))
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        cls, kwargs = MODULES[name]
        modules += [linear, getattr(nn, cls)(**kwargs)]
    return nn.Sequential(*modules)
