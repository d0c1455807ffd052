"""Where everything lives in the flat arrays: the layer table and the workspace.

``layers`` is an int64 table with one row per layer i = 1..n of the derivation,
``[n_in, n_out, w_off, u_off, act]`` (``fastbp.layout.layer_table`` builds it):

- parameters: A_i is ``params[w_off : w_off + n_out*n_in]`` (row-major
  (n_out, n_in)) and B_i the ``n_out`` entries right after it;
- ``u_off``: the layer's first unit among all layers' units (the sum of the
  widths before it), which places X_i and Y_i in the workspace;
- ``act``: the activation code (``activations.CODES``, or a registered code).

A workspace ``work`` for up to ``cap`` samples is one flat buffer: room for a
training step's gradient (``grad_room``: the parameter count rounded up to
``GRAD_ALIGN`` entries), then four regions, ``[pre | out | delta | spare]``:
X_i and Y_i of every layer (cap * units entries each, units = the sum of the
layer widths), then the deltas K_i, which ping-pong between two regions of
cap * widest entries.  For a batch of m <= cap samples, X_i is the m x n_out
block (sample-major) from ``pre0 + m * u_off``, and Y_i likewise from ``out0``.

The Python layer sizes workspaces with these same functions (their
``py_func``), so the layout is written once.
"""
from . import jit
from .views import START, segment

N_IN, N_OUT, W_OFF, U_OFF, ACT = range(5)

# The gradient's room is rounded up to this many entries, so the regions after
# it start as aligned as ``work`` itself (16 float32 are 64 bytes).
GRAD_ALIGN = 16


@jit
def n_params(layers):
    """Length of the parameter layout: the last layer's block ends it."""
    n_in, n_out, w, _, _ = layers[layers.shape[0] - 1]
    return w + n_out * (n_in + 1)


@jit
def grad_room(n_params):
    """Entries of ``work`` before its regions: the gradient's room."""
    return (n_params + GRAD_ALIGN - 1) // GRAD_ALIGN * GRAD_ALIGN


@jit(inline="always")
def row_width(layers):
    """Entries of the four regions per sample: 2 * units + 2 * widest."""
    units = 0
    widest = layers[0, N_IN]
    for i in range(layers.shape[0]):
        units += layers[i, N_OUT]
        widest = max(widest, layers[i, N_OUT])
    return 2 * units + 2 * widest, units, widest


@jit
def regions(layers, work):
    """(cap, pre0, out0, delta0, spare0): how many samples ``work`` holds and
    where its four regions start."""
    width, units, widest = row_width(layers)
    pre0 = grad_room(n_params(layers))
    cap = (work.size - pre0) // width
    out0 = pre0 + cap * units
    delta0 = out0 + cap * units
    return cap, pre0, out0, delta0, delta0 + cap * widest


@jit(inline="always")
def gradient(layers, work):
    """The gradient's room at the start of ``work``, in the parameter layout.

    Inlined, because a compiled call returning a view would hand the entries,
    which do not count references, one they never release
    (docs/design.md, "Kernel rules").
    """
    return segment(work, START, n_params(layers))
