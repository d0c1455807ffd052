"""``_kernels.optim``: one update of every optimizer kind against torch.optim's
formulas (``fastbp.testing``'s transcription), over several steps; clipping;
and the undo: a refused update leaves parameters, state and step count as
they were, bit for bit."""
import numpy as np
import pytest

from fastbp import testing
from fastbp._kernels import optim, status
from fastbp._kernels.optim import ADAM, RMSPROP, SGD

from ._common import DTYPES

CASES = {
    "sgd": (SGD, dict(lr=0.1)),
    "sgd-decay": (SGD, dict(lr=0.1, weight_decay=0.05)),
    "momentum": (SGD, dict(lr=0.1, momentum=0.9)),
    "nesterov": (SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adam": (ADAM, dict(lr=0.01)),
    "adam-decay": (ADAM, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    "adamw": (ADAM, dict(lr=0.01, weight_decay=0.1, decoupled=True)),
    "rmsprop": (RMSPROP, dict(lr=0.01, alpha=0.9)),
    "rmsprop-momentum": (RMSPROP, dict(lr=0.01, alpha=0.9, momentum=0.8, weight_decay=0.02)),
}
N = 67      # parameters: across the vector lengths and a remainder
STEPS = 6


def _hyper(kind, hp, dtype, max_norm=0.0):
    """The kernel's ``hyper`` for torch-style hyperparameters ``hp``."""
    h = np.zeros(optim.N_HYPER)
    h[optim.LR], h[optim.DECAY] = hp["lr"], hp.get("weight_decay", 0.0)
    h[optim.MAX_NORM], h[optim.LIMIT] = max_norm, np.finfo(dtype).max
    if kind == SGD:
        h[optim.MOMENTUM], h[optim.NESTEROV] = hp.get("momentum", 0.0), hp.get("nesterov", False)
    elif kind == ADAM:
        h[optim.BETA1], h[optim.BETA2] = hp.get("betas", (0.9, 0.999))
        h[optim.EPS], h[optim.DECOUPLED] = hp.get("eps", 1e-8), hp.get("decoupled", False)
    else:
        h[optim.MOMENTUM], h[optim.ALPHA] = hp.get("momentum", 0.0), hp["alpha"]
        h[optim.EPS] = hp.get("eps", 1e-8)
    return h


def _state(kind, hp, dtype):
    """Two rows of state, and the two scratch rows every kind but plain SGD needs."""
    plain = kind == SGD and hp.get("momentum", 0.0) == 0.0
    return np.zeros((2 if plain else 4, N), dtype)


def _reference(kind, hp, p, g, rows, step):
    """(p, [state row 0, row 1]) after torch's rule; ``step`` counts from 1."""
    lr, wd = hp["lr"], hp.get("weight_decay", 0.0)
    if kind == SGD:
        p, buf = testing.sgd_update(p, g, rows[0], lr, hp.get("momentum", 0.0),
                                    hp.get("nesterov", False), wd)
        return p, [buf, rows[1]]
    if kind == ADAM:
        p, m, v = testing.adam_update(p, g, rows[0], rows[1], step, lr,
                                      hp.get("betas", (0.9, 0.999)), hp.get("eps", 1e-8), wd,
                                      hp.get("decoupled", False))
        return p, [m, v]
    p, sq, buf = testing.rmsprop_update(p, g, rows[0], rows[1], lr, hp["alpha"],
                                        hp.get("eps", 1e-8), hp.get("momentum", 0.0), wd)
    return p, [sq, buf]


def _run(case, dtype, max_norm=0.0, seed=0):
    """(kernel params, reference params, kernel state, reference state, hyper) over STEPS."""
    kind, hp = CASES[case]
    rng = np.random.default_rng(seed)
    params = rng.normal(size=N).astype(dtype)
    hyper, state = _hyper(kind, hp, dtype, max_norm), _state(kind, hp, dtype)
    p, rows = params.copy(), [state[0].copy(), state[1].copy()]
    for step in range(1, STEPS + 1):
        g = (rng.normal(size=N) * 3).astype(dtype)
        assert optim.update(kind, hyper, state, params, g.copy()) == status.OK
        assert hyper[optim.STEPS] == step
        if max_norm > 0:
            g = g * testing.clip_factor(g, max_norm)
        p, rows = _reference(kind, hp, p, g, rows, step)
        assert p.dtype == dtype
    return params, p, state[:2], np.array(rows), hyper


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_update_is_torchs_rule_bit_for_bit(case, dtype):
    """The same operations in the same order, IEEE rounding (no fastmath in
    ``update``, so nothing is fused or reordered), coefficients rounded to the
    parameters' dtype where torch rounds them: the very same bits, float32
    included."""
    params, want, state, want_state, _ = _run(case, dtype)
    np.testing.assert_array_equal(params, want)
    np.testing.assert_array_equal(state, want_state)


@pytest.mark.parametrize("case", list(CASES))
def test_float32_updates_in_float32_arithmetic(case):
    """The same rule evaluated in float64 on the same float32 values, then
    rounded, gives other bits: the previous test tells the two apart."""
    kind, hp = CASES[case]
    rng = np.random.default_rng(1)
    p = rng.normal(size=N).astype(np.float32)
    g = (rng.normal(size=N) * 3).astype(np.float32)
    state = _state(kind, hp, np.float32)
    params = p.copy()
    optim.update(kind, _hyper(kind, hp, np.float32), state, params, g.copy())
    in32, _ = _reference(kind, hp, p, g, [np.zeros(N, np.float32)] * 2, 1)
    in64, _ = _reference(kind, hp, p.astype(np.float64), g.astype(np.float64),
                         [np.zeros(N)] * 2, 1)
    np.testing.assert_array_equal(params, in32)
    assert not np.array_equal(params, in64.astype(np.float32))


# Clipping: the kernel's factor comes from a sum of squares it may reorder
# (clip_scale; of float32 squares for float32 gradients), the reference's from
# NumPy's float64 pairwise sum, so the factors differ by a few ulp of float64,
# or by up to an ulp of float32 once rounded to it; the updates by as much
# relative to lr * g.  1e-12 in float64 and 1e-6 in float32 (unit roundoff
# 6e-8) leave room; clipping by the wrong amount changes entries by the ratio
# of norms, O(1).
CLIP_TOL = {np.float64: 1e-12, np.float32: 1e-6}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_clipping_scales_the_gradient_as_clip_grad_norm(case, dtype):
    # The gradients' norm is about 3 sqrt(N) = 25: 2.0 clips every step, 1e3 none.
    for max_norm in (2.0, 1e3):
        params, want, state, want_state, _ = _run(case, dtype, max_norm, seed=2)
        testing.assert_close(params, want, CLIP_TOL[dtype], f"params, max_norm={max_norm}")
        testing.assert_close(state, want_state, CLIP_TOL[dtype], f"state, max_norm={max_norm}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_scale(dtype):
    """min(1, max_norm / (||g|| + 1e-6)), or 1 without clipping, NaN if g is
    not finite.  The kernel reorders its float64 sum of squares: n terms
    round to n u at worst (2e-13 for these n), and the square root halves it.
    The squares of float32 values are rounded to float32 first (each by up to
    6e-8, and so the sum), so 1e-7 there."""
    rng = np.random.default_rng(3)
    for n in (1, 7, 100, 1001):
        g = rng.normal(size=n).astype(dtype)
        norm = np.sqrt(np.sum(g.astype(np.float64) ** 2))
        for max_norm in (0.3 * norm, norm, 10 * norm):
            assert optim.clip_scale(g, max_norm) == pytest.approx(
                testing.clip_factor(g, max_norm), rel=1e-13 if dtype == np.float64 else 1e-7,
                abs=0)
        assert optim.clip_scale(g, 0.0) == 1.0
        for bad in (np.nan, np.inf, -np.inf):
            broken = g.copy()
            broken[n // 2] = bad
            for max_norm in (0.0, 1.0):
                assert np.isnan(optim.clip_scale(broken, max_norm))
    assert optim.clip_scale(np.zeros(0, dtype), 1.0) == 1.0


def _bad_steps(dtype):
    """(name, how to spoil one update, expected status): hyper and gradient in place."""
    big = np.finfo(dtype).max

    def overflow(hyper, grad):
        # The largest rate: lr times any step entry above 1 overflows.
        hyper[optim.LR] = big
        grad[N // 3] = -100.0

    def nan(hyper, grad):
        grad[N // 2] = np.nan

    def inf(hyper, grad):
        grad[-1] = np.inf

    return [("overflow", overflow, status.BAD_STEP), ("nan", nan, status.BAD_GRADIENT),
            ("inf", inf, status.BAD_GRADIENT)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_a_refused_update_changes_nothing_and_the_next_goes_on(case, dtype):
    """After two good steps, each spoilt update returns its status and leaves
    parameters, state rows and the step count bit for bit; a good step after
    them is the one that would have come anyway."""
    kind, hp = CASES[case]
    rng = np.random.default_rng(4)
    params = rng.normal(size=N).astype(dtype)
    hyper, state = _hyper(kind, hp, dtype), _state(kind, hp, dtype)
    grads = [(rng.normal(size=N) * 3).astype(dtype) for _ in range(3)]
    for g in grads[:2]:
        assert optim.update(kind, hyper, state, params, g.copy()) == status.OK
    kept = params.copy(), state[:2].copy(), hyper.copy()
    for name, spoil, expected in _bad_steps(dtype):
        bad_hyper, g = hyper.copy(), grads[2].copy()
        spoil(bad_hyper, g)
        assert optim.update(kind, bad_hyper, state, params, g) == expected, name
        np.testing.assert_array_equal(params, kept[0], err_msg=name)
        np.testing.assert_array_equal(state[:2], kept[1], err_msg=name)
        assert bad_hyper[optim.STEPS] == 2, name
    # The good third step, from an untouched copy of the state after two.
    again, again_state, again_hyper = kept[0].copy(), state.copy(), kept[2].copy()
    again_state[:2] = kept[1]
    assert optim.update(kind, again_hyper, again_state, again, grads[2].copy()) == status.OK
    assert optim.update(kind, hyper, state, params, grads[2].copy()) == status.OK
    np.testing.assert_array_equal(params, again)
    np.testing.assert_array_equal(state[:2], again_state[:2])
    assert hyper[optim.STEPS] == 3
