# Two commands set everything up on a fresh machine:
#   make run   — create .venv, install spikeforge (torch pinned), train the default model, print a report
#   make test  — same environment + dev extras and test-only peers, lint (ruff), type-check (mypy), run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
TORCH  := torch==2.13.0
# Peers whose declared dependencies would replace the pinned torch: installed without deps,
# their small runtime deps listed here explicitly.
PEERS_NODEPS := spikingjelly==2.0.0 norse==1.1.0 neurobench==2.3.0 tonic==1.7.0 importRosbag expelliarmus dcls==0.1.1
PEER_DEPS    := requests loguru scipy reservoirpy==0.4.2

.PHONY: run test bench mutation install dev clean jax-peers

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PIP) install -q -e ".[dev]" $(TORCH)
	$(PIP) install -q $(PEER_DEPS) $(TORCH)
	$(PIP) install -q --no-deps $(PEERS_NODEPS)
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.dev

run: $(VENV)/.installed
	$(BIN)/spikeforge train --set progress=false

test: $(VENV)/.dev
	$(BIN)/ruff check spikeforge tests tools conftest.py
	$(BIN)/mypy spikeforge tools
	SPIKEFORGE_REQUIRE_PEERS=1 $(BIN)/python -m pytest -q --durations=15  # a skipped peer test fails here (tests/conftest.py); the 15 slowest tests are listed (budget: 15 min here)

# JAX-based peers (issue 17) live in their own environment, never in the core or dev one (no torch
# there); `make bench` builds it on demand and runs spikeforge/bench/jax_peers.py through it. If it
# cannot be built, the bench still runs and says so in the report.
JAX_VENV  := .venv-jax
JAX_PY311 ?= python3.11
JAX_PEERS := jax==0.10.2 jaxlib==0.10.2 spyx==1.0.0 brainpy==2.8.2

$(JAX_VENV)/.installed:
	$(JAX_PY311) -m venv $(JAX_VENV)
	$(JAX_VENV)/bin/python -m pip install -q $(JAX_PEERS)
	touch $@

jax-peers: $(JAX_VENV)/.installed

bench: $(VENV)/.dev
	-$(MAKE) jax-peers  # optional: a failure here is reported by the bench, not fatal
	$(BIN)/python -m spikeforge.bench --reps 7 --warmup 2 --out BENCHMARKS.md

# Not part of `make test`: plants the bugs listed in tools/mutation/mutants.py one at a time in a
# temporary copy of HEAD, runs only each bug's own tests, and writes the score to MUTATION.md (~20 min).
mutation: $(VENV)/.dev
	$(BIN)/python tools/mutation/run.py --report MUTATION.md

clean:
	rm -rf $(VENV) runs .pytest_cache
