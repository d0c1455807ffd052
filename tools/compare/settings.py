"""How long and how carefully a run measures."""

# Per mode: repeats of the step and epoch workloads, the length of one timed
# block of steps, how many samples the slow per-sample loops run in
# tiny-epoch (their time is scaled up to the full epoch), and the products
# timed for the gemm peak.
MODES = {
    "full": {"step_repeats": 9, "epoch_repeats": 5, "block_seconds": 0.1,
             "budget_seconds": 40, "caps": {"torch": 1_000}, "peak_repeats": 5},
    "quick": {"step_repeats": 3, "epoch_repeats": 2, "block_seconds": 0.02,
              "budget_seconds": 10, "caps": {"torch": 300, "numpy": 2_000},
              "peak_repeats": 3},
}
# Repeats stop early (but never below MIN_REPEATS, or the requested count if
# smaller) once a workload has used budget_seconds: on a machine where another
# process takes a core, a multi-thread step can be 100x slower than normal.
MIN_REPEATS = 3
# A cell is marked when other processes kept more than this many CPUs busy, on
# average, while it was timed.
DISTURBED = 0.1
# Pause before each timed block when several threads are used (see
# child.Measurement.timed).
SETTLE_SECONDS = 0.15
# The side of the square matrices of the gemm peak (compare.peak): large
# enough for OpenBLAS's best rate, 17 GFLOP a product, about 0.1-0.3 s a core.
PEAK_SIZE = 2048
