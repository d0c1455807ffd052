"""exp, tanh, sigmoid and softplus (with its slope) as straight-line arithmetic,
so that loops over them vectorise.

Inside ``@njit`` code, ``np.exp``, ``np.tanh``, ``np.log1p`` and ``np.expm1`` are
scalar calls into libm (the PyPI build of llvmlite has no SVML), which keep
every loop around them scalar and made the activations the largest cost of a
small network's step (docs/decisions/0013-vectorised-elementary-functions.md).  These
versions use only multiply-adds, one or two divisions, comparisons and an
integer-to-float bit cast, which LLVM turns into SIMD code.  In float64 they
agree with libm to a few units in the last place (``tests/kernels/test_fastfn.py``
measures it).

The float64 polynomial coefficients of exp and expm1 are Chebyshev fits
computed with mpmath at 40 digits (log1p's, and the float32 ones for
``tanh32``, are Taylor's), e.g. for exp::

    mpmath.chebyfit(mpmath.exp, [-0.3466, 0.3466], 12)         # error 3e-18
    # tanh's expm1: q(r) = (expm1(r) - r) / r^2 on [-0.3476, 0.3476], 11 terms: error 1.4e-18
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from . import jit


@intrinsic
def _as_float64(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64 (no conversion)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _as_float32(typingctx, bits):
    """Reinterpret the low 32 bits of an int64 as a float32 (no conversion)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(builder.trunc(args[0], ir.IntType(32)), ir.FloatType())

    return types.float32(types.int64), codegen


_LOG2E = 1.4426950408889634
# ln 2 split so that k * _LN2_HI is exact for |k| < 2**21 (Cody and Waite).
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
_EXP_MAX = 709.782712893384    # exp overflows above this
_EXP_MIN = -745.1332191019412   # exp rounds to 0 below this

_E11, _E10, _E9, _E8 = 2.5110049204818658e-08, 2.763265472252779e-07, 2.755724088722987e-06, 2.4801485441561313e-05
_E7, _E6, _E5, _E4 = 0.00019841269890076403, 0.0013888888952352863, 0.008333333333319589, 0.04166666666648795
_E3, _E2 = 0.1666666666666668, 0.5000000000000019

_Q10, _Q9, _Q8 = 2.0914898727175524e-09, 2.5105513541847086e-08, 2.755727313289604e-07
_Q7, _Q6, _Q5 = 2.7557254685728803e-06, 2.480158732595111e-05, 0.0001984126987538548
_Q4, _Q3, _Q2 = 0.0013888888888883633, 0.008333333333325973, 0.04166666666666667
_Q1, _Q0 = 0.1666666666666667, 0.5
_TANH_ONE = 20.0    # tanh(a) rounds to 1 in float64 for a above about 19.06

_FAST = {"nsz", "contract", "arcp"}  # no reassociation: the polynomials stay as written
# Not inline="always": LLVM inlines these small functions into the loops that
# call them anyway (and vectorises those loops), while numba's own inlining
# doubled the cold compile time.


@jit(fastmath=_FAST)
def exp(x):
    """e**x in float64."""
    x = float(x)
    clamped = min(max(x, _EXP_MIN), _EXP_MAX)
    k = np.floor(clamped * _LOG2E + 0.5)
    r = (clamped - k * _LN2_HI) - k * _LN2_LO   # |r| <= ln(2)/2
    p = _E11
    p = p * r + _E10
    p = p * r + _E9
    p = p * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r + 1.0
    p = p * r + 1.0
    # 2**k built in the exponent bits, in two halves so that k = 1024 (near
    # overflow) and k < -1022 (subnormal results) are representable.
    half = np.int64(k) >> 1
    y = p * _as_float64((half + 1023) << 52) * _as_float64((np.int64(k) - half + 1023) << 52)
    y = 0.0 if x < _EXP_MIN else y
    y = np.inf if x > _EXP_MAX else y
    return x if x != x else y   # NaN stays NaN


@jit(fastmath=_FAST)
def tanh(x):
    """tanh(a) = e / (e + 2) with e = expm1(2a), a = |x|: one polynomial, no
    branch, and no cancellation near 0 (e is computed as expm1, not exp - 1)."""
    x = float(x)
    a = min(abs(x), _TANH_ONE)
    e = _expm1_within_40(a + a)
    t = e / (e + 2.0)
    return x if x != x else np.copysign(t, x)


@jit(fastmath=_FAST)
def _expm1_within_40(y):
    """expm1(y) for |y| <= 40, as 2^k (1 + expm1(r)) - 1 with |r| <= ln(2)/2 and
    |k| <= 58: 2^k - 1 is exact for -53 <= k <= 58; below, the result rounds
    to -1 anyway.  (NaN: see tanh32's note on poison; the callers select.)"""
    k = np.floor(y * _LOG2E + 0.5)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    q = _Q10
    q = q * r + _Q9
    q = q * r + _Q8
    q = q * r + _Q7
    q = q * r + _Q6
    q = q * r + _Q5
    q = q * r + _Q4
    q = q * r + _Q3
    q = q * r + _Q2
    q = q * r + _Q1
    q = q * r + _Q0
    scale = _as_float64((np.int64(k) + 1023) << 52)
    return scale * (r + r * r * q) + (scale - 1.0)


@jit(fastmath=_FAST)
def sigmoid(x):
    """1 / (1 + e**-x), from e**-|x| so nothing overflows."""
    x = float(x)
    e = exp(-abs(x))
    s = 1.0 / (1.0 + e)
    return s if x >= 0 else (x if x != x else e * s)


# log1p(f) = 2 atanh(s), s = f / (2 + f): s (2 + z L(z)), z = s^2, with L the
# Taylor series of (2 atanh(s) - 2s) / s^3 in z, coefficients 2 / (2j + 1).
# For |s| <= 0.1716 (below) the first term left out, (2/23) s^23, is 2e-19.
_L9, _L8, _L7, _L6 = 2 / 21, 2 / 19, 2 / 17, 2 / 15
_L5, _L4, _L3, _L2 = 2 / 13, 2 / 11, 2 / 9, 2 / 7
_L1, _L0 = 2 / 5, 2 / 3
_LN2 = 0.6931471805599453
_SQRT2_M1 = 0.41421356237309515   # sqrt(2) - 1
_SOFTPLUS_FLAT = 40.0   # softplus' = 1 - e^-y rounds to 1 in float64 for y above about 37


@jit(inline="always")
def softplus(x):
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|): nothing overflows.

    Inlined by numba: LLVM left this function uninlined for float32
    arguments, and so its loop scalar; the two functions it calls, inlined by
    LLVM, keep their own fastmath flags."""
    x = float(x)
    log1p_t = _log1p_unit(exp(-abs(x)))
    # Not max(x, 0.0): numba's max inside this select keeps the loop scalar.
    return x if x != x else (x if x > 0.0 else 0.0) + log1p_t


@jit(fastmath=_FAST)
def _log1p_unit(t):
    """log1p(t) for t in [0, 1]: log1p(f) + j ln 2 with f = t (j = 0) for t up
    to sqrt(2) - 1, else f = (t - 1) / 2 (j = 1; exact from t = 0.5, where
    Sterbenz's lemma applies, within 0.7 ulp below it), so that
    |f / (2 + f)| <= 0.1716 for the series."""
    high = t > _SQRT2_M1
    f = (t - 1.0) * 0.5 if high else t
    s = f / (2.0 + f)
    z = s * s
    p = _L9
    p = p * z + _L8
    p = p * z + _L7
    p = p * z + _L6
    p = p * z + _L5
    p = p * z + _L4
    p = p * z + _L3
    p = p * z + _L2
    p = p * z + _L1
    p = p * z + _L0
    return s * (2.0 + z * p) + (_LN2 if high else 0.0)


@jit(fastmath=_FAST)
def softplus_slope(y):
    """softplus'(x) from its output y = softplus(x) >= 0: sigmoid(x) = 1 - e^-y
    = -expm1(-y), exact to a few ulp also where y is tiny."""
    y = float(y)
    e = _expm1_within_40(-min(y, _SOFTPLUS_FLAT))
    return y if y != y else -e


# float32: the same expm1 form in float32 arithmetic, which vectorises twice
# as wide and needs a shorter polynomial: q(r) = (expm1(r) - r) / r^2 by its
# Taylor series to r^5 (expm1 itself to r^7), Taylor coefficients rounded to
# float32: error 1.8e-8 of expm1(r) for |r| <= ln(2)/2, under half a float32 ulp.
_F = np.float32
_LOG2E_32, _HALF_32, _ONE_32, _TWO_32 = _F(_LOG2E), _F(0.5), _F(1.0), _F(2.0)
# ln 2 split for float32: _LN2_HI_32 has 9 significant bits, so k * _LN2_HI_32
# is exact for the 0 <= k <= 27 that occur here (and far beyond).  Unlike in
# float64, scale - 1 is inexact from k = 25 on, where the result rounds to 1.
_LN2_HI_32 = _F(0.693359375)
_LN2_LO_32 = _F(-2.12194440e-4)
_P5, _P4, _P3 = _F(1 / 5040), _F(1 / 720), _F(1 / 120)
_P2, _P1, _P0 = _F(1 / 24), _F(1 / 6), _F(0.5)
_TANH_ONE_32 = _F(9.5)   # tanh(a) rounds to 1 in float32 for a above about 9.01


@jit(fastmath=_FAST)
def tanh32(x):
    """tanh of a float32 in float32 arithmetic: within 2 float32 ulp of the
    correctly rounded value over every float32 (``tests/kernels/test_fastfn.py``
    checks them all; 1 ulp from 0.5 on), and faster over a row than ``tanh``,
    which works in float64 at half the SIMD width.  Every constant is a float32: a Python float would turn the
    arithmetic into float64.

    For NaN the float-to-int conversion below yields LLVM poison, which is
    harmless only because the last step selects x instead: keep that select
    last, and never add ``nnan`` to the flags.
    """
    a = min(abs(x), _TANH_ONE_32)
    y = a + a
    k = np.floor(y * _LOG2E_32 + _HALF_32)
    r = (y - k * _LN2_HI_32) - k * _LN2_LO_32
    q = _P5
    q = q * r + _P4
    q = q * r + _P3
    q = q * r + _P2
    q = q * r + _P1
    q = q * r + _P0
    scale = _as_float32((np.int64(k) + 127) << 23)
    e = scale * (r + r * r * q) + (scale - _ONE_32)
    t = e / (e + _TWO_32)
    return x if x != x else np.copysign(t, x)


# exp in float32: its Taylor series to r^7 (truncation 5.2e-9 of exp(r) for
# |r| <= ln(2)/2, under a tenth of a float32 ulp), 1/n! rounded to float32.
_X7, _X6, _X5, _X4 = _F(1 / 5040), _F(1 / 720), _F(1 / 120), _F(1 / 24)
_X3, _X2 = _F(1 / 6), _F(0.5)
_EXP_MAX_32 = _F(88.72283172607422)   # the largest float32 whose exp is finite
_EXP_MIN_32 = _F(-103.97207641601562)  # below it, exp rounds to 0 in float32
_ZERO_32, _INF_32 = _F(0.0), _F(np.inf)


@jit(fastmath=_FAST)
def exp32(x):
    """e**x of a float32 in float32 arithmetic, as ``exp`` (2**k in two halves,
    for the subnormal results down to k = -150).  Same NaN caveat as tanh32."""
    clamped = min(max(x, _EXP_MIN_32), _EXP_MAX_32)
    k = np.floor(clamped * _LOG2E_32 + _HALF_32)
    r = (clamped - k * _LN2_HI_32) - k * _LN2_LO_32
    p = _X7
    p = p * r + _X6
    p = p * r + _X5
    p = p * r + _X4
    p = p * r + _X3
    p = p * r + _X2
    p = p * r + _ONE_32
    p = p * r + _ONE_32
    half = np.int64(k) >> 1
    y = p * _as_float32((half + 127) << 23) * _as_float32((np.int64(k) - half + 127) << 23)
    y = _ZERO_32 if x < _EXP_MIN_32 else y
    y = _INF_32 if x > _EXP_MAX_32 else y
    return x if x != x else y


@jit(fastmath=_FAST)
def sigmoid32(x):
    """``sigmoid`` of a float32 in float32 arithmetic."""
    e = exp32(-abs(x))
    s = _ONE_32 / (_ONE_32 + e)
    return s if x >= _ZERO_32 else (x if x != x else e * s)


def _in_the_precision_of_the_argument(wide, narrow):
    """A function for compiled code that computes ``narrow`` of a float32
    and ``wide`` of anything else, chosen when the caller is compiled."""
    def of(x):
        raise NotImplementedError(f"{wide.__name__}_of runs only inside compiled code")

    @overload(of)
    def _choose(x):
        if x == types.float32:
            return lambda x: narrow(x)
        return lambda x: wide(x)

    of.__name__ = of.__qualname__ = f"{wide.__name__}_of"
    of.__doc__ = (f"{wide.__name__} in x's own precision, for compiled code: "
                  f"``{narrow.__name__}`` for a float32, ``{wide.__name__}`` otherwise.")
    return of


tanh_of = _in_the_precision_of_the_argument(tanh, tanh32)
sigmoid_of = _in_the_precision_of_the_argument(sigmoid, sigmoid32)
