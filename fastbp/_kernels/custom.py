"""Hooks that compute registered activations, and the entry sets bound to them.

A registered activation gets a code from ``activations.CUSTOM`` on.  The hook
``ext(mode, code, work, x0, y0, g0, m, n)`` that the passes call for such
codes is a chain of closures, one link per registration: a link computes its
own code, with the user's ``@njit`` functions called in its loops (so LLVM
inlines them), and hands any other code to the link before it.  Closures over
run-time functions cannot be cached on disk: numba compiles them, and the
passes above them, once per process.
"""
import functools

from numba import njit

from .activations import CUSTOM, FORWARD
from .entries import bound_to
from .views import segment

# fastmath set, so the users' functions under the hook (which take their
# caller's flags unless they set their own) never depend on which pass
# compiled the hook first (see ``fastbp._kernels``).
_jit = functools.partial(njit, nogil=True, error_model="numpy", fastmath=False)

# name -> (code, kind, value, second): ``second`` is the derivative of an
# "elementwise" activation or the J^T v of a "vector" one.
REGISTRY = {}


@_jit
def _end(mode, code, work, x0, y0, g0, m, n):
    """The end of the chain: no registered activation has this code."""


def _link(code, compute, rest):
    """The chain with one more link: ``code`` goes to ``compute``, any other
    code on to ``rest``."""
    @_jit
    def ext(mode, c, work, x0, y0, g0, m, n):
        if c == code:
            compute(mode, work, x0, y0, g0, m, n)
        else:
            rest(mode, c, work, x0, y0, g0, m, n)
    return ext


def _elementwise(value, derivative):
    """Y = f(X) or G *= f'(X) over m * n values."""
    @_jit
    def compute(mode, work, x0, y0, g0, m, n):
        x = segment(work, x0, m * n)
        if mode == FORWARD:
            y = segment(work, y0, m * n)
            for i in range(m * n):
                y[i] = value(x[i])
        else:
            g = segment(work, g0, m * n)
            for i in range(m * n):
                g[i] *= derivative(x[i])
    return compute


def _vector(value, vjp):
    """Y = f(X) or G <- J^T G, row by row."""
    @_jit
    def compute(mode, work, x0, y0, g0, m, n):
        for r in range(m):
            x = segment(work, x0 + r * n, n)
            y = segment(work, y0 + r * n, n)
            if mode == FORWARD:
                value(x, y)
            else:
                vjp(x, y, segment(work, g0 + r * n, n))
    return compute


_chain = [_end]  # the hook covering every registration so far is _chain[-1]


def register(name, kind, value, second):
    """Give ``name`` a new code and extend the hook; returns the code.

    Registering a name again gives it a new code: networks built before keep
    the functions they were built with.
    """
    code = CUSTOM + len(_chain) - 1
    compute = (_elementwise if kind == "elementwise" else _vector)(value, second)
    _chain.append(_link(code, compute, _chain[-1]))
    REGISTRY[name] = (code, kind, value, second)
    return code


def hook():
    """The hook that computes every activation registered so far."""
    return _chain[-1]


@functools.lru_cache(maxsize=None)
def entries(ext):
    """The entry set bound to ``ext``, made once per hook."""
    return bound_to(ext)
