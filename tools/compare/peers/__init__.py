"""The implementations timed against each other, one module each.

Every peer is a class made with (sizes, activations, dtype, learning rate)
that has
``reset(params)`` (restore the parameters, a list of (weights, biases)),
``steps(X, T, k)`` (k training steps on one batch), ``epoch(X, T, batch, n)``
(one pass over the first n samples in order), ``sync()`` (wait for queued
work) and ``params()`` (the parameters as NumPy arrays).  A peer's module
imports its library, so it is imported only when the peer is made.
"""
import importlib

from compare.workloads import LR

IMPLS = ["fastbp", "numpy", "torch", "jax", "jax-scan"]
LABELS = {"fastbp": "fastbp", "numpy": "NumPy", "torch": "PyTorch eager",
          "jax": "JAX jit", "jax-scan": "JAX lax.scan"}
OPTIONAL = ["fastbp", "numpy", "torch", "jax"]  # what --skip accepts
EPOCH_ONLY = {"jax-scan"}  # a scan over a whole epoch has no single step

_CLASSES = {"fastbp": ("peer_fastbp", "Fastbp"), "numpy": ("peer_numpy", "Numpy"),
            "torch": ("peer_torch", "Torch"), "jax": ("peer_jax_jit", "JaxJit"),
            "jax-scan": ("peer_jax_scan", "JaxScan")}


def library(impl):
    """The library an implementation needs (its name in OPTIONAL)."""
    return "jax" if impl == "jax-scan" else impl


def make(impl, sizes, acts, dtype, lr=LR):
    """A new peer ``impl`` for one network, trained by SGD at rate ``lr``."""
    module, name = _CLASSES[impl]
    peer = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return peer(sizes, acts, dtype, lr)
