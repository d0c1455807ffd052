"""Activation names and their explicit Jacobians (for verification and teaching)."""
import numpy as np

from . import _checks, custom
from ._kernels import activations as activation_kernels

ACTIVATIONS = tuple(activation_kernels.CODES)


def jacobian(name, x):
    """The explicit Jacobian J[a, b] = d f_a / d x_b of activation ``name`` at x.

    Diagonal for elementwise activations; ``diag(s) - s s^T`` for softmax.
    Training never builds it (it uses ``J^T v`` in O(n)).

    Parameters
    ----------
    name : str
        One of ``fastbp.ACTIVATIONS`` or a name given to
        ``fastbp.register_activation``.
    x : array_like, shape (n,)
        Pre-activation values of one sample.  float32 stays float32; any other
        real dtype is computed in float64.

    Returns
    -------
    ndarray, shape (n, n)
    """
    code = _checks.activation_code(name, "name")
    x = np.asarray(x)
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x: expected a non-empty 1-D array, got shape {x.shape}")
    x = _checks.samples(x, x.size, dtype, "x")[0][0]
    if code >= activation_kernels.CUSTOM:
        return custom.jacobian(code, x)
    jac = np.empty((x.size, x.size), dtype)
    activation_kernels.jacobian(code, x, np.empty_like(x), jac)
    return jac
