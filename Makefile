# Two commands on a fresh machine with Python 3.10 or newer and make:
#   make demo   set up .venv with the demo's extra, then run the main job
#   make test   set up .venv with the test and benchmark extras, then run the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
comma  := ,

.PHONY: demo test bench-smoke bench dashboard dashboard-check docs clean

# One stamp per set of extras, named for pyproject.toml's checksum, so that an
# edit of pyproject.toml installs again.
HASH       := $(shell cksum < pyproject.toml | cut -d' ' -f1)
DEMO_STAMP := $(VENV)/.installed-demo-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)
DOCS_STAMP := $(VENV)/.installed-docs-$(HASH)
define install
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable ".[$(1)]"
	touch $@
endef
$(DEMO_STAMP): pyproject.toml
	$(call install,demo)
$(TEST_STAMP): pyproject.toml
	$(call install,test$(comma)bench)
$(DOCS_STAMP): pyproject.toml
	$(call install,docs)

demo: $(DEMO_STAMP)
	$(BIN)/python -m fastbp.demo

test: $(TEST_STAMP)
	$(BIN)/python -m pytest

# Every asv benchmark once, in this environment: catches a broken benchmark.
bench-smoke: $(TEST_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash .ci/asv-smoke

# The history of main: every commit on main since 79c9c17 (which brought
# train_step and fit; the suite fails on the one commit before it) that has
# no results on this machine yet, each built into a virtualenv of its own,
# about 3 minutes a commit.  Results accumulate in .asv/results, so a second
# run measures only new commits.  Narrow it with e.g.
#   make bench BENCH_RANGE=HEAD^!      (the newest commit only)
#
# The machine record's cpu field names the CPU, numba's target and vector
# width, and each BLAS's version and core type (tools/hardware.py --one-line),
# and asv copies it into every result file: a machine name that has been two
# CPUs keeps which one each result ran on.  asv sets a field only on a machine
# it already knows, hence the plain call first.
BENCH_RANGE ?= 79c9c17^..main
bench: $(TEST_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" asv machine --yes >/dev/null
	cpu="$$($(BIN)/python tools/hardware.py --one-line)" && \
	  PATH="$(CURDIR)/$(BIN):$$PATH" asv machine --yes --cpu "$$cpu" >/dev/null
	PATH="$(CURDIR)/$(BIN):$$PATH" asv run --skip-existing-commits $(BENCH_RANGE)

# Publish the results as a static site in .asv/html and serve it on
# http://127.0.0.1:$(DASHBOARD_PORT)/ until Ctrl-C.  Served by Python's own
# server bound to loopback (asv preview listens on every interface).  asv's
# pages load their JavaScript and CSS from CDNs; tools/dashboard/vendor.py
# installs the same libraries, pinned in tools/dashboard/package-lock.json,
# with npm ci (into .asv/dashboard-npm), copies them into .asv/html/vendor and
# points the pages at the copies, so the site renders with no internet.  It
# fails, naming the reference or file, if anything is still loaded from
# elsewhere.  Needs node and npm, and the registry once (npm's cache after).
DASHBOARD_PORT ?= 8080
dashboard: $(TEST_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" asv publish
	$(BIN)/python tools/dashboard/vendor.py .asv/html
	$(BIN)/python -m http.server $(DASHBOARD_PORT) --bind 127.0.0.1 --directory .asv/html

# Build the same site and render it in headless Chromium (Debian's chromium,
# installed with apt-get when /usr/bin/chromium is missing, which needs root):
# it fails unless the benchmark grid, the benchmark list and one benchmark's
# graph are drawn, with no "failed to load" page and no asv error.  Add
# DASHBOARD_CHECK_ARGS=--screenshot=graph.png for a picture of the graph.
# With no results in .asv/results it draws a stand-in instead, the cheapest
# result asv publishes: one benchmark at one parameter (Forward.time_forward,
# tiny, float64) run once in this environment on this checkout,
#   asv run --python=same --quick --set-commit-hash <commit> -b <benchmark>
# (asv saves results from an existing environment only with a commit to file
# them under: the newest main commit in HEAD, as asv graphs main only), a few
# seconds.  The stand-in lives in .asv/dashboard-check, never in .asv/results,
# where `make bench` would take its commit as measured and skip it.
dashboard-check: $(TEST_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/dashboard/check.py $(DASHBOARD_CHECK_ARGS)

# The documentation (docs/), built from the docstrings and the Markdown pages
# into docs/_build/html.  Any warning fails the build (-W; --keep-going reports
# them all first); -E re-reads every page, so that a warning from a docstring
# that changed since the last build is not hidden by Sphinx's cache.
docs: $(DOCS_STAMP)
	$(BIN)/python -m sphinx -E -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .asv .pytest_cache docs/_build
	find . -name __pycache__ -prune -exec rm -rf {} +
