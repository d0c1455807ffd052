"""Many networks of one architecture trained in one compiled call.

Member i's parameters are row i of a 2-D array, and everything it owns (its
rows of the data, shuffle state, workspace, batch buffers, optimizer
hyperparameters and state) is row i of another.  An epoch of the ensemble runs
each member's epoch, exactly the kernel ``Network.fit`` runs
(``training.epoch``, or ``per_sample.sample_epoch`` where ``fit`` would take
it), with the members spread over numba's threads: so member i's result is bit
for bit the one it would get trained alone.  Members share no buffer, and the
BLAS products inside run on one thread each (the caller sees to it).
"""
import numpy as np
from numba import prange

from . import jit
from .passes import predict
from .per_sample import sample_epoch
from .status import OK
from .training import epoch


@jit(parallel=True)
def epochs(params, layers, loss, X, target, labels, batch_size, orders, lengths, rngs,
           reshuffle, xb, tb, lb, work, kind, hyper, state, fused, active, result):
    """One epoch of every member i with ``active[i]``, on the rows
    ``orders[i, :lengths[i]]`` of X and target (or labels).

    ``fused[i]``: member i takes ``sample_epoch`` (batches of one sample
    under plain SGD, as ``fit`` would).  ``result[i]`` receives (epoch loss,
    batches completed, status) of member i; an inactive member's is left as
    it was.
    """
    for i in prange(params.shape[0]):
        if not active[i]:
            continue
        order = orders[i][:lengths[i]]
        if fused[i]:
            value, done, status = sample_epoch(params[i], layers, loss, X, target, labels,
                                               order, rngs[i], reshuffle, work[i], hyper[i])
        else:
            value, done, status = epoch(params[i], layers, loss, X, target, labels,
                                        batch_size, order, rngs[i], reshuffle, xb[i], tb[i],
                                        lb[i], work[i], kind, hyper[i], state[i])
        result[i, 0] = value
        result[i, 1] = done
        result[i, 2] = status
    return OK


@jit(parallel=True)
def outputs(params, layers, X, work, result):
    """Every member's outputs for X: ``result[i]`` = member i's (m, k), computed
    by ``passes.predict`` (as ``Network.forward``) in member i's ``work[i]``.
    X was checked by the caller; returns OK."""
    for i in prange(params.shape[0]):
        predict(params[i], layers, X, work[i], result[i])
    return OK

