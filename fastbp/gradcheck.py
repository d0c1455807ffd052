"""``gradcheck``: the analytic gradient against central differences."""
import numpy as np

from . import _checks
from .network import Network


def gradcheck(net, X, T, loss="sse", *, h=1e-5, max_params=None, seed=0):
    """Worst relative error of ``net``'s gradient against central differences.

    Everything is computed in float64 on a copy of the network (a float32
    network is checked through its float64 twin: same activations, same
    parameters), so the differences are accurate to about ``h**2``.  Use it to
    verify an activation of your own (``fastbp.register_activation``): a
    correct derivative gives 1e-5 or less (typically 1e-9 to 1e-6); a wrong
    one, 1e-2 or more.

    Parameters
    ----------
    net : fastbp.Network
    X, T, loss
        A batch and its targets, as for ``Network.loss_and_gradient``.
    h : float
        Step, relative to ``max(1, |p|)`` for each parameter p.
    max_params : int or None
        Check only this many parameters, drawn at random (``seed``): each
        costs two evaluations of the loss.  None checks them all.

    Returns
    -------
    float
        ``max_i |g_i - d_i| / max(|g_i|, |d_i|, floor)`` over the checked
        parameters, g the analytic gradient and d the central difference;
        ``floor`` is 1e-6 of the largest ``|d_i|``, so components that are zero up
        to rounding do not count as relative errors.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net: expected a fastbp.Network, got {type(net).__name__}")
    h = _checks.positive_number(h, "h")
    twin = Network(net.sizes, net.activations, dtype=np.float64)
    twin.params = net.params
    _, grad = twin.loss_and_gradient(X, T, loss)
    grad = grad.copy()
    chosen = np.arange(twin.n_params)
    if max_params is not None:
        count = _checks.count(max_params, "max_params", 1)
        if count < twin.n_params:
            chosen = np.sort(np.random.default_rng(seed).choice(twin.n_params, count,
                                                                replace=False))
    p = twin.params
    diffs = np.empty(chosen.size)
    for k, i in enumerate(chosen):
        keep = p[i]
        step = h * max(1.0, abs(keep))
        p[i] = keep + step
        up = twin.loss_and_gradient(X, T, loss)[0]
        p[i] = keep - step
        down = twin.loss_and_gradient(X, T, loss)[0]
        p[i] = keep
        diffs[k] = (up - down) / (2 * step)
    g = grad[chosen]
    floor = 1e-6 * np.max(np.abs(diffs)) + np.finfo(np.float64).tiny
    scale = np.maximum(np.maximum(np.abs(g), np.abs(diffs)), floor)
    return float(np.max(np.abs(g - diffs) / scale))
