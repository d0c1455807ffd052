"""``_kernels.scans``: the finiteness and label scans, and ``check_batch``,
the guard every training entry runs before it computes."""
import numba
import numpy as np
import pytest

from fastbp._kernels import status
from fastbp._kernels.scans import check_batch, first_out_of_range

from ._common import DTYPES, table

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [1, 511, 512, 513, 1537])
def test_the_nonfinite_scan_finds_the_first_bad_value_in_any_block(size, dtype):
    """The scan works block by block (``scans.SCAN_BLOCK``): every position,
    both edges of each block included, and the first of several bad values."""
    from fastbp._kernels.scans import SCAN_BLOCK, first_nonfinite
    values = np.linspace(-3.0, 3.0, size).astype(dtype)
    assert first_nonfinite(values) == -1
    assert first_nonfinite(values.reshape(size, 1)) == -1
    edges = {0, size - 1} | {i for b in range(0, size, SCAN_BLOCK)
                             for i in (b - 1, b, b + 1) if 0 <= i < size}
    for at in sorted(edges):
        for bad in (np.nan, np.inf, -np.inf):
            broken = values.copy()
            broken[at] = bad
            if at + 1 < size:
                broken[-1] = np.nan   # a later bad value does not hide the first
            assert first_nonfinite(broken) == at
            assert first_nonfinite(broken.reshape(size, 1)) == at
    assert first_nonfinite(np.empty((0, 3), dtype)) == -1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [0, 1, 7, 16, 337, 1000])
def test_all_finite_agrees_with_numpy_at_every_position(size, dtype):
    """``scans.all_finite`` (a sum of x * 0, vectorised under reordering) against
    ``np.isfinite(...).all()``: one bad value at each position, every unroll
    remainder, and the extremes that stay finite (the largest value, its
    negative, subnormals, -0)."""
    from fastbp._kernels.scans import all_finite
    info = np.finfo(dtype)
    values = np.linspace(-3.0, 3.0, size).astype(dtype)
    if size >= 5:
        values[:5] = [info.max, -info.max, info.smallest_subnormal, -0.0, info.tiny]
    assert np.isfinite(values).all()
    assert all_finite(values) is True
    # Finite values whose sum overflows: a fold of a*0 + b*0 into (a+b)*0,
    # which reordering permits, would call them not finite.
    assert all_finite(np.full(size, info.max)) is True
    for at in range(size):
        for bad in (np.nan, np.inf, -np.inf):
            broken = values.copy()
            broken[at] = bad
            assert all_finite(broken) is False


def test_first_out_of_range_finds_the_first_label_outside_the_classes():
    labels = np.array([0, 2, 1, 2, 0], np.int64)
    assert first_out_of_range(labels, np.int64(3)) == -1
    assert first_out_of_range(labels, np.int64(2)) == 1      # 2 is not a class of 2
    assert first_out_of_range(np.empty(0, np.int64), np.int64(3)) == -1
    for at in range(labels.size):
        for bad in (-1, 3, 10**12, -(2**63)):
            broken = labels.copy()
            broken[at] = bad
            broken[-1] = 7 if at + 1 < labels.size else broken[-1]   # a later one too
            assert first_out_of_range(broken, np.int64(3)) == at


# A network of 3 inputs and 2 outputs; a batch of 4.
LAYERS = table([3, 5, 2], ["tanh", "softmax"])
M = 4


def _batch(dtype, labels):
    """A good batch: (X, target, labels) as the entries take them."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(M, 3)).astype(dtype)
    if labels:
        return X, np.empty((0, 2), dtype), np.array([0, 1, 1, 0], np.int64)
    return X, rng.normal(size=(M, 2)).astype(dtype), np.empty(0, np.int64)


def _with(batch, **change):
    """``batch`` (X, T, L) with some of its arrays replaced."""
    X, T, L = batch
    return change.get("X", X), change.get("T", T), change.get("L", L)


def _cases(dtype):
    """(name, arrays, status): one batch for each status check_batch returns."""
    rows = X, T, L = _batch(dtype, labels=False)
    lab = Xl, Tl, Ll = _batch(dtype, labels=True)
    wide = np.zeros((M, 6), dtype)
    nan_x, inf_t = X.copy(), T.copy()
    nan_x[2, 1], inf_t[3, 0] = np.nan, -np.inf
    return [
        ("rows", rows, status.OK),
        ("labels", lab, status.OK),
        ("X strided", _with(rows, X=wide[:, ::2]), status.BAD_LAYOUT),
        ("X Fortran", _with(rows, X=np.asfortranarray(X)), status.BAD_LAYOUT),
        ("T strided", _with(rows, T=np.zeros((M, 4), dtype)[:, ::2]), status.BAD_LAYOUT),
        ("labels strided", _with(lab, L=np.zeros(2 * M, np.int64)[::2]),
         status.BAD_LAYOUT),
        # the layout is told before anything else: this X is also NaN
        ("X strided and NaN", _with(rows, X=np.full((M, 6), np.nan, dtype)[:, ::2]),
         status.BAD_LAYOUT),
        ("no rows", _with(rows, X=X[:0], T=T[:0]), status.BAD_SHAPE),
        ("X too narrow", _with(rows, X=X[:, :2].copy()), status.BAD_SHAPE),
        ("X too wide", _with(rows, X=np.zeros((M, 4), dtype)), status.BAD_SHAPE),
        ("T short of rows", _with(rows, T=T[:3]), status.BAD_SHAPE),
        ("T too wide", _with(rows, T=np.zeros((M, 3), dtype)), status.BAD_SHAPE),
        ("labels short", _with(lab, L=Ll[:3]), status.BAD_SHAPE),
        # shapes before values: this T is also NaN
        ("T wrong and NaN", _with(rows, T=np.full((M, 3), np.nan, dtype)), status.BAD_SHAPE),
        ("X NaN", _with(rows, X=nan_x), status.BAD_INPUT),
        ("X NaN, T inf", _with(rows, X=nan_x, T=inf_t), status.BAD_INPUT),   # X first
        ("T inf", _with(rows, T=inf_t), status.BAD_TARGET),
        ("label too large", _with(lab, L=np.array([0, 1, 2, 0], np.int64)),
         status.BAD_LABEL),
        ("label negative", _with(lab, L=np.array([0, -1, 1, 0], np.int64)),
         status.BAD_LABEL),
        ("X NaN, bad label", _with(lab, X=nan_x, L=np.array([5, 0, 0, 0], np.int64)),
         status.BAD_INPUT),
    ]


def _c_typed(arrays):
    """check_batch compiled for C-ordered arrays of these dtypes and dimensions,
    callable without numba's dispatch, as a direct call (entries.direct) runs
    it: it takes arrays of any strides as the C type.  (Through the
    dispatcher, an X not C-ordered does not even type: the scans view it flat.)"""
    key = tuple(numba.typeof(np.ascontiguousarray(a)) for a in (LAYERS,) + tuple(arrays))
    check_batch.compile(key)
    return check_batch.get_overload(key)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [name for name, _, _ in _cases(np.float64)])
def test_check_batch_returns_each_status(case, dtype):
    (_, arrays, expected), = [c for c in _cases(dtype) if c[0] == case]
    before = [a.copy() for a in arrays]
    assert _c_typed(arrays)(LAYERS, *arrays) == expected
    if all(a.flags.c_contiguous for a in arrays):
        assert check_batch(LAYERS, *arrays) == expected
    for a, b in zip(arrays, before):   # a guard writes nothing
        np.testing.assert_array_equal(a, b)
