# kubedtn — build, test and deploy.
#
# One box:   make lab     (the 3-node example in lab mode)   make test   (the whole suite)
# Cluster:   make cni-docker docker-build (images), install, cni-deploy, deploy (and undeploy,
#            cni-undeploy, uninstall); make help

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
VERSION := $(shell hack/version.sh)
KUBECTL ?= kubectl
# The controller's image and the node image (daemon + CNI plugin) the manifests deploy.
IMG ?= kubedtn-controller:$(VERSION)
CNI_IMG ?= kubedtn-node:$(VERSION)
RENDER = IMG='$(IMG)' CNI_IMG='$(CNI_IMG)' hack/render-manifests.sh
# What builds and pushes the images: docker when a docker engine answers, else podman
# (hack/container-tool.sh; worked out once, and only when an image target runs).
CONTAINER_TOOL ?= $(eval CONTAINER_TOOL := $(shell hack/container-tool.sh))$(CONTAINER_TOOL)
# podman's settings for these machines (runc, no ulimits: hack/podman/containers.conf);
# empty: the system's. Applied only to podman. BASE: the image both are built FROM
# (default: debian:bookworm-slim with docker, hack/image-base.sh's mmdebstrap one with podman).
# PUSH_FLAGS: more flags for cni-push/docker-push (podman's --tls-verify=false, say).
PODMAN_CONF ?= $(CURDIR)/hack/podman/containers.conf
BASE ?=
PUSH_FLAGS ?=
IMAGE_ENV = CONTAINER_TOOL='$(CONTAINER_TOOL)' VERSION='$(VERSION)' BASE='$(BASE)' PUSH_FLAGS='$(PUSH_FLAGS)' \
            $(if $(and $(filter podman,$(notdir $(firstword $(CONTAINER_TOOL)))),$(PODMAN_CONF)),CONTAINERS_CONF='$(PODMAN_CONF)')
PYTEST_ARGS ?=

.PHONY: all help deps venv lint test test-host test-uml build cmd-build bench proto manifests bpf bpf-check \
        clean lab lab-down install uninstall cni-ca cni-deploy cni-undeploy deploy undeploy \
        monitoring-deploy monitoring-undeploy run cni-docker cni-push docker-build docker-push \
        test-images

# The executable, dist/kubedtn.
all: build

# These targets, each with the first line of the comment above it.
help:
	@awk -f hack/make-help.awk $(firstword $(MAKEFILE_LIST))

## ---- setup -------------------------------------------------------------------------

# System packages the tests and the lab need (Debian): installed only when missing.
deps:
	hack/install-deps.sh

# The development virtualenv, .venv (with kubectl, for the cluster targets).
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

# ruff, ruff format, mypy --strict, the import layers, and the eBPF objects against bpf/.
lint: venv bpf-check
	$(BIN)/ruff check src tests hack bench
	$(BIN)/ruff format --check src tests hack bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The README's test command: everything a fresh Debian machine needs, then every lane.
test: deps venv src/kubedtn/_version.py lint build test-host test-uml test-images

# Host kernel lane: unit, integration (root, real namespaces) and end-to-end tests.
test-host: venv
	$(BIN)/pytest $(PYTEST_ARGS)

# Full-kernel lane (user-mode Linux): the tests that need sch_netem.
test-uml: venv
	hack/uml/run-tests -m netem $(PYTEST_ARGS)

# Image lane: builds both images with podman, then runs them (tests/images, and the node
# image on a containerd node: tests/e2e/test_containerd_node.py); prints sizes.
test-images: override CONTAINER_TOOL := podman
test-images: venv cni-docker docker-build
	$(IMAGE_ENV) IMG='$(IMG)' CNI_IMG='$(CNI_IMG)' KUBEDTN_TEST_IMAGES=1 \
	    $(BIN)/pytest -m images tests/images tests/e2e/test_containerd_node.py $(PYTEST_ARGS)
	@$(IMAGE_ENV) hack/image-sizes.sh '$(CNI_IMG)' '$(IMG)'

## ---- build -------------------------------------------------------------------------

# The one executable, dist/kubedtn (a shiv zipapp: every mode, the CNI plugin too).
build: dist/kubedtn

# The same (kube-dtn's name for building its command-line tools).
cmd-build: build

# (On the venv's stamp file, not the phony `venv`, which would rebuild every time.)
dist/kubedtn: $(VENV)/.installed src/kubedtn/_version.py $(shell find src -name '*.py' -o -name '*.o' 2>/dev/null) \
              requirements.txt hack/build-zipapp.sh $(wildcard hack/zipapp/*.py)
	hack/build-zipapp.sh $(PY) $@

# The eBPF objects from bpf/*.c into src/kubedtn/ebpf/objects/ (committed; clang, deterministic).
bpf:
	hack/build-bpf.sh src/kubedtn/ebpf/objects

# Fails when a committed eBPF object differs from what its source in bpf/ compiles to.
bpf-check:
	hack/build-bpf.sh --check

# The node image CNI_IMG: daemon + CNI plugin (images/Dockerfile, target node).
cni-docker: build
	$(IMAGE_ENV) hack/build-image.sh node '$(CNI_IMG)'

# Push CNI_IMG (a name with a registry: make cni-push CNI_IMG=REGISTRY/kubedtn-node:TAG).
cni-push:
	$(IMAGE_ENV) hack/push-image.sh '$(CNI_IMG)'

# The controller image IMG (images/Dockerfile, target controller).
docker-build: build
	$(IMAGE_ENV) hack/build-image.sh controller '$(IMG)'

# Push IMG (a name with a registry: make docker-push IMG=REGISTRY/kubedtn-controller:TAG).
docker-push:
	$(IMAGE_ENV) hack/push-image.sh '$(IMG)'

# The gRPC code from proto/v1/kube_dtn.proto.
proto: venv
	hack/gen-proto.sh $(PY)

# The CRD from kubedtn.model.crd, then every kustomization rendered with IMG and CNI_IMG
# into dist/manifests/ (what install, cni-deploy and deploy apply).
manifests: venv
	$(PY) -m kubedtn.model.crd > manifests/crd/kubedtn.io_topologies.yaml
	@mkdir -p dist/manifests
	for part in crd cni controller monitoring kube-dtn; do \
	    $(RENDER) manifests/$$part $(KUBECTL_KUSTOMIZE) > dist/manifests/$$part.yaml || exit 1; done
	$(RENDER) manifests $(KUBECTL_KUSTOMIZE) > dist/manifests/all.yaml

# The benchmarks (bench/), each against its baseline in the same run.
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

# Remove what make lab made.
lab-down:
	dist/kubedtn lab down

## ---- cluster ---------------------------------------------------------------------
# Each applies (or deletes) a kustomization of manifests/ rendered with IMG and CNI_IMG, with
# $(KUBECTL) against its current kubeconfig. KUBECTL_KUSTOMIZE: the kubectl that renders.
KUBECTL_KUSTOMIZE ?= $(if $(wildcard $(BIN)/kubectl),$(BIN)/kubectl,$(KUBECTL))
KUBEDTN ?= $(if $(wildcard $(BIN)/kubedtn),$(BIN)/kubedtn,dist/kubedtn)

# The Topology CRD into the cluster that kubectl points at.
install:
	$(RENDER) manifests/crd $(KUBECTL_KUSTOMIZE) | $(KUBECTL) apply -f -

# The Topology CRD out of the cluster (and every Topology with it).
uninstall:
	$(RENDER) manifests/crd $(KUBECTL_KUSTOMIZE) | $(KUBECTL) delete --ignore-not-found -f -

# The node daemons (DaemonSet, image CNI_IMG) in namespace kubedtn, and their CA Secret.
cni-deploy:
	$(RENDER) manifests/cni $(KUBECTL_KUSTOMIZE) | $(KUBECTL) apply -f -
	KUBECTL='$(KUBECTL)' KUBEDTN='$(KUBEDTN)' hack/ca-secret.sh kubedtn kubedtn-ca

# The node daemons out (the namespace kubedtn, with the CA Secret).
cni-undeploy:
	$(RENDER) manifests/cni $(KUBECTL_KUSTOMIZE) | $(KUBECTL) delete --ignore-not-found -f -

# The CA Secret kubedtn/kubedtn-ca of the daemons' mutual TLS, made once (cni-deploy does it).
cni-ca:
	KUBECTL='$(KUBECTL)' KUBEDTN='$(KUBEDTN)' hack/ca-secret.sh kubedtn kubedtn-ca

# The controller (Deployment, image IMG) in namespace kubedtn-system.
deploy:
	$(RENDER) manifests/controller $(KUBECTL_KUSTOMIZE) | $(KUBECTL) apply -f -

# The controller out (the namespace kubedtn-system).
undeploy:
	$(RENDER) manifests/controller $(KUBECTL_KUSTOMIZE) | $(KUBECTL) delete --ignore-not-found -f -

# PodMonitors of the daemons and the controller (needs the Prometheus Operator's CRDs).
monitoring-deploy:
	$(RENDER) manifests/monitoring $(KUBECTL_KUSTOMIZE) | $(KUBECTL) apply -f -

# The PodMonitors out.
monitoring-undeploy:
	$(RENDER) manifests/monitoring $(KUBECTL_KUSTOMIZE) | $(KUBECTL) delete --ignore-not-found -f -

# The controller here, against the current kubeconfig (one replica: no leader election).
run: venv
	$(BIN)/kubedtn controller --no-leader-elect $(RUN_ARGS)

# Build outputs and caches.
clean:
	rm -rf dist build .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
