"""Build the dashboard as ``make dashboard`` does and check that it renders
without internet, in headless Chromium.

    python tools/dashboard/check.py [--screenshot PATH]

It publishes .asv/results with asv, vendors the JavaScript (vendor.py), serves
the site on a free loopback port and loads three pages in Chromium: the
benchmark grid, the benchmark list and one benchmark's graph.  Each must be
asv's page, not its "failed to load" one, with no error in its error dialog,
and show its part: the grid's benchmarks, the list's rows, the graph's canvas.

With no results in .asv/results it publishes a stand-in from
.asv/dashboard-check instead (see ``stand_in``).  Chromium is Debian's, which
it installs with apt-get when /usr/bin/chromium is missing (as root only).
Runs in the environment that has asv installed (make dashboard-check).
"""
import argparse
import functools
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading

import vendor

ROOT = vendor.ROOT
CHROMIUM = pathlib.Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps opening connections
# to its own services, which a closed network refuses; a new profile each run
# keeps one run's state out of the next.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
# Virtual time runs while asv's scripts fetch index.json and the graphs' data.
BUDGET_MS = 10000
# One benchmark at one parameter: the cheapest result that asv publishes.
STAND_IN_BENCHMARK = r"^bench_network\.Forward\.time_forward\('tiny', 'float64'\)"


class Failure(Exception):
    """What did not render; main() prints it and exits 1."""


def chromium():
    """Path of Debian's chromium, installed with apt-get when missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0:
        raise Failure(f"{CHROMIUM} is missing and only root can install it: "
                      "run `apt-get install chromium` as root, then this again")
    print("check.py: installing Debian's chromium with apt-get", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        if subprocess.run(command, env=env).returncode != 0:
            raise Failure(f"`{' '.join(command)}` failed")
    if not CHROMIUM.exists():
        raise Failure(f"apt-get installed chromium, but {CHROMIUM} is still missing")
    return CHROMIUM


def asv(*args, config=None, env=None, quiet=False):
    """Run asv of this interpreter's environment (so --python=same is this one)."""
    command = [sys.executable, "-m", "asv"]
    if config is not None:
        command += ["--config", str(config)]
    command += args
    done = subprocess.run(command, cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL if quiet else None)
    if done.returncode != 0:
        raise Failure(f"`asv {' '.join(args)}` failed (exit status {done.returncode})")


def has_results(results_dir):
    """Whether results_dir holds any benchmark result (not only machine.json)."""
    return any(path.name != "machine.json" for path in results_dir.glob("*/*.json"))


def load_config():
    """asv.conf.json as a dict, read by asv's own reader (the file has comments)."""
    from asv.util import load_json

    return load_json(ROOT / "asv.conf.json", js_comments=True)


def stand_in(conf):
    """An asv config whose results are one fresh stand-in: (its path, its html_dir).

    The result is one quick run of STAND_IN_BENCHMARK in this environment on
    the checkout's fastbp (ASV_PYTHONPATH puts it first, whichever fastbp the
    environment has installed).  asv saves a result from an existing
    environment only with --set-commit-hash; the result is labelled with the
    newest commit of the config's first branch in HEAD, since asv graphs only
    commits on its branches.  It is a stand-in to draw, not a measurement of
    that commit, and is kept out of the results directory because `make bench`
    (--skip-existing-commits) would never measure a commit that has one there.
    """
    conf, conf_results = dict(conf), conf["results_dir"]
    scratch = ROOT / ".asv" / "dashboard-check"
    # asv reads the paths of a config relative to the config's own folder.
    for key in ("repo", "benchmark_dir", "env_dir"):
        conf[key] = str((ROOT / conf[key]).resolve())
    conf["results_dir"] = str(scratch / "results")
    conf["html_dir"] = str(scratch / "html")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    config = scratch / "asv.conf.json"
    config.write_text(json.dumps(conf, indent=4) + "\n")

    branch = conf["branches"][0]
    base = subprocess.run(["git", "merge-base", "HEAD", branch], cwd=ROOT,
                          capture_output=True, text=True)
    if base.returncode != 0:
        raise Failure(f"no commit of branch {branch} in HEAD to label the stand-in "
                      f"result with: {base.stderr.strip()}")
    print(f"check.py: no results in {conf_results}; recording a stand-in in {scratch}",
          flush=True)
    asv("machine", "--yes", config=config, quiet=True)  # its questions and defaults
    asv("run", "--python=same", "--quick", "--set-commit-hash", base.stdout.strip(),
        "-b", STAND_IN_BENCHMARK, config=config,
        env=dict(os.environ, ASV_PYTHONPATH=str(ROOT)))
    return config, scratch / "html"


def first_graph(html_dir):
    """Name of a benchmark that has a graph in the site (None if none)."""
    graphs = html_dir / "graphs"
    names = sorted(path.stem for path in graphs.rglob("*.json")
                   if (graphs / "summary") not in path.parents)
    return names[0] if names else None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def dump_dom(browser, url):
    """The DOM of url once its scripts have run, as Chromium serialises it."""
    with tempfile.TemporaryDirectory(prefix="dashboard-chromium-") as profile:
        command = [str(browser), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   f"--virtual-time-budget={BUDGET_MS}", "--dump-dom", url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if done.returncode != 0 or not done.stdout.strip():
        raise Failure(f"chromium --dump-dom {url} failed (exit status {done.returncode}):\n"
                      + "\n".join(done.stderr.splitlines()[-10:]))
    return done.stdout


def screenshot(browser, url, path):
    with tempfile.TemporaryDirectory(prefix="dashboard-chromium-") as profile:
        command = [str(browser), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   f"--virtual-time-budget={BUDGET_MS}", "--window-size=1200,900",
                   f"--screenshot={pathlib.Path(path).resolve()}", url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if done.returncode != 0 or not pathlib.Path(path).is_file():
        raise Failure(f"chromium --screenshot {url} failed (exit status {done.returncode})")


def section(dom, start_id, end_id):
    """The DOM text from the element with id start_id to the one with end_id."""
    match = re.search(f'id="{start_id}".*?id="{end_id}"', dom, re.DOTALL)
    return match.group(0) if match else ""


def check_page(dom, where):
    """Fail if the page is asv's error page or its error dialog has a message."""
    if "failed to load" in dom:
        raise Failure(f"{where}: the page says its JavaScript failed to load")
    dialog = re.search(r'id="error-message"[^>]*>(.*?)</div>', dom, re.DOTALL)
    if dialog is None:
        raise Failure(f"{where}: not asv's index page (no error dialog element)")
    if dialog.group(1).strip():
        raise Failure(f"{where}: asv reports an error: {dialog.group(1).strip()[:300]}")


def render(browser, html_dir, screenshot_path):
    benchmark = first_graph(html_dir)
    if benchmark is None:
        raise Failure(f"asv publish wrote no graph in {html_dir / 'graphs'}: no results")
    handler = functools.partial(_Quiet, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        dom = dump_dom(browser, base)
        check_page(dom, "grid")
        grid = dom.count('class="btn benchmark-container"')
        if grid == 0:
            raise Failure("grid: no benchmark in the benchmark grid")
        print(f"check.py: grid {base}: {grid} benchmarks")

        dom = dump_dom(browser, base + "#/summarylist")
        check_page(dom, "list")
        rows = section(dom, "summarylist-body", "graph-display").count("<tr")
        if rows < 2:
            raise Failure("list: the benchmark list has no rows")
        print(f"check.py: list {base}#/summarylist: {rows - 1} rows")

        url = base + "#" + benchmark
        dom = dump_dom(browser, url)
        check_page(dom, "graph")
        graph = section(dom, "main-graph", "overview")
        if 'class="flot-base"' not in graph:
            raise Failure(f"graph: flot drew no canvas in #main-graph of {url}")
        print(f"check.py: graph {url}: drawn, {graph.count('legendLabel')} series in its legend")
        if screenshot_path:
            screenshot(browser, url, screenshot_path)
            print(f"check.py: screenshot of the graph in {screenshot_path}")
    finally:
        server.shutdown()
        server.server_close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", metavar="PATH",
                        help="also save a 1200x900 PNG of the graph page")
    args = parser.parse_args(argv)
    try:
        browser = chromium()
        conf = load_config()
        if has_results(ROOT / conf["results_dir"]):
            config, html_dir = None, ROOT / conf["html_dir"]
        else:
            config, html_dir = stand_in(conf)
        asv("publish", config=config)
        vendor.vendor_site(html_dir, ROOT / ".asv" / "dashboard-npm")
        render(browser, html_dir, args.screenshot)
    except (Failure, vendor.Failure, subprocess.TimeoutExpired) as failure:
        print(f"check.py: FAILED: {failure}", file=sys.stderr)
        return 1
    print("check.py: OK: the dashboard renders with no internet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
