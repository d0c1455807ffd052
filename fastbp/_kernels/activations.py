"""One dispatch over both kinds of activation, by integer code."""
from . import elementwise, jit, vector

CODES = {**elementwise.CODES, **vector.CODES}


@jit
def is_vector(code):
    return code >= vector.BASE


@jit
def forward(code, pre, out):
    """out = f(pre) for a (samples x features) block."""
    if is_vector(code):
        vector.forward(code, pre, out)
    else:
        elementwise.forward(code, pre, out)


@jit
def vjp_inplace(code, out, g):
    """g <- J^T g for every sample row, J taken at the outputs ``out``."""
    if is_vector(code):
        vector.vjp_inplace(code, out, g)
    else:
        elementwise.vjp_inplace(code, out, g)


@jit
def jacobian(code, x, y, jac):
    """Explicit Jacobian at one sample x (y receives f(x)); jac is n x n."""
    n = x.size
    block_x = x.reshape((1, n))
    block_y = y.reshape((1, n))
    forward(code, block_x, block_y)
    if is_vector(code):
        vector.jacobian_from_output(code, y, jac)
        return
    for a in range(n):
        for b in range(n):
            jac[a, b] = 0.0
        jac[a, a] = elementwise.derivative_from_output(code, y[a])
