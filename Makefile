# Two commands on a fresh machine (see README.md):
#   make demo   - the syncer against a local OpenBao + kube-apiserver with sample credentials
#   make test   - lint, type-check, import contracts and every test against real servers
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: venv lint test test-fast demo build-controlplane clean

# The venv is rebuilt only when pyproject.toml changes.
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "[make] installing the project and its dev tools into $(VENV)" >&2
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

lint: venv
	$(BIN)/ruff check syncer devenv tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Build (or find in ~/.cache) kube-apiserver, etcd, kube-controller-manager and
# KServe's manager before pytest starts, so a first build prints its own
# progress instead of sitting inside a test.
build-controlplane: venv
	$(BIN)/python -m devenv build --kserve
	$(BIN)/python -m devenv tools

test: lint build-controlplane
	$(BIN)/python -m pytest -ra --durations=15

test-fast: venv
	$(BIN)/python -m pytest -ra tests/unit

demo: venv build-controlplane
	$(BIN)/python -m scripts.demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .dev-env
