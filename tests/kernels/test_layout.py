"""``_kernels.layout``: the parameter count, the gradient's room and the
workspace's regions; and ``fastbp.layout``, the Python side, which must read
the same formulas (it calls the kernels' functions through ``py_func``)."""
import numpy as np
import pytest

from fastbp import layout as py_layout
from fastbp import testing
from fastbp._kernels import layout
from fastbp._kernels.activations import CODES as _CODES

from ._common import DTYPES, table

NETWORKS = [([1, 1], ["identity"]), ([3, 5, 2], ["tanh", "softmax"]),
            ([7, 2, 9, 4], ["relu", "sigmoid", "identity"]), ([40, 16, 16, 3], ["tanh"] * 3),
            ([2, 30, 1], ["softplus", "leaky_relu"]), ([5, 17], ["softmax"])]


CODES = list(_CODES.values())


def _tables():
    return [(sizes, table(sizes, names)) for sizes, names in NETWORKS]


def _random_tables(count=50):
    rng = np.random.default_rng(0)
    for _ in range(count):
        sizes = list(rng.integers(1, 40, size=rng.integers(2, 6)))
        yield sizes, py_layout.layer_table(sizes, list(rng.choice(CODES, len(sizes) - 1)))


def test_the_layer_table_is_the_documented_layout():
    for sizes, layers in _tables():
        assert layers.dtype == np.int64 and layers.flags.c_contiguous
        starts = [a for a, _ in testing.layer_offsets(sizes)]
        np.testing.assert_array_equal(layers[:, layout.N_IN], sizes[:-1])
        np.testing.assert_array_equal(layers[:, layout.N_OUT], sizes[1:])
        np.testing.assert_array_equal(layers[:, layout.W_OFF], starts)
        np.testing.assert_array_equal(layers[:, layout.U_OFF], np.cumsum([0] + sizes[1:-1]))


def test_n_params_and_the_gradients_room():
    for sizes, layers in _tables():
        n = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        assert layout.n_params(layers) == n
        room = layout.grad_room(n)
        assert room % layout.GRAD_ALIGN == 0 and n <= room < n + layout.GRAD_ALIGN
    assert [layout.grad_room(np.int64(k)) for k in (0, 1, 15, 16, 17, 32, 33)] == \
        [0, 16, 16, 16, 32, 32, 48]


def test_row_width_is_two_units_and_two_widest():
    for sizes, layers in _tables():
        units, widest = sum(sizes[1:]), max(sizes)   # the input counts as a width
        assert tuple(layout.row_width(layers)) == (2 * units + 2 * widest, units, widest)


@pytest.mark.parametrize("rows", [1, 3, 16])
def test_regions_are_where_documented_disjoint_and_inside_work(rows):
    for sizes, layers in _tables():
        width, units, widest = layout.row_width(layers)
        room = layout.grad_room(layout.n_params(layers))
        for spare in (0, 1, width - 1):   # never quite a row more
            work = np.empty(py_layout.workspace_size(layers, rows) + spare)
            cap, pre0, out0, delta0, spare0 = layout.regions(layers, work)
            assert cap == rows == (work.size - room) // width
            assert (pre0, out0, delta0, spare0) == (room, room + cap * units,
                                                    room + 2 * cap * units,
                                                    room + 2 * cap * units + cap * widest)
            # [room | pre | out | delta | spare]: each after the one before,
            # the last inside work.
            ends = [pre0, out0, delta0, spare0, spare0 + cap * widest]
            assert ends == sorted(ends) and ends[-1] <= work.size
            assert pre0 >= layout.n_params(layers)   # the gradient never overlaps them


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_is_a_view_of_the_room(dtype):
    for sizes, layers in _tables():
        work = np.zeros(py_layout.workspace_size(layers, 2), dtype)
        grad = layout.gradient(layers, work)
        assert grad.dtype == dtype and grad.shape == (layout.n_params(layers),)
        assert grad.__array_interface__["data"][0] == work.__array_interface__["data"][0]
        grad[:] = np.arange(grad.size)
        np.testing.assert_array_equal(work[:grad.size], np.arange(grad.size))
        assert not work[grad.size:].any()


def test_the_python_side_computes_what_the_compiled_functions_do():
    for sizes, layers in list(_random_tables()) + _tables():
        assert py_layout.n_params(layers) == layout.n_params(layers)
        assert tuple(layout.row_width.py_func(layers)) == tuple(layout.row_width(layers))
        n = layout.n_params(layers)
        assert layout.grad_room.py_func(n) == layout.grad_room(n)
        width = layout.row_width(layers)[0]
        for rows in (1, 5):
            size = py_layout.workspace_size(layers, rows)
            assert size == layout.grad_room(n) + rows * width
            assert layout.regions(layers, np.empty(size))[0] == rows


def test_split_gives_views_in_the_documented_layout():
    for sizes, layers in _tables():
        flat = np.arange(float(layout.n_params(layers)))
        weights, biases = py_layout.split(flat, layers)
        want_w, want_b = testing.split(flat, sizes)
        for got, want in zip(weights + biases, want_w + want_b):
            np.testing.assert_array_equal(got, want)
            assert np.shares_memory(got, flat)
