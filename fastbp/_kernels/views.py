"""Views of C-contiguous memory in another shape, without numba's reshape.

``reshape`` compiles, besides the view, an error path that formats the shapes
into a message (string and repr overloads), seconds of every cold compile
(docs/decisions/0016-views-instead-of-reshape.md).
The kernels only ever re-view memory they know to be C-contiguous and large
enough, so these intrinsics build the view directly.  Like ``reshape``, the
view shares the array's memory and keeps it alive.
"""
import numpy as np
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from . import jit

# Offset 0 as an int64 constant.  A literal 0 passed to a kernel makes numba
# compile that kernel, and everything it calls, a second time for the literal.
START = np.intp(0)


def _view(context, builder, src_type, src, out_type, offset, shape):
    """A C-ordered ``out_type`` view of ``shape`` over src's data from ``offset``."""
    source = make_array(src_type)(context, builder, src)
    view = make_array(out_type)(context, builder)
    intp = context.get_value_type(types.intp)
    itemsize = intp(context.get_abi_sizeof(context.get_data_type(src_type.dtype)))
    strides = [itemsize]
    for extent in reversed(shape[1:]):
        strides.insert(0, builder.mul(strides[0], extent))
    populate_array(view, data=builder.gep(source.data, [offset]), shape=shape,
                   strides=strides, itemsize=source.itemsize, meminfo=source.meminfo,
                   parent=source.parent)
    return impl_ret_borrowed(context, builder, out_type, view._getvalue())


def _c_array(a):
    return isinstance(a, types.Array) and a.layout == "C"


@intrinsic
def flat(typingctx, a):
    """The C-contiguous array ``a`` as 1-D (``a.reshape(a.size)``)."""
    if not _c_array(a):
        return None
    out = a.copy(ndim=1)

    def codegen(context, builder, signature, args):
        source = make_array(a)(context, builder, args[0])
        size = context.get_constant(types.intp, 1)
        for extent in cgutils.unpack_tuple(builder, source.shape, a.ndim):
            size = builder.mul(size, extent)
        return _view(context, builder, a, args[0], out, context.get_constant(types.intp, 0),
                     [size])

    return out(a), codegen


@intrinsic
def matrix(typingctx, a, start, rows, cols):
    """``a[start:start + rows*cols].reshape(rows, cols)`` of a 1-D C array."""
    if not (_c_array(a) and a.ndim == 1):
        return None
    out = a.copy(ndim=2)
    sig = out(a, types.intp, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        _, start, rows, cols = args
        return _view(context, builder, a, args[0], out, start, [rows, cols])

    return sig, codegen


@intrinsic
def segment(typingctx, a, start, count):
    """``a[start:start + count]`` of a 1-D C array, without the slice's
    bounds arithmetic: loops that take a row per iteration run this often."""
    if not (_c_array(a) and a.ndim == 1):
        return None
    sig = a(a, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        return _view(context, builder, a, args[0], a, args[1], [args[2]])

    return sig, codegen


@jit
def c_ordered(a):
    """Whether ``a`` is C-ordered, as NumPy's flags count it (a dimension of
    one element may have any stride), as its numba type promises.

    A direct call (``entries.direct``) unboxes any array of the right item
    size as the type it learnt, keeping its real strides, so train_step's
    fast path can leave this test to the kernel, where it is far cheaper than
    ``flags.carray`` in Python (docs/decisions/0009-direct-calls.md).  (Alignment is not
    checked: numba's own dispatch types unaligned arrays as aligned too.)
    """
    if a.size == 0:
        return True
    step = a.itemsize
    for d in range(a.ndim - 1, -1, -1):
        if a.shape[d] != 1:
            if a.strides[d] != step:
                return False
            step *= a.shape[d]
    return True
