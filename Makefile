# Two commands on a fresh machine (see README.md):
#   make demo   - the syncer against a local OpenBao + kube-apiserver with sample credentials
#   make test   - lint, type-check, import contracts and every test against real servers
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: venv lint test test-fast demo build-controlplane build-vault clean

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

# HashiCorp Vault and its AWS engine as an OpenBao plugin (test dependencies only;
# the Vault-facing tests run on both servers). Cached like the control plane;
# the first build takes several minutes on 2 cores and prints its progress.
build-vault: venv
	$(BIN)/python -m devenv build-vault

test: lint build-controlplane build-vault
	$(BIN)/python -m pytest -ra --durations=15

test-fast: venv
	$(BIN)/python -m pytest -ra tests/unit

demo: venv build-controlplane
	$(BIN)/python -m scripts.demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .dev-env
