"""Vector activations ("matrix functions", chapter 二 of the derivation).

A vector activation maps a whole row x (one sample's pre-activations) to a row
y, so its Jacobian J (J[a, b] = dy_a/dx_b) is full.  Training never builds J:
each activation supplies its value, the product ``J^T v`` in O(n), and the
explicit J (for verification and teaching).

Adding a vector activation touches this module only: write its three row
functions, give it a code in ``CODES`` and add one branch to each dispatcher.
"""
from . import REORDER, fastfn, jit
from .views import segment

# Vector codes start at BASE so one integer tells the two kinds apart.
BASE = 16
SOFTMAX = BASE + 0
CODES = {"softmax": SOFTMAX}


# --- softmax: s = exp(x) / sum(exp(x)),  J = diag(s) - s s^T (symmetric) ---

# REORDER lets the sums reassociate, so that the loops around them vectorise
# (in softmax_value, the exps with them; benchmarks/bench_activations.py
# times them).
@jit(fastmath=REORDER)
def softmax_value(x, y):
    top = x[0]
    for j in range(1, x.size):
        top = max(top, x[j])
    total = 0.0
    for j in range(x.size):
        # Shifting by the max keeps exp from overflowing; s is unchanged.
        e = fastfn.exp(x[j] - top)
        y[j] = e
        total += e
    inv = 1.0 / total
    for j in range(x.size):
        y[j] *= inv


@jit(fastmath=REORDER)
def softmax_vjp_inplace(y, v):
    # J^T v = s * (v - s.v): O(n), never forming J.
    dot = 0.0
    for j in range(y.size):
        dot += y[j] * v[j]
    for j in range(y.size):
        v[j] = y[j] * (v[j] - dot)


@jit
def softmax_jacobian(y, jac):
    n = y.size
    for a in range(n):
        for b in range(n):
            jac[a, b] = -y[a] * y[b]
        jac[a, a] += y[a]


# --- dispatchers over m rows of n features stored flat, row after row ---

@jit
def forward(code, src, s0, dst, d0, m, n):
    for r in range(m):
        x = segment(src, s0 + r * n, n)
        y = segment(dst, d0 + r * n, n)
        if code == SOFTMAX:
            softmax_value(x, y)


@jit
def vjp_inplace(code, out, o0, g, g0, m, n):
    """g <- J^T g row by row, J evaluated at the row whose output is out."""
    for r in range(m):
        y = segment(out, o0 + r * n, n)
        v = segment(g, g0 + r * n, n)
        if code == SOFTMAX:
            softmax_vjp_inplace(y, v)


@jit
def jacobian_from_output(code, y, jac):
    if code == SOFTMAX:
        softmax_jacobian(y, jac)
