"""Optimizers, gradient clipping, learning-rate schedules and optimizer state.

Two halves:

- against ``torch.optim`` (skipped when torch is not installed): every
  optimizer and its options, step by step through ``Network.train_step``,
  with and without ``clip_norm`` (``torch.nn.utils.clip_grad_norm_``), and the
  schedules against ``torch.optim.lr_scheduler``;
- without torch: clipping and the schedules against their closed forms, ``fit``
  stepping a schedule once per epoch, ``state_dict``/``load_state_dict``,
  ``reset``, one optimizer on two networks, and invalid hyperparameters.
"""
import copy
import json
import math
import pickle
import re

import numpy as np
import pytest

import fastbp
from fastbp._kernels import optim

try:
    import torch
except ImportError:  # the closed-form half of this module still runs
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

# Both sides do the same float64 arithmetic in different orders: rounding
# only (about 1e-15 observed).  A wrong term in an update is off by O(lr).
RTOL = 1e-10
N_STEPS = 6

SIZES = (5, 7, 6, 3)


# --- helpers -------------------------------------------------------------------

def relative_error(actual, desired):
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    scale = max(np.linalg.norm(desired), np.finfo(np.float64).tiny)
    return np.linalg.norm(actual - desired) / scale


def make_problem(loss, seed=0, m=10, steps=N_STEPS, dtype=np.float64):
    """A small network and one distinct batch per step."""
    last = "softmax" if loss == "cross_entropy" else "identity"
    net = fastbp.Network(SIZES, ["tanh", "sigmoid", last], dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 100)
    batches = []
    for _ in range(steps):
        X = rng.standard_normal((m, SIZES[0]))
        if loss == "cross_entropy":
            T = rng.integers(0, SIZES[-1], size=m)
        else:
            T = rng.standard_normal((m, SIZES[-1]))
        batches.append((X, T))
    return net, batches


def torch_params(net):
    """Leaf tensors holding copies of net's weights and biases, layer by layer."""
    out = []
    for w, b in zip(net.weights, net.biases):
        out.append(torch.tensor(np.array(w, copy=True), requires_grad=True))
        out.append(torch.tensor(np.array(b, copy=True), requires_grad=True))
    return out


TORCH_ACTIVATIONS = {
    "tanh": lambda x: torch.tanh(x),
    "sigmoid": lambda x: torch.sigmoid(x),
    "identity": lambda x: x,
}


def torch_loss(params, activations, X, T, loss):
    y = torch.tensor(X)
    x = None
    for i, name in enumerate(activations):
        x = torch.nn.functional.linear(y, params[2 * i], params[2 * i + 1])
        y = torch.softmax(x, dim=-1) if name == "softmax" else TORCH_ACTIVATIONS[name](x)
    if loss == "cross_entropy":
        return torch.nn.functional.cross_entropy(x, torch.tensor(T))  # logits
    if loss == "mse":
        return torch.nn.functional.mse_loss(y, torch.tensor(T))
    return ((y - torch.tensor(T)) ** 2).sum()


def torch_flat(params):
    return torch.cat([p.detach().reshape(-1) for p in params]).numpy().copy()


def compare_with_torch(make_ours, make_theirs, loss, clip_norm=None):
    net, batches = make_problem(loss)
    params = torch_params(net)
    ours = make_ours()
    theirs = make_theirs(params)
    np.testing.assert_array_equal(torch_flat(params), net.params)
    clipped = []
    for step, (X, T) in enumerate(batches):
        value = net.train_step(X, T, ours, loss=loss)
        theirs.zero_grad()
        reference = torch_loss(params, net.activations, X, T, loss)
        reference.backward()
        if clip_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, clip_norm)
            clipped.append(float(norm) > clip_norm)
        theirs.step()
        assert value == pytest.approx(reference.item(), rel=RTOL, abs=0), step
        error = relative_error(net.params, torch_flat(params))
        assert error <= RTOL, (step, error)
        assert ours.steps == step + 1
    assert np.all(np.isfinite(net.params))
    # The updates moved the parameters well beyond the tolerance.
    assert relative_error(net.params, make_problem(loss)[0].params) > 1e-3
    return clipped


# --- every optimizer against torch.optim -----------------------------------------

# name: (fastbp optimizer, torch optimizer with every hyperparameter spelled out)
OPTIMIZERS = {
    "sgd": (
        lambda: fastbp.SGD(lr=0.1),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0,
                                  nesterov=False)),
    "sgd-momentum": (
        lambda: fastbp.SGD(lr=0.05, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.0, weight_decay=0.0,
                                  nesterov=False)),
    "sgd-nesterov": (
        lambda: fastbp.SGD(lr=0.05, momentum=0.8, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.0, weight_decay=0.0,
                                  nesterov=True)),
    "sgd-weight-decay": (
        lambda: fastbp.SGD(lr=0.1, weight_decay=0.05),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.05,
                                  nesterov=False)),
    "sgd-nesterov-weight-decay": (
        lambda: fastbp.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.02),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.0, weight_decay=0.02,
                                  nesterov=True)),
    "adam": (
        lambda: fastbp.Adam(lr=0.01),
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)),
    "adam-betas-eps": (
        lambda: fastbp.Adam(lr=0.02, betas=(0.8, 0.95), eps=1e-6),
        lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.0)),
    "adam-weight-decay": (
        lambda: fastbp.Adam(lr=0.01, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)),
    "adamw-default-decay": (
        lambda: fastbp.AdamW(lr=0.01),
        lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)),
    "adamw": (
        lambda: fastbp.AdamW(lr=0.02, betas=(0.85, 0.99), weight_decay=0.3),
        lambda p: torch.optim.AdamW(p, lr=0.02, betas=(0.85, 0.99), eps=1e-8, weight_decay=0.3)),
    "rmsprop": (
        lambda: fastbp.RMSprop(lr=0.01),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0,
                                      momentum=0.0, centered=False)),
    "rmsprop-momentum": (
        lambda: fastbp.RMSprop(lr=0.005, momentum=0.9),
        lambda p: torch.optim.RMSprop(p, lr=0.005, alpha=0.99, eps=1e-8, weight_decay=0.0,
                                      momentum=0.9, centered=False)),
    "rmsprop-weight-decay": (
        lambda: fastbp.RMSprop(lr=0.01, weight_decay=0.05),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.05,
                                      momentum=0.0, centered=False)),
    "rmsprop-all": (
        lambda: fastbp.RMSprop(lr=0.005, alpha=0.9, eps=1e-6, momentum=0.5, weight_decay=0.02),
        lambda p: torch.optim.RMSprop(p, lr=0.005, alpha=0.9, eps=1e-6, weight_decay=0.02,
                                      momentum=0.5, centered=False)),
}


@needs_torch
@pytest.mark.parametrize("loss", ["sse", "mse", "cross_entropy"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_matches_torch_step_by_step(name, loss):
    ours, theirs = OPTIMIZERS[name]
    compare_with_torch(ours, theirs, loss)


# --- gradient clipping ---------------------------------------------------------------

CLIPPED = ["sgd", "sgd-nesterov-weight-decay", "adam", "adamw", "rmsprop-all"]


def with_clip(factory, clip_norm):
    """A factory of factory()'s optimizer with the same hyperparameters and clip_norm set."""
    def make():
        opt = factory()
        args = {k: v for k, v in opt.config().items() if k != "type"}
        args["clip_norm"] = clip_norm
        if "betas" in args:
            args["betas"] = tuple(args["betas"])
        return type(opt)(**args)
    return make


@needs_torch
@pytest.mark.parametrize("loss", ["sse", "cross_entropy"])
@pytest.mark.parametrize("name", CLIPPED)
def test_clipping_matches_torch_clip_grad_norm(name, loss):
    ours, theirs = OPTIMIZERS[name]
    # Small enough that every step is clipped (checked below).
    clip_norm = 0.05
    clipped = compare_with_torch(with_clip(ours, clip_norm), theirs, loss, clip_norm=clip_norm)
    assert all(clipped), clipped


@needs_torch
@pytest.mark.parametrize("name", ["sgd-momentum", "adam"])
def test_clipping_above_the_norm_matches_torch(name):
    ours, theirs = OPTIMIZERS[name]
    clip_norm = 1e3
    clipped = compare_with_torch(with_clip(ours, clip_norm), theirs, "sse", clip_norm=clip_norm)
    assert not any(clipped)


def clip_scale(grad, max_norm):
    """torch's clip_grad_norm_ factor, written from its documentation."""
    return min(1.0, max_norm / (math.sqrt(float(np.sum(grad.astype(np.float64) ** 2))) + 1e-6))


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("clip_norm", [0.05, 0.5, 1e3])
def test_clipping_closed_form(clip_norm, weight_decay):
    """SGD with clip_norm: p <- p - lr (scale g + wd p), scale = min(1, c / (||g|| + 1e-6)).

    The gradient is clipped before weight decay is added, as with
    clip_grad_norm_ before a torch.optim step.
    """
    lr = 0.02
    net, batches = make_problem("sse")
    opt = fastbp.SGD(lr=lr, clip_norm=clip_norm, weight_decay=weight_decay)
    scales = []
    for X, T in batches:
        before = net.params.copy()
        value, grad = net.loss_and_gradient(X, T, loss="sse")
        scale = clip_scale(grad, clip_norm)
        scales.append(scale)
        expected = before - lr * (scale * grad + weight_decay * before)
        assert net.train_step(X, T, opt, loss="sse") == value
        np.testing.assert_allclose(net.params, expected, rtol=1e-13, atol=1e-15)
    if clip_norm < 1:
        assert max(scales) < 1  # clipping was active on every step
    else:
        assert scales == [1.0] * len(scales)


def test_clipping_closed_form_adam_first_step():
    """Adam's first step is lr * g_hat / (|g_hat| + eps) with g_hat the clipped gradient."""
    lr, eps, clip_norm = 0.01, 1e-8, 0.05
    net, batches = make_problem("mse")
    X, T = batches[0]
    _, grad = net.loss_and_gradient(X, T, loss="mse")
    g = clip_scale(grad, clip_norm) * grad
    expected = net.params - lr * g / (np.abs(g) + eps)
    net.train_step(X, T, fastbp.Adam(lr=lr, eps=eps, clip_norm=clip_norm), loss="mse")
    np.testing.assert_allclose(net.params, expected, rtol=1e-12, atol=1e-14)


# --- schedules -----------------------------------------------------------------------

def step_decay(lr, step_size, gamma, epoch):
    return lr * gamma ** math.floor(epoch / step_size)


def exponential_decay(lr, gamma, epoch):
    return lr * math.exp(epoch * math.log(gamma))


def cosine_decay(lr, T_max, eta_min, epoch):
    if epoch >= T_max:
        return eta_min
    return eta_min + 0.5 * (lr - eta_min) * (1.0 + math.cos(math.pi * epoch / T_max))


SCHEDULES = {
    "step": (lambda: fastbp.StepDecay(0.1, step_size=3, gamma=0.5),
             lambda e: step_decay(0.1, 3, 0.5, e)),
    "step-default-gamma": (lambda: fastbp.StepDecay(0.2, step_size=2),
                           lambda e: step_decay(0.2, 2, 0.1, e)),
    "exponential": (lambda: fastbp.ExponentialDecay(0.1, gamma=0.8),
                    lambda e: exponential_decay(0.1, 0.8, e)),
    "cosine": (lambda: fastbp.CosineDecay(0.1, T_max=8),
               lambda e: cosine_decay(0.1, 8, 0.0, e)),
    "cosine-eta-min": (lambda: fastbp.CosineDecay(0.1, T_max=5, eta_min=0.01),
                       lambda e: cosine_decay(0.1, 5, 0.01, e)),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_closed_form(name):
    make, closed = SCHEDULES[name]
    schedule = make()
    rates = [schedule(e) for e in range(15)]
    np.testing.assert_allclose(rates, [closed(e) for e in range(15)], rtol=1e-14, atol=0)
    assert rates[0] == pytest.approx(schedule.lr, rel=1e-15)
    # An optimizer reports its schedule's rate at any epoch, and at its own.
    opt = fastbp.SGD(lr=schedule)
    assert [opt.learning_rate(e) for e in range(15)] == rates
    opt.epoch = 4
    assert opt.learning_rate() == rates[4]


def test_schedule_shapes():
    step = fastbp.StepDecay(1.0, step_size=2, gamma=0.5)
    assert [step(e) for e in range(6)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    cosine = fastbp.CosineDecay(1.0, T_max=4, eta_min=0.2)
    assert cosine(0) == 1.0
    assert cosine(2) == pytest.approx(0.6, rel=1e-15)
    assert cosine(4) == pytest.approx(0.2, rel=1e-15)
    assert cosine(10) == cosine(4)  # held at eta_min after T_max
    rates = [cosine(e) for e in range(5)]
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_schedule_config_round_trip():
    """An optimizer's config (JSON) rebuilds its schedule, which gives the same rates."""
    from fastbp.optimizers import from_config

    for make, _ in SCHEDULES.values():
        opt = fastbp.SGD(lr=make(), momentum=0.5)
        rebuilt = from_config(json.loads(json.dumps(opt.config())))
        assert type(rebuilt.lr) is type(opt.lr)
        assert [rebuilt.learning_rate(e) for e in range(10)] == \
            [opt.learning_rate(e) for e in range(10)]


@needs_torch
@pytest.mark.parametrize("name", ["step", "exponential", "cosine", "cosine-eta-min"])
def test_schedule_matches_torch_lr_scheduler(name):
    make, _ = SCHEDULES[name]
    schedule = make()
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=schedule.lr)
    sched = {
        "step": lambda: torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5),
        "exponential": lambda: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.8),
        "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8),
        "cosine-eta-min": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=5, eta_min=0.01),
    }[name]()
    # Cosine: torch's CosineAnnealingLR is periodic; fastbp holds eta_min after
    # T_max (documented), so compare over the first half period.
    n = getattr(schedule, "T_max", 12) + 1
    for epoch in range(n):
        assert schedule(epoch) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        opt.step()
        sched.step()


def _two_batch_problem(dtype=np.float64):
    net = fastbp.Network([4, 6, 2], ["tanh", "identity"], dtype=dtype, seed=3)
    rng = np.random.default_rng(4)
    return net, rng.standard_normal((12, 4)), rng.standard_normal((12, 2))


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("batches_per_epoch", [1, 2])
def test_fit_steps_the_schedule_once_per_epoch(name, batches_per_epoch):
    """fit over 3 epochs == manual train_steps, every batch of epoch e at rate(e)."""
    make, closed = SCHEDULES[name]
    net, X, T = _two_batch_problem()
    manual = copy.deepcopy(net)
    size = X.shape[0] // batches_per_epoch
    opt = fastbp.SGD(lr=make())
    history = net.fit(X, T, epochs=3, batch_size=size, optimizer=opt, loss="mse",
                      shuffle=False, progress=False)
    assert len(history) == 3 and opt.epoch == 3 and opt.steps == 3 * batches_per_epoch
    for epoch in range(3):
        step = fastbp.SGD(lr=closed(epoch))
        for b in range(batches_per_epoch):
            manual.train_step(X[b * size:(b + 1) * size], T[b * size:(b + 1) * size], step,
                              loss="mse")
    np.testing.assert_allclose(net.params, manual.params, rtol=1e-13, atol=1e-15)
    # The schedule mattered: a constant rate gives something else.
    constant = copy.deepcopy(_two_batch_problem()[0])
    constant.fit(X, T, epochs=3, batch_size=size, optimizer=fastbp.SGD(lr=closed(0)),
                 loss="mse", shuffle=False, progress=False)
    if closed(1) != closed(0) or closed(2) != closed(0):
        assert relative_error(net.params, constant.params) > 1e-9


def test_fit_schedule_with_momentum_matches_manual_steps():
    """Momentum state carries across epochs while the rate changes per epoch."""
    net, X, T = _two_batch_problem()
    manual = copy.deepcopy(net)
    rates = [step_decay(0.1, 1, 0.5, e) for e in range(4)]
    net.fit(X, T, epochs=4, batch_size=6, optimizer=fastbp.SGD(
        lr=fastbp.StepDecay(0.1, step_size=1, gamma=0.5), momentum=0.9),
        loss="sse", shuffle=False, progress=False)
    opt = fastbp.SGD(lr=rates[0], momentum=0.9)
    for rate in rates:
        opt.lr = rate  # the public attribute the schedule otherwise feeds
        manual.train_step(X[:6], T[:6], opt, loss="sse")
        manual.train_step(X[6:], T[6:], opt, loss="sse")
    np.testing.assert_allclose(net.params, manual.params, rtol=1e-13, atol=1e-15)


def test_a_second_fit_continues_the_schedule():
    net, X, T = _two_batch_problem()
    split = copy.deepcopy(net)
    make = lambda: fastbp.SGD(lr=fastbp.ExponentialDecay(0.2, gamma=0.5), momentum=0.5)
    whole = make()
    net.fit(X, T, epochs=3, batch_size=6, optimizer=whole, loss="sse", shuffle=False,
            progress=False)
    parts = make()
    split.fit(X, T, epochs=2, batch_size=6, optimizer=parts, loss="sse", shuffle=False,
              progress=False)
    assert parts.epoch == 2
    split.fit(X, T, epochs=1, batch_size=6, optimizer=parts, loss="sse", shuffle=False,
              progress=False)
    assert parts.epoch == whole.epoch == 3
    np.testing.assert_array_equal(split.params, net.params)


def test_train_step_uses_the_rate_of_the_current_epoch_and_does_not_advance_it():
    net, X, T = _two_batch_problem()
    opt = fastbp.SGD(lr=fastbp.StepDecay(0.1, step_size=1, gamma=0.1))
    for epoch in (0, 0, 2):
        opt.epoch = epoch
        before = net.params.copy()
        _, grad = net.loss_and_gradient(X, T, loss="sse")
        net.train_step(X, T, opt, loss="sse")
        assert opt.epoch == epoch
        np.testing.assert_allclose(net.params, before - step_decay(0.1, 1, 0.1, epoch) * grad,
                                   rtol=1e-13, atol=1e-16)


# --- optimizer state -----------------------------------------------------------------

STATEFUL = {
    "sgd-momentum": lambda: fastbp.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda: fastbp.Adam(lr=0.01, weight_decay=0.01, clip_norm=1.0),
    "adamw": lambda: fastbp.AdamW(lr=0.01),
    "rmsprop": lambda: fastbp.RMSprop(lr=0.005, momentum=0.5),
    "scheduled-adam": lambda: fastbp.Adam(lr=fastbp.CosineDecay(0.01, T_max=5)),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(STATEFUL))
def test_state_dict_round_trip_resumes_identically(name, dtype):
    net, batches = make_problem("mse", dtype=dtype, steps=8)
    opt = STATEFUL[name]()
    for X, T in batches[:3]:
        net.train_step(X, T, opt, loss="mse")
    opt.epoch = 2  # as if two epochs of fit had run: the schedule's clock is state too
    saved = opt.state_dict()
    json.dumps(saved["config"])  # the configuration is plain JSON
    assert saved["steps"] == 3 and saved["epoch"] == 2
    assert saved["state"].shape == (2, net.n_params) and saved["state"].dtype == dtype

    twin = copy.deepcopy(net)
    # Hyperparameters come from the saved state, not from the constructor.
    resumed = type(opt)(lr=0.5)
    resumed.load_state_dict(saved)
    assert resumed.config() == opt.config()
    assert resumed.steps == 3 and resumed.epoch == 2
    for X, T in batches[3:]:
        a = net.train_step(X, T, opt, loss="mse")
        b = twin.train_step(X, T, resumed, loss="mse")
        assert a == b
        np.testing.assert_array_equal(twin.params, net.params)
    assert resumed.steps == opt.steps == 8
    assert not np.array_equal(saved["state"], opt.state_dict()["state"])


def test_state_dict_is_a_snapshot():
    net, batches = make_problem("sse")
    opt = fastbp.Adam(lr=0.01)
    net.train_step(*batches[0], opt, loss="sse")
    saved = opt.state_dict()
    frozen = saved["state"].copy()
    net.train_step(*batches[1], opt, loss="sse")
    np.testing.assert_array_equal(saved["state"], frozen)
    assert saved["steps"] == 1


def test_state_dict_of_an_unused_optimizer():
    opt = fastbp.RMSprop(lr=0.02, momentum=0.3)
    saved = opt.state_dict()
    assert saved["state"] is None and saved["steps"] == 0 and saved["epoch"] == 0
    other = fastbp.RMSprop()
    other.load_state_dict(saved)
    net, batches = make_problem("sse")
    twin = copy.deepcopy(net)
    for X, T in batches:
        net.train_step(X, T, opt, loss="sse")
        twin.train_step(X, T, other, loss="sse")
    np.testing.assert_array_equal(twin.params, net.params)


def test_state_dict_round_trip_through_fit():
    net, X, T = _two_batch_problem()
    opt = fastbp.Adam(lr=fastbp.StepDecay(0.02, step_size=1, gamma=0.7))
    net.fit(X, T, epochs=2, batch_size=5, optimizer=opt, loss="mse", seed=1, progress=False)
    twin = copy.deepcopy(net)
    resumed = fastbp.Adam()
    resumed.load_state_dict(opt.state_dict())
    net.fit(X, T, epochs=3, batch_size=5, optimizer=opt, loss="mse", seed=2, progress=False)
    twin.fit(X, T, epochs=3, batch_size=5, optimizer=resumed, loss="mse", seed=2,
             progress=False)
    np.testing.assert_array_equal(twin.params, net.params)
    assert resumed.epoch == opt.epoch == 5


def test_load_state_dict_of_another_optimizer_type_is_refused():
    """Not silently an SGD running on Adam's learning rate and moment estimates."""
    net, batches = make_problem("sse")
    adam = fastbp.Adam(lr=0.01)
    net.train_step(*batches[0], adam, loss="sse")
    with pytest.raises(ValueError, match="Adam"):
        fastbp.SGD().load_state_dict(adam.state_dict())


@pytest.mark.parametrize("name", list(STATEFUL))
def test_reset_forgets_everything(name):
    net, batches = make_problem("sse")
    start = copy.deepcopy(net)
    fresh_run = copy.deepcopy(net)
    opt = STATEFUL[name]()
    for X, T in batches:
        net.train_step(X, T, opt, loss="sse")
    opt.epoch = 3
    assert opt.steps == len(batches)
    opt.reset()
    assert opt.steps == 0 and opt.epoch == 0 and opt.state_dict()["state"] is None
    # The reset optimizer behaves exactly like a new one.
    new = STATEFUL[name]()
    for X, T in batches:
        start.train_step(X, T, opt, loss="sse")
        fresh_run.train_step(X, T, new, loss="sse")
    np.testing.assert_array_equal(start.params, fresh_run.params)
    # ... including on a network of another size.
    opt.reset()
    other = fastbp.Network([3, 2], ["identity"], seed=0)
    other.train_step(np.ones((2, 3)), np.zeros((2, 2)), opt, loss="sse")
    assert opt.steps == 1


@pytest.mark.parametrize("name", list(STATEFUL) + ["sgd"])
def test_one_optimizer_on_two_networks_of_different_size_raises(name):
    opt = STATEFUL[name]() if name != "sgd" else fastbp.SGD(lr=0.1)
    net, batches = make_problem("sse")
    net.train_step(*batches[0], opt, loss="sse")
    saved = opt.state_dict()
    other = fastbp.Network([5, 4, 3], ["tanh", "identity"], seed=1)
    before = other.params.copy()
    with pytest.raises(ValueError, match=r"optimizer.*reset"):
        other.train_step(batches[1][0], batches[1][1], opt, loss="sse")
    with pytest.raises(ValueError, match=r"optimizer"):
        other.fit(batches[1][0], batches[1][1], epochs=1, optimizer=opt, progress=False)
    # Nothing was touched: neither the other network nor the optimizer.
    np.testing.assert_array_equal(other.params, before)
    assert opt.steps == 1
    np.testing.assert_array_equal(opt.state_dict()["state"], saved["state"])


def test_one_optimizer_on_two_networks_of_different_dtype_raises():
    opt = fastbp.Adam()
    net64, batches = make_problem("sse")
    net32 = fastbp.Network(SIZES, ["tanh", "sigmoid", "identity"], dtype=np.float32, seed=0)
    net64.train_step(*batches[0], opt, loss="sse")
    before = net32.params.copy()
    with pytest.raises(ValueError, match="optimizer"):
        net32.train_step(*batches[0], opt, loss="sse")
    np.testing.assert_array_equal(net32.params, before)


# --- invalid hyperparameters -----------------------------------------------------------

BAD = [
    # (constructor, exception, the argument the message must name)
    (lambda: fastbp.SGD(lr=-0.1), ValueError, "lr"),
    (lambda: fastbp.SGD(lr=0.0), ValueError, "lr"),
    (lambda: fastbp.Adam(lr=-1e-3), ValueError, "lr"),
    (lambda: fastbp.RMSprop(lr=-1.0), ValueError, "lr"),
    (lambda: fastbp.AdamW(lr=float("nan")), TypeError, "lr"),
    (lambda: fastbp.SGD(lr="0.1"), TypeError, "lr"),
    (lambda: fastbp.SGD(lr=None), TypeError, "lr"),
    (lambda: fastbp.SGD(momentum=1.0), ValueError, "momentum"),
    (lambda: fastbp.SGD(momentum=1.5), ValueError, "momentum"),
    (lambda: fastbp.SGD(momentum=-0.1), ValueError, "momentum"),
    (lambda: fastbp.RMSprop(momentum=1.0), ValueError, "momentum"),
    (lambda: fastbp.SGD(lr=0.1, nesterov=True), ValueError, "nesterov"),
    (lambda: fastbp.SGD(lr=0.1, momentum=0.0, nesterov=True), ValueError, "nesterov"),
    (lambda: fastbp.Adam(betas=(1.0, 0.999)), ValueError, "betas[0]"),
    (lambda: fastbp.Adam(betas=(-0.1, 0.999)), ValueError, "betas[0]"),
    (lambda: fastbp.Adam(betas=(0.9, 1.0)), ValueError, "betas[1]"),
    (lambda: fastbp.AdamW(betas=(0.9, 2.0)), ValueError, "betas[1]"),
    (lambda: fastbp.Adam(betas=(0.9,)), ValueError, "betas"),
    (lambda: fastbp.Adam(betas=(0.9, 0.99, 0.9)), ValueError, "betas"),
    (lambda: fastbp.Adam(betas=0.9), ValueError, "betas"),
    (lambda: fastbp.Adam(betas=("a", 0.9)), TypeError, "betas[0]"),
    (lambda: fastbp.Adam(eps=-1e-8), ValueError, "eps"),
    (lambda: fastbp.RMSprop(eps=-1.0), ValueError, "eps"),
    (lambda: fastbp.RMSprop(alpha=1.0), ValueError, "alpha"),
    (lambda: fastbp.SGD(weight_decay=-0.1), ValueError, "weight_decay"),
    (lambda: fastbp.AdamW(weight_decay=-1e-2), ValueError, "weight_decay"),
    (lambda: fastbp.Adam(clip_norm=0.0), ValueError, "clip_norm"),
    (lambda: fastbp.SGD(clip_norm=-1.0), ValueError, "clip_norm"),
    (lambda: fastbp.RMSprop(clip_norm=float("inf")), TypeError, "clip_norm"),
    (lambda: fastbp.StepDecay(-0.1, step_size=2), ValueError, "lr"),
    (lambda: fastbp.StepDecay(0.1, step_size=0), ValueError, "step_size"),
    (lambda: fastbp.StepDecay(0.1, step_size=2, gamma=0.0), ValueError, "gamma"),
    (lambda: fastbp.ExponentialDecay(0.1, gamma=-0.5), ValueError, "gamma"),
    (lambda: fastbp.CosineDecay(0.0, T_max=10), ValueError, "lr"),
    (lambda: fastbp.CosineDecay(0.1, T_max=0), ValueError, "T_max"),
    (lambda: fastbp.CosineDecay(0.1, T_max=10, eta_min=-0.01), ValueError, "eta_min"),
]


@pytest.mark.parametrize("make, exc, argument", BAD,
                         ids=[f"{i}-{arg}" for i, (_, _, arg) in enumerate(BAD)])
def test_invalid_hyperparameters_are_refused_naming_the_argument(make, exc, argument):
    with pytest.raises(exc, match="^" + re.escape(argument) + ":"):
        make()


def test_train_step_refuses_a_non_optimizer():
    net, batches = make_problem("sse")
    before = net.params.copy()
    with pytest.raises(TypeError, match="^optimizer"):
        net.train_step(*batches[0], "adam", loss="sse")
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_plain_sgd_puts_back_every_value_written_before_a_failing_one(dtype):
    """Plain SGD writes in one pass: when only the last new value overflows, the
    values written before it are restored bit for bit."""
    from fastbp._kernels import optim, status
    big = np.finfo(dtype).max
    params = np.array([1.0, -2.0, 3.0, 0.9 * big], dtype)
    before = params.copy()
    grad = np.array([0.5, 0.25, -1.0, -0.2 * big], dtype)
    opt = fastbp.SGD(lr=1.0)
    kind, hyper, state, _ = opt.bind(params)
    assert optim.update(kind, hyper, state, params, grad) == status.BAD_STEP
    assert params.tobytes() == before.tobytes()
    assert opt.steps == 0
    # And with the last value finite, every value is written.
    params[3] = 0.5 * big
    grad = np.array([0.5, 0.25, -1.0, -0.2 * big], dtype)
    want = params - grad  # lr = 1, in the same dtype
    assert optim.update(kind, hyper, state, params, grad) == status.OK
    np.testing.assert_array_equal(params, want)
    assert opt.steps == 1


def test_cached_kernel_arguments_follow_every_change():
    """``bind`` reuses its last answer for the same parameters while nothing
    changed (``update_for`` gives it); any public attribute, a reset or a
    loaded state is a change."""
    net, batches = make_problem("sse")
    opt = fastbp.SGD(lr=0.1)
    assert opt.update_for(net.params) is None
    first = opt.bind(net.params)
    assert opt.bind(net.params) is first and opt.update_for(net.params) is first
    assert opt.update_for(net.params.copy()) is None  # other parameters
    opt.momentum = 0.5
    assert opt.update_for(net.params) is None
    kind, hyper, _, fused = opt.bind(net.params)
    assert hyper[optim.MOMENTUM] == 0.5 and not fused
    saved = opt.state_dict()
    net.train_step(*batches[0], opt, loss="sse")
    opt.load_state_dict(saved)
    assert opt.bind(net.params).state is not first.state
    # Pickled, the optimizer carries no network's parameters.
    again = pickle.loads(pickle.dumps(opt))
    assert again.update_for(net.params) is None
    assert again.bind(net.params).hyper[optim.MOMENTUM] == 0.5


def test_an_optimizer_pickled_under_earlier_attribute_names_loads():
    """Pickles from when the cached update was ``_ready``/``_args`` with a
    ``_plain`` flag beside it: they load, and plain SGD is still fused
    (train_step on one sample then takes the fused kernel)."""
    net, batches = make_problem("sse")
    opt = fastbp.SGD(lr=0.05)
    net.train_step(*batches[0], opt, loss="sse")
    state = opt.__getstate__()
    for name in ("_bound", "_update"):
        del state[name]
    state.update(_ready=None, _args=None, _plain=False)
    old = fastbp.SGD.__new__(fastbp.SGD)
    old.__setstate__(state)
    assert not hasattr(old, "_plain") and not hasattr(old, "_args")
    assert old.bind(net.params).fused


def test_an_optimizer_pickled_with_its_own_step_count_array_keeps_its_count():
    """Pickles from when the update count was an int64 array of its own
    (``_count``) beside an 8-entry ``hyper``: the count moves into ``hyper``,
    and Adam resumes exactly as the optimizer that was pickled."""
    net, batches = make_problem("sse")
    opt = fastbp.Adam(lr=0.01)
    for X, T in batches[:3]:
        net.train_step(X, T, opt, loss="sse")
    state = opt.__getstate__()
    state["_hyper"] = state["_hyper"][:optim.STEPS].copy()
    state["_count"] = np.array([opt.steps], dtype=np.int64)
    old = fastbp.Adam.__new__(fastbp.Adam)
    old.__setstate__(state)
    assert old.steps == 3 and not hasattr(old, "_count")
    twin_net = copy.deepcopy(net)
    for X, T in batches[3:5]:
        assert twin_net.train_step(X, T, old, loss="sse") == net.train_step(X, T, opt, loss="sse")
    np.testing.assert_array_equal(twin_net.params, net.params)
    assert old.steps == opt.steps == 5


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["sgd-momentum", "adam", "adamw", "rmsprop"])
def test_a_refused_update_restores_parameters_and_state_bit_for_bit(name, dtype):
    """The update writes as it goes, keeping the old values (parameters in the
    gradient buffer, state in scratch rows); a step whose new values overflow
    must leave everything exactly as it was, after steps that made the state
    non-zero."""
    net, batches = make_problem("sse", dtype=dtype)
    opt = STATEFUL[name]()
    for X, T in batches[:3]:
        net.train_step(X, T, opt, loss="sse")
    params, saved = net.params.copy(), opt.state_dict()
    assert np.any(saved["state"] != 0)
    # A finite float64 hyperparameter whose step overflows the parameters' dtype (Adam's
    # bias-corrected step is lr / (1 - beta1^t) > lr; 1e39 is inf in float32).
    opt.lr = 1e308 if dtype == np.float64 else 1e39
    with pytest.raises(fastbp.DivergenceError, match="would make a parameter non-finite"):
        net.train_step(*batches[3], opt, loss="sse")
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(opt.state_dict()["state"], saved["state"])
    assert opt.steps == saved["steps"]
    # ... and training goes on from there as if the refused step had not been tried.
    opt.lr = STATEFUL[name]().lr
    twin_net, twin = copy.deepcopy(net), STATEFUL[name]()
    twin.load_state_dict(saved)
    for X, T in batches[3:6]:
        assert net.train_step(X, T, opt, loss="sse") == twin_net.train_step(X, T, twin, loss="sse")
    np.testing.assert_array_equal(net.params, twin_net.params)


def test_scratch_rows_only_where_the_update_needs_them():
    net, batches = make_problem("sse")
    plain = fastbp.SGD(lr=0.05)
    net.train_step(*batches[0], plain, loss="sse")
    assert plain._block.shape == (2, net.n_params)       # no state to keep
    plain.momentum = 0.9                                  # now there is: the block grows
    net.train_step(*batches[1], plain, loss="sse")
    assert plain._block.shape == (4, net.n_params)
    assert plain.state.base is plain._block
    reference = copy.deepcopy(net)
    fresh = fastbp.SGD(lr=0.05, momentum=0.9)
    fresh.load_state_dict(plain.state_dict())
    for X, T in batches[2:5]:
        net.train_step(X, T, plain, loss="sse")
        reference.train_step(X, T, fresh, loss="sse")
    np.testing.assert_array_equal(net.params, reference.params)
    adam = fastbp.Adam()
    net.train_step(*batches[0], adam, loss="sse")
    assert adam._block.shape == (4, net.n_params)
    # A pickled optimizer carries its state, not the scratch.
    blob = pickle.dumps(adam)
    assert len(blob) < 3 * adam.state.nbytes


def test_optimizers_pickled_by_fastbp_0_1_0_resume_exactly():
    """tests/data/optimizers-867679e.pickle holds optimizers pickled by commit
    867679e (a 9-slot ``hyper`` whose slots meant A, B and FLAG, the cached
    update as ``_ready``/``_args`` beside ``_plain``) after two epochs, the
    parameters then, and the parameters that code reached after two more
    epochs.  Loaded here, they resume bit for bit."""
    import pathlib
    path = pathlib.Path(__file__).parent / "data" / "optimizers-867679e.pickle"
    with open(path, "rb") as f:
        data = pickle.load(f)  # a file of this repository, written by fastbp itself
    for name, case in data["cases"].items():
        opt = pickle.loads(case["optimizer"])
        assert opt._hyper.size == optim.N_HYPER, name
        net = fastbp.Network([3, 6, 2], ["tanh", "identity"], seed=1)
        net.params = case["params"]
        net.fit(data["X"], data["T"], epochs=2, batch_size=4, optimizer=opt, loss="mse",
                seed=3, progress=False)
        np.testing.assert_array_equal(net.params, case["after"], err_msg=name)
        assert (opt.steps, opt.epoch) == (case["steps"], case["epoch"]), name
