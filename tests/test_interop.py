"""PyTorch interchange: ``fastbp.from_torch`` and ``Network.to_torch``.

Covers: round trips both ways for every activation, depths 1, 2 and 4, float32
and float64 (outputs agree with torch's, parameters come back bit-identical);
gradients of converted networks against torch autograd with ``MSELoss``;
softplus's threshold difference, exactly as documented; the conversions
copying rather than sharing; every refusal, with the argument named; fastbp
importing without torch, and a clear ImportError when torch is missing.

Tolerances, norm-wise relative (``fastbp.testing.relative_error``): the two sides
compute the same sums in different orders and with different exp/tanh
implementations, so they differ by rounding only.  Observed over 20 seeds per
case: float64 outputs and gradients at most 5e-15, float32 at most 3e-6 (relu
outputs, where most entries are 0 and the norm is small).  A wrong weight,
transposition or activation is off by O(1).
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastbp
from fastbp import interop
from fastbp.testing import relative_error

torch = pytest.importorskip("torch")
nn = torch.nn

RTOL = {np.float64: 1e-12, np.float32: 1e-5}
DTYPES = [np.float64, np.float32]
DEPTHS = [1, 2, 4]
WIDTHS = (3, 7, 5, 6, 2)  # sizes for depth d: WIDTHS[:d + 1]
M = 9

# The torch module a user would write for each fastbp activation (None: a
# Linear with nothing after it).  Written out here, independently of
# interop.MODULES, so a wrong entry there shows.
USER_MODULES = {
    "identity": lambda: None,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,   # torch's default slope, 0.01
    "softplus": nn.Softplus,      # beta=1, threshold=20
    "softmax": lambda: nn.Softmax(dim=1),
}


# --- helpers -----------------------------------------------------------------

def torch_dtype(dtype):
    return {np.float64: torch.float64, np.float32: torch.float32}[dtype]


def linear(n_in, n_out, dtype, rng, bias=True):
    """An nn.Linear with weights drawn from ``rng`` (not torch's global RNG)."""
    layer = nn.Linear(n_in, n_out, bias=bias, dtype=torch_dtype(dtype))
    limit = 1.5 / np.sqrt(n_in)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(rng.uniform(-limit, limit, (n_out, n_in))))
        if bias:
            layer.bias.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, n_out)))
    return layer


def user_sequential(name, depth, dtype, seed=0):
    """A Sequential as a user would write it: Linear, activation, Linear, ..."""
    rng = np.random.default_rng(seed)
    modules = []
    for i, (n_in, n_out) in enumerate(zip(WIDTHS[:depth], WIDTHS[1:depth + 1])):
        modules.append(linear(n_in, n_out, dtype, rng))
        act = USER_MODULES[name]()
        if act is None and i % 2:
            act = nn.Identity()  # both spellings of "no activation"
        if act is not None:
            modules.append(act)
    return nn.Sequential(*modules)


def inputs(n, dtype, seed=1, m=M):
    return np.random.default_rng(seed).standard_normal((m, n)).astype(dtype)


def run_torch(seq, X):
    with torch.no_grad():
        return seq(torch.from_numpy(X)).numpy()


def linear_outputs(seq, X):
    """The pre-activations of every nn.Linear in seq (to check their range)."""
    seen = []
    hooks = [m.register_forward_hook(lambda mod, args, out: seen.append(out.detach().numpy()))
             for m in seq.modules() if isinstance(m, nn.Linear)]
    try:
        run_torch(seq, X)
    finally:
        for h in hooks:
            h.remove()
    return seen


def torch_linears(seq):
    return [m for m in seq.modules() if isinstance(m, nn.Linear)]


# --- the mapping -------------------------------------------------------------

def test_every_activation_has_a_torch_module():
    assert set(interop.MODULES) == set(fastbp.ACTIVATIONS) == set(USER_MODULES)


def test_fastbp_imports_without_torch():
    root = Path(__file__).resolve().parents[1]
    code = ("import sys, fastbp; assert fastbp.__file__.startswith(sys.argv[1]), fastbp.__file__;"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(root)], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- round trips -------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("name", fastbp.ACTIVATIONS)
def test_network_to_torch_and_back(name, depth, dtype):
    sizes = WIDTHS[:depth + 1]
    net = fastbp.Network(sizes, [name] * depth, dtype=dtype, seed=depth)
    seq = net.to_torch()

    # Layer i is seq[2*i] (Linear) and seq[2*i+1] (its activation).
    assert isinstance(seq, nn.Sequential) and len(seq) == 2 * depth
    for i in range(depth):
        lin, act = seq[2 * i], seq[2 * i + 1]
        assert type(lin) is nn.Linear and lin.weight.dtype == torch_dtype(dtype)
        assert (lin.in_features, lin.out_features) == (sizes[i], sizes[i + 1])
        assert np.array_equal(lin.weight.detach().numpy(), net.weights[i])
        assert np.array_equal(lin.bias.detach().numpy(), net.biases[i])
        assert type(act).__name__ == interop.MODULES[name][0]

    X = inputs(sizes[0], dtype)
    assert max(np.abs(x).max() for x in linear_outputs(seq, X)) < 20  # softplus alike
    y_torch = run_torch(seq, X)
    assert y_torch.dtype == dtype
    assert relative_error(net.forward(X), y_torch) <= RTOL[dtype]

    back = fastbp.from_torch(seq)
    assert back.sizes == net.sizes and back.activations == net.activations
    assert back.dtype == net.dtype
    assert back.params.tobytes() == net.params.tobytes()
    assert np.array_equal(back.forward(X), net.forward(X))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("name", fastbp.ACTIVATIONS)
def test_torch_to_network_and_back(name, depth, dtype):
    seq = user_sequential(name, depth, dtype, seed=depth)
    net = fastbp.from_torch(seq)
    assert net.sizes == WIDTHS[:depth + 1]
    assert net.activations == (name,) * depth
    assert net.dtype == dtype

    X = inputs(net.sizes[0], dtype)
    assert max(np.abs(x).max() for x in linear_outputs(seq, X)) < 20
    assert relative_error(net.forward(X), run_torch(seq, X)) <= RTOL[dtype]

    again = net.to_torch()
    before, after = torch_linears(seq), torch_linears(again)
    assert len(before) == len(after) == depth
    for a, b in zip(before, after):
        assert a.weight.dtype == b.weight.dtype == torch_dtype(dtype)
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert np.array_equal(run_torch(again, X), run_torch(seq, X))


def test_mixed_sequential_with_identity_nesting_and_no_bias():
    rng = np.random.default_rng(5)
    seq = nn.Sequential(
        nn.Identity(),
        linear(4, 6, np.float64, rng), nn.Tanh(),
        linear(6, 5, np.float64, rng, bias=False),          # no activation: identity
        nn.Sequential(linear(5, 3, np.float64, rng), nn.ReLU(), nn.Identity()),
        linear(3, 3, np.float64, rng), nn.Identity(),
        nn.Sequential(nn.Sequential(linear(3, 2, np.float64, rng)), nn.Softmax(dim=-1)),
    )
    net = fastbp.from_torch(seq)
    assert net.sizes == (4, 6, 5, 3, 3, 2)
    assert net.activations == ("tanh", "identity", "relu", "identity", "softmax")
    assert np.array_equal(net.biases[1], np.zeros(5))
    assert np.array_equal(net.weights[1], seq[3].weight.detach().numpy())
    X = inputs(4, np.float64)
    assert relative_error(net.forward(X), run_torch(seq, X)) <= RTOL[np.float64]
    # to_torch gives the bias-free layer a (zero) bias.
    assert torch.equal(net.to_torch()[2].bias, torch.zeros(5, dtype=torch.float64))


def test_explicit_dtype_converts():
    seq = user_sequential("tanh", 2, np.float64)
    net = fastbp.from_torch(seq, dtype=np.float32)
    assert net.dtype == np.float32
    for w, lin in zip(net.weights, torch_linears(seq)):
        assert np.array_equal(w, lin.weight.detach().numpy().astype(np.float32))
    assert fastbp.from_torch(seq, dtype=torch.float32).params.tobytes() == net.params.tobytes()
    # float16 parameters convert when a dtype is given.
    half = user_sequential("relu", 2, np.float32).to(torch.float16)
    net = fastbp.from_torch(half, dtype=np.float64)
    assert np.array_equal(net.weights[0], half[0].weight.detach().numpy().astype(np.float64))


def test_conversions_copy():
    net = fastbp.Network([3, 4, 2], ["tanh", "identity"], seed=0)
    saved = net.params.copy()
    seq = net.to_torch()
    net.params = np.zeros_like(saved)
    assert np.array_equal(seq[0].weight.detach().numpy(), saved[:12].reshape(4, 3))

    back = fastbp.from_torch(seq)
    with torch.no_grad():
        seq[0].weight.fill_(7.0)
    assert np.array_equal(back.params, saved)


def test_to_torch_leaves_torch_rng_alone():
    net = fastbp.Network([30, 20, 5], ["relu", "softmax"], seed=0)
    state = torch.get_rng_state()
    net.to_torch()
    assert torch.equal(torch.get_rng_state(), state)


# --- gradients against autograd ----------------------------------------------

def autograd_mse(seq, X, T):
    """(MSELoss, flat gradient in fastbp's parameter layout) by torch autograd."""
    seq.zero_grad()
    loss = nn.MSELoss()(seq(torch.from_numpy(X)), torch.from_numpy(T))
    loss.backward()
    flat = [torch.cat([m.weight.grad.reshape(-1), m.bias.grad]) for m in torch_linears(seq)]
    return loss.item(), torch.cat(flat).numpy()


@pytest.mark.parametrize("direction", ["from_torch", "to_torch"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name", fastbp.ACTIVATIONS)
def test_gradient_matches_autograd(name, dtype, direction):
    if direction == "from_torch":
        seq = user_sequential(name, 3, dtype, seed=11)
        net = fastbp.from_torch(seq)
    else:
        net = fastbp.Network(WIDTHS[:4], [name, "tanh", name], dtype=dtype, seed=11)
        seq = net.to_torch()
    X = inputs(net.sizes[0], dtype, seed=2)
    T = inputs(net.sizes[-1], dtype, seed=3)
    loss, grad = net.loss_and_gradient(X, T, "mse")
    loss_t, grad_t = autograd_mse(seq, X, T)
    assert grad.dtype == grad_t.dtype == dtype
    assert loss == pytest.approx(loss_t, rel=RTOL[dtype], abs=0)
    assert np.abs(grad_t).max() > 1e-3  # a real gradient, not zeros on both sides
    assert relative_error(grad, grad_t) <= RTOL[dtype]


# --- softplus: torch's threshold ---------------------------------------------

def one_softplus(dtype):
    lin = nn.Linear(1, 1, dtype=torch_dtype(dtype))
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.bias.fill_(0.0)
    return nn.Sequential(lin, nn.Softplus())


def test_softplus_threshold_difference_is_as_documented():
    """Above 20 torch returns x; fastbp returns x + log1p(e^-x), at most
    log1p(e^-20) = 2.06e-9 more -- visible in float64, not in float32."""
    x = np.array([20.25, 21.0, 25.0, 30.0])[:, None]
    seq = one_softplus(np.float64)
    net = fastbp.from_torch(seq)
    y_torch, y = run_torch(seq, x), net.forward(x)
    assert np.array_equal(y_torch, x)                       # linear above the threshold
    gap = (y - y_torch).ravel()
    # y is x + log1p(e^-x) rounded to float64 near x: exact to one unit of x.
    np.testing.assert_allclose(gap, np.log1p(np.exp(-x.ravel())), rtol=0,
                               atol=np.spacing(x.max()))
    assert gap.max() <= np.log1p(np.exp(-interop.SOFTPLUS_THRESHOLD)) <= 2.1e-9
    assert gap.min() > 0

    # At and below the threshold both compute log(1 + e^x).
    below = np.linspace(-30, 20, 101)[:, None]
    assert relative_error(net.forward(below), run_torch(seq, below)) <= RTOL[np.float64]

    # In float32 the gap is below the resolution at 20 (1.9e-6): identical.
    seq32 = one_softplus(np.float32)
    x32 = x.astype(np.float32)
    assert np.array_equal(fastbp.from_torch(seq32).forward(x32), run_torch(seq32, x32))


# --- refusals ----------------------------------------------------------------

def lin(n_in=3, n_out=3):
    return nn.Linear(n_in, n_out, dtype=torch.float64)


class Doubled(nn.Sequential):
    def forward(self, x):
        return 2 * super().forward(x)


class ReLUPlusOne(nn.ReLU):
    def forward(self, x):
        return super().forward(x) + 1


@pytest.mark.parametrize("module, pattern", [
    ([lin()], r"module: expected a torch.nn.Sequential .* got list$"),
    (lin(), r"module: expected a torch.nn.Sequential .* got Linear; wrap one layer as "
            r"nn.Sequential\(layer\)"),
    (fastbp.Network([2, 2], ["tanh"]), r"module: expected a torch.nn.Sequential .* got Network"),
    (Doubled(lin()), r"module: expected a torch.nn.Sequential .* got Doubled"),
], ids=["list", "linear", "network", "sequential-subclass"])
def test_refuses_non_sequential(module, pattern):
    with pytest.raises(TypeError, match=pattern):
        fastbp.from_torch(module)


@pytest.mark.parametrize("build, pattern", [
    (lambda: nn.Sequential(lin(), nn.GELU()),
     r"module\[1\]: GELU is not supported; from_torch converts nn.Linear and the activations "
     r"nn.Identity, nn.Tanh, nn.Sigmoid, nn.ReLU, nn.LeakyReLU, nn.Softplus, nn.Softmax"),
    (lambda: nn.Sequential(lin(), nn.Sequential(lin(), nn.Dropout())),
     r"module\[1\]\[1\]: Dropout is not supported"),
    (lambda: nn.Sequential(lin(), ReLUPlusOne()), r"module\[1\]: ReLUPlusOne is not supported"),
    (lambda: nn.Sequential(lin(), nn.ModuleList([nn.ReLU()])),
     r"module\[1\]: ModuleList is not supported"),
    (lambda: nn.Sequential(lin(), nn.ReLU(), nn.Tanh()),
     r"module\[2\]: Tanh follows another activation \('relu'\); fastbp applies one "
     r"activation per nn.Linear"),
    (lambda: nn.Sequential(lin(), nn.Sigmoid(), nn.Identity(), nn.Sequential(nn.ReLU())),
     r"module\[3\]\[0\]: ReLU follows another activation \('sigmoid'\)"),
    (lambda: nn.Sequential(nn.Tanh(), lin()), r"module\[0\]: Tanh comes before any nn.Linear"),
    (lambda: nn.Sequential(lin(), nn.LeakyReLU(0.2)),
     r"module\[1\]: nn.LeakyReLU with negative_slope=0.2; fastbp's leaky_relu has slope "
     r"0.01: use nn.LeakyReLU\(0.01\)"),
    (lambda: nn.Sequential(lin(), nn.Softplus(beta=2)),
     r"module\[1\]: nn.Softplus with beta=2; .* use nn.Softplus\(\)"),
    (lambda: nn.Sequential(lin(), nn.Softplus(threshold=5)),
     r"module\[1\]: nn.Softplus with threshold=5 .* expected threshold >= 20"),
    (lambda: nn.Sequential(lin(), nn.Softmax(dim=0)),
     r"module\[1\]: nn.Softmax with dim=0; .* use nn.Softmax\(dim=-1\)"),
    (lambda: nn.Sequential(lin(), nn.Softmax()), r"module\[1\]: nn.Softmax with dim=None"),
    (lambda: nn.Sequential(lin(3, 4), nn.ReLU(), lin(5, 2)),
     r"module\[2\]: nn.Linear takes 5 inputs but module\[0\] gives 4 outputs"),
    (lambda: nn.Sequential(), r"module: expected a Sequential with at least one nn.Linear"),
    (lambda: nn.Sequential(nn.Identity(), nn.Sequential()),
     r"module: expected a Sequential with at least one nn.Linear"),
], ids=["unsupported", "nested-unsupported", "overridden-forward", "modulelist",
        "two-activations", "two-activations-across-identity", "activation-first",
        "leaky-slope", "softplus-beta", "softplus-threshold", "softmax-dim0",
        "softmax-implicit-dim", "widths", "empty", "only-identity"])
def test_refuses_bad_contents(build, pattern):
    with pytest.raises(ValueError, match=pattern):
        fastbp.from_torch(build())


def test_refuses_forward_hooks():
    relu = nn.ReLU()
    relu.register_forward_hook(lambda mod, args, out: out * 2)
    with pytest.raises(ValueError, match=r"module\[1\]: ReLU with forward hooks is not supported"):
        fastbp.from_torch(nn.Sequential(lin(), relu))


def test_refuses_non_finite_parameters():
    seq = nn.Sequential(lin(), nn.Tanh(), lin())
    with torch.no_grad():
        seq[2].weight[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"module\[2\].weight contains NaN or infinity "
                                         r"\(first at index \(1, 2\)\)"):
        fastbp.from_torch(seq)


def test_refuses_dtypes():
    half = nn.Sequential(lin()).to(torch.float16)
    with pytest.raises(TypeError, match=r"module: parameters of dtype torch.float16; .* "
                                        r"pass dtype=np.float32"):
        fastbp.from_torch(half)
    mixed = nn.Sequential(lin(), nn.Linear(3, 2, dtype=torch.float32))
    with pytest.raises(TypeError, match=r"module: parameters of mixed dtypes \(torch.float64 "
                                        r"at module\[0\], torch.float32 at module\[1\]\)"):
        fastbp.from_torch(mixed)
    with pytest.raises(TypeError, match=r"dtype: expected np.float32 or np.float64, got "):
        fastbp.from_torch(nn.Sequential(lin()), dtype=np.int32)
    with pytest.raises(TypeError, match=r"dtype: expected np.float32 or np.float64, got "
                                        r"torch.float16"):
        fastbp.from_torch(nn.Sequential(lin()), dtype=torch.float16)


def test_without_torch_both_directions_say_how_to_install(monkeypatch):
    net = fastbp.Network([2, 2], ["tanh"])
    seq = nn.Sequential(lin(2, 2))
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    for call in (lambda: fastbp.from_torch(seq), net.to_torch):
        with pytest.raises(ImportError, match=r"needs PyTorch, which is not installed: "
                                              r"pip install torch"):
            call()
