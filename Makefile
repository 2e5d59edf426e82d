# The README's commands. Every target creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per set of extras, one recipe for all: `make run` needs only `dev` (the embedded
# PostgreSQL); the checks, tests and benchmarks need the rest.
RUN_STAMP := $(VENV)/.installed-dev
STAMP := $(VENV)/.installed-test,bench

.PHONY: help run test lint typecheck unit integration cluster-tools cluster bench e2e e2e-images docs reliability clean

help:
	@echo "make run            start a local gateway (embedded PostgreSQL, demo bot)"
	@echo "make test           lint, type-check and run every test tier this machine supports"
	@echo "make bench          benchmarks: ratios against baselines, results in .cache/bench/"
	@echo "make cluster-tools  build kube-apiserver, etcd, kube-controller-manager, helm, kind"
	@echo "make e2e            the kind end-to-end suite (needs Docker)"
	@echo "make e2e-images     build the e2e suite's images (kind node, Traefik, PostgreSQL, gateway)"
	@echo "make reliability    kill workers and restart PostgreSQL under load; no update may be lost"
	@echo "make docs           regenerate the reference pages and build the documentation site"

# $(VENV)/.installed-EXTRAS: the package (editable) with those extras, comma-separated.
$(VENV)/.installed-%: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "botgateway needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$*]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Where Go is present the cluster tier must run: build (or just link) its tools first, so a cold
# machine says what it is doing instead of building silently inside a test fixture.
test: lint typecheck
	@if command -v go >/dev/null; then bash scripts/cluster-tools.sh; \
	  else echo "make test: go not found; the cluster tier and the seed test will skip"; fi
	$(BIN)/pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

integration: $(STAMP)
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

cluster-tools:
	bash scripts/cluster-tools.sh

run: $(RUN_STAMP)
	$(BIN)/botgateway dev

# The operator figures need the cluster tier's control plane; the queue figures merge them in.
bench: $(STAMP)
	rm -f .cache/bench/operator.json
	$(BIN)/pytest -q -p no:cacheprovider tests/cluster/bench_operator.py
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

# The kind end-to-end suite (tests/e2e/README.md). Needs Docker; without it (or without kind and
# Go to build it) it prints one line saying what is missing and exits 0, except under CI=true,
# where it sets Docker up itself and fails rather than skips. Its images come from
# `make e2e-images` (cached per machine; the first build is long).
e2e: $(STAMP)
	bash scripts/e2e.sh $(PYTEST_ARGS)

e2e-images: $(STAMP)
	bash scripts/e2e-images.sh

# Real webhook and worker processes under load while workers are SIGKILLed and PostgreSQL
# restarts; prints the figures, exits 1 when an update was lost (tests/reliability/).
# make reliability RELIABILITY_ARGS='--duration 300 --rate 200'
# make reliability RELIABILITY_ARGS=--failover   (a primary and a synchronous standby, failed over)
reliability: $(STAMP)
	$(BIN)/python -m tests.reliability $(RELIABILITY_ARGS)

# The documentation site (docs/, mkdocs.yml): the reference sections (BotGateway fields,
# environment, bots file, metrics) are regenerated from the code first
# (tests/unit/test_docs_reference.py fails when they are stale), then the site is built with
# warnings as errors into site/ (git-ignored). NO_MKDOCS_2_WARNING: Material's end-of-life notice.
docs: $(STAMP)
	$(BIN)/python -m botgateway.reference --write docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	@echo "make docs: built site/; open site/index.html in a browser, or run $(BIN)/mkdocs serve"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
