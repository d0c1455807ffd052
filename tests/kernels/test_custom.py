"""``_kernels.custom``: the hooks that compute registered activations.

The hook is called here directly, as ``fastbp.custom.jacobian`` calls it, on
a workspace with guard bands; no pass is compiled around it.  The
registrations happen at import, as in tests/test_custom.py: a network takes
the hook of every registration made before it is built, and each new hook
compiles a new set of passes, so registering while tests run would make
later networks compile theirs again.
"""
import numpy as np
import pytest
from numba import njit

from fastbp._kernels import activations, custom, elementwise

from ._common import DTYPES, GUARD, off


@njit
def cube(x):
    return x * x * x


@njit
def cube_slope(x):
    return 3.0 * x * x


@njit
def halve(x):
    return 0.5 * x


@njit
def halve_slope(x):
    return 0.5


@njit
def running_sum(x, y):
    """y_j = x_0 + ... + x_j: J is lower triangular ones."""
    total = 0.0
    for j in range(x.size):
        total += x[j]
        y[j] = total


@njit
def running_sum_vjp(x, y, g):
    """(J^T g)_b = g_b + ... + g_{n-1}."""
    total = 0.0
    for j in range(g.size - 1, -1, -1):
        total += g[j]
        g[j] = total


_BEFORE = len(custom._chain)
CUBE = custom.register("kernel-tests cube", "elementwise", cube, cube_slope)
SUM = custom.register("kernel-tests running sum", "vector", running_sum, running_sum_vjp)
EARLIER_HOOK = custom.hook()   # knows CUBE and SUM, not what follows
HALVE = custom.register("kernel-tests halve", "elementwise", halve, halve_slope)
HALVE_AGAIN = custom.register("kernel-tests halve", "elementwise", halve, halve_slope)
HOOK = custom.hook()
FUNCTIONS = {CUBE: ("elementwise", cube, cube_slope), SUM: ("vector", running_sum, running_sum_vjp),
             HALVE: ("elementwise", halve, halve_slope),
             HALVE_AGAIN: ("elementwise", halve, halve_slope)}
M, N = 3, 4


def test_register_gives_each_registration_a_new_code():
    assert CUBE >= activations.CUSTOM
    assert [SUM, HALVE, HALVE_AGAIN] == [CUBE + 1, CUBE + 2, CUBE + 3]
    assert CUBE == activations.CUSTOM + _BEFORE - 1   # the next free code
    assert custom.REGISTRY["kernel-tests cube"] == (CUBE, "elementwise", cube, cube_slope)
    assert custom.REGISTRY["kernel-tests running sum"] == (SUM, "vector", running_sum,
                                                           running_sum_vjp)
    assert custom.REGISTRY["kernel-tests halve"][0] == HALVE_AGAIN   # the name's newest
    # One link per registration (later modules may have added more since).
    assert custom._chain[_BEFORE + 1] is EARLIER_HOOK and custom._chain[_BEFORE + 3] is HOOK


def _work(dtype):
    """X at x0, Y at y0 (GUARD), G at g0 in one buffer, guards between."""
    rng = np.random.default_rng(0)
    n = M * N
    work = np.full(2 + 3 * (n + 2), GUARD, dtype)
    x0, y0, g0 = 2, 2 + n + 2, 2 + 2 * (n + 2)
    work[x0:x0 + n] = rng.uniform(-2, 2, n)
    work[g0:g0 + n] = rng.normal(size=n)
    return work, x0, y0, g0


def _call(hook, mode, code, work, x0, y0, g0):
    hook(mode, code, work, off(x0), off(y0), off(g0), off(M), off(N))


def _expected(code, mode, work, x0, y0, g0):
    """work after the hook, from the registered functions called here on
    the same values (the same compiled functions, so the same bits)."""
    kind, value, second = FUNCTIONS[code]
    want, n = work.copy(), M * N
    x, y, g = (want[s:s + n] for s in (x0, y0, g0))
    if kind == "elementwise":
        if mode == activations.FORWARD:
            y[:] = [value(v) for v in x]
        else:
            # g *= f'(x), the product in the precision of what the derivative returns
            g[:] = g.astype(np.float64) * np.array([second(v) for v in x])
    else:
        for r in range(M):
            rows = slice(r * N, (r + 1) * N)
            if mode == activations.FORWARD:
                value(x[rows].copy(), y[rows])
            else:
                second(x[rows].copy(), y[rows].copy(), g[rows])
    return want


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", [activations.FORWARD, activations.VJP], ids=["forward", "vjp"])
@pytest.mark.parametrize("code", list(FUNCTIONS),
                         ids=["cube", "running sum", "halve", "halve again"])
def test_the_hook_runs_each_codes_own_functions_and_nothing_else(code, mode, dtype):
    work, x0, y0, g0 = _work(dtype)
    if mode == activations.VJP:
        _call(HOOK, activations.FORWARD, code, work, x0, y0, g0)   # Y, as a pass has it
    want = _expected(code, mode, work, x0, y0, g0)
    _call(HOOK, mode, code, work, x0, y0, g0)
    np.testing.assert_array_equal(work, want)


def test_the_functions_compute_what_they_say():
    """So that the previous test compares with something meaningful."""
    x = np.array([-1.5, 0.5, 2.0])
    np.testing.assert_array_equal([cube(v) for v in x], x ** 3)
    y, g = np.empty(3), np.array([1.0, 2.0, 4.0])
    running_sum(x, y)
    running_sum_vjp(x, y, g)
    np.testing.assert_array_equal(y, np.cumsum(x))
    np.testing.assert_array_equal(g, np.tril(np.ones((3, 3))).T @ [1.0, 2.0, 4.0])   # J^T g


@pytest.mark.parametrize("dtype", DTYPES)
def test_codes_no_link_knows_are_left_alone(dtype):
    """A built-in code, a code never registered, and a code registered after
    a hook was taken: that hook leaves the work as it was."""
    work, x0, y0, g0 = _work(dtype)
    before = work.copy()
    for hook, code in [(HOOK, elementwise.TANH), (HOOK, HALVE_AGAIN + 1000),
                       (EARLIER_HOOK, HALVE), (EARLIER_HOOK, HALVE_AGAIN)]:
        for mode in (activations.FORWARD, activations.VJP):
            _call(hook, mode, code, work, x0, y0, g0)
            np.testing.assert_array_equal(work, before)
    _call(EARLIER_HOOK, activations.FORWARD, CUBE, work, x0, y0, g0)   # which it does know
    assert not np.array_equal(work, before)


def test_entries_are_made_once_per_hook():
    assert custom.entries(HOOK) is custom.entries(HOOK)
    assert custom.entries(EARLIER_HOOK) is not custom.entries(HOOK)
