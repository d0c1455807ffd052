"""``_kernels.losses``: the loss values and the output deltas K_n = J_n^T dL/dY_n,
against ``fastbp.testing`` (its loss, dL/dY_n and explicit Jacobians), at
offsets, with guard bands, and on logits whose exponentials overflow."""
import numpy as np
import pytest

from fastbp import testing
from fastbp._kernels import activations, losses

from ._common import DTYPES, GUARD, NAMES, RTOL, assert_guards, guarded, off, padded

M, K = 3, 4


def _pre(rng, dtype, m=M, k=K):
    """Pre-activations in [-2, 2], at least 0.1 from the relu kink at 0."""
    x = rng.uniform(0.1, 2.0, size=(m, k)) * rng.choice([-1.0, 1.0], size=(m, k))
    return x.astype(dtype)


def _reference(loss, name, X, T):
    """(L, K_n) of the reference, sample-major."""
    X64 = X.astype(np.float64).T
    L, dY = testing.loss_and_output_gradient(loss, testing.activation(name, X64), T.T)
    return L, testing.jacobian_transpose_times(name, X64, dY).T


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["sse", "mse"])
@pytest.mark.parametrize("name", NAMES)
def test_squared_error_value_and_delta(name, loss, dtype):
    rng = np.random.default_rng([NAMES.index(name), len(loss)])
    X = _pre(rng, dtype)
    Y = testing.activation(name, X.astype(np.float64).T).T.astype(dtype)
    T = rng.normal(size=(M, K))
    # Rows past the m the loss reads are NaN: it must not read them.
    target = np.vstack([T, np.full((2, K), np.nan)]).astype(dtype)
    # One buffer, as in the workspace: X at x0, Y at y0, the delta at d0.
    n = M * K
    work = np.full(3 + n + 2 + n + 2 + n + 3, GUARD, dtype)
    x0, y0, d0 = 3, 3 + n + 2, 3 + 2 * (n + 2)
    work[x0:x0 + n], work[y0:y0 + n] = X.ravel(), Y.ravel()
    value = losses.squared_error(losses.CODES[loss], work, off(x0), off(y0), target, off(M),
                                 off(K), activations.CODES[name], off(d0), None)
    L, delta = _reference(loss, name, X, T.astype(dtype).astype(np.float64))
    assert value == pytest.approx(L, rel=RTOL[dtype])
    testing.assert_close(work[d0:d0 + n].reshape(M, K), delta, RTOL[dtype], "K_n")
    np.testing.assert_array_equal(work[x0:x0 + n], X.ravel())    # read only
    np.testing.assert_array_equal(work[y0:y0 + n], Y.ravel())
    work[x0:x0 + n] = work[y0:y0 + n] = GUARD
    assert_guards(work, d0, n, "squared_error")


def _cross_entropy(X, target, labels, dtype):
    """The kernel on pre-activations X (m x k) at offsets; (value, delta)."""
    m, k = X.shape
    pre, p0 = padded(X.astype(dtype), 5, 3)
    S = testing.softmax(X.astype(np.float64).T).T.astype(dtype)
    out, o0 = padded(S, 2, 6)
    delta, d0 = guarded(m * k, dtype, 4, 4)
    value = losses.cross_entropy(pre, p0, out, o0, target, labels, off(m), off(k), delta, d0)
    assert_guards(delta, d0, m * k, "cross_entropy")
    return value, delta[d0:d0 + m * k].reshape(m, k)


def _targets(kind, rng, dtype, m=M, k=K):
    """(target, labels) for the kernel, and T (sample-major, float64) for the reference."""
    if kind == "labels":
        labels = rng.integers(0, k, m)
        # Labels past the m the loss reads are out of range: never read.
        return (np.empty((0, k), dtype), np.concatenate([labels, [k + 5, -3]]).astype(np.int64),
                np.eye(k)[labels])
    rows = rng.dirichlet(np.ones(k), size=m) * (1.0 if kind == "probs" else 1.7)
    target = np.vstack([rows, np.full((1, k), np.nan)]).astype(dtype)
    return target, np.empty(0, np.int64), target[:m].astype(np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["labels", "probs", "unnormalised"])
@pytest.mark.parametrize("logits", ["moderate", "shifted up", "shifted down", "spread"])
def test_cross_entropy_value_and_delta(logits, kind, dtype):
    """Shifted by +-1000, exp overflows or underflows outright; spread over
    600, softmax reaches e^-600 (0 in float32).  The kernel takes log softmax
    from the pre-activations; the reference's log(s) is still finite here."""
    rng = np.random.default_rng([len(logits), len(kind)])
    X = rng.normal(size=(M, K)) * 2
    X = {"moderate": X, "shifted up": X + 1000.0, "shifted down": X - 1000.0,
         "spread": rng.uniform(-300.0, 300.0, size=(M, K))}[logits].astype(dtype)
    target, labels, T = _targets(kind, rng, dtype)
    value, delta = _cross_entropy(X, target, labels, dtype)
    L, want = _reference("cross_entropy", "softmax", X, T)
    assert np.isfinite(L) and value == pytest.approx(L, rel=RTOL[dtype])
    testing.assert_close(delta, want, RTOL[dtype], "K_n = (s sum(t) - t) / m")
