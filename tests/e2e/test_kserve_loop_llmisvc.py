"""KServe in the loop: an LLMInferenceService consumes our S3 credential, and a
rotation restarts it through the service, once.

KServe's LLMInferenceService controller (cmd/llmisvc, its own binary in the dev
environment) builds a Deployment whose storage initializer gets its env from the
ServiceAccount of ``spec.template`` (pkg/controller/v1alpha2/llmisvc/
workload_storage.go, with the same credential builder as InferenceServices).
The controller owns that Deployment's template and copies ``spec.annotations``
into it, so the syncer restarts the service by bumping ``spec.annotations`` and
never writes the Deployment.
"""

from __future__ import annotations

import json
from typing import Any

import hvac
import pytest

from tests.e2e import kubelet
from tests.e2e.conftest import Sync
from tests.e2e.consumer import MotoS3, download
from tests.e2e.kserve_cluster import KServeCluster, NotYet, audit_offset, unparsed, wait_for
from tests.e2e.kserve_shapes import Shapes, s3_credential
from tests.e2e.readback import STORAGE, deployment_writes, key_in, sha

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
GROUP, VERSION, PLURAL = "serving.kserve.io", "v1alpha2", "llminferenceservices"
NAME = "tiny-llm"
SELECTOR = f"app.kubernetes.io/name={NAME},app.kubernetes.io/part-of=llminferenceservice"


def create(cluster: KServeCluster, ns: str, uri: str) -> None:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "LLMInferenceService",
            "metadata": {"name": NAME, "namespace": ns},
            "spec": {"model": {"uri": uri, "name": NAME},
                     "template": {"serviceAccountName": "s3-sa", "containers": [
                         {"name": "main", "image": "vllm/vllm-openai:v0.11.0"}]}}}
    cluster.custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)


def pods(cluster: KServeCluster, ns: str) -> list[dict[str, Any]]:
    raw = unparsed(cluster.core.list_namespaced_pod(ns, label_selector=SELECTOR,
                                                    _preload_content=False))
    items: list[dict[str, Any]] = json.loads(raw.data)["items"]
    return sorted(items, key=lambda p: (p["metadata"]["creationTimestamp"],
                                        p["metadata"]["name"]))


def new_pod(cluster: KServeCluster, ns: str, seen: frozenset[str] = frozenset()
            ) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        fresh = [p for p in pods(cluster, ns) if p["metadata"]["name"] not in seen]
        if not fresh:
            raise NotYet("no new Pod of the LLMInferenceService")
        return fresh[-1]
    return wait_for(f"a Pod of LLMInferenceService {ns}/{NAME}", check)


def settled(cluster: KServeCluster, ns: str) -> tuple[list[str], list[str]]:
    """The Deployment observed at its generation and its ReplicaSets at their size;
    returns (ReplicaSets, Pods) then."""
    def check() -> tuple[list[str], list[str]]:
        raw = unparsed(cluster.apps.list_namespaced_deployment(ns, label_selector=SELECTOR,
                                                               _preload_content=False))
        deps = json.loads(raw.data)["items"]
        if len(deps) != 1 or (deps[0].get("status") or {}).get("observedGeneration") != \
                deps[0]["metadata"]["generation"]:
            raise NotYet("Deployment not yet observed")
        raw = unparsed(cluster.apps.list_namespaced_replica_set(ns, label_selector=SELECTOR,
                                                                _preload_content=False))
        sets = json.loads(raw.data)["items"]
        if any((r.get("status") or {}).get("replicas", 0) != r["spec"].get("replicas", 0)
               for r in sets):
            raise NotYet("a ReplicaSet is not at its size yet")
        return (sorted(r["metadata"]["name"] for r in sets),
                sorted(p["metadata"]["name"] for p in pods(cluster, ns)))
    return wait_for(f"{ns}/{NAME} settled", check)


def test_an_llminferenceservice_downloads_with_our_key_and_restarts_once_per_rotation(
        cluster: KServeCluster, kbao: hvac.Client, sync: Sync, moto: MotoS3, kns: str) -> None:
    shapes = Shapes(f"loop/llmisvc-{kns}", moto.initial_key)
    shapes.write(kbao)
    config = [s3_credential(shapes, moto, kns, rollout=True)]
    sync(config)
    create(cluster, kns, moto.uri)
    first = new_pod(cluster, kns)
    started = kubelet.resolve(cluster.core, first, "storage-initializer")
    assert key_in(started) == sha(moto.initial_key[1])
    assert download(started.env, moto.uri, version=STORAGE).ok
    settled(cluster, kns)

    mark = audit_offset(cluster)
    new_key = moto.create_access_key()
    shapes.rotate_s3(kbao, new_key)
    out = sync(config)
    assert "LLMInferenceService" in out and "rolled" in out, out
    fresh = new_pod(cluster, kns, frozenset({first["metadata"]["name"]}))
    resolved = kubelet.resolve(cluster.core, fresh, "storage-initializer")
    assert key_in(resolved) == sha(new_key[1])
    result = download(resolved.env, moto.uri, version=STORAGE)
    assert result.ok and result.files == {moto.object_key: moto.object_bytes}

    # Once: another cycle rolls nothing and nothing more is made once KServe settles.
    after = settled(cluster, kns)
    assert "rolled" not in sync(config)
    assert settled(cluster, kns) == after
    writes = deployment_writes(cluster, kns, mark)
    print("Deployment writes after the rotation:", *writes, sep="\n  ")
    assert writes and all(w.endswith("llmisvc-controller-manager") for w in writes), writes
