"""``_kernels.shuffle``: splitmix64 and the epochs' Fisher-Yates shuffle."""
import numpy as np

from fastbp._kernels.shuffle import next_random, shuffle

MASK = 2**64 - 1
GAMMA = 0x9E3779B97F4A7C15


def splitmix64(state):
    """(new state, output): splitmix64 (Steele, Lea and Flood 2014) on Python ints."""
    state = (state + GAMMA) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def test_splitmix64_from_zero_gives_its_published_first_output():
    # The reference implementation's first output from state 0 (prng.di.unimi.it).
    assert splitmix64(0)[1] == 0xE220A8397B1DCDAF
    rng = np.zeros(1, np.uint64)
    assert int(next_random(rng)) == 0xE220A8397B1DCDAF


def test_next_random_is_splitmix64():
    for seed in (0, 1, 12345, 2**63 + 5, MASK):   # MASK: the state wraps at once
        rng = np.array([seed], np.uint64)
        state = seed
        for _ in range(20):
            state, want = splitmix64(state)
            assert int(next_random(rng)) == want
            assert int(rng[0]) == state


def fisher_yates(n, seed):
    """(order, state): the documented shuffle of arange(n), on Python ints."""
    order, state = list(range(n)), seed
    for i in range(n - 1, 0, -1):
        state, z = splitmix64(state)
        j = int((z >> 11) * (1.0 / 2**53) * (i + 1))
        order[i], order[j] = order[j], order[i]
    return order, state


def test_shuffle_is_the_documented_fisher_yates():
    for n in (0, 1, 2, 5, 64, 1000):
        for seed in (0, 99, 2**64 - 3):
            order, rng = np.arange(n, dtype=np.int64), np.array([seed], np.uint64)
            shuffle(order, rng)
            want, state = fisher_yates(n, seed)
            np.testing.assert_array_equal(order, want)
            assert int(rng[0]) == state                 # n - 1 draws, none for n <= 1
            np.testing.assert_array_equal(np.sort(order), np.arange(n))   # a permutation


def test_shuffle_is_deterministic_for_a_state_and_depends_on_it():
    def run(seed):
        order = np.arange(50, dtype=np.int64)
        shuffle(order, np.array([seed], np.uint64))
        return order
    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


def test_shuffle_is_roughly_uniform():
    """Which element lands first, and which last, over 20,000 shuffles of 10.

    Pearson's statistic over the 10 cells has 9 degrees of freedom (mean 9,
    standard deviation 4.2) for a uniform shuffle; 40 is exceeded with
    probability 7e-6.  The draws are seeded, so the outcome is fixed: the bound
    says how far from uniform a shuffle could be and still pass.  A modulo
    j off by one (Sattolo's j < i, which never leaves an element in place)
    empties a cell of ``first``: a statistic above 2,000.
    """
    n, draws = 10, 20_000
    rng = np.array([2024], np.uint64)
    first, last = np.zeros(n), np.zeros(n)
    order = np.empty(n, np.int64)
    for _ in range(draws):
        order[:] = np.arange(n)
        shuffle(order, rng)
        first[order[0]] += 1
        last[order[-1]] += 1
    expected = draws / n
    for counts in (first, last):
        assert np.sum((counts - expected) ** 2 / expected) < 40.0
