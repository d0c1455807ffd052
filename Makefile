# Two commands on a fresh machine with Python 3.11:
#   make demo   set everything up in .venv, then run the main job
#   make test   set everything up in .venv, then run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test bench-smoke bench dashboard docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable ".[test,bench,demo]"
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/python -m fastbp.demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Every asv benchmark once, in this environment: catches a broken benchmark.
bench-smoke: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash .ci/asv-smoke

# The history of main: every commit on main since 79c9c17 (which brought
# train_step and fit; the suite fails on the one commit before it) that has
# no results on this machine yet, each built into a virtualenv of its own,
# about 3 minutes a commit.  Results accumulate in .asv/results, so a second
# run measures only new commits.  Narrow it with e.g.
#   make bench BENCH_RANGE=HEAD^!      (the newest commit only)
BENCH_RANGE ?= 79c9c17^..main
bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" asv machine --yes >/dev/null
	PATH="$(CURDIR)/$(BIN):$$PATH" asv run --skip-existing-commits $(BENCH_RANGE)

# Publish the results as a static site in .asv/html and serve it on
# http://127.0.0.1:$(DASHBOARD_PORT)/ until Ctrl-C.  Served by Python's own
# server bound to loopback (asv preview listens on every interface).  The
# pages load their JavaScript from CDNs: they render only where those are
# reachable.
DASHBOARD_PORT ?= 8080
dashboard: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" asv publish
	$(BIN)/python -m http.server $(DASHBOARD_PORT) --bind 127.0.0.1 --directory .asv/html

# The documentation (docs/), built from the docstrings and the Markdown pages
# into docs/_build/html.  Any warning fails the build (-W; --keep-going reports
# them all first); -E re-reads every page, so that a warning from a docstring
# that changed since the last build is not hidden by Sphinx's cache.  The docs
# extra goes into the same .venv, on a stamp of its own that the install above
# removes with its own (both match .installed-*).
DOCS_STAMP := $(STAMP).docs
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --editable ".[docs]"
	touch $@

docs: $(DOCS_STAMP)
	$(BIN)/python -m sphinx -E -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .asv .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
