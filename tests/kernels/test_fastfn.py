"""The vectorisable exp, tanh, sigmoid and softplus against NumPy's (libm's),
in units in the last place."""
import numpy as np
import pytest
from numba import njit

from fastbp._kernels import fastfn

TINY = np.finfo(np.float64).tiny
# Measured worst cases: exp 1 ulp, tanh 3 ulp (expm1 form; also 3 over 12M uniform
# samples of [0, 20]), sigmoid 4 ulp, softplus 4 ulp (over the samples below; the
# reference itself, from libm's log1p and exp, may be 1-2 ulp off).
MAX_ULP = {"exp": 2, "tanh": 4, "sigmoid": 5, "softplus": 5}


def _apply(f):
    """Apply ``f`` (a fastfn function or its name) elementwise in compiled code."""
    if isinstance(f, str):
        f = getattr(fastfn, f)

    @njit
    def apply(x, y):
        for i in range(x.size):
            y[i] = f(x[i])

    def call(x):
        y = np.empty_like(x)
        apply(x, y)
        return y
    return call


def _reference(name, x):
    with np.errstate(over="ignore"):
        if name == "exp":
            return np.exp(x)
        if name == "tanh":
            return np.tanh(x)
        if name == "softplus":
            return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def _samples():
    rng = np.random.default_rng(0)
    return np.concatenate([
        rng.normal(size=200_000) * 3,
        rng.uniform(-700, 700, 50_000),
        rng.normal(size=50_000) * 1e-4,
        np.linspace(-40, 40, 100_001),            # across every branch point
        [0.0, -0.0, 0.5, -0.5, 0.4999999999999999, 19.0, 20.0, 21.0, 1e-300, -1e-300],
        # softplus: e^-|x| = sqrt(2) - 1, where its log1p changes form
        np.log(np.sqrt(2) - 1) * np.array([1, -1]) + np.array([[-1e-12], [0], [1e-12]]),
    ], axis=None)


def _ulps(got, want):
    return np.abs(got - want) / np.spacing(np.maximum(np.abs(want), TINY))


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "softplus"])
def test_agrees_with_libm_to_a_few_ulp(name):
    x = _samples()
    want = _reference(name, x)
    keep = np.isfinite(want) & (np.abs(want) >= TINY)   # subnormals: see the next test
    worst = _ulps(_apply(name)(x)[keep], want[keep]).max()
    assert worst <= MAX_ULP[name]


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "softplus"])
def test_special_values(name):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])
    got = _apply(name)(x)
    assert np.isnan(got[0])
    expected = {"exp": [np.inf, 0.0, 1.0, 1.0], "tanh": [1.0, -1.0, 0.0, -0.0],
                "sigmoid": [1.0, 0.0, 0.5, 0.5],
                "softplus": [np.inf, 0.0, np.log(2), np.log(2)]}[name]
    np.testing.assert_array_equal(got[1:], expected)
    if name == "tanh":
        assert np.signbit(got[4])   # tanh(-0) = -0


def test_softplus_slope_is_minus_expm1_of_minus_y_to_an_ulp():
    """softplus' from the output y: 1 - e^-y, which keeps every digit for tiny
    y (the slope far left of 0, where y = e^x to rounding) and reaches 1."""
    y = np.concatenate([_apply("softplus")(_samples()),
                        np.geomspace(1e-300, 1e-3, 10_001), [5e-324, 0.0, 37.0, 40.0, 1e300]])
    want = -np.expm1(-y)
    got = _apply("softplus_slope")(y)
    assert _ulps(got, want).max() <= 1
    special = _apply("softplus_slope")(np.array([np.nan, np.inf]))
    assert np.isnan(special[0]) and special[1] == 1.0


def test_exp_overflow_and_underflow():
    x = np.array([709.7, 709.78, 709.79, 800.0, -708.0, -740.0, -745.2, -800.0])
    got = _apply("exp")(x)
    assert got[0] == pytest.approx(np.exp(709.7), rel=1e-15)
    assert got[1] == pytest.approx(np.exp(709.78), rel=1e-15)
    assert np.isinf(got[2]) and np.isinf(got[3])
    assert got[4] == pytest.approx(np.exp(-708.0), rel=1e-15)
    assert got[5] == pytest.approx(np.exp(-740.0), rel=1e-3)   # subnormal: fewer digits exist
    assert got[6] == 0.0 and got[7] == 0.0


def test_float32_inputs_round_like_numpy():
    x = np.random.default_rng(1).normal(size=100_000).astype(np.float32) * 4
    got = _apply("tanh")(x)
    assert got.dtype == np.float32
    assert _ulps(got.astype(np.float64), np.tanh(x.astype(np.float64))).max() < 1e-6 / 2.2e-16
    np.testing.assert_allclose(got, np.tanh(x), rtol=2e-7, atol=1e-7)


def _float32_ulps(got, want):
    """Distance in float32 ulps (counted along the float32 grid, signs included)."""
    def ordered(v):
        bits = v.view(np.int32).astype(np.int64)
        return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)
    return np.abs(ordered(got) - ordered(want))


def test_float32_tanh_is_within_2_ulp_of_the_correctly_rounded_value():
    """A sample of both signs (the next test covers every positive float32:
    worst 2 ulp, at 1.16e-4; 1 ulp from 0.5 on)."""
    rng = np.random.default_rng(2)
    x = np.concatenate([
        np.linspace(-12, 12, 2_000_001),
        rng.normal(size=200_000) * 4,
        np.geomspace(1e-45, 1e-1, 20_000), -np.geomspace(1e-45, 1e-1, 20_000),
        [0.3466, 0.3467, 9.0, 9.01, 9.5, 10.0, 1e30, -1e30],
    ]).astype(np.float32)
    got = _apply(fastfn.tanh32)(x)
    assert got.dtype == np.float32
    want = np.tanh(x.astype(np.float64)).astype(np.float32)   # nearly always correctly rounded
    assert _float32_ulps(got, want).max() <= 2


@njit
def _worst_float32(f, reference, lo, hi, negative=False):
    """Largest distance in ulps between ``f`` and float64's ``reference``
    rounded to float32 over the float32 bit patterns [lo, hi) (the
    non-negative floats; their negatives with ``negative``)."""
    bits = np.empty(1, np.int32)
    value = bits.view(np.float32)
    result = np.empty(1, np.float32)
    result_bits = result.view(np.int32)
    worst = 0
    for b in range(lo, hi):
        bits[0] = b
        x = -value[0] if negative else value[0]
        result[0] = f(x)
        got = np.int64(result_bits[0])
        result[0] = np.float32(reference(np.float64(x)))
        worst = max(worst, abs(got - np.int64(result_bits[0])))
    return worst


@njit
def _tanh64(x):
    return np.tanh(x)


@njit
def _exp64(x):
    return np.exp(x)


def _bits(x):
    return int(np.float32(x).view(np.int32))


def test_float32_tanh_over_every_positive_float32():
    """Every finite float32 from +0 up (about 20 s); tanh32 is odd by
    construction (copysign), which the sampled test checks."""
    infinity = 0x7F800000
    step = 1 << 26
    worst = max(_worst_float32(fastfn.tanh32, _tanh64, lo, min(lo + step, infinity))
                for lo in range(0, infinity, step))
    assert worst <= 2


def test_float32_exp_over_every_float32_it_computes():
    """exp32 within 1 float32 ulp of the correctly rounded value for every
    float32 x with 2^-26 <= |x| <= 105 (about 3 s; measured worst 1 ulp, also
    over all |x| <= 105).  Below 2^-26 exp(x) rounds to 1 and beyond 105 to
    0 or inf: a sample and the limits cover those."""
    lo, hi = _bits(2.0 ** -26), _bits(105.0) + 1
    step = 1 << 25
    worst = max(_worst_float32(fastfn.exp32, _exp64, start, min(start + step, hi), negative)
                for negative in (False, True) for start in range(lo, hi, step))
    assert worst <= 1
    near_0 = np.geomspace(1e-45, 2.0 ** -26, 10_000).astype(np.float32)
    np.testing.assert_array_equal(_apply(fastfn.exp32)(np.concatenate([near_0, -near_0])), 1.0)
    far = np.geomspace(105, 3e38, 1_000).astype(np.float32)
    np.testing.assert_array_equal(_apply(fastfn.exp32)(far), np.inf)
    np.testing.assert_array_equal(_apply(fastfn.exp32)(-far), 0.0)


def test_float32_exp_limits_and_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0,
                  88.72283172607422, 88.72284,         # the last finite result, the first inf
                  -103.97207641601562, -103.97208404541016,   # the last nonzero, the first 0
                  -87.3, -100.0], np.float32)         # subnormal results
    got = _apply(fastfn.exp32)(x)
    assert got.dtype == np.float32
    with np.errstate(over="ignore", under="ignore"):
        want = np.exp(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(got, want)
    assert np.isfinite(want[5]) and np.isinf(want[6]) and want[7] > 0 and want[8] == 0


def test_float32_sigmoid_is_within_3_ulp_of_the_correctly_rounded_value():
    """Measured worst 3 ulp (at -2.0096) over this sample."""
    rng = np.random.default_rng(5)
    x = np.concatenate([np.linspace(-110, 110, 2_000_001), rng.normal(size=500_000) * 8,
                        np.geomspace(1e-45, 100, 50_000), -np.geomspace(1e-45, 100, 50_000)])
    x = x.astype(np.float32)
    got = _apply(fastfn.sigmoid32)(x)
    assert got.dtype == np.float32
    want = _reference("sigmoid", x.astype(np.float64)).astype(np.float32)
    assert _float32_ulps(got, want).max() <= 3
    special = _apply(fastfn.sigmoid32)(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32))
    assert np.isnan(special[0])
    np.testing.assert_array_equal(special[1:], [1.0, 0.0, 0.5, 0.5])


def test_float32_tanh_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)
    got = _apply(fastfn.tanh32)(x)
    assert np.isnan(got[0])
    np.testing.assert_array_equal(got[1:], [1.0, -1.0, 0.0, -0.0])
    assert np.signbit(got[4])


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_the_of_functions_take_the_precision_of_their_argument(name):
    x = np.random.default_rng(3).normal(size=1000) * 3
    of = _apply(getattr(fastfn, name + "_of"))
    np.testing.assert_array_equal(of(x), _apply(name)(x))
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(of(x32), _apply(name + "32")(x32))
    # Only to show the two paths can be told apart here: the float32 version
    # is not always the correctly rounded value that float64's rounds to.
    assert not np.array_equal(_apply(name + "32")(x32), _apply(name)(x32))
