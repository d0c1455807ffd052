"""The three matrix products of a dense layer, over flat sample-major buffers.

Activations are stored sample-major: m samples of n features, row after row
(C order), starting at some offset of a flat buffer.  A layer's parameters sit
in the flat parameter array from offset ``w``: A as a row-major (n_out, n_in)
block, then B.  Working on offsets rather than 2-D views keeps per-layer cost
low when a batch is one sample.

Each product has two implementations: plain loops, whose innermost loop walks
a row of both operands at unit stride (through 1-D row views, ``views.segment``:
LLVM vectorises a loop over a view, but not one over ``flat[offset + k]``,
whose address it cannot prove consecutive), and BLAS gemm (``blas.gemm``: NumPy's
OpenBLAS where NumPy ships one, else SciPy's, which numba's ``np.dot`` calls).
Loops win on small products, where a BLAS call's
fixed cost dominates; BLAS wins from about ``BLAS_MIN``
multiply-adds (``python tools/studies/blas_threshold.py`` measures it).
"""

from . import REORDER, jit
from .blas import gemm
from .views import matrix as _matrix
from .views import segment

BLAS_MIN = 1 << 13  # 8192 (docs/decisions/0003-blas-threshold.md)
# Y A^T is a "TN" product to a column-major BLAS.  OpenBLAS keeps TN out of
# its small-matrix kernels, which take products of up to SMALL_MAX
# multiply-adds; with Y transposed first the product is "TT", which they
# take.  That pays, transpose included, for 16 <= m <= 64 and
# 32 <= n_in <= n_out only (docs/decisions/0005-transposed-forward-product.md).
SMALL_MAX = 1_000_000


@jit(inline="always")
def transposed_input(m, n_in, n_out):
    """Whether ``forward`` transposes Y before its BLAS product."""
    return 16 <= m <= 64 and 32 <= n_in <= n_out and m * n_in * n_out <= SMALL_MAX


@jit(fastmath=REORDER)
def forward(params, w, inp, i0, pre, p0, m, n_in, n_out, free0):
    """X = Y A^T + 1 B^T (the derivation's X = A Y + B, one row per sample).

    ``free0``: where ``pre`` has m * n_in entries free for a transposed copy of Y.
    """
    b = w + n_out * n_in
    if m * n_in * n_out >= BLAS_MIN:
        if transposed_input(m, n_in, n_out):
            # Column by column: contiguous writes.
            for k in range(n_in):
                column = segment(pre, free0 + k * m, m)
                for s in range(m):
                    column[s] = inp[i0 + s * n_in + k]
            gemm(1, 1, m, n_out, n_in, pre, free0, m, params, w, n_in, pre, p0, n_out)
        else:
            gemm(0, 1, m, n_out, n_in, inp, i0, n_in, params, w, n_in, pre, p0, n_out)
        x = _matrix(pre, p0, m, n_out)
        for s in range(m):
            for j in range(n_out):
                x[s, j] += params[b + j]
        return
    for s in range(m):
        x = segment(inp, i0 + s * n_in, n_in)
        for j in range(n_out):
            a = segment(params, w + j * n_in, n_in)
            acc = params[b + j]
            for k in range(n_in):
                acc += a[k] * x[k]
            pre[p0 + s * n_out + j] = acc


@jit(fastmath=REORDER)
def forward_row(params, w, x, pre, p0, n_in, n_out):
    """Copies ``forward``'s loops for one sample x (1-D), for
    ``per_sample.sample_steps``, which calls it for every layer of every
    sample (tests/kernels/test_dense.py holds the two equal).

    A compiled call, not inlined by numba: inlined it would take the caller's
    flags, and ``sample_steps`` does not reorder, so its dot product would not
    vectorise.  ``forward`` keeps its own copy of the loop rather than calling
    this, which would add a compiled function to the cold compile of every
    ``fit`` (docs/decisions/0011-inlining.md).
    """
    b = w + n_out * n_in
    for j in range(n_out):
        a = segment(params, w + j * n_in, n_in)
        acc = params[b + j]
        for k in range(n_in):
            acc += a[k] * x[k]
        pre[p0 + j] = acc


@jit(fastmath=REORDER)
def parameter_gradient(delta, d0, inp, i0, grad, w, m, n_in, n_out):
    """dL/dA = K^T Y (summed over samples) and dL/dB = K^T 1, into grad from w."""
    b = w + n_out * n_in
    first = segment(delta, d0, n_out)
    for j in range(n_out):
        grad[b + j] = first[j]
    for s in range(1, m):
        k = segment(delta, d0 + s * n_out, n_out)
        for j in range(n_out):
            grad[b + j] += k[j]
    if m * n_in * n_out >= BLAS_MIN:
        gemm(1, 0, n_out, n_in, m, delta, d0, n_out, inp, i0, n_in, grad, w, n_in)
        return
    # The first sample writes, the others add: no separate zeroing pass.
    for s in range(m):
        x = segment(inp, i0 + s * n_in, n_in)
        for j in range(n_out):
            d = delta[d0 + s * n_out + j]
            a = segment(grad, w + j * n_in, n_in)
            if s == 0:
                for k in range(n_in):
                    a[k] = d * x[k]
            else:
                for k in range(n_in):
                    a[k] += d * x[k]


@jit(fastmath=REORDER)
def input_gradient(delta, d0, params, w, g, g0, m, n_in, n_out):
    """G = K A (the derivation's A^T K, one row per sample), into g from g0."""
    if m * n_in * n_out >= BLAS_MIN:
        gemm(0, 0, m, n_in, n_out, delta, d0, n_out, params, w, n_in, g, g0, n_in)
        return
    for s in range(m):
        x = segment(g, g0 + s * n_in, n_in)
        for j in range(n_out):
            d = delta[d0 + s * n_out + j]
            a = segment(params, w + j * n_in, n_in)
            if j == 0:
                for k in range(n_in):
                    x[k] = d * a[k]
            else:
                for k in range(n_in):
                    x[k] += d * a[k]
