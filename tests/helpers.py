"""Helpers for tests on the real servers: reading Secrets, ServiceAccount tokens
and kubeconfigs, OpenBao's kubernetes auth, and the API server's audit log."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hvac
import yaml
from kubernetes import client as k8s

from devenv import servers

ROOT = Path(__file__).resolve().parents[1]
WriteConfig = Callable[..., Path]
# CI=true: a real server that cannot start fails the run instead of skipping.
IN_CI = os.environ.get("CI", "").lower() == "true"


def secret_data(core: k8s.CoreV1Api, namespace: str, name: str) -> dict[str, str]:
    """A Secret's data, decoded (for assertions; never printed)."""
    secret = core.read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def sa_token(core: k8s.CoreV1Api, namespace: str, name: str) -> str:
    """A token for a ServiceAccount, issued by the API server (TokenRequest)."""
    request = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[]))
    status = core.create_namespaced_service_account_token(name, namespace, request).status
    assert status is not None and status.token, "TokenRequest returned no token"
    return str(status.token)


def sa_kubeconfig(core: k8s.CoreV1Api, devenv: servers.Env, namespace: str, name: str,
                  path: Path) -> Path:
    """A kubeconfig that acts as that ServiceAccount (for RBAC tests)."""
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": devenv.apiserver_url,
                                               "certificate-authority": devenv.ca_cert}}],
        "users": [{"name": "u", "user": {"token": sa_token(core, namespace, name)}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    return path


def enable_kubernetes_auth(bao: hvac.Client, devenv: servers.Env, mount: str, *,
                           namespace: str, service_account: str, policies: list[str]) -> None:
    """OpenBao's kubernetes auth at ``mount``, reviewing tokens with this API server."""
    bao.sys.enable_auth_method("kubernetes", path=mount)
    bao.write(f"auth/{mount}/config", kubernetes_host=devenv.apiserver_url,
              kubernetes_ca_cert=Path(devenv.ca_cert).read_text(),
              token_reviewer_jwt=devenv.admin_token, disable_local_ca_jwt=True)
    # The role as config/vault/kubernetes-role.json (docs/vault-setup.md) defines it.
    role = json.loads((ROOT / "config" / "vault" / "kubernetes-role.json").read_text())
    role.update(bound_service_account_names=[service_account],
                bound_service_account_namespaces=[namespace], token_policies=policies,
                token_ttl="10m")
    bao.write(f"auth/{mount}/role/syncer", **role)


class AuditLog:
    """Counts requests from the API server's own audit log."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.offset = 0

    def mark(self) -> None:
        self._settle()
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def _settle(self) -> None:
        # The log backend writes as requests complete; wait until it stops growing.
        last = -1
        for _ in range(20):
            size = self.path.stat().st_size if self.path.exists() else 0
            if size == last:
                return
            last = size
            time.sleep(0.1)

    def events(self, *, namespaces: set[str] | None = None) -> list[dict[str, Any]]:
        self._settle()
        with self.path.open() as fh:
            fh.seek(self.offset)
            lines = fh.read().splitlines()
        out = []
        for line in lines:
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            if namespaces is not None and ref.get("namespace") not in namespaces:
                continue
            out.append(event)
        return out

    def writes(self, *, namespaces: set[str] | None = None) -> list[dict[str, Any]]:
        """Writes to objects, not the Events posted about them (audited for the benchmark)."""
        return [e for e in self.events(namespaces=namespaces)
                if e["verb"] in {"create", "update", "patch", "delete"}
                and (e.get("objectRef") or {}).get("resource") != "events"]


def install_namespaced_rbac(devenv: servers.Env, targets: list[str]) -> str:
    """Apply manifests/namespaced into a fresh home namespace, with one RoleBinding
    per target namespace; return the home namespace (the syncer's ServiceAccount
    ``kserve-vault-sync`` lives there)."""
    home = f"kvs-scoped-{secrets.token_hex(3)}"
    kubectl = str(Path(sys.executable).parent / "kubectl")
    rendered = subprocess.run([kubectl, "kustomize", str(ROOT / "manifests/namespaced")],
                              capture_output=True, text=True, check=True).stdout
    docs = []
    for doc in yaml.safe_load_all(rendered):
        text = yaml.safe_dump(doc).replace("kserve-vault-sync-target", f"{home}-target") \
            .replace("kserve-vault-sync-namespaces", f"{home}-namespaces") \
            .replace("namespace: kserve-vault-sync", f"namespace: {home}")
        moved = yaml.safe_load(text)
        if moved["kind"] == "Namespace":
            moved["metadata"]["name"] = home
        if moved["kind"] == "RoleBinding" and moved["metadata"]["namespace"] == "team-a":
            for target in targets:
                docs.append({**moved, "metadata": {**moved["metadata"], "namespace": target}})
            continue
        docs.append(moved)
    subprocess.run([kubectl, "--kubeconfig", devenv.kubeconfig, "apply", "-f", "-"],
                   input=yaml.safe_dump_all(docs), text=True, check=True, capture_output=True)
    return home
