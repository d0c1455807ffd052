"""Full-batch L-BFGS: SciPy's L-BFGS-B driven by the compiled loss and gradient.

SciPy does the quasi-Newton bookkeeping and the line search; fastbp supplies
the objective ``f(p) = loss(p) + weight_decay/2 * ||p||^2`` and its gradient
over the whole training set, computed in chunks of ``layout.CHUNK_ROWS`` rows
so the workspace stays small whatever the data size.
"""
import time

import numpy as np

from . import _checks, layout
from ._kernels import blas
from ._kernels.losses import SSE


class LBFGS:
    """Full-batch L-BFGS for ``Network.fit`` (``optimizer=fastbp.LBFGS()``).

    Each of ``fit``'s epochs is one L-BFGS iteration (which may evaluate the
    loss and gradient more than once, in its line search); ``batch_size`` and
    ``shuffle`` do not apply.  For smooth problems of moderate size, where it
    usually needs far fewer gradient evaluations than first-order methods.

    Parameters
    ----------
    history : int
        Correction pairs kept (SciPy's ``maxcor``).
    tol : float
        Stop when the largest gradient component falls below ``tol``
        (SciPy's ``gtol``).
    ftol : float
        Stop when the relative decrease of the objective falls below ``ftol``.
    max_evals : int
        At most this many loss-and-gradient evaluations in one ``fit``
        (SciPy's ``maxfun``).
    weight_decay : float
        L2 penalty: ``weight_decay / 2 * ||params||^2`` is added to the
        objective (all parameters, biases included, as the first-order
        optimizers' ``weight_decay``).

    Attributes
    ----------
    evaluations : int
        Loss-and-gradient evaluations made by the last ``fit``.
    result : scipy.optimize.OptimizeResult or None
        SciPy's report of the last ``fit`` (``message``, ``nit``, ...).
    """

    def __init__(self, history=10, tol=1e-5, ftol=2.2e-9, max_evals=15000, weight_decay=0.0):
        self.history = _checks.count(history, "history", 1)
        self.tol = _checks.nonnegative_number(tol, "tol")
        self.ftol = _checks.nonnegative_number(ftol, "ftol")
        self.max_evals = _checks.count(max_evals, "max_evals", 1)
        self.weight_decay = _checks.nonnegative_number(weight_decay, "weight_decay")
        self.evaluations = 0
        self.result = None

    def __repr__(self):
        return (f"LBFGS(history={self.history}, tol={self.tol}, ftol={self.ftol}, "
                f"max_evals={self.max_evals}, weight_decay={self.weight_decay})")


def objective(net, engine, code, X, target, labels, weight_decay):
    """``f(p) -> (value, gradient)`` in float64 over all of (X, target/labels),
    computed by ``engine`` for ``net``.

    Mean losses are averaged over chunks weighted by their rows, so the value
    is the loss of the whole set in the loss's own convention.  A non-finite
    loss is reported as +inf, which makes SciPy's line search step back.
    """
    n = X.shape[0]
    rows = min(n, layout.CHUNK_ROWS)
    total = np.empty(net.n_params)
    use_labels = labels.size > 0
    summed = code == SSE  # a sum over samples, not a mean

    def f(p):
        f.evaluations += 1
        net.params[...] = p  # converts to the network's dtype
        value = 0.0
        total[...] = 0.0
        for lo in range(0, n, rows):
            hi = min(n, lo + rows)
            weight = 1.0 if summed else (hi - lo) / n
            chunk_value, grad = engine.gradient(
                net.params, code, X[lo:hi], target if use_labels else target[lo:hi],
                labels[lo:hi] if use_labels else labels, rows)
            value += weight * chunk_value
            total[...] += weight * grad
        if weight_decay:
            value += 0.5 * weight_decay * float(p @ p)
            total[...] += weight_decay * p
        if not (np.isfinite(value) and np.all(np.isfinite(total))):
            return np.inf, np.zeros_like(total)
        return value, total.copy()

    f.evaluations = 0
    return f


def run(net, engine, optimizer, code, X, target, labels, epochs, after_epoch):
    """Minimise; ``after_epoch(value, seconds)`` after each iteration returns
    True to stop.  The network ends with the last accepted iterate."""
    from scipy.optimize import minimize  # imported when used: it takes a while

    f = objective(net, engine, code, X, target, labels, optimizer.weight_decay)
    accepted = net.params.astype(np.float64)  # the last iterate L-BFGS accepted
    clock = time.perf_counter()

    def callback(intermediate_result):
        nonlocal accepted, clock
        accepted = intermediate_result.x.copy()
        now = time.perf_counter()
        elapsed, clock = now - clock, now
        loss = intermediate_result.fun
        if optimizer.weight_decay:
            loss -= 0.5 * optimizer.weight_decay * float(accepted @ accepted)
        if after_epoch(loss, elapsed):
            raise StopIteration

    optimizer.result = None
    if epochs == 0:
        optimizer.evaluations = 0
        return
    try:
        with blas.others_serial():
            result = minimize(
                f, accepted, jac=True, method="L-BFGS-B", callback=callback,
                options={"maxcor": optimizer.history, "gtol": optimizer.tol,
                         "ftol": optimizer.ftol, "maxiter": epochs,
                         "maxfun": optimizer.max_evals})
        optimizer.result = result
        net.params[...] = result.x
    finally:
        optimizer.evaluations = f.evaluations
        # Interrupted or stopped: keep the last accepted iterate, not the last
        # trial point of a line search.
        if optimizer.result is None:
            net.params[...] = accepted
