"""One dispatch over both kinds of activation, by integer code."""
from . import elementwise, jit, vector

CODES = {**elementwise.CODES, **vector.CODES}


@jit
def is_vector(code):
    return code >= vector.BASE


@jit
def forward_at(code, src, s0, dst, d0, m, n):
    """f over m rows of n features stored flat from src[s0], into dst from d0."""
    if is_vector(code):
        vector.forward(code, src, s0, dst, d0, m, n)
    else:
        elementwise.forward(code, src, s0, dst, d0, m * n)


@jit
def vjp_at(code, out, o0, g, g0, m, n):
    """g <- J^T g for m rows stored flat from g[g0], J taken at the outputs from out[o0]."""
    if is_vector(code):
        vector.vjp_inplace(code, out, o0, g, g0, m, n)
    else:
        elementwise.vjp_inplace(code, out, o0, g, g0, m * n)


@jit
def forward(code, pre, out):
    """out = f(pre) for a C-ordered (samples x features) block."""
    m, n = pre.shape
    forward_at(code, pre.reshape(pre.size), 0, out.reshape(out.size), 0, m, n)


@jit
def vjp_inplace(code, out, g):
    """g <- J^T g for every row of a C-ordered block, J taken at the outputs ``out``."""
    m, n = g.shape
    vjp_at(code, out.reshape(out.size), 0, g.reshape(g.size), 0, m, n)


@jit
def jacobian(code, x, y, jac):
    """Explicit Jacobian at one sample x (y receives f(x)); jac is n x n."""
    n = x.size
    forward_at(code, x, 0, y, 0, 1, n)
    if is_vector(code):
        vector.jacobian_from_output(code, y, jac)
        return
    for a in range(n):
        for b in range(n):
            jac[a, b] = 0.0
        jac[a, a] = elementwise.derivative_from_output(code, y[a])
