# Two commands on a fresh machine (see README.md):
#   make demo   - the syncer against a local OpenBao + kube-apiserver with sample credentials
#   make test   - lint, type-check, import contracts and every test against real servers
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: venv lint test test-fast mutation demo controlplane kserve test-tools build-vault build-controlplane clean

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

# Build (or find in ~/.cache) kube-apiserver and etcd before pytest starts,
# so a first build prints its own progress instead of sitting inside a test.
# This is all the demo needs.
controlplane: venv
	$(BIN)/python -m devenv build

# kube-controller-manager, KServe's manager and LLMInferenceService controller,
# and the kubelet's pull-secret lookup (pull-keyring) for the OCI test (the
# KServe-in-the-loop tests and KVS_DEMO_KSERVE=1 make demo), cached the same way.
kserve: venv
	$(BIN)/python -m devenv build --kserve

# Test-only tools, each cached under ~/.cache/kserve-vault-sync: promtool
# (Debian's package), helm and the prometheus-operator CRDs (Go module proxy),
# docker-compose, and for the image tests podman + runc + mmdebstrap (Debian)
# and a base image assembled from Debian packages.
test-tools: venv
	$(BIN)/python -m devenv tools
	$(BIN)/python -m devenv image-tools
	$(BIN)/python -m bench.gobuild

# HashiCorp Vault and its AWS engine as an OpenBao plugin (test dependencies only;
# the Vault-facing tests run on both servers). Cached like the control plane;
# the first build takes several minutes on 2 cores and prints its progress.
build-vault: venv
	$(BIN)/python -m devenv build-vault

build-controlplane: controlplane kserve test-tools  # the old name

test: lint controlplane kserve build-vault test-tools
	$(BIN)/python -m pytest -ra --durations=15

test-fast: venv
	$(BIN)/python -m pytest -ra tests/unit

# Mutation testing of the pure core against the unit tests ([tool.mutmut] in
# pyproject.toml); not part of `make test`. Results go to mutants/ (ignored);
# a re-run retests only what changed. `mutmut show NAME` prints a survivor.
mutation: venv
	nice -n 19 $(BIN)/mutmut run
	@echo "[make] mutants per module and status (killed = a unit test failed):"
	@$(BIN)/mutmut results --all true | awk '{split($$1, m, "."); print m[2], $$2}' \
		| sort | uniq -c
	@$(BIN)/mutmut results --all true | awk '{print $$2}' | sort | uniq -c

demo: venv controlplane
	$(BIN)/python -m scripts.demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .dev-env mutants
