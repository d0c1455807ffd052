"""One dispatch over every kind of activation, by integer code.

Built-in activations are compiled into the passes.  Custom ones (codes from
``CUSTOM``, registered by users, see ``custom.py``) are reached through
``ext``, passed down from the entry point (``entries.py``): a compiled
function ``ext(mode, code, work, x0, y0, g0, m, n)`` for a network with
custom activations, which then gets its own compiled passes with the user's
functions inlined; None for the others, whose passes numba caches on disk (a
function passed as a value would stop the caching, and ``ext is not None`` on
a None argument is pruned at compile time).
"""
from . import elementwise, jit, vector
from .views import START, flat

CODES = {**elementwise.CODES, **vector.CODES}
CUSTOM = 64  # first code of a registered activation
FORWARD, VJP = 0, 1  # what ``ext`` is asked to do


@jit
def is_vector(code):
    return code >= vector.BASE


# The two dispatchers below are inlined by numba into the passes that call
# them: one compiled function fewer between the passes and the loops
# (docs/decisions/0011-inlining.md).
@jit(inline="always")
def forward_at(code, work, x0, y0, m, n, ext):
    """Y = f(X) for m rows of n features: X from work[x0], Y into work[y0]."""
    if code >= CUSTOM:
        if ext is not None:
            ext(FORWARD, code, work, x0, y0, START, m, n)
    elif is_vector(code):
        vector.forward(code, work, x0, work, y0, m, n)
    else:
        elementwise.forward(code, work, x0, work, y0, m * n)


@jit(inline="always")
def vjp_at(code, work, x0, y0, g0, m, n, ext):
    """G <- J^T G for m rows from work[g0], J taken at the layer's X (work[x0])
    and Y (work[y0]); built-in activations read only Y."""
    if code >= CUSTOM:
        if ext is not None:
            ext(VJP, code, work, x0, y0, g0, m, n)
    elif is_vector(code):
        vector.vjp_inplace(code, work, y0, work, g0, m, n)
    else:
        elementwise.vjp_inplace(code, work, y0, work, g0, m * n)


@jit
def forward(code, pre, out):
    """out = f(pre) for a C-ordered (samples x features) block (built-in codes)."""
    m, n = pre.shape
    if is_vector(code):
        vector.forward(code, flat(pre), START, flat(out), START, m, n)
    else:
        elementwise.forward(code, flat(pre), START, flat(out), START, m * n)


@jit
def vjp_inplace(code, out, g):
    """g <- J^T g for every row of a C-ordered block, J taken at the outputs
    ``out`` (built-in codes)."""
    m, n = g.shape
    if is_vector(code):
        vector.vjp_inplace(code, flat(out), START, flat(g), START, m, n)
    else:
        elementwise.vjp_inplace(code, flat(out), START, flat(g), START, m * n)


@jit
def jacobian(code, x, y, jac):
    """Explicit Jacobian at one sample x (y receives f(x)); jac is n x n."""
    n = x.size
    if is_vector(code):
        vector.forward(code, x, START, y, START, 1, n)
        vector.jacobian_from_output(code, y, jac)
        return
    elementwise.forward(code, x, START, y, START, n)
    for a in range(n):
        for b in range(n):
            jac[a, b] = 0.0
        jac[a, a] = elementwise.derivative_from_output(code, y[a])
