"""fastbp's gradients against PyTorch autograd, an independent autodiff.

The torch model is built from ``net.weights`` and ``net.biases`` (same values,
same dtype), so float32 is compared with float32 and float64 with float64.
"""
import zlib

import numpy as np
import pytest

import fastbp

from fastbp import testing

torch = pytest.importorskip("torch")
F = torch.nn.functional

# Both sides compute the same float64 sums in different orders: rounding only,
# ~1e-15 observed.  A wrong term is off by O(1).
F64_RTOL = 1e-10
# float32 on both sides, summing in different orders: unit roundoff 6e-8 grown
# through up to four layers (observed worst 3e-6 norm-wise); a wrong term is
# off by O(1).
F32_RTOL = 1e-4

TORCH_ACTIVATIONS = {
    "identity": lambda x: x,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, negative_slope=0.01),
    "softplus": F.softplus,  # linear above x = 20; testing.PRE_MAX keeps |x| < 8
    "softmax": lambda x: torch.softmax(x, dim=-1),
}
LOSS_CASES = [("sse", "rows"), ("mse", "rows"),
              ("cross_entropy", "labels"), ("cross_entropy", "probs")]


def _torch_loss_and_gradient(net, X, T, loss):
    """(loss, flat parameter gradient, input gradient) by torch autograd."""
    weights = [torch.tensor(w, requires_grad=True) for w in net.weights]
    biases = [torch.tensor(b, requires_grad=True) for b in net.biases]
    inputs = torch.tensor(np.asarray(X, dtype=net.dtype), requires_grad=True)
    y = inputs
    for w, b, name in zip(weights, biases, net.activations):
        x = F.linear(y, w, b)
        y = TORCH_ACTIVATIONS[name](x)
    if loss == "sse":
        value = ((y - torch.tensor(T, dtype=y.dtype)) ** 2).sum()
    elif loss == "mse":
        value = F.mse_loss(y, torch.tensor(T, dtype=y.dtype))
    else:
        # torch takes the logits, i.e. the softmax layer's pre-activations x.
        labels = np.asarray(T).dtype.kind in "iu"
        target = torch.tensor(T) if labels else torch.tensor(T, dtype=x.dtype)
        value = F.cross_entropy(x, target)
    value.backward()
    grad = torch.cat([torch.cat([w.grad.reshape(-1), b.grad])
                      for w, b in zip(weights, biases)])
    return value.item(), grad.numpy(), inputs.grad.numpy(), y.detach().numpy()


def _architecture(rng, name, loss):
    """Depth 1-4 with ``name`` in the first layer, random activations above it,
    and ``name`` (or softmax, for cross_entropy) at the output."""
    depth = int(rng.integers(1, 5))
    if loss == "cross_entropy" and name != "softmax":
        depth = max(depth, 2)
    acts = [name] + list(rng.choice(fastbp.ACTIVATIONS, size=depth - 1))
    acts[-1] = "softmax" if loss == "cross_entropy" else name
    return tuple(str(a) for a in acts)


def test_every_activation_has_a_torch_counterpart():
    assert set(TORCH_ACTIVATIONS) == set(fastbp.ACTIVATIONS)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("m", [None, 1, 5], ids=["1d", "m1", "m5"])
@pytest.mark.parametrize("loss, kind", LOSS_CASES)
@pytest.mark.parametrize("name", fastbp.ACTIVATIONS)
def test_matches_torch(name, loss, kind, m, dtype):
    rng = np.random.default_rng([zlib.crc32(repr(k).encode()) for k in (name, loss, kind, m)])
    acts = _architecture(rng, name, loss)
    sizes = testing.random_sizes(rng, acts)
    params, X, T = testing.random_problem(rng, sizes, acts, m, loss, kind)
    net = fastbp.Network(sizes, acts, dtype=dtype)
    net.params = params
    X = X.astype(dtype)
    if np.asarray(T).dtype.kind == "f":
        T = np.asarray(T, dtype=dtype)
    rtol = F64_RTOL if dtype == np.float64 else F32_RTOL

    L_t, g_t, gx_t, y_t = _torch_loss_and_gradient(net, X, T, loss)
    L, g, gx = net.loss_and_gradient(X, T, loss, input_gradient=True)
    y = net.forward(X)
    assert y.shape == y_t.shape and gx.shape == gx_t.shape == X.shape
    assert testing.relative_error(y, y_t) <= rtol
    assert L == pytest.approx(L_t, rel=rtol, abs=0)
    assert testing.relative_error(g, g_t) <= rtol, (acts, g, g_t)
    assert testing.relative_error(gx, gx_t) <= rtol, (acts, gx, gx_t)


def test_random_architectures_include_softmax_hidden_layers():
    """The draws above really do put softmax below the output somewhere."""
    hidden = set()
    for name in fastbp.ACTIVATIONS:
        for loss, kind in LOSS_CASES:
            for m in (None, 1, 5):
                rng = np.random.default_rng(
                    [zlib.crc32(repr(k).encode()) for k in (name, loss, kind, m)])
                hidden.update(_architecture(rng, name, loss)[:-1])
    assert hidden == set(fastbp.ACTIVATIONS)
