# Two commands on a fresh machine with Python 3.11:
#   make demo   set everything up in .venv, then run the main job
#   make test   set everything up in .venv, then run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test bench-smoke bench dashboard clean

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

clean:
	rm -rf $(VENV) .asv .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
