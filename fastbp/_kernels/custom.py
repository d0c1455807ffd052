"""Hooks that compute registered activations, and the entry sets bound to them.

A registered activation gets a code from ``activations.CUSTOM`` on.  The hook
``ext(mode, code, work, x0, y0, g0, m, n)`` that the passes call for such
codes is a chain of closures, one per registration: each computes its own
code, with the user's ``@njit`` functions called in its loops (so LLVM inlines
them), and hands any other code to the closure before it.  Closures over
run-time functions cannot be cached on disk: numba compiles them, and the
passes above them, once per process.
"""
import functools

from numba import njit

from .activations import CUSTOM, FORWARD
from .entries import bound_to

_jit = functools.partial(njit, nogil=True, error_model="numpy")

# name -> (code, kind, value, second): ``second`` is the derivative of an
# "elementwise" activation or the J^T v of a "vector" one.
REGISTRY = {}


@_jit
def _end(mode, code, work, x0, y0, g0, m, n):
    """The end of the chain: no registered activation has this code."""


def _elementwise(code, value, derivative, rest):
    @_jit
    def ext(mode, c, work, x0, y0, g0, m, n):
        if c != code:
            rest(mode, c, work, x0, y0, g0, m, n)
            return
        count = m * n
        x = work[x0:x0 + count]
        if mode == FORWARD:
            y = work[y0:y0 + count]
            for i in range(count):
                y[i] = value(x[i])
        else:
            g = work[g0:g0 + count]
            for i in range(count):
                g[i] *= derivative(x[i])
    return ext


def _vector(code, value, vjp, rest):
    @_jit
    def ext(mode, c, work, x0, y0, g0, m, n):
        if c != code:
            rest(mode, c, work, x0, y0, g0, m, n)
            return
        for r in range(m):
            x = work[x0 + r * n:x0 + (r + 1) * n]
            y = work[y0 + r * n:y0 + (r + 1) * n]
            if mode == FORWARD:
                value(x, y)
            else:
                vjp(x, y, work[g0 + r * n:g0 + (r + 1) * n])
    return ext


_chain = [_end]  # the hook covering every registration so far is _chain[-1]


def register(name, kind, value, second):
    """Give ``name`` a new code and extend the hook; returns the code.

    Registering a name again gives it a new code: networks built before keep
    the functions they were built with.
    """
    code = CUSTOM + len(_chain) - 1
    link = _elementwise if kind == "elementwise" else _vector
    _chain.append(link(code, value, second, _chain[-1]))
    REGISTRY[name] = (code, kind, value, second)
    return code


def hook():
    """The hook that computes every activation registered so far."""
    return _chain[-1]


@functools.lru_cache(maxsize=None)
def entries(ext):
    """The entry set bound to ``ext``, made once per hook."""
    return bound_to(ext)
