"""The epochs' shuffle: a seeded Fisher-Yates over an index array, in compiled code."""
import numpy as np

from . import jit


@jit
def next_random(rng):
    """splitmix64: a small, well-mixed generator whose state is one uint64 in ``rng``."""
    rng[0] += np.uint64(0x9E3779B97F4A7C15)
    z = rng[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@jit
def shuffle(order, rng):
    """Fisher-Yates shuffle of ``order`` in place, driven by ``rng``."""
    for i in range(order.size - 1, 0, -1):
        # The top 53 bits as a float in [0, 1): no modulo bias worth the name.
        u = (next_random(rng) >> np.uint64(11)) * (1.0 / 9007199254740992.0)
        j = int(u * (i + 1))
        order[i], order[j] = order[j], order[i]
