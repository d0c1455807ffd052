"""``fastbp.from_torch``: a network from a ``torch.nn.Sequential``
(the way back is ``Network.to_torch``, in ``_torch.py``).

PyTorch is optional: it is imported inside the functions, never when fastbp is.
"""
import numpy as np

from . import _checks
from ._kernels.elementwise import LEAKY_SLOPE
from ._torch import MODULES, SOFTPLUS_THRESHOLD, torch_module
from .network import Network

_SUPPORTED = ("nn.Linear and the activations "
              + ", ".join(f"nn.{cls}" for cls, _ in MODULES.values()))


def _is(layer, cls):
    """``layer`` is a ``cls`` that computes what ``cls`` computes: a subclass
    that overrides ``forward`` (or a module with forward hooks) may not."""
    return (isinstance(layer, cls) and type(layer).forward is cls.forward
            and not layer._forward_hooks and not layer._forward_pre_hooks)


def _layers(module, where, nn):
    """(where, layer) for every module in ``module``, nested Sequentials flattened
    (a Sequential inside a Sequential is only composition)."""
    for index, layer in enumerate(module):
        place = f"{where}[{index}]"
        if _is(layer, nn.Sequential):
            yield from _layers(layer, place, nn)
        else:
            yield place, layer


def _activation(layer, where, nn):
    """The fastbp name of activation module ``layer``, or a ValueError."""
    kind = type(layer).__name__
    if _is(layer, nn.Tanh):
        return "tanh"
    if _is(layer, nn.Sigmoid):
        return "sigmoid"
    if _is(layer, nn.ReLU):
        return "relu"
    if _is(layer, nn.LeakyReLU):
        if layer.negative_slope != LEAKY_SLOPE:
            raise ValueError(
                f"{where}: nn.LeakyReLU with negative_slope={layer.negative_slope}; fastbp's "
                f"leaky_relu has slope {LEAKY_SLOPE}: use nn.LeakyReLU({LEAKY_SLOPE})")
        return "leaky_relu"
    if _is(layer, nn.Softplus):
        if layer.beta != 1:
            raise ValueError(f"{where}: nn.Softplus with beta={layer.beta}; fastbp's softplus "
                             f"is log(1 + e^x), beta=1: use nn.Softplus()")
        if layer.threshold < SOFTPLUS_THRESHOLD:
            raise ValueError(
                f"{where}: nn.Softplus with threshold={layer.threshold} returns x above it, "
                f"far from fastbp's exact log(1 + e^x); expected threshold >= "
                f"{SOFTPLUS_THRESHOLD:g} (the default)")
        return "softplus"
    if _is(layer, nn.Softmax):
        if layer.dim not in (-1, 1):
            raise ValueError(
                f"{where}: nn.Softmax with dim={layer.dim}; fastbp's softmax normalises each "
                f"sample's outputs: use nn.Softmax(dim=-1)")
        return "softmax"
    hooks = " with forward hooks" if isinstance(layer, nn.Module) and (
        layer._forward_hooks or layer._forward_pre_hooks) else ""
    raise ValueError(f"{where}: {kind}{hooks} is not supported; from_torch converts "
                     f"{_SUPPORTED} (nested nn.Sequential is flattened)")


def _structure(module, nn):
    """(sizes, activation names, [(where, Linear)]) read from a Sequential."""
    sizes, names, linears = [], [], []
    waiting = False  # the last Linear has no activation yet
    for where, layer in _layers(module, "module", nn):
        if _is(layer, nn.Identity):
            continue  # computes nothing, wherever it is
        if _is(layer, nn.Linear):
            n_out, n_in = layer.weight.shape
            if linears and n_in != sizes[-1]:
                raise ValueError(
                    f"{where}: nn.Linear takes {n_in} inputs but {linears[-1][0]} gives "
                    f"{sizes[-1]} outputs")
            if waiting:
                names.append("identity")
            sizes += [n_out] if linears else [n_in, n_out]
            linears.append((where, layer))
            waiting = True
            continue
        name = _activation(layer, where, nn)
        if not linears:
            raise ValueError(f"{where}: {type(layer).__name__} comes before any nn.Linear; "
                             f"fastbp applies an activation to a Linear layer's output")
        if not waiting:
            raise ValueError(
                f"{where}: {type(layer).__name__} follows another activation "
                f"({names[-1]!r}); fastbp applies one activation per nn.Linear")
        names.append(name)
        waiting = False
    if not linears:
        raise ValueError("module: expected a Sequential with at least one nn.Linear, "
                         "found none")
    if waiting:
        names.append("identity")
    return sizes, names, linears


def _dtype(dtype, linears, torch):
    """The numpy dtype to build the network in."""
    if dtype is not None:
        if isinstance(dtype, torch.dtype) and dtype in (torch.float32, torch.float64):
            dtype = str(dtype).removeprefix("torch.")
        return _checks.network_dtype(dtype)
    found = {}
    for where, layer in linears:
        for tensor in (layer.weight, layer.bias):
            if tensor is not None:
                found.setdefault(tensor.dtype, where)
    if len(found) > 1:
        listed = ", ".join(f"{d} at {w}" for d, w in found.items())
        raise TypeError(f"module: parameters of mixed dtypes ({listed}); pass "
                        f"dtype=np.float32 or np.float64 to convert them all to one")
    (kind,) = found
    if kind not in (torch.float32, torch.float64):
        raise TypeError(f"module: parameters of dtype {kind}; fastbp computes in float32 or "
                        f"float64: pass dtype=np.float32 (or np.float64) to convert them")
    return np.dtype(str(kind).removeprefix("torch."))


def from_torch(module, dtype=None):
    """A ``fastbp.Network`` computing what a ``torch.nn.Sequential`` computes.

    Parameters
    ----------
    module : torch.nn.Sequential
        ``nn.Linear`` layers, each optionally followed by one activation module
        (a Linear without one gets ``"identity"``).  Activations and their
        fastbp names:

        - ``nn.Tanh``: ``tanh``; ``nn.Sigmoid``: ``sigmoid``; ``nn.ReLU``: ``relu``
        - ``nn.LeakyReLU(0.01)``: ``leaky_relu`` (any other slope is refused)
        - ``nn.Softplus()``: ``softplus``; beta must be 1 and threshold at least
          20.  torch returns x itself above the threshold, fastbp the exact
          ``log(1 + e^x)``: they differ by ``log1p(e^-x)``, under 2.1e-9 (1e-10
          relative) for the default threshold -- invisible in float32, visible
          in float64 for inputs above 20.
        - ``nn.Softmax(dim=-1)`` or ``dim=1``: ``softmax``

        ``nn.Identity`` is skipped wherever it stands, and nested
        ``nn.Sequential`` modules are flattened.  A Linear with ``bias=False``
        gets zero biases: the network computes the same function, but fastbp
        trains every bias, so training moves them off zero (and ``to_torch``
        gives the layer a bias).
    dtype : np.float32, np.float64, torch.float32, torch.float64 or None
        The network's dtype; by default the dtype of the module's parameters,
        which must then all be float32 or all float64.

    Returns
    -------
    fastbp.Network
        Its parameters are copies: changing one side later does not change
        the other.

    Raises
    ------
    TypeError
        ``module`` is not a ``torch.nn.Sequential``; its parameters are not
        all float32 or all float64 and no ``dtype`` is given; a bad ``dtype``.
    ValueError
        An unsupported module, an activation with settings fastbp's differs
        from, an activation not directly after a Linear, or consecutive
        Linears whose widths do not chain; the message names the module's
        index, e.g. ``module[3]``.  Non-finite parameters.
    ImportError
        PyTorch is not installed.
    """
    torch = torch_module()
    nn = torch.nn
    if not _is(module, nn.Sequential):
        got = type(module).__name__
        hint = "; wrap one layer as nn.Sequential(layer)" if isinstance(module, nn.Module) else ""
        raise TypeError(f"module: expected a torch.nn.Sequential of nn.Linear and activation "
                        f"modules, got {got}{hint}")
    sizes, names, linears = _structure(module, nn)
    dtype = _dtype(dtype, linears, torch)
    net = Network(sizes, names, dtype=dtype, seed=0)
    with torch.no_grad():
        for i, (where, layer) in enumerate(linears):
            for tensor, view, what in ((layer.weight, net.weights[i], "weight"),
                                       (layer.bias, net.biases[i], "bias")):
                if tensor is None:
                    view[...] = 0.0
                    continue
                if tensor.shape != view.shape:
                    raise ValueError(f"{where}.{what}: expected shape {tuple(view.shape)}, "
                                     f"got {tuple(tensor.shape)}")
                values = tensor.detach().to(device="cpu", dtype=getattr(torch, dtype.name))
                view[...] = values.numpy()
                _checks.finite(view, f"{where}.{what}")
    return net
