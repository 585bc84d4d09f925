"""Resolve a container's environment and Secret files the way the kubelet does.

No kubelet runs in the dev environment (Pods stay Pending), so the e2e test
does its part: read a Pod as KServe's webhook left it and give the container
what the kubelet would at start - ``envFrom`` first, then ``env`` in order
(later names win), ``$(VAR)`` references to earlier variables expanded,
``valueFrom.secretKeyRef`` / ``configMapKeyRef`` / ``fieldRef`` read, and each
``secret`` volume mounted by its ``volumeMounts`` (every key as a file, or only
``items`` at their paths). A missing Secret or key that is not ``optional``
stops the container from starting (the kubelet reports
CreateContainerConfigError), so it raises :class:`ContainerWouldNotStart`.

Files are written under a per-call root (``root`` + the mount path) and every
env value naming a path under a mount is re-rooted the same way, so a child
process sees the files where the env says they are.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kubernetes import client as k8s

_REF = re.compile(r"\$\$|\$\(([-._a-zA-Z0-9]+)\)")


class ContainerWouldNotStart(RuntimeError):
    """The kubelet would refuse to start the container (e.g. a Secret key is missing)."""


@dataclass
class Resolved:
    """A started container's view: its env and the Secret files mounted into it."""

    # Values are credentials: the repr (which a failing assert prints) names keys only.
    env: dict[str, str] = field(repr=False)
    files: dict[str, bytes] = field(default_factory=dict, repr=False)  # by path in the container

    def __repr__(self) -> str:
        return f"Resolved(env names={sorted(self.env)}, files={sorted(self.files)})"

    def materialize(self, root: Path) -> dict[str, str]:
        """Write the files under ``root``; return the env with mount paths re-rooted."""
        mounts = sorted({str(PurePosixPath(p).parent) for p in self.files}, key=len,
                        reverse=True)
        for path, content in self.files.items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        env = dict(self.env)
        for name, value in env.items():
            for mount in mounts:
                if value == mount or value.startswith(mount.rstrip("/") + "/"):
                    env[name] = str(root / value.lstrip("/"))
                    break
        return env


def _expand(value: str, env: dict[str, str]) -> str:
    # The kubelet's rules: $(NAME) of a variable defined earlier is replaced,
    # $$ is a literal $, an unknown reference is left as written.
    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))
    return _REF.sub(sub, value)


class _Reader:
    def __init__(self, core: k8s.CoreV1Api, namespace: str) -> None:
        self.core, self.namespace = core, namespace
        self._secrets: dict[str, dict[str, bytes] | None] = {}

    def secret(self, name: str) -> dict[str, bytes] | None:
        if name not in self._secrets:
            try:
                obj = self.core.read_namespaced_secret(name, self.namespace)
            except k8s.ApiException as exc:
                if exc.status != 404:
                    raise
                self._secrets[name] = None
            else:
                self._secrets[name] = {k: base64.b64decode(v)
                                       for k, v in (obj.data or {}).items()}
        return self._secrets[name]

    def config_map(self, name: str) -> dict[str, str] | None:
        try:
            obj = self.core.read_namespaced_config_map(name, self.namespace)
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise
            return None
        return dict(obj.data or {})


def _key_ref(reader: _Reader, ref: dict[str, Any], kind: str, var: str) -> str | None:
    source = reader.secret(ref["name"]) if kind == "Secret" else reader.config_map(ref["name"])
    optional = bool(ref.get("optional"))
    if source is None or ref["key"] not in source:
        if optional:
            return None
        what = "not found" if source is None else f"has no key {ref['key']!r}"
        raise ContainerWouldNotStart(f"env {var}: {kind} {ref['name']!r} {what}")
    value = source[ref["key"]]
    return value.decode() if isinstance(value, bytes) else value


def _field_ref(pod: dict[str, Any], path: str) -> str:
    meta = pod["metadata"]
    simple = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta["namespace"],
              "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
              "spec.nodeName": pod["spec"].get("nodeName", "")}
    if path in simple:
        return str(simple[path])
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise ContainerWouldNotStart(f"fieldRef {path!r} is not resolvable without a node")


def resolve(core: k8s.CoreV1Api, pod: dict[str, Any], container_name: str) -> Resolved:
    """The env and Secret files ``container_name`` in ``pod`` (a camelCase dict) starts with."""
    reader = _Reader(core, pod["metadata"]["namespace"])
    spec = pod["spec"]
    containers = (spec.get("initContainers") or []) + spec["containers"]
    [container] = [c for c in containers if c["name"] == container_name]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
            ref = source.get(key)
            if ref is None:
                continue
            data = reader.secret(ref["name"]) if kind == "Secret" else reader.config_map(
                ref["name"])
            if data is None:
                if ref.get("optional"):
                    continue
                raise ContainerWouldNotStart(f"envFrom: {kind} {ref['name']!r} not found")
            for name, value in data.items():
                env[prefix + name] = value.decode() if isinstance(value, bytes) else value
    for var in container.get("env") or []:
        value_from = var.get("valueFrom")
        if value_from is None:
            env[var["name"]] = _expand(var.get("value", ""), env)
        elif "secretKeyRef" in value_from or "configMapKeyRef" in value_from:
            kind = "Secret" if "secretKeyRef" in value_from else "ConfigMap"
            ref = value_from.get("secretKeyRef") or value_from["configMapKeyRef"]
            found = _key_ref(reader, ref, kind, var["name"])
            if found is not None:
                env[var["name"]] = found
        elif "fieldRef" in value_from:
            env[var["name"]] = _field_ref(pod, value_from["fieldRef"]["fieldPath"])
        else:  # resourceFieldRef: a node-dependent number, not a credential
            continue
    return Resolved(env, _secret_files(reader, spec, container))


def _secret_files(reader: _Reader, spec: dict[str, Any], container: dict[str, Any]
                  ) -> dict[str, bytes]:
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    files: dict[str, bytes] = {}
    for mount in container.get("volumeMounts") or []:
        secret_source = (volumes.get(mount["name"]) or {}).get("secret")
        if secret_source is None:
            continue  # emptyDir, projected token, configMap: no credential of ours
        data = reader.secret(secret_source["secretName"])
        if data is None:
            if secret_source.get("optional"):
                continue
            raise ContainerWouldNotStart(
                f"volume {mount['name']}: Secret {secret_source['secretName']!r} not found")
        items = secret_source.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] not in data:
                raise ContainerWouldNotStart(
                    f"volume {mount['name']}: Secret has no key {item['key']!r}")
            inside = PurePosixPath(item["path"])
            sub = mount.get("subPath")
            if sub:
                if PurePosixPath(sub) != inside:
                    continue
                files[mount["mountPath"]] = data[item["key"]]
            else:
                files[str(PurePosixPath(mount["mountPath"]) / inside)] = data[item["key"]]
    return files
