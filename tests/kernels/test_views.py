"""``_kernels.views``: the reshape-free views, and ``c_ordered``.

``flat``, ``matrix`` and ``segment`` are intrinsics, usable in compiled code
only: small ``@njit`` functions here return the views they make.
"""
import numba
import numpy as np
import pytest
from numba import njit, types

from fastbp._kernels.views import START, c_ordered, flat, matrix, segment

from ._common import DTYPES, off


@njit
def _flat(a):
    return flat(a)


@njit
def _matrix(a, start, rows, cols):
    return matrix(a, start, rows, cols)


@njit
def _segment(a, start, count):
    return segment(a, start, count)


def address(a):
    return a.__array_interface__["data"][0]


def test_start_is_an_int64_zero():
    assert type(START) is np.int64 and START == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (1, 1), (4, 0)])
def test_flat_is_the_whole_array_1d_in_its_memory(shape, dtype):
    a = np.arange(np.prod(shape), dtype=dtype).reshape(shape)
    v = _flat(a)
    assert v.shape == (a.size,) and v.strides == (a.itemsize,) and v.dtype == dtype
    np.testing.assert_array_equal(v, a.ravel())
    if a.size:
        assert address(v) == address(a)
        v[-1] = -1.0   # a write shows through
        assert a.flat[-1] == -1.0


def test_flat_refuses_an_array_not_known_to_be_c_ordered():
    with pytest.raises(numba.TypingError):
        _flat(np.zeros((3, 4), order="F"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_is_a_c_ordered_block_from_start(dtype):
    a = np.arange(30, dtype=dtype)
    for start, rows, cols in [(0, 5, 6), (7, 3, 4), (29, 1, 1), (4, 0, 3)]:
        v = _matrix(a, off(start), off(rows), off(cols))
        assert v.shape == (rows, cols) and v.strides == (cols * a.itemsize, a.itemsize)
        np.testing.assert_array_equal(v, a[start:start + rows * cols].reshape(rows, cols))
        if rows:
            assert address(v) == address(a) + start * a.itemsize
            v[-1, -1] = -1.0
            assert a[start + rows * cols - 1] == -1.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_segment_is_a_slice_in_the_same_memory(dtype):
    a = np.arange(20, dtype=dtype)
    for start, count in [(0, 20), (3, 5), (19, 1), (6, 0)]:
        v = _segment(a, off(start), off(count))
        assert v.shape == (count,) and v.strides == (a.itemsize,)
        np.testing.assert_array_equal(v, a[start:start + count])
        if count:
            assert address(v) == address(a) + start * a.itemsize
            v[0] = -2.0
            assert a[start] == -2.0


def _arrays():
    base = np.arange(60.0).reshape(6, 10)
    yield "C", base
    yield "F", np.asfortranarray(base)
    yield "transposed", base.T
    yield "strided rows", base[::2]
    yield "strided columns", base[:, ::3]
    yield "reversed", base[::-1]
    yield "a column", base[:, 3]
    yield "one row of a strided view", base[::2][:1]          # size-1 rows: any stride
    yield "one column of F", np.asfortranarray(base)[:, :1]
    yield "one row of F", np.asfortranarray(base)[:1]          # (1, 10) at stride 48: not C
    yield "size-1 dims, odd strides", np.lib.stride_tricks.as_strided(
        base, shape=(1, 4, 1), strides=(800, 8, 160))
    yield "one element", base[2:3, 5:6]
    yield "empty", base[:0]
    yield "empty, strided", base[:, ::2][:0]
    yield "empty column block", base[:, 4:4]
    yield "1-D", base[1]
    yield "1-D strided", base[1, ::2]
    yield "3-D", np.zeros((2, 3, 4))
    yield "3-D, middle transposed", np.zeros((2, 3, 4)).transpose(0, 2, 1)
    yield "broadcast (stride 0)", np.broadcast_to(np.arange(4.0), (3, 4))


@pytest.mark.parametrize("name, a", list(_arrays()), ids=[name for name, _ in _arrays()])
def test_c_ordered_agrees_with_numpy(name, a):
    assert c_ordered(a) is bool(a.flags.c_contiguous)


def test_c_ordered_reads_the_real_strides_of_an_array_typed_as_c():
    """A direct call (entries.direct) hands over any array of the right item
    size as the type it learnt: the compiled version for C arrays must still
    see a Fortran or strided array for what it is."""
    c_ordered(np.zeros((2, 3)))
    for signature in c_ordered.signatures:
        if signature == (types.float64[:, ::1],):
            run = c_ordered.get_overload(signature)
            break
    else:
        pytest.fail("no compiled version for 2-D C float64 arrays")
    base = np.arange(60.0).reshape(6, 10)
    for a in [base, np.asfortranarray(base), base[::2], base[:, ::3], base[:0], base[::2][:1]]:
        assert run(a) is bool(a.flags.c_contiguous)
