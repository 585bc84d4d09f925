"""The test tools from devenv/tools.py work: promtool checks rules, helm runs,
the Prometheus Operator CRDs are the right CRDs, and docker-compose validates a
compose file without a Docker engine.

In CI (CI=true) a tool that cannot be found or built fails; locally it skips
with the reason. ``scripts/dev-env tools`` builds them ahead of time.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from devenv import debian, tools
from tests.helpers import IN_CI

pytestmark = pytest.mark.integration

T = TypeVar("T")


def _need(what: str, get: Callable[[], T | None]) -> T:
    """The tool, or fail (CI) / skip (locally) saying why it is missing."""
    try:
        found = get()
        reason = "not available on this machine (see stderr)"
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        found, reason = None, str(exc)
    if found is None:
        if IN_CI:
            pytest.fail(f"{what} is missing (CI=true, so this fails): {reason}")
        pytest.skip(f"{what} unavailable locally: {reason}")
    return found


def _run(*cmd: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def promtool() -> Path:
    return _need("promtool", tools.promtool)


@pytest.fixture(scope="module")
def helm() -> Path:
    return _need("helm", tools.helm)


@pytest.fixture(scope="module")
def crds() -> dict[str, Path]:
    return _need("Prometheus Operator CRDs", tools.prometheus_operator_crds)


@pytest.fixture(scope="module")
def compose() -> Path:
    return _need("docker-compose", tools.docker_compose)


VALID_RULES = """\
groups:
  - name: kvs
    rules:
      - alert: SyncFailing
        expr: increase(kvs_sync_failures_total[5m]) > 0
        for: 10m
        labels: {severity: warning}
"""


def test_promtool_check_rules_accepts_valid_file(promtool: Path, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(VALID_RULES)
    result = _run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rules found" in result.stdout


def test_promtool_check_rules_rejects_bad_expression(promtool: Path, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(VALID_RULES.replace("[5m]) > 0", "[5m]) >"))
    result = _run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_promtool_test_rules_runs_a_unit_test(promtool: Path, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(VALID_RULES)
    (tmp_path / "rules_test.yaml").write_text(
        "rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:\n"
        "  - interval: 1m\n    input_series:\n"
        "      - series: kvs_sync_failures_total\n        values: 0+1x30\n"
        "    alert_rule_test:\n      - eval_time: 20m\n        alertname: SyncFailing\n"
        "        exp_alerts: [{exp_labels: {severity: warning}}]\n")
    result = _run(promtool, "test", "rules", "rules_test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_comes_from_debian_where_apt_works(promtool: Path) -> None:
    """Debian's package takes seconds where the Go build took minutes: keep it that way."""
    reason = debian.usable()
    if reason is not None and not IN_CI:
        pytest.skip(f"apt-get unusable here ({reason}): promtool was built instead")
    assert promtool.parent.name == "debian", promtool
    assert "(Debian)" in (promtool.parent / "VERSION").read_text()
    result = _run(promtool, "--version")
    assert result.returncode == 0 and "promtool, version 2." in result.stdout, result.stdout


def test_helm_version_runs(helm: Path) -> None:
    result = _run(helm, "version", "--short")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("v3."), result.stdout


def test_helm_lints_and_templates_a_chart(helm: Path, tmp_path: Path) -> None:
    created = _run(helm, "create", "demo", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    linted = _run(helm, "lint", "demo", cwd=tmp_path)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    rendered = _run(helm, "template", "demo", "demo", cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    assert "kind: Deployment" in rendered.stdout


@pytest.mark.parametrize("kind", ["servicemonitors", "prometheusrules"])
def test_prometheus_operator_crd_is_the_crd(crds: dict[str, Path], kind: str) -> None:
    doc = yaml.safe_load(crds[kind].read_text())
    assert doc["kind"] == "CustomResourceDefinition"
    assert doc["metadata"]["name"] == f"{kind}.monitoring.coreos.com"


def test_docker_compose_config_validates_without_engine(compose: Path, tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(
        'version: "3.8"\nservices:\n  web:\n    image: nginx:alpine\n    ports: ["8080:80"]\n')
    result = _run(compose, "-f", "docker-compose.yml", "config", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_rejects_invalid_file(compose: Path, tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(
        'version: "3.8"\nservices:\n  web:\n    image: nginx:alpine\n    ports: 8080\n'
        "    no_such_key: true\n")
    result = _run(compose, "-f", "docker-compose.yml", "config", "-q", cwd=tmp_path)
    assert result.returncode != 0
