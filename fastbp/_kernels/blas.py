"""The dense layers' large products: one BLAS gemm, called from compiled code.

``gemm`` multiplies row-major blocks of flat buffers, C = op(A) op(B), through
whichever BLAS ``BACKEND`` names:

- ``"numpy"``: the OpenBLAS NumPy's wheels ship (scipy-openblas64: 64-bit
  integers, CBLAS), found beside NumPy: the faster of the two on fastbp's
  products (docs/decisions/0004-blas-library.md);
- ``"scipy"``: SciPy's BLAS (Fortran, 32-bit integers), which numba's own
  ``np.dot`` calls, where NumPy ships none (other builds of NumPy).

The compiled code calls a symbol by name (``_SYMBOLS``) that this module
registers with LLVM before any kernel is compiled or loaded from the cache, so
cached kernels link to this process's library, not to an address from the
process that compiled them.  Both backends' symbols are registered wherever
their libraries are found (NumPy's and SciPy's wheels ship them), whichever
backend compiles new kernels: a kernel cached by a process on the other
backend then still links (a symbol nobody registered would abort the process
in LLVM).  ``FASTBP_BLAS=scipy`` makes newly compiled kernels use SciPy's
(the tests run both); the package's cache stamp includes the backend.
"""
import contextlib
import ctypes
import glob
import importlib.util
import os
import threading

import numpy as np
from llvmlite import binding as _llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

_SYMBOLS = {"numpy": {"float32": "fastbp_numpy_sgemm", "float64": "fastbp_numpy_dgemm"},
            "scipy": {"float32": "fastbp_scipy_sgemm", "float64": "fastbp_scipy_dgemm"}}
_THREAD_SYMBOLS = {"numpy": ("fastbp_numpy_get_threads", "fastbp_numpy_set_threads"),
                   "scipy": ("fastbp_scipy_get_threads", "fastbp_scipy_set_threads")}
_BOUND_SYMBOL = "fastbp_blas_thread_bound"

# Products of fewer multiply-adds than this run on one thread, whatever
# OpenBLAS allows: a second thread gains too little on them and, with another
# process on the other core, waits for it a scheduler slice or more
# (docs/decisions/0020-blas-threads.md).
SERIAL_BELOW = {"float32": 1 << 23, "float64": 1 << 22}


def _first(patterns, take, already_loaded=False):
    """``take(lib)`` of the first library matching ``patterns`` for which it
    raises no AttributeError (a symbol missing), or None.  ``already_loaded``:
    accept only a library the process has loaded (the very copy its owner uses)."""
    mode = ctypes.DEFAULT_MODE
    if already_loaded and hasattr(os, "RTLD_NOLOAD"):
        mode = os.RTLD_NOLOAD | os.RTLD_LAZY
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            try:
                return take(ctypes.CDLL(path, mode=mode))
            except (OSError, AttributeError):
                continue
    return None


def _load(patterns, names, already_loaded):
    """{dtype: address of names[dtype]} from the first library matching
    ``patterns`` that has them, or None."""
    return _first(patterns, lambda lib: {
        dtype: ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
        for dtype, name in names.items()}, already_loaded)


def _package_dir(name):
    spec = importlib.util.find_spec(name)  # locates the package without importing it
    return None if spec is None else spec.submodule_search_locations[0]


_NUMPY_DIR = os.path.dirname(np.__file__)
NUMPY_PATTERNS = [os.path.join(os.path.dirname(_NUMPY_DIR), "numpy.libs", "libscipy_openblas64_*"),
                  os.path.join(_NUMPY_DIR, ".dylibs", "libscipy_openblas64_*")]


def _numpy_openblas():
    """NumPy's bundled scipy-openblas64 (CBLAS, 64-bit integers), or None."""
    return _load(NUMPY_PATTERNS, {"float32": "scipy_cblas_sgemm64_",
                                  "float64": "scipy_cblas_dgemm64_"}, already_loaded=True)


def _scipy_patterns():
    scipy_dir = _package_dir("scipy")
    if scipy_dir is None:
        return []
    return [os.path.join(os.path.dirname(scipy_dir), "scipy.libs", "libscipy_openblas-*"),
            os.path.join(scipy_dir, ".dylibs", "libscipy_openblas*")]


def _scipy_blas(required):
    """SciPy's Fortran sgemm and dgemm (32-bit integers): from its bundled
    OpenBLAS, without importing SciPy, else (``required``) as numba's np.dot
    finds them, through scipy.linalg.cython_blas (slow to import)."""
    if SCIPY_PATTERNS:
        found = _load(SCIPY_PATTERNS, {"float32": "scipy_sgemm_", "float64": "scipy_dgemm_"},
                      already_loaded=False)
        if found is not None or not required:
            return found
    from numba.extending import get_cython_function_address
    return {dtype: get_cython_function_address("scipy.linalg.cython_blas", name)
            for dtype, name in (("float32", "sgemm"), ("float64", "dgemm"))}


def _thread_setters(patterns, names):
    """(get, set) ctypes functions of the library matching ``patterns`` that
    has both ``names`` (OpenBLAS's thread count), or None."""
    def take(lib):
        get, put = (getattr(lib, name) for name in names)
        get.restype, get.argtypes = ctypes.c_int, []
        put.restype, put.argtypes = None, [ctypes.c_int]
        return get, put
    return _first(patterns, take)


SCIPY_PATTERNS = _scipy_patterns()


def _choose():
    numpy_blas = _numpy_openblas()
    backend = "numpy"
    if numpy_blas is None or os.environ.get("FASTBP_BLAS") == "scipy":
        backend = "scipy"
    return backend, {"numpy": numpy_blas, "scipy": _scipy_blas(backend == "scipy")}


BACKEND, _FOUND = _choose()
for _backend, _addresses in _FOUND.items():
    for _dtype, _address in (_addresses or {}).items():
        _llvm.add_symbol(_SYMBOLS[_backend][_dtype], _address)

# OpenBLAS's thread count, per backend: (get, set) from the library whose gemm
# that backend calls, or None (SciPy's BLAS reached through cython_blas).
_THREADS = {
    "numpy": _thread_setters(NUMPY_PATTERNS, ("scipy_openblas_get_num_threads64_",
                                              "scipy_openblas_set_num_threads64_")),
    "scipy": _thread_setters(SCIPY_PATTERNS, ("scipy_openblas_get_num_threads",
                                              "scipy_openblas_set_num_threads")),
}
for _backend, _functions in _THREADS.items():
    for _symbol, _function in zip(_THREAD_SYMBOLS[_backend], _functions or ()):
        _llvm.add_symbol(_symbol, ctypes.cast(_function, ctypes.c_void_p).value)
# Whether compiled products choose their threads (part of the cache stamp).
THREAD_CONTROL = _THREADS[BACKEND] is not None

# The most threads a product may use, 0 for no bound: set by ``limit`` for
# the calls given ``threads=``, read by every product of the compiled code.
_BOUND = ctypes.c_int(0)
_llvm.add_symbol(_BOUND_SYMBOL, ctypes.addressof(_BOUND))
_bounds = []
_bounds_lock = threading.Lock()


def get_threads():
    """The threads the active backend's OpenBLAS may use now (1 if unknown)."""
    functions = _THREADS[BACKEND]
    return 1 if functions is None else functions[0]()


def set_threads(count):
    """Let the active backend's OpenBLAS use ``count`` threads (process-wide)."""
    functions = _THREADS[BACKEND]
    if functions is not None:
        functions[1](count)


class limit:
    """Products run on at most ``threads`` threads meanwhile (None: no bound).

    The bound is process-wide, as OpenBLAS's count is: while calls with
    different bounds overlap in several Python threads, all take the smallest.
    A class, not a generator: ``train_step(threads=...)`` enters it per step.
    """

    __slots__ = ("threads",)

    def __init__(self, threads):
        self.threads = threads

    def __enter__(self):
        if self.threads is not None:
            with _bounds_lock:
                _bounds.append(self.threads)
                _BOUND.value = min(_bounds)

    def __exit__(self, *exc):
        if self.threads is not None:
            with _bounds_lock:
                _bounds.remove(self.threads)
                _BOUND.value = min(_bounds) if _bounds else 0


_serial_users = {}  # backend: calls that hold it on one thread
_serial_saved = {}  # backend: its count before the first of them


@contextlib.contextmanager
def _one_thread(backends):
    """The OpenBLAS of each of ``backends`` runs on one thread meanwhile
    (process-wide and counted, so overlapping calls restore it once, last)."""
    backends = [b for b in backends if _THREADS.get(b) is not None]
    with _bounds_lock:
        for backend in backends:
            if _serial_users.get(backend, 0) == 0:
                get, put = _THREADS[backend]
                _serial_saved[backend] = get()
                put(1)
            _serial_users[backend] = _serial_users.get(backend, 0) + 1
    try:
        yield
    finally:
        with _bounds_lock:
            for backend in backends:
                _serial_users[backend] -= 1
                if _serial_users[backend] == 0:
                    _THREADS[backend][1](_serial_saved.pop(backend))


def others_serial():
    """Every OpenBLAS fastbp found other than the backend's runs on one thread
    meanwhile (SciPy's, under L-BFGS-B: its products are of the history's size,
    too small to gain from a second thread, and stall on a busy machine)."""
    return _one_thread([b for b in _THREADS if b != BACKEND])


def serial():
    """The backend's OpenBLAS runs on one thread meanwhile: for products made
    on many threads at once (an ensemble's members), where a second BLAS
    thread per product would only contend for the same cores.  With the count
    at 1, the products' own choice (``_choose_threads``) sets nothing."""
    return _one_thread([BACKEND])


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
    if not all(isinstance(x, types.Array) and x.ndim == 1 and x.layout == "C"
               and x.dtype == c.dtype for x in arrays) or c.dtype not in (types.float32,
                                                                           types.float64):
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
        if THREAD_CONTROL:
            restore = _choose_threads(builder, builder.mul(builder.mul(m, n), k),
                                      SERIAL_BELOW[str(signature.args[11].dtype)])
        _call_gemm(builder, BACKEND, symbol, fl, ta, tb, m, n, k, pa, lda, pb, ldb, pc, ldc)
        if THREAD_CONTROL:
            restore()
        return context.get_dummy_value()

    return sig, codegen


def _choose_threads(builder, macs, serial_below):
    """Emit: the product of ``macs`` multiply-adds gets 1 thread below
    ``serial_below``, else OpenBLAS's count capped by ``_BOUND``; returns
    the emitter of the code that restores the count after the product."""
    i32 = ir.IntType(32)
    module = builder.module
    get_symbol, set_symbol = _THREAD_SYMBOLS[BACKEND]
    get = cgutils.get_or_insert_function(module, ir.FunctionType(i32, []), get_symbol)
    put = cgutils.get_or_insert_function(module, ir.FunctionType(ir.VoidType(), [i32]),
                                         set_symbol)
    bound_ref = module.globals.get(_BOUND_SYMBOL)
    if bound_ref is None:
        bound_ref = ir.GlobalVariable(module, i32, _BOUND_SYMBOL)
        bound_ref.linkage = "external"
    allowed = builder.call(get, [])
    bound = builder.load(bound_ref)
    capped = builder.select(builder.and_(builder.icmp_signed(">", bound, i32(0)),
                                         builder.icmp_signed("<", bound, allowed)),
                            bound, allowed)
    small = builder.icmp_signed("<", macs, macs.type(serial_below))
    wanted = builder.select(small, i32(1), capped)
    change = builder.icmp_signed("!=", wanted, allowed)
    with builder.if_then(change, likely=False):
        builder.call(put, [wanted])

    def restore():
        with builder.if_then(change, likely=False):
            builder.call(put, [allowed])
    return restore


def _call_gemm(builder, backend, symbol, fl, ta, tb, m, n, k, pa, lda, pb, ldb, pc, ldc):
    """Emit the gemm call of ``backend``'s library."""
    i32, i64 = ir.IntType(32), ir.IntType(64)
    if backend == "numpy":
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, fl,
                                               fl.as_pointer(), i64, fl.as_pointer(), i64,
                                               fl, fl.as_pointer(), i64])
        fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)

        def trans(t):
            return builder.add(i32(_NO_TRANS), builder.zext(
                builder.icmp_unsigned("!=", t, t.type(0)), i32))
        builder.call(fn, [i32(_ROW_MAJOR), trans(ta), trans(tb), m, n, k, fl(1.0), pa, lda,
                          pb, ldb, fl(0.0), pc, ldc])
        return
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
