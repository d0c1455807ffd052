"""What a benchmark ran on: the CPU, numba's code for it, and every BLAS loaded.

``describe()`` returns header lines for a benchmark's output:

- the CPU: vendor, model name, family/model, cores;
- numba's LLVM target: its CPU name and the widest vector register its code
  for a plain float64 loop uses (compiled and read back from the assembly,
  since LLVM may prefer 256-bit vectors on a CPU with AVX-512);
- for every BLAS the process has loaded (threadpoolctl, where installed): its
  library, version, core type (the kernels it picked) and threads; and whether
  ``OPENBLAS_CORETYPE`` or ``OPENBLAS_L2_SIZE`` is set, which override the
  kernels OpenBLAS would pick.

``one_line()`` joins the essentials into one short line (the CPU, numba's
target and vector width, each BLAS's version and core type, the two
variables), for a field such as asv's machine ``cpu``.

    python tools/hardware.py [--one-line]
"""
import argparse
import os
import pathlib
import platform
import re

BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _cpuinfo():
    """The first value of each field of /proc/cpuinfo (empty off Linux)."""
    fields = {}
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu():
    """'vendor model (family F, model M), N logical CPUs (U usable)'."""
    fields = _cpuinfo()
    name = fields.get("model name") or platform.processor() or platform.machine()
    text = f"{fields.get('vendor_id', '?')} {name}"
    if "cpu family" in fields:
        text += f" (family {fields['cpu family']}, model {fields.get('model', '?')})"
    logical = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    return text + f", {logical} logical CPUs ({usable} usable)"


def vector_width():
    """(LLVM CPU name, bits of the widest register numba's code uses for a
    float64 loop)."""
    import numpy as np
    from llvmlite import binding
    from numba import config, njit

    @njit(fastmath=True)
    def axpy(a, x, y):
        for i in range(x.size):
            y[i] += a * x[i]

    x = np.ones(64)
    axpy(2.0, x, x.copy())
    asm = "\n".join(axpy.inspect_asm().values())
    bits = 512 if re.search(r"%zmm", asm) else 256 if re.search(r"%ymm", asm) else 128
    return (config.CPU_NAME or binding.get_host_cpu_name()), bits


def blas_libraries():
    """threadpoolctl's record of every BLAS loaded in this process (NumPy
    imported first), or None without threadpoolctl."""
    import numpy  # noqa: F401  (loads NumPy's BLAS)
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]


def blas():
    """One line per BLAS loaded in this process (numpy imported), or why none."""
    libraries = blas_libraries()
    if libraries is None:
        return ["BLAS: threadpoolctl is not installed (pip install threadpoolctl)"]
    lines = []
    for lib in libraries:
        lines.append(f"BLAS: {lib.get('internal_api')} {lib.get('version')} "
                     f"({pathlib.Path(lib.get('filepath', '?')).name}), core type "
                     f"{lib.get('architecture', '?')}, {lib.get('num_threads')} threads, "
                     f"threading {lib.get('threading_layer', '?')}")
    return lines or ["BLAS: none loaded"]


def blas_env():
    """The OpenBLAS variables that override its choice of kernels, as set."""
    found = [f"{name}={os.environ[name]}" for name in BLAS_ENV if name in os.environ]
    return ("set: " + ", ".join(found)) if found else "unset"


def describe():
    """The header lines: CPU, numba's target, the BLAS libraries, their variables."""
    import numba
    name, bits = vector_width()
    return [f"CPU: {cpu()}",
            f"numba {numba.__version__}: LLVM target {name}, {bits}-bit vectors in "
            "compiled loops",
            *blas(),
            f"OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: {blas_env()}"]


def one_line():
    """The essentials of ``describe()`` in one line: CPU, numba's target and
    vector width, each BLAS's version and core type, the two variables."""
    fields = _cpuinfo()
    name = fields.get("model name") or platform.processor() or platform.machine()
    where = [fields.get("vendor_id", "?")]
    if "cpu family" in fields:
        where.append(f"family {fields['cpu family']} model {fields.get('model', '?')}")
    where.append(f"{os.cpu_count()} CPUs")
    target, bits = vector_width()
    libraries = blas_libraries()
    if libraries is None:
        found = "unknown (no threadpoolctl)"
    else:
        found = ", ".join(f"{lib.get('internal_api')} {lib.get('version')} "
                          f"{lib.get('architecture', '?')}" for lib in libraries) or "none"
    return (f"{name} ({', '.join(where)}); numba target {target}, {bits}-bit vectors; "
            f"BLAS {found}; {'/'.join(BLAS_ENV)} {blas_env()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--one-line", action="store_true",
                        help="the essentials in one line (for asv machine --cpu)")
    print(one_line() if parser.parse_args().one_line else "\n".join(describe()))
