"""Two or more threads meeting inside compiled code, for ``training.epoch_part``.

The threads of a data-parallel epoch each run their share of every batch and
must meet three times a batch (a millisecond apart on mnist): waiting in
Python between compiled calls would cost a GIL round trip each time, so they
wait here, spinning on an int64 array ``sync`` that all of them are given:

- ``sync[ARRIVED]`` counts arrivals at barriers, never reset: a thread at its
  b-th barrier (from 0) waits until it reads (b + 1) * parts;
- ``sync[ABORT]`` is set (to anything but 0) by a thread that will not come,
  such as a Python thread that failed before its kernel started: the others
  stop waiting, and their kernels return;
- ``sync[STATUS]`` is the status the first thread (which updates the
  parameters) hands to the others after each batch.

numba has no atomics outside CUDA, so two intrinsics emit LLVM's: an atomic
add (sequentially consistent) and an acquiring load, which also keeps LLVM
from hoisting the load out of the waiting loop.  A thread that has waited
``PATIENCE`` rounds offers its CPU to others (``sched_yield``) between
rounds, so that more threads than CPUs still get on (slowly).
"""
import sys

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from . import jit

ARRIVED, ABORT, STATUS = range(3)
SIZE = 3
PATIENCE = 4096


def _element_pointer(context, builder, array_type, array, index):
    data = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, data, [index],
                                    wraparound=False)


def _int64_array(a):
    return isinstance(a, types.Array) and a.ndim == 1 and a.dtype == types.int64


@intrinsic
def fetch_add(typingctx, a, index, value):
    """a[index] += value atomically; returns the value before."""
    if not _int64_array(a):
        return None
    sig = types.int64(a, types.intp, types.int64)

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.atomic_rmw("add", pointer, args[2], "seq_cst")

    return sig, codegen


@intrinsic
def load(typingctx, a, index):
    """a[index], read atomically (acquire)."""
    if not _int64_array(a):
        return None
    sig = types.int64(a, types.intp)

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(pointer, "acquire", 8)

    return sig, codegen


@intrinsic
def give_way(typingctx):
    """sched_yield() where the C library has it (POSIX); nothing elsewhere."""
    def codegen(context, builder, signature, args):
        if sys.platform != "win32":
            yield_type = ir.FunctionType(ir.IntType(32), [])
            builder.call(cgutils.get_or_insert_function(builder.module, yield_type,
                                                        "sched_yield"), [])
        return context.get_dummy_value()

    return types.none(), codegen


@jit
def barrier(sync, parts, count):
    """Wait until all ``parts`` threads have arrived at their ``count``-th
    barrier (from 0); False if one of them gave up (``ABORT``) instead."""
    fetch_add(sync, ARRIVED, 1)
    everyone = (count + 1) * parts
    rounds = 0
    while load(sync, ARRIVED) < everyone:
        if load(sync, ABORT) != 0:
            return False
        rounds += 1
        if rounds > PATIENCE:
            give_way()
    return load(sync, ABORT) == 0
