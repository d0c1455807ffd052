"""Activations registered by users (``fastbp.register_activation``) and ``fastbp.gradcheck``.

Every activation used here is registered once, at import, so all the networks
share one compiled set of passes (each registration makes a new set, which
compiles on first use).
"""
import multiprocessing
import pickle
import sys

import numba
import numpy as np
import pytest

import fastbp
from fastbp import testing


@numba.njit
def my_tanh(x):
    return np.tanh(x)


@numba.njit
def my_tanh_derivative(x):
    t = np.tanh(x)
    return 1.0 - t * t


@numba.njit
def swish(x):
    return x / (1.0 + np.exp(-x))


@numba.njit
def swish_derivative(x):
    s = 1.0 / (1.0 + np.exp(-x))
    return s + x * s * (1.0 - s)


@numba.njit
def swish_wrong_derivative(x):
    return 1.0 / (1.0 + np.exp(-x))  # forgets the product rule


@numba.njit
def my_softmax(x, y):
    top = x.max()
    total = 0.0
    for j in range(x.size):
        y[j] = np.exp(x[j] - top)
        total += y[j]
    for j in range(x.size):
        y[j] /= total


@numba.njit
def my_softmax_vjp(x, y, g):
    dot = 0.0
    for j in range(y.size):
        dot += y[j] * g[j]
    for j in range(y.size):
        g[j] = y[j] * (g[j] - dot)


fastbp.register_activation("my_tanh", my_tanh, my_tanh_derivative)
fastbp.register_activation("swish", swish, swish_derivative)
fastbp.register_activation("swish_wrong", swish, swish_wrong_derivative)
fastbp.register_activation("my_softmax", my_softmax, vjp=my_softmax_vjp)


@numba.njit
def nan_below_zero(x):
    return np.sqrt(x)


@numba.njit
def zero_slope(x):
    return 0.0


@numba.njit
def nan_to_zero(x):
    return 0.0 if x != x else x


@numba.njit
def unit_slope(x):
    return 1.0


fastbp.register_activation("nan_below_zero", nan_below_zero, zero_slope)
fastbp.register_activation("nan_to_zero", nan_to_zero, unit_slope)

DTYPES = [np.float64, np.float32]


def problem(sizes, m=6, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(m, sizes[0])).astype(dtype),
            rng.normal(size=(m, sizes[-1])).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_custom_activations_match_the_numpy_reference(dtype):
    """Custom tanh and softmax against the slow reference's tanh and softmax."""
    sizes = [4, 7, 5, 3]
    net = fastbp.Network(sizes, ["my_tanh", "my_softmax", "identity"], dtype=dtype, seed=1)
    X, T = problem(sizes, dtype=dtype)
    ref_args = ([w.astype(np.float64) for w in net.weights],
                [b.astype(np.float64) for b in net.biases], ["tanh", "softmax", "identity"])
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    testing.assert_close(net.forward(X), testing.forward(*ref_args, X.astype(np.float64)), rtol)
    loss, grad = net.loss_and_gradient(X, T, "mse")
    ref_loss, ref_grad, _ = testing.loss_and_gradient(*ref_args, X.astype(np.float64),
                                                    T.astype(np.float64), "mse")
    assert loss == pytest.approx(ref_loss, rel=rtol)
    testing.assert_close(grad, ref_grad, rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_custom_and_builtin_networks_agree(dtype):
    sizes = [3, 6, 4]
    custom = fastbp.Network(sizes, ["my_tanh", "my_softmax"], dtype=dtype, seed=2)
    builtin = fastbp.Network(sizes, ["tanh", "softmax"], dtype=dtype, seed=2)
    X, _ = problem(sizes, m=9, dtype=dtype)
    T = np.eye(4, dtype=dtype)[np.arange(9) % 4]
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    testing.assert_close(custom.forward(X), builtin.forward(X), rtol)
    # (cross_entropy needs the built-in softmax, whose delta it fuses: mse here.)
    _, g1, gx1 = custom.loss_and_gradient(X, T, "mse", input_gradient=True)
    _, g2, gx2 = builtin.loss_and_gradient(X, T, "mse", input_gradient=True)
    testing.assert_close(g1, g2, rtol)
    testing.assert_close(gx1, gx2, rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradcheck_passes_a_right_derivative_and_fails_a_wrong_one(dtype):
    sizes = [3, 8, 5, 2]
    X, T = problem(sizes, m=5, seed=3)
    right = fastbp.Network(sizes, ["swish", "my_softmax", "identity"], dtype=dtype, seed=3)
    wrong = fastbp.Network(sizes, ["swish_wrong", "my_softmax", "identity"], dtype=dtype,
                           seed=3)
    right_error = fastbp.gradcheck(right, X, T, "mse")
    wrong_error = fastbp.gradcheck(wrong, X, T, "mse")
    assert right_error < 1e-6, right_error  # seen: ~5e-9
    assert wrong_error > 1e-2, wrong_error
    # The network checked is untouched.
    assert right.dtype == dtype


def test_gradcheck_subset_and_builtin_networks():
    sizes = [5, 30, 30, 3]
    net = fastbp.Network(sizes, ["tanh", "softplus", "softmax"], seed=4)
    X, _ = problem(sizes, m=4, seed=4)
    y = np.array([0, 1, 2, 1])
    assert fastbp.gradcheck(net, X, y, "cross_entropy", max_params=50) < 1e-6
    with pytest.raises(TypeError, match="net"):
        fastbp.gradcheck("not a network", X, y)
    with pytest.raises(ValueError, match="max_params"):
        fastbp.gradcheck(net, X, y, "cross_entropy", max_params=0)


def test_jacobian_of_custom_activations():
    x = np.array([0.3, -1.2, 2.0, 0.0])
    np.testing.assert_allclose(fastbp.jacobian("my_softmax", x), fastbp.jacobian("softmax", x),
                               rtol=1e-12, atol=1e-15)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(fastbp.jacobian("swish", x), np.diag(s + x * s * (1 - s)),
                               rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_with_a_custom_activation(dtype):
    rng = np.random.default_rng(5)
    X = rng.uniform(-2, 2, (256, 2)).astype(dtype)
    T = (np.sin(X[:, :1]) * X[:, 1:]).astype(dtype)
    net = fastbp.Network([2, 16, 1], ["swish", "identity"], dtype=dtype, seed=5)
    history = net.fit(X, T, epochs=40, batch_size=16, optimizer=fastbp.Adam(lr=0.01),
                      loss="mse", seed=0, progress=False)
    assert history.loss[-1] < 0.2 * history.loss[0]
    assert net.score(X, T) > 0.9


@pytest.mark.parametrize("activations", [["my_tanh", "my_softmax"], ["tanh", "softmax"]])
def test_calls_keep_no_reference_to_the_arrays_they_are_given(activations):
    """Repeated calls leave every array's reference count as it was.

    Custom networks reach the passes through wrappers that count references
    (``entries.bound_to``): a compiled helper that returns a view of the
    workspace to a pass compiled without counting (``layout.gradient``, once)
    leaked one reference to the workspace per step and per epoch, and with it
    the workspace itself.  Built-in networks run the same calls as a control.
    """
    sizes = [3, 6, 4]
    net = fastbp.Network(sizes, activations, seed=3)
    X, T = problem(sizes, m=8)
    momentum = fastbp.SGD(lr=0.01, momentum=0.9)
    calls = [
        lambda: net.forward(X),
        lambda: net.loss_and_gradient(X, T, "mse"),
        lambda: net.loss_and_gradient(X, T, "mse", input_gradient=True),
        lambda: net.train_step(X, T, momentum, "mse"),  # training.step
        lambda: net.train_step(X[:1], T[:1], fastbp.SGD(lr=0.01), "mse"),  # sample_step
        lambda: net.fit(X, T, epochs=2, batch_size=3, optimizer=momentum, loss="mse",
                        progress=False),  # training.epoch
        lambda: net.fit(X, T, epochs=2, batch_size=1, optimizer=fastbp.SGD(lr=0.01),
                        loss="mse", progress=False),  # training.sample_epoch
        lambda: net.score(X, T),
    ]
    for call in calls:  # compile, and make the workspace and optimizer state
        call()
    arrays = {"workspace": net._engine._local.space.work, "params": net._params, "X": X, "T": T}
    before = {name: sys.getrefcount(a) for name, a in arrays.items()}
    for call in calls:
        for _ in range(5):
            call()
        after = {name: sys.getrefcount(a) for name, a in arrays.items()}
        assert after == before
    assert net._engine._local.space.work is arrays["workspace"]


@pytest.mark.parametrize("path", ["fused", "general"])
def test_a_nan_layer_output_under_a_finite_loss_is_a_gradient_that_is_not_finite(path):
    """The second sample makes the first layer's output NaN, which the next
    activation maps to 0: the loss is finite, but the second layer's weight
    gradient is 0 * NaN.  The fused per-sample step tests each layer's inputs
    for NaN (its per-row test, |d| max|x|, would skip one), as the general
    step tests the gradient itself."""
    net = fastbp.Network([1, 1, 1, 1], ["nan_below_zero", "nan_to_zero", "identity"], seed=0)
    net.params = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    X, T = np.array([[1.0], [-1.0]]), np.zeros((2, 1))
    opt = fastbp.SGD(lr=1e-3) if path == "fused" else fastbp.SGD(lr=1e-3, clip_norm=1e300)
    with pytest.raises(fastbp.DivergenceError, match="the gradient is not finite") as info:
        net.fit(X, T, epochs=1, batch_size=1, optimizer=opt, shuffle=False, progress=False)
    assert (info.value.epoch, info.value.batch) == (0, 1)
    assert opt.steps == 1 and np.all(np.isfinite(net.params))


def _forward_in_a_new_process(blob):
    net = pickle.loads(blob)
    return net.forward(np.linspace(-1, 1, 6).reshape(2, 3))


def test_pickled_network_runs_where_the_activation_was_never_registered():
    """A spawned process has not run this module: the network brings its functions."""
    net = fastbp.Network([3, 4, 2], ["swish", "identity"], seed=6)
    want = net.forward(np.linspace(-1, 1, 6).reshape(2, 3))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        got = pool.apply(_forward_in_a_new_process, (pickle.dumps(net),))
    np.testing.assert_array_equal(got, want)


def _scaling(k):
    """f(x) = k x and f'(x) = k as @njit functions."""
    return numba.njit(lambda x: k * x), numba.njit(lambda x: k)


def test_registering_a_name_again_leaves_earlier_networks_alone():
    double, two = _scaling(2.0)
    triple, three = _scaling(3.0)

    fastbp.register_activation("scale", double, two)
    before = fastbp.Network([1, 1], ["scale"])
    before.params = np.array([1.0, 0.0])
    fastbp.register_activation("scale", triple, three)
    after = fastbp.Network([1, 1], ["scale"])
    after.params = np.array([1.0, 0.0])
    assert before.forward(np.array([1.0]))[0] == 2.0
    assert after.forward(np.array([1.0]))[0] == 3.0


def test_builtin_passes_stay_cacheable():
    """Built-in networks pass None as the custom hook: a function passed as a
    value would embed its address and stop numba from caching the passes."""
    from fastbp._kernels import entries
    net = fastbp.Network([2, 3, 1], ["tanh", "identity"])
    net.forward(np.zeros((2, 2)))
    for signature, compiled in entries.BUILTIN.predict.overloads.items():
        assert not compiled.library.has_dynamic_globals, signature


def test_unknown_activation_names_the_way_to_register():
    with pytest.raises(ValueError, match=r"activations\[1\].*'nope'.*register_activation"):
        fastbp.Network([2, 2, 2], ["tanh", "nope"])


@numba.njit
def _needs_two_arguments(x, y):
    return x + y


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: fastbp.register_activation("a", np.tanh, my_tanh_derivative), TypeError,
     "value: expected a function compiled with @numba.njit"),
    (lambda: fastbp.register_activation("a", my_tanh, lambda x: 1.0), TypeError,
     "derivative: expected a function compiled"),
    (lambda: fastbp.register_activation("a", my_tanh), TypeError, "exactly one"),
    (lambda: fastbp.register_activation("a", my_tanh, my_tanh_derivative, vjp=my_softmax_vjp),
     TypeError, "exactly one"),
    (lambda: fastbp.register_activation("tanh", my_tanh, my_tanh_derivative), ValueError,
     "name: 'tanh' is a built-in"),
    (lambda: fastbp.register_activation("", my_tanh, my_tanh_derivative), TypeError, "name"),
    (lambda: fastbp.register_activation("a", _needs_two_arguments, my_tanh_derivative),
     TypeError, "value: could not run it as a scalar function"),
    (lambda: fastbp.register_activation("a", my_softmax, vjp=my_tanh), TypeError,
     "vjp: could not run it as vjp"),
])
def test_bad_registrations_are_refused(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
    assert "a" not in fastbp.custom.hooks.REGISTRY


def test_to_torch_refuses_a_custom_activation_clearly():
    pytest.importorskip("torch")
    net = fastbp.Network([2, 3, 1], ["swish", "identity"])
    with pytest.raises(ValueError, match="swish.*registered"):
        net.to_torch()


def test_ensemble_fit_refuses_registered_activations():
    ens = fastbp.Ensemble([3, 4, 1], ["my_tanh", "identity"], 2, seed=0)
    before = ens.params.copy()
    X = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(ValueError, match="activations: .*registered"):
        ens.fit(X, X[:, :1], epochs=1, loss="mse")
    assert np.array_equal(ens.params, before) and ens.optimizers is None
    outputs = ens.predict(X)  # member by member, through each network's own passes
    for i in range(2):
        np.testing.assert_array_equal(outputs[i], ens[i].forward(X))
