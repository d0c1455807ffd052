"""What is trained: the networks, their data and their initial parameters.

Also the workloads of ``tools/side_by_side.py``.  Nothing but the standard
library is imported at the top (the parent process, and side_by_side before it
points numba at its cache, import this module); the functions that make arrays
import NumPy when called.
"""
LR = 1e-3
SEED = 0

# name: (layer sizes, activations, batch, dtype)
STEP_WORKLOADS = {
    "tiny": ([2, 16, 16, 1], ["tanh", "tanh", "identity"], 1, "float64"),
    "small": ([64, 128, 128, 10], ["tanh", "tanh", "softmax"], 32, "float64"),
    "mnist": ([784, 256, 128, 10], ["tanh", "tanh", "softmax"], 128, "float32"),
    "wide": ([1024, 1024, 1024, 1024], ["tanh", "tanh", "tanh"], 256, "float32"),
}
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
