# kubedtn — build, test and deploy.
#
# One box:   make lab     (the 3-node example in lab mode)   make test   (the whole suite)
# Cluster:   make install / uninstall                       (the Topology CRD; see README, On a cluster)

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
VERSION := $(shell hack/version.sh)
KUBECTL ?= kubectl
PYTEST_ARGS ?=

.PHONY: all deps venv lint test test-host test-uml build cmd-build bench proto manifests \
        clean lab lab-down install uninstall

all: build

## ---- setup -------------------------------------------------------------------------

# System packages the tests and the lab need (Debian): installed only when missing.
deps:
	hack/install-deps.sh

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

src/kubedtn/_version.py: FORCE
	@echo 'VERSION = "$(VERSION)"' > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@

FORCE:

## ---- checks ------------------------------------------------------------------------

lint: venv
	$(BIN)/ruff check src tests hack bench
	$(BIN)/ruff format --check src tests hack bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The README's test command: everything a fresh Debian machine needs, then every lane.
test: deps venv src/kubedtn/_version.py lint build test-host test-uml

# Host kernel lane: unit, integration (root, real namespaces) and end-to-end tests.
test-host: venv
	$(BIN)/pytest $(PYTEST_ARGS)

# Full-kernel lane (user-mode Linux): the tests that need sch_netem.
test-uml: venv
	hack/uml/run-tests -m netem $(PYTEST_ARGS)

## ---- build -------------------------------------------------------------------------

build: dist/kubedtn

cmd-build: build

# (On the venv's stamp file, not the phony `venv`, which would rebuild every time.)
dist/kubedtn: $(VENV)/.installed src/kubedtn/_version.py $(shell find src -name '*.py' -o -name '*.o' 2>/dev/null) \
              requirements.txt hack/build-zipapp.sh $(wildcard hack/zipapp/*.py)
	hack/build-zipapp.sh $(PY) $@

proto: venv
	hack/gen-proto.sh $(PY)

manifests: venv
	$(PY) -m kubedtn.model.crd > manifests/crd/kubedtn.io_topologies.yaml

bench: build
	$(PY) -m bench $(BENCH_ARGS)

## ---- lab (one box) -----------------------------------------------------------------

LAB_FILE ?= examples/3node.yaml

# The 3-node example as network namespaces wired by the daemon, then traffic across each
# of its three links; `make lab-down` removes it all. Properties this kernel cannot apply
# (no sch_netem: latency, loss, jitter) are named in warnings; rates (tbf) are applied.
lab: build
	dist/kubedtn lab up $(LAB_FILE)
	dist/kubedtn lab exec r1 -- ping -c 3 -i 0.2 10.0.12.2
	dist/kubedtn lab exec r1 -- ping -c 3 -i 0.2 10.0.13.3
	dist/kubedtn lab exec r2 -- ping -c 3 -i 0.2 fd00:23::3
	@echo "lab is up: try 'dist/kubedtn lab status', 'dist/kubedtn lab exec r1 -- ip addr'; 'make lab-down' removes it"

lab-down:
	dist/kubedtn lab down

## ---- cluster ---------------------------------------------------------------------

# The Topology CRD into the cluster $(KUBECTL) points at, and out again.
install:
	$(KUBECTL) apply -f manifests/crd/kubedtn.io_topologies.yaml

uninstall:
	$(KUBECTL) delete --ignore-not-found -f manifests/crd/kubedtn.io_topologies.yaml

clean:
	rm -rf dist build .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
