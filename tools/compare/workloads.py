"""What is trained: the networks, their data and their initial parameters.

Also the workloads of ``tools/side_by_side.py``.  Nothing but the standard
library is imported at the top (the parent process, and side_by_side before it
points numba at its cache, import this module); the functions that make arrays
import NumPy when called.
"""
LR = 1e-3
SEED = 0

# name: (layer sizes, activations, batch, dtype).  The last three are narrow
# networks on large batches, where neither the products nor the per-call cost
# alone sets the time: a surrogate model's fit, a short chain, a float32 one.
STEP_WORKLOADS = {
    "tiny": ([2, 16, 16, 1], ["tanh", "tanh", "identity"], 1, "float64"),
    "small": ([64, 128, 128, 10], ["tanh", "tanh", "softmax"], 32, "float64"),
    "mnist": ([784, 256, 128, 10], ["tanh", "tanh", "softmax"], 128, "float32"),
    "wide": ([1024, 1024, 1024, 1024], ["tanh", "tanh", "tanh"], 256, "float32"),
    "surrogate": ([4, 32, 16, 4], ["tanh", "tanh", "identity"], 10_000, "float64"),
    "chain": ([24, 8, 2], ["tanh", "identity"], 200, "float64"),
    "narrow32": ([16, 64, 64, 1], ["tanh", "tanh", "identity"], 1_000, "float32"),
}
# The sum of squared errors grows with the batch, and so does an SGD step: on
# these identity outputs LR diverges (to inf, which fastbp refuses) within one
# timed block of steps.  Every other workload takes LR.
STEP_LR = {"surrogate": 1e-5, "narrow32": 1e-4}
# name: (network of this step workload, samples per epoch, batch size)
EPOCH_WORKLOADS = {
    "mnist-epoch": ("mnist", 60_000, 128),
    "tiny-epoch": ("tiny", 10_000, 1),
}
NAMES = list(STEP_WORKLOADS) + list(EPOCH_WORKLOADS)


def network(name):
    """(sizes, activations, dtype) of a step or epoch workload."""
    step = EPOCH_WORKLOADS[name][0] if name in EPOCH_WORKLOADS else name
    sizes, acts, _, dtype = STEP_WORKLOADS[step]
    return sizes, acts, dtype


def learning_rate(name):
    """The SGD learning rate of a step or epoch workload."""
    step = EPOCH_WORKLOADS[name][0] if name in EPOCH_WORKLOADS else name
    return STEP_LR.get(step, LR)


def flops(name):
    """Floating-point operations of one step (one epoch for an epoch
    workload): 6 m sum(n_in n_out) for m samples, the forward products
    2 m sum(n_in n_out) and the backward ones (weight and input gradients)
    twice that; activations, loss and update are not counted."""
    sizes, _, _ = network(name)
    samples = EPOCH_WORKLOADS[name][1] if name in EPOCH_WORKLOADS else STEP_WORKLOADS[name][2]
    return 6 * samples * sum(n_in * n_out for n_in, n_out in zip(sizes, sizes[1:]))


def data_seed(name):
    """The seed of a workload's data: 100 + its place among the step
    workloads, 200 + among the epoch workloads, whether or not the others run."""
    if name in EPOCH_WORKLOADS:
        return 200 + list(EPOCH_WORKLOADS).index(name)
    return 100 + list(STEP_WORKLOADS).index(name)


def initial_params(sizes, acts, dtype, fastbp=None):
    """[(weights, biases), ...]: a fastbp Network's initial parameters for
    SEED, or where fastbp is not given the same scheme in NumPy (Glorot
    uniform, zero biases)."""
    import numpy as np

    if fastbp is not None:
        net = fastbp.Network(sizes, acts, dtype=dtype, seed=SEED)
        return [(w.copy(), b.copy()) for w, b in zip(net.weights, net.biases)]
    rng = np.random.default_rng(SEED)
    params = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        limit = np.sqrt(6.0 / (n_in + n_out))
        params.append((rng.uniform(-limit, limit, (n_out, n_in)).astype(dtype),
                       np.zeros(n_out, dtype)))
    return params


def data(sizes, acts, n, dtype, seed):
    """(X, T), n random samples: MNIST-like pixels in [0, 1) for a 784-input
    network, standard normal inputs otherwise; one-hot rows of random classes
    for a softmax output, uniform targets in (-0.9, 0.9) otherwise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if sizes[0] == 784:
        X = rng.random((n, sizes[0]), dtype=np.float64).astype(dtype)
    else:
        X = rng.standard_normal((n, sizes[0])).astype(dtype)
    if acts[-1] == "softmax":
        T = np.zeros((n, sizes[-1]), dtype)
        T[np.arange(n), rng.integers(0, sizes[-1], n)] = 1
    else:
        T = rng.uniform(-0.9, 0.9, (n, sizes[-1])).astype(dtype)
    return X, T
