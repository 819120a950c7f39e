# Club Platform. `make help` lists every target.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Where built tools, uv and their versions live: outside the checkout, shared by every clone.
CACHE_DIR := $(or $(CLUB_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/club-platform)
export CLUB_CACHE_DIR := $(CACHE_DIR)
UV_VERSION := 0.13.8
UV := $(CACHE_DIR)/uv/$(UV_VERSION)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
PYTEST_ARGS ?=

.PHONY: help
help: ## List every target
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	@echo "==> uv $(UV_VERSION): installing into $(CACHE_DIR)/uv"
	@python3 -m venv $(CACHE_DIR)/uv/$(UV_VERSION)
	@$(CACHE_DIR)/uv/$(UV_VERSION)/bin/pip install -q "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	@echo "==> Python environment: syncing $(VENV) from uv.lock"
	@$(UV) sync --frozen --python python3.11
	@touch $@

.PHONY: venv
venv: $(VENV)/.synced ## Create or update the Python environment (.venv) from uv.lock

.PHONY: lock
lock: | $(UV) ## Re-resolve dependencies into uv.lock (after editing pyproject.toml)
	$(UV) lock

.PHONY: tools
tools: ## Install Debian packages and build the pinned Go tools into the cache (cached after the first run)
	@bash hack/tools.sh all

.PHONY: lint
lint: venv ## ruff lint and format check, and the import contracts (pure modules stay pure)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

.PHONY: fmt
fmt: venv ## Format and autofix with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: typecheck
typecheck: venv ## mypy (strict) on the source packages
	$(VENV)/bin/mypy

define run_pytest
	@rc=0; $(PY) -m pytest $(1) $(PYTEST_ARGS) || rc=$$?; \
	if [[ $$rc == 5 ]]; then echo "pytest collected no tests: that is a failure" >&2; fi; \
	exit $$rc
endef

.PHONY: test
test: tools venv ## Install what is missing, start the local stack, run every test
	$(call run_pytest,tests)

.PHONY: test-unit
test-unit: venv ## Unit tests only (no services)
	$(call run_pytest,tests/unit)

.PHONY: test-fast
test-fast: venv ## All tests without the install step (reuses a `make stack` given CLUB_STACK_FILE)
	$(call run_pytest,tests)

.PHONY: monitoring
monitoring: venv ## Regenerate the alert rules and Grafana dashboards the chart ships, from operator/src/club_operator/monitoring
	$(PY) -m club_operator.monitoring

.PHONY: chart-crds
chart-crds: venv ## Regenerate the Helm chart's CRD templates (charts/club-operator/templates/crds) from crds/
	$(PY) -m club_devstack.chart_crds

.PHONY: stack
stack: tools venv ## Run the local stack (Kubernetes, PostgreSQL, Redis, MinIO) in the foreground until Ctrl-C
	$(PY) -m club_devstack

.PHONY: demo
demo: tools venv ## Local stack + operator; sample Clubs to Ready, then a generated video through a VideoJob to Succeeded; runs until Ctrl-C
	$(PY) -m club_devstack.demo

.PHONY: images
images: tools venv ## Build both images cold, then warm; push them to the stack's registry; print sizes and build times
	$(PY) -m club_devstack.build_images $(if $(IMAGE_BASE),--base $(IMAGE_BASE))

.PHONY: kind-e2e
kind-e2e: venv ## With docker, kind and kubectl: build the images, create the kind cluster (kind-cluster.yaml), run tests/e2e on it
	PYTHON=$(PY) bash hack/kind-e2e.sh

.PHONY: bench
bench: tools venv ## Run the benchmarks in bench/ (print figures)
	@shopt -s nullglob; benches=(bench/bench_*.py); \
	if (( $${#benches[@]} == 0 )); then echo "no benchmarks in bench/ yet" >&2; exit 1; fi; \
	for b in "$${benches[@]}"; do echo "==> $$b"; $(PY) "$$b"; done

.PHONY: clean
clean: ## Remove the Python environment and caches in the checkout (not the tool cache)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
