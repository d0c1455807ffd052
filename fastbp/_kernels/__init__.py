"""Compiled kernels: every ``@njit`` of fastbp lives in this package.

Kernels take only arrays and scalars and write into buffers they are given.
Their only checks are cheap guards that return a status code (``scans.py``,
``status.py``) before anything is written; converting input, allocating and
turning a status into an exception that names the argument is the Python
layer's (``fastbp._checks``, ``fastbp._engine``).
"""
import functools
import hashlib
import os
import pathlib

from numba import njit

# Registers the BLAS symbols kernels link to; imports nothing from this package.
from . import blas


def _drop_stale_cache():
    """Delete cached kernels compiled from other versions of these sources.

    numba keys a kernel's cache on its own file only, so a kernel that calls a
    helper from another module keeps running the helper's old code after an
    edit.  A digest of the whole package, kept beside the cache, catches that.
    Only the default cache (``__pycache__`` here) is looked after; nothing
    happens where it is not writable, or where ``NUMBA_CACHE_DIR`` sends the
    cache elsewhere (a process there must not wipe the default one).  The
    digest covers the BLAS backend too (``blas.BACKEND``): compiled code links
    to its library by name.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = pathlib.Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(here.glob("*.py")):
        digest.update(path.read_bytes())
    # the library compiled code links to, and how its products choose threads
    digest.update(f"{blas.BACKEND} {blas.THREAD_CONTROL} {blas.SERIAL_BELOW}".encode())
    cache = here / "__pycache__"
    stamp = cache / "fastbp-kernels.sha256"
    try:
        if stamp.read_text() == digest.hexdigest():
            return
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for path in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            path.unlink()
        stamp.write_text(digest.hexdigest())
    except OSError:
        pass


_drop_stale_cache()

# Every kernel is cached on disk, releases the GIL, and divides as NumPy does
# (x / 0 gives inf or nan): Python's ZeroDivisionError check is a branch in
# every division, which stops LLVM from vectorising the loop around it.
#
# The entry points Python calls (``entries.BUILTIN``) are compiled without
# NRT, numba's reference counting (``entry``): they allocate nothing and return
# no arrays, and without NRT numba unboxes an array argument without making a
# MemInfo for it, which is most of a tiny call's cost
# (docs/decisions/0008-entries-without-nrt.md).  The functions they call keep
# NRT, set explicitly, since a function that leaves it unset inherits its
# caller's.  ``_nrt`` is one of numba's private options; where it is missing,
# everything keeps NRT.  The rule that follows: a function an entry calls
# returns no array (a view), because under NRT it returns a new reference that
# the entry never releases; such helpers are inlined (``inline="always"``).
try:
    from numba.core.options import DefaultOptions
    _NRT_OPTION = hasattr(DefaultOptions, "_nrt")
except ImportError:  # pragma: no cover
    _NRT_OPTION = False
# fastmath is set on every kernel, False unless it says otherwise: a function
# that leaves it unset takes its first caller's flags, and numba keeps (and
# caches on disk) one compiled version per signature, so a helper first
# compiled under a caller's REORDER would round differently for every other
# caller, depending on which ran first.  (Functions numba inlines,
# ``inline="always"``, are compiled into each caller with the caller's flags.)
jit = functools.partial(njit, cache=True, nogil=True, error_model="numpy", fastmath=False,
                        **({"_nrt": True} if _NRT_OPTION else {}))
entry = functools.partial(jit, _nrt=False) if _NRT_OPTION else jit

# fastmath flags for loops whose sums may be reordered (so they vectorise).
# Never "nnan" or "ninf": NaN and infinity must keep their meaning, since
# divergence is detected by them.
REORDER = {"reassoc", "contract", "nsz", "arcp"}
