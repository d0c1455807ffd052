"""What a run prints: the header, the checks, the table and the notes."""
import datetime
import os
import shlex
import sys

from compare import system
from compare.peers import IMPLS, LABELS
from compare.settings import DISTURBED, MODES, PEAK_SIZE
from compare.workloads import (EPOCH_WORKLOADS, LR, STEP_WORKLOADS, flops, learning_rate,
                               network)
from hardware import BLAS_ENV

PEAK_TITLE = "fastbp % of gemm peak"


def format_time(seconds):
    """Three significant digits in s, ms, µs or ns; "—" for None."""
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"


def format_percent(value):
    """Two significant digits below 10, whole numbers above; "—" for None."""
    if value is None:
        return "—"
    return f"{value:.2g}%" if value < 10 else f"{value:.0f}%"


def peak_percent(result, name):
    """fastbp's FLOP rate on a workload as a percent of the gemm peak its
    child measured in the workload's dtype, or None."""
    entry = result["times"].get(name, {}).get("fastbp")
    peak = result.get("peaks", {}).get(network(name)[2])
    if not entry or not peak:
        return None
    return 100 * flops(name) / entry["median"] / 1e9 / peak["gflops"]


def _rows(results, thread_counts, impls, names):
    """One row per workload: its name, a cell per implementation x threads,
    then fastbp vs the best peer and fastbp's share of the gemm peak per
    thread count."""
    rows = []
    for name in names:
        unit = "epoch" if name in EPOCH_WORKLOADS else "step"
        row = [f"{name} (per {unit})"]
        for impl in impls:
            for n in thread_counts:
                entry = results[n]["times"].get(name, {}).get(impl)
                cell = format_time(entry["median"] if entry else None)
                if entry and entry.get("samples_timed", 0) < entry.get("samples", 0):
                    cell += "*"
                if entry and (entry.get("others") or 0.0) > DISTURBED:
                    cell += "!"
                row.append(cell)
        for n in thread_counts:
            times = results[n]["times"].get(name, {})
            peers = [times[i]["median"] for i in ("torch", "jax", "jax-scan") if i in times]
            if "fastbp" in times and peers:
                row.append(f"{min(peers) / times['fastbp']['median']:.3g}")
            else:
                row.append("—")
        row += [format_percent(peak_percent(results[n], name)) for n in thread_counts]
        rows.append(row)
    return rows


def _markdown_table(rows, impls, thread_counts):
    suffix = {n: f"{n} thr" for n in thread_counts}
    header = (["workload"] + [f"{LABELS[i]} {suffix[n]}" for i in impls for n in thread_counts]
              + [f"fastbp vs best peer {suffix[n]}" for n in thread_counts]
              + [f"{PEAK_TITLE} {suffix[n]}" for n in thread_counts])
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _text_table(rows, impls, thread_counts):
    suffix = {n: f"{n} thr" for n in thread_counts}
    second = ["workload"] + [suffix[n] for _ in impls + [0, 0] for n in thread_counts]
    widths = [max(len(r[c]) for r in rows + [second]) for c in range(len(second))]
    # each group title spans its thread columns, widened to fit it
    titles = [LABELS[i] for i in impls] + ["fastbp vs best peer", PEAK_TITLE]
    k = len(thread_counts)
    for g, label in enumerate(titles):
        cols = range(1 + g * k, 1 + (g + 1) * k)
        while sum(widths[c] for c in cols) + 2 * (k - 1) < len(label):
            widths[min(cols, key=lambda c: widths[c])] += 1
    groups = []
    for g, label in enumerate(titles):
        span = widths[1 + g * k:1 + (g + 1) * k]
        groups.append(label.center(sum(span) + 2 * (k - 1)))

    def line(cells):  # the workload name left-aligned, the figures right-aligned
        return "  ".join(c.rjust(w) if i else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    first_line = " " * widths[0] + "  " + "  ".join(groups)
    lines = [first_line.rstrip(), line(second), "-" * (sum(widths) + 2 * (len(widths) - 1))]
    lines += [line(row) for row in rows]
    return "\n".join(lines)


def table(results, thread_counts, markdown, names):
    """Rows: workloads; columns: implementation x threads, then the ratios."""
    impls = [i for i in IMPLS if any(i in r["times"].get(w, {})
                                     for r in results.values() for w in r["times"])]
    rows = _rows(results, thread_counts, impls, names)
    if markdown:
        return _markdown_table(rows, impls, thread_counts)
    return _text_table(rows, impls, thread_counts)


def _blas_env(keep_blas_env):
    """Whether the children ran with OpenBLAS's two kernel variables."""
    found = [f"{name}={os.environ[name]}" for name in BLAS_ENV if name in os.environ]
    names = ", ".join(BLAS_ENV)
    if not found:
        return f"{names}: not set"
    if keep_blas_env:
        return f"{names}: kept in the children's environment (--keep-blas-env): {', '.join(found)}"
    return (f"{names}: removed from the children's environment (were set: "
            f"{', '.join(found)}; --keep-blas-env keeps them)")


def _hardware(results, thread_counts, repeats):
    """Per thread count: the CPU, numba's target and every BLAS as its child
    saw them, and the gemm peaks it measured."""
    lines = []
    for n in thread_counts:
        label = f"hardware ({n} thr): "
        described = results[n].get("hardware", ["not reported"])
        lines += [(label if i == 0 else " " * len(label)) + line
                  for i, line in enumerate(described)]
        peaks = results[n].get("peaks", {})
        if peaks:
            cells = []
            for dtype, peak in peaks.items():
                cell = f"{dtype} {peak['gflops']:.0f} GFLOP/s"
                if (peak.get("others") or 0.0) > DISTURBED:
                    cell += f" (other processes kept {peak['others']:.2f} CPU busy)"
                cells.append(cell)
            lines.append(f"gemm peak ({n} thr): " + ", ".join(cells)
                         + f" (NumPy matmul, {PEAK_SIZE}^3, median of {repeats})")
    return lines


def _header(mode, results, thread_counts, names, keep_blas_env):
    """Date, command, machine, versions, the BLAS variables, the hardware the
    children saw, skipped peers, mode and workloads."""
    settings = MODES[mode]
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable] + sys.argv))
    lines = [f"fastbp peer comparison, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
             f"command:  {command}",
             f"machine:  {system.machine()}",
             "versions: " + ", ".join(f"{k} {v}" for k, v in system.versions().items()),
             f"BLAS env: {_blas_env(keep_blas_env)}"]
    lines += _hardware(results, thread_counts, settings["peak_repeats"])
    for name, why in results[thread_counts[0]]["skipped"].items():
        lines.append(f"skipped:  {name}: {why}")
    other_rates = [f"{name} {learning_rate(name):g}" for name in names
                   if learning_rate(name) != LR]
    lines.append(
        f"mode:     {mode}: median of {settings['step_repeats']} repeats per step workload "
        f"(each a block of >= {settings['block_seconds'] * 1e3:g} ms of steps), "
        f"{settings['epoch_repeats']} per epoch; SGD lr {LR:g}"
        + (f" ({', '.join(other_rates)})" if other_rates else "")
        + ", loss = sum of squared errors")
    lines += ["", "One training step = forward, backward (loss = sum of squared errors, also "
              "after softmax), plain SGD update:"]
    for name, (sizes, acts, batch, dtype) in STEP_WORKLOADS.items():
        if name in names:
            lines.append(f"  {name:9s} {sizes} {','.join(acts)}, batch {batch:,}, {dtype}")
    for name, (base, n, batch) in EPOCH_WORKLOADS.items():
        if name in names:
            lines.append(f"  {name:12s} one epoch of {n:,} random samples of `{base}` in "
                         f"order, batches of {batch}")
    lines.append("")
    return lines


def _checks(results, thread_counts):
    """Per thread count and kind of check: the verdict and every error."""
    lines = []
    for n in thread_counts:
        by_kind = {}
        for c in results[n]["checks"]:
            by_kind.setdefault(c["kind"], []).append(c)
        for kind, checks in by_kind.items():
            verdict = "all agree" if all(c["ok"] for c in checks) else "DISAGREEMENT"
            what = ("one step from the same initial parameters vs a float64 NumPy step"
                    if kind == "step" else "parameters after the warm-up epoch vs the "
                    "NumPy loop in the same dtype")
            lines.append(f"check ({n} thr), {what}: {verdict}; largest relative error of the "
                         "parameters (of their change):")
            per_workload = {}
            for c in checks:
                per_workload.setdefault(c["workload"], []).append(
                    f"{c['impl']} {c['param']:.1e} ({c['update']:.1e})"
                    + ("" if c["ok"] else " FAIL"))
            for workload, items in per_workload.items():
                tol = next(c["tol"] for c in checks if c["workload"] == workload)
                lines.append(f"  {workload:12s} tol {tol:g}: " + ", ".join(items))
    return lines


def _marks(results, thread_counts, tiny):
    """The notes on the cells marked * (samples capped) and ! (disturbed)."""
    lines = []
    capped = sorted({i for n in thread_counts for i, e in tiny[n].items()
                     if e.get("samples_timed", 0) < e.get("samples", 0)})
    for impl in capped:
        e = tiny[thread_counts[0]][impl]
        lines.append(f"* {LABELS[impl]} tiny-epoch: {e['samples_timed']:,} of "
                     f"{e['samples']:,} samples timed, scaled by "
                     f"{e['samples'] / e['samples_timed']:.3g}.")
    marked = [f"{w} {LABELS[i]} {n} thr ({e['others']:.2f})"
              for n in thread_counts for w, times in results[n]["times"].items()
              for i, e in times.items() if (e.get("others") or 0.0) > DISTURBED]
    if marked:
        worst = sorted(marked, key=lambda m: -float(m.rsplit("(", 1)[1][:-1]))[:3]
        lines.append(f"! other processes kept more than {DISTURBED:g} CPU busy on average "
                     f"while the cell was timed ({len(marked)} cells); worst: "
                     + ", ".join(worst)
                     + ".  Re-run on a quiet machine (--wait-idle) before trusting those.")
    return lines


def _short_runs(mode, results, thread_counts):
    """The note on workloads whose time budget cut their repeats."""
    settings = MODES[mode]
    short = []
    for n in thread_counts:
        for workload, times in results[n]["times"].items():
            wanted = settings["epoch_repeats" if workload in EPOCH_WORKLOADS
                              else "step_repeats"]
            got = min(e["repeats"] for e in times.values())
            if got < wanted:
                short.append(f"{workload} {n} thr: {got} of {wanted}")
    if short:
        return ["Time budget reached, fewer repeats: " + "; ".join(short) + "."]
    return []


def _epoch_details(results, thread_counts, tiny):
    """tiny-epoch per step, and fastbp's compiled epoch inside its fit call."""
    lines = []
    threads = " / ".join(f"{n} thr" for n in thread_counts)
    per_step = []
    for impl in IMPLS:
        cells = [(format_time(tiny[n][impl]["median"] / tiny[n][impl]["samples"]))
                 if impl in tiny[n] else "—" for n in thread_counts]
        if any(c != "—" for c in cells):
            per_step.append(f"{LABELS[impl]} {' / '.join(cells)}")
    if per_step:
        lines.append(f"tiny-epoch per step ({threads}): " + ", ".join(per_step))
    inner = []
    for name in EPOCH_WORKLOADS:
        cells = []
        for n in thread_counts:
            e = results[n]["times"].get(name, {}).get("fastbp")
            if e and "compiled_epoch" in e:
                cells.append(f"{format_time(e['compiled_epoch'])} of "
                             f"{format_time(e['median'])}")
        if cells:
            inner.append(f"{name} {' / '.join(cells)}")
    if inner:
        lines.append("fastbp fit: the compiled epoch alone (fit's history.time) of the whole "
                     f"fit call ({threads}): " + "; ".join(inner))
    return lines


def _peers_and_threads(results, thread_counts):
    """How the peers are written, and the threads each thread count really used."""
    lines = []
    present = {i for r in results.values() for times in r["times"].values() for i in times}
    if "jax" in present:
        lines.append("JAX jit: a Python loop calling the jitted step (parameters donated) on "
                     "batches already on the device; JAX lax.scan: the whole epoch as one "
                     "jitted scan.")
    if "torch" in present:
        lines.append("PyTorch: F.linear, autograd.grad, in-place update under no_grad.")
    for n in thread_counts:
        r = results[n]
        ratios = {}
        for workload, times in r["times"].items():
            for impl, e in times.items():
                ratios[impl] = max(ratios.get(impl, 0.0), e["cpu_ratio"])
        seen = ", ".join(f"{k} {v}" for k, v in r["threads_seen"].items())
        cpus = r.get("affinity")
        pinned = ""
        if cpus:
            pinned = f"process on CPU{'s' if len(cpus) > 1 else ''} {','.join(map(str, cpus))}; "
        lines.append(f"threads ({n} thr): {pinned}libraries report {seen or 'nothing'}; "
                     "largest CPU time / wall time of a timed block: "
                     + ", ".join(f"{LABELS[i]} {v:.2f}" for i, v in ratios.items()))
    return lines


def _run_time(elapsed, others):
    minutes, seconds = divmod(round(elapsed), 60)
    lines = [f"Run time {minutes}m {seconds:02d}s (all thread counts, compilation included, "
             "waiting for an idle machine excluded)."]
    if others is not None:
        lines.append(f"Other processes kept {others:.2f} of the {os.cpu_count()} CPUs busy on "
                     "average during the run"
                     + (": the figures are disturbed, the multi-thread ones most (a thread "
                        "that waits for a core stalls the others)." if others > DISTURBED
                        else "."))
    return lines


def _notes(mode, results, thread_counts, elapsed, others):
    """The text below the table."""
    tiny = {n: results[n]["times"].get("tiny-epoch", {}) for n in thread_counts}
    lines = ["Cells: median time per step (per epoch for the -epoch rows).  'fastbp vs best "
             "peer': the faster of PyTorch and JAX (jit or lax.scan) at the same thread count "
             "divided by fastbp's time; above 1 fastbp is faster.  'fastbp % of gemm peak': "
             "fastbp's FLOP rate as a percent of the gemm peak its child measured in the "
             "workload's dtype (header); FLOPs of a step of m samples = 6 m sum(n_in n_out) "
             "over its layers (forward 2 m sum(n_in n_out), backward twice that: weight and "
             "input gradients; activations, loss and update not counted), of an epoch the "
             "same with m = its samples."]
    lines += _marks(results, thread_counts, tiny)
    lines += _short_runs(mode, results, thread_counts)
    lines += _epoch_details(results, thread_counts, tiny)
    lines += _peers_and_threads(results, thread_counts)
    lines += _run_time(elapsed, others)
    return lines


def report(markdown, mode, thread_counts, results, elapsed, others, failed, names,
           keep_blas_env=False):
    """Print the report of a run; after a failed check, the checks only."""
    emit(_header(mode, results, thread_counts, names, keep_blas_env)
         + _checks(results, thread_counts), markdown)
    if failed:
        return
    print()
    print(table(results, thread_counts, markdown, names))
    print()
    emit(_notes(mode, results, thread_counts, elapsed, others), markdown)


def emit(lines, markdown):
    """Print report text; in Markdown inside a fence, so it renders as printed."""
    if markdown:
        print("```text")
    print("\n".join(lines))
    if markdown:
        print("```")
