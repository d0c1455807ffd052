"""The machine: its load, its description and the versions of the libraries."""
import importlib.util
import hashlib
import os
import pathlib
import platform
import subprocess
import sys
import time

from compare.settings import DISTURBED


def affinity():
    """The CPUs this process may run on, sorted (None where that is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return None


def busy_cpu_seconds():
    """CPU seconds all processes have used since boot (None off Linux)."""
    try:
        fields = pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_idle(limit, window=3.0, threshold=DISTURBED):
    """Wait (up to limit seconds) until the CPUs stay idle for a window;
    returns the seconds waited."""
    start = time.perf_counter()
    while True:
        before = busy_cpu_seconds()
        if before is None:
            return 0.0
        time.sleep(window)
        busy = (busy_cpu_seconds() - before) / window
        if busy <= threshold:
            return time.perf_counter() - start
        if time.perf_counter() - start > limit:
            print(f"still busy ({busy:.2f} CPUs) after {limit:g} s; measuring anyway",
                  file=sys.stderr, flush=True)
            return time.perf_counter() - start
        print(f"waiting for the machine to go idle ({busy:.2f} CPUs busy) ...",
              file=sys.stderr, flush=True)


def fastbp_digest():
    """A hash of the importable fastbp's Python sources, found without importing it."""
    spec = importlib.util.find_spec("fastbp")
    if spec is None or not spec.submodule_search_locations:
        return "none"
    root = pathlib.Path(next(iter(spec.submodule_search_locations)))
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _cpuinfo():
    """(model name, cores per socket, flags, family, model) from /proc/cpuinfo."""
    model, cores, flags = platform.processor() or "unknown CPU", None, ""
    family = cpu_model = None
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and model in ("unknown CPU", platform.processor()):
                model = value
            elif key == "cpu cores" and cores is None:
                cores = value
            elif key == "flags" and not flags:
                flags = value
            elif key == "cpu family" and family is None:
                family = value
            elif key == "model" and cpu_model is None:
                cpu_model = value
    except OSError:
        pass
    return model, cores, flags, family, cpu_model


def machine():
    """One line: the CPU, its cores and vector extensions, the load average."""
    model, cores, flags, family, cpu_model = _cpuinfo()
    extras = [name for name in ("avx2", "avx512f") if name in flags.split()]
    logical = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    text = model
    if family is not None:
        text += f" (family {family}, model {cpu_model})"
    text += f", {cores or '?'} cores per socket, {logical} logical CPUs ({usable} usable)"
    if extras:
        text += ", " + "/".join(extras).upper()
    try:
        load = pathlib.Path("/proc/loadavg").read_text().split()[:3]
        text += f"; load average at start {' '.join(load)}"
    except OSError:
        pass
    return text


def versions():
    """{name: version} of Python and the libraries; fastbp's with its git commit."""
    from importlib import metadata
    found = {"python": platform.python_version()}
    for name in ("fastbp", "numpy", "numba", "scipy", "torch", "jax", "jaxlib"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    try:
        spec = importlib.util.find_spec("fastbp")
        where = pathlib.Path(next(iter(spec.submodule_search_locations))).parent
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--",
                                "fastbp"], capture_output=True, text=True, timeout=10).stdout
        if commit:
            found["fastbp"] += f" (git {commit}{', fastbp/ modified' if dirty.strip() else ''})"
    except (Exception, SystemExit):
        pass
    return found
