"""Activations of your own: registered from ``@njit`` functions, run compiled.

An elementwise activation is a value ``f(x)`` and its derivative ``f'(x)``,
both scalar functions; a vector activation (one whose outputs mix a sample's
features, as softmax) is ``value(x, y)``, which writes f(x) of one sample's
row ``x`` into ``y``, and ``vjp(x, y, g)``, which replaces ``g`` by
``J(x)^T g`` (y = f(x) is given too, since most Jacobians are cheaper in terms
of it).  Networks using them get passes compiled with these functions inlined;
``fastbp.gradcheck`` verifies the derivative you wrote.
"""
import numpy as np

from ._kernels import activations as activation_kernels
from ._kernels import custom as hooks


def _compiled(fn, name):
    if not callable(getattr(fn, "py_func", None)) or not hasattr(fn, "compile"):
        raise TypeError(f"{name}: expected a function compiled with @numba.njit, got {fn!r}")
    return fn


def _trial(name, call, what):
    """Run a registered function once, so mistakes surface at registration."""
    try:
        result = call()
    except Exception as exc:  # numba's typing errors are long: keep the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TypeError(f"{name}: could not run it as {what}: {first}") from exc
    return result


def register_activation(name, value, derivative=None, *, vjp=None):
    """Register an activation under ``name`` for use in any ``Network``.

    Give ``derivative`` for an elementwise activation, ``vjp`` for a vector one.

    Parameters
    ----------
    name : str
        The name networks will use; not one of the built-in names.
        Registering a name again replaces it for networks built afterwards.
    value : numba.njit function
        Elementwise: ``value(x) -> f(x)`` for a scalar x.  Vector:
        ``value(x, y)`` writes f(x) into ``y`` (both 1-D, one sample).
    derivative : numba.njit function, elementwise only
        ``derivative(x) -> f'(x)``.
    vjp : numba.njit function, vector only
        ``vjp(x, y, g)`` replaces ``g`` by ``J(x)^T g`` in place, where
        ``J[a, b] = d f_a / d x_b`` and ``y = f(x)``.

    Returns
    -------
    int
        The activation's code.

    Notes
    -----
    The functions are called with float64 or float32 values (the network's
    dtype).  They run inside the compiled passes: no Python per element.
    Networks using them compile their own passes once per process (closures
    over your functions cannot be cached on disk by numba), which takes as
    long as the first compile of fastbp's built-in passes.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name: expected a non-empty string, got {name!r}")
    if name in activation_kernels.CODES:
        raise ValueError(f"name: {name!r} is a built-in activation; choose another name")
    _compiled(value, "value")
    if (derivative is None) == (vjp is None):
        raise TypeError("register_activation: give derivative= for an elementwise activation "
                        "or vjp= for a vector one (exactly one of them)")
    x = np.array([-1.5, 0.25, 2.0])
    if derivative is not None:
        _compiled(derivative, "derivative")
        for dtype in (np.float64, np.float32):
            for fn, label in ((value, "value"), (derivative, "derivative")):
                out = _trial(label, lambda: fn(dtype(0.5)), f"a scalar function of {dtype.__name__}")
                if not isinstance(out, (float, int, np.floating, np.integer)):
                    raise TypeError(f"{label}: expected it to return a number, got {out!r}")
        return hooks.register(name, "elementwise", value, derivative)
    _compiled(vjp, "vjp")
    for dtype in (np.float64, np.float32):
        xs, y, g = x.astype(dtype), np.zeros(3, dtype), np.ones(3, dtype)
        _trial("value", lambda: value(xs, y), f"value(x, y) on 1-D {dtype.__name__} arrays")
        _trial("vjp", lambda: vjp(xs, y, g), f"vjp(x, y, g) on 1-D {dtype.__name__} arrays")
    return hooks.register(name, "vector", value, vjp)


def registered(names):
    """{name: (kind, value, derivative or vjp)} of the registered names among ``names``."""
    return {name: hooks.REGISTRY[name][1:] for name in names if name in hooks.REGISTRY}


def restore(functions):
    """Register, after unpickling, what a network was built with (unless the
    same functions are already registered under those names)."""
    for name, (kind, value, second) in functions.items():
        known = hooks.REGISTRY.get(name)
        if known is None or known[2] is not value or known[3] is not second:
            keyword = {"derivative": second} if kind == "elementwise" else {"vjp": second}
            register_activation(name, value, **keyword)


def entries(codes):
    """The compiled calls for a network with these activation codes."""
    if max(codes) < activation_kernels.CUSTOM:
        return None
    return hooks.entries(hooks.hook())


def jacobian(code, x):
    """Explicit Jacobian J[a, b] = d f_a / d x_b of a registered activation at
    one sample x, from its J^T v: J^T e_b is row b of J."""
    n = x.size
    work = np.zeros(3 * n, x.dtype)
    work[:n] = x
    ext = hooks.hook()
    ext(activation_kernels.FORWARD, code, work, 0, n, 0, 1, n)
    jac = np.empty((n, n), x.dtype)
    for b in range(n):
        work[2 * n:] = 0
        work[2 * n + b] = 1
        ext(activation_kernels.VJP, code, work, 0, n, 2 * n, 1, n)
        jac[:, b] = work[2 * n:]  # J^T e_b is column b of J^T, row b of J
    return jac.T.copy()
