"""The machine's matrix-multiply peak, measured by the child that times the
workloads: the yardstick of the table's "% of gemm peak" column.

NumPy's ``matmul`` of two square matrices of PEAK_SIZE in each dtype, on the
OpenBLAS fastbp's products call (NumPy's), at the child's thread count.
"""
import statistics
import time

from compare import system
from compare.settings import PEAK_SIZE


def gemm_peak(dtype, repeats):
    """{"gflops": median GFLOP/s (2 n^3 per product), "others": CPUs other
    processes kept busy meanwhile (None where unknown)} of ``repeats``
    products after a warm-up."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((PEAK_SIZE, PEAK_SIZE)).astype(dtype) for _ in range(2))
    c = np.empty_like(a)
    np.matmul(a, b, out=c)  # starts the BLAS threads and touches every page
    known = system.busy_cpu_seconds() is not None
    times, others = [], 0.0
    for _ in range(repeats):
        busy0, cpu0, wall0 = system.busy_cpu_seconds(), time.process_time(), time.perf_counter()
        np.matmul(a, b, out=c)
        times.append(time.perf_counter() - wall0)
        if known:
            others += system.busy_cpu_seconds() - busy0 - (time.process_time() - cpu0)
    # (/proc/stat counts in clock ticks: the load is judged only over enough time)
    return {"gflops": 2 * PEAK_SIZE ** 3 / statistics.median(times) / 1e9,
            "others": max(0.0, others / sum(times)) if known and sum(times) >= 0.5 else None}


def peaks(repeats):
    """{dtype name: gemm_peak(dtype, repeats)} for float32 and float64."""
    return {dtype: gemm_peak(dtype, repeats) for dtype in ("float32", "float64")}
