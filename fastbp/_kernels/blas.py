"""The dense layers' large products: one BLAS gemm, called from compiled code.

``gemm`` multiplies row-major blocks of flat buffers, C = op(A) op(B), through
whichever BLAS ``BACKEND`` names:

- ``"numpy"``: the OpenBLAS NumPy's wheels ship (scipy-openblas64: 64-bit
  integers, CBLAS), found beside NumPy.  On fastbp's mnist and wide products
  it took 0.84-0.95x the time of SciPy's (``benchmarks/blas_libraries.py``);
- ``"scipy"``: SciPy's BLAS (Fortran, 32-bit integers), which numba's own
  ``np.dot`` calls, where NumPy ships none (other builds of NumPy).

The compiled code calls a symbol by name (``_SYMBOLS``) that this module
registers with LLVM before any kernel is compiled or loaded from the cache, so
cached kernels link to this process's library, not to an address from the
process that compiled them.  ``FASTBP_BLAS=scipy`` forces the second backend
(the tests run both); the package's cache stamp includes the backend, so a
change of backend recompiles.
"""
import ctypes
import glob
import os

import numpy as np
from llvmlite import binding as _llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

_SYMBOLS = {"numpy": {"float32": "fastbp_numpy_sgemm", "float64": "fastbp_numpy_dgemm"},
            "scipy": {"float32": "fastbp_scipy_sgemm", "float64": "fastbp_scipy_dgemm"}}


def _numpy_openblas():
    """NumPy's bundled scipy-openblas64, loaded, or None."""
    top = os.path.dirname(os.path.dirname(np.__file__))
    patterns = [os.path.join(top, "numpy.libs", "libscipy_openblas64_*"),
                os.path.join(os.path.dirname(np.__file__), ".dylibs", "libscipy_openblas64_*")]
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            try:
                lib = ctypes.CDLL(path)
                return {dtype: ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
                        for dtype, name in (("float32", "scipy_cblas_sgemm64_"),
                                            ("float64", "scipy_cblas_dgemm64_"))}
            except (OSError, AttributeError):
                continue
    return None


def _scipy_blas():
    """SciPy's Fortran sgemm and dgemm, as numba's np.dot finds them."""
    from scipy.linalg import cython_blas
    name_of = ctypes.pythonapi.PyCapsule_GetName
    name_of.restype, name_of.argtypes = ctypes.c_char_p, [ctypes.py_object]
    pointer_of = ctypes.pythonapi.PyCapsule_GetPointer
    pointer_of.restype, pointer_of.argtypes = ctypes.c_void_p, [ctypes.py_object,
                                                                ctypes.c_char_p]
    capsules = cython_blas.__pyx_capi__
    return {dtype: pointer_of(capsules[name], name_of(capsules[name]))
            for dtype, name in (("float32", "sgemm"), ("float64", "dgemm"))}


def _choose():
    if os.environ.get("FASTBP_BLAS", "numpy") != "scipy":
        found = _numpy_openblas()
        if found is not None:
            return "numpy", found
    return "scipy", _scipy_blas()


BACKEND, _ADDRESSES = _choose()
for _dtype, _address in _ADDRESSES.items():
    _llvm.add_symbol(_SYMBOLS[BACKEND][_dtype], _address)

_ROW_MAJOR, _NO_TRANS = 101, 111  # CBLAS enums; transposed is _NO_TRANS + 1


def _float_type(dtype):
    return ir.FloatType() if dtype == types.float32 else ir.DoubleType()


def _pointer(context, builder, array_type, array, offset):
    data = make_array(array_type)(context, builder, array).data
    return builder.gep(data, [offset])


@intrinsic
def gemm(typingctx, ta, tb, m, n, k, a, a0, lda, b, b0, ldb, c, c0, ldc):
    """C = op(A) op(B) for row-major blocks: C is m x n from c[c0] (rows ldc
    apart), op(A) m x k from a[a0], op(B) k x n from b[b0]; ``ta``/``tb``
    nonzero: that operand is stored transposed.  a, b, c: 1-D arrays of one
    float dtype."""
    arrays = (a, b, c)
    if not all(isinstance(x, types.Array) and x.ndim == 1 and x.dtype == c.dtype
               for x in arrays) or c.dtype not in (types.float32, types.float64):
        return None
    index = types.intp
    sig = types.void(index, index, index, index, index, a, index, index, b, index, index, c,
                     index, index)
    symbol = _SYMBOLS[BACKEND][str(c.dtype)]

    def codegen(context, builder, signature, args):
        ta, tb, m, n, k, a, a0, lda, b, b0, ldb, c, c0, ldc = args
        fl = _float_type(signature.args[11].dtype)
        pa = _pointer(context, builder, signature.args[5], a, a0)
        pb = _pointer(context, builder, signature.args[8], b, b0)
        pc = _pointer(context, builder, signature.args[11], c, c0)
        i32, i64 = ir.IntType(32), ir.IntType(64)
        if BACKEND == "numpy":
            fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, fl,
                                                   fl.as_pointer(), i64, fl.as_pointer(), i64,
                                                   fl, fl.as_pointer(), i64])
            fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)

            def trans(t):
                return builder.add(i32(_NO_TRANS), builder.zext(
                    builder.icmp_unsigned("!=", t, t.type(0)), i32))
            builder.call(fn, [i32(_ROW_MAJOR), trans(ta), trans(tb), m, n, k, fl(1.0), pa, lda,
                              pb, ldb, fl(0.0), pc, ldc])
            return context.get_dummy_value()
        # Fortran, column-major: C^T = op(B)^T op(A)^T, so B comes first, with
        # m and n swapped; every argument by reference, integers of 32 bits.
        i8 = ir.IntType(8)
        fnty = ir.FunctionType(ir.VoidType(), [i8.as_pointer()] * 2 + [i32.as_pointer()] * 3
                               + [fl.as_pointer(), fl.as_pointer(), i32.as_pointer(),
                                  fl.as_pointer(), i32.as_pointer(), fl.as_pointer(),
                                  fl.as_pointer(), i32.as_pointer()])
        fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)

        def by_reference(value):
            slot = cgutils.alloca_once(builder, value.type)
            builder.store(value, slot)
            return slot

        def trans(t):
            flag = builder.icmp_unsigned("!=", t, t.type(0))
            return by_reference(builder.select(flag, i8(ord("T")), i8(ord("N"))))

        def int32(v):
            return by_reference(builder.trunc(v, i32))
        builder.call(fn, [trans(tb), trans(ta), int32(n), int32(m), int32(k),
                          by_reference(fl(1.0)), pb, int32(ldb), pa, int32(lda),
                          by_reference(fl(0.0)), pc, int32(ldc)])
        return context.get_dummy_value()

    return sig, codegen
