"""KServe in the loop: pruning must never leave a ServiceAccount listing a missing Secret.

KServe's pod webhook reads every Secret a predictor's ServiceAccount lists and
rejects the Pod when one is missing (pkg/credentials/service_account_credentials.go,
mountSecretCredential). So while the syncer prunes a credential, the entry in
the ServiceAccount must go before the Secret does, or a Pod created in between
(a scale-up, a node drain) fails admission.

Each test is its own installation (sync.instance), so a prune here touches only
what this test wrote.
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import hvac
import pytest
from kubernetes import client as k8s

from tests.e2e.conftest import Sync
from tests.e2e.consumer import MotoS3
from tests.e2e.kserve_cluster import KServeCluster, audit_offset
from tests.e2e.kserve_shapes import Shapes, other_credentials, predictors, s3_credential
from tests.kubeobjects import meta

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def pod_like_a_replica_set(cluster: KServeCluster, ns: str, isvc: str, **spec: Any
                           ) -> dict[str, Any]:
    """A Pod from the ISVC's Deployment template, as the ReplicaSet controller makes it."""
    template = copy.deepcopy(cluster.deployment(ns, isvc)["spec"]["template"])
    template["metadata"].pop("name", None)  # KServe names the template; Pods need their own
    template["metadata"]["generateName"] = f"{isvc}-probe-"
    template["spec"].update(spec)
    return {"apiVersion": "v1", "kind": "Pod", **template}


def audit_events(cluster: KServeCluster, ns: str, since: int) -> list[dict[str, Any]]:
    with open(cluster.env.audit_log) as fh:
        fh.seek(since)
        return [e for e in map(json.loads, fh)
                if (e.get("objectRef") or {}).get("namespace") == ns]


def test_kserve_rejects_a_pod_whose_service_account_lists_a_missing_secret(
        cluster: KServeCluster, kbao: hvac.Client, sync: Sync, moto: MotoS3, kns: str) -> None:
    """Why the order matters, shown with KServe's own webhook."""
    shapes = Shapes(f"loop/dangling-{kns}", moto.initial_key)
    shapes.write(kbao)
    sync([s3_credential(shapes, moto, kns)])
    cluster.create_isvc(kns, "s3-sa", predictors(moto)["s3-sa"])
    cluster.wait_pod(kns, "s3-sa")
    # A dict body: the client builds the model from it.
    cluster.core.create_namespaced_service_account(kns, {  # type: ignore[arg-type]
        "metadata": {"name": "dangling"}, "secrets": [{"name": "no-such-secret"}]})
    with pytest.raises(k8s.ApiException) as refused:
        # A dict body, as above.
        cluster.core.create_namespaced_pod(kns, pod_like_a_replica_set(  # type: ignore[arg-type]
            cluster, kns, "s3-sa", serviceAccountName="dangling"))
    assert refused.value.status == 500
    assert "pod-mutator" in str(refused.value.body)
    assert 'secrets \\"no-such-secret\\" not found' in str(refused.value.body)


@pytest.mark.parametrize("concurrency", [1, 8])
def test_a_pod_created_while_we_prune_is_never_rejected(
        cluster: KServeCluster, kbao: hvac.Client, sync: Sync, moto: MotoS3, kns: str,
        concurrency: int) -> None:
    shapes = Shapes(f"loop/prune-{kns}", moto.initial_key)
    shapes.write(kbao)
    # The user's own ServiceAccount: prune removes our entry from it, not the object.
    # A dict body: the client builds the model from it.
    cluster.core.create_namespaced_service_account(
        kns, {"metadata": {"name": "s3-sa"}})  # type: ignore[arg-type]
    keep = other_credentials(shapes, kns)[:1]  # the HF token stays configured
    sync([s3_credential(shapes, moto, kns), *keep])
    cluster.create_isvc(kns, "s3-sa", predictors(moto)["s3-sa"])
    cluster.wait_pod(kns, "s3-sa")
    body = pod_like_a_replica_set(cluster, kns, "s3-sa")
    mark = audit_offset(cluster)

    stop, created, rejected = threading.Event(), [], []

    def create_pods() -> None:  # a ReplicaSet scaling up throughout the prune
        while not stop.is_set():
            try:
                # A dict body, as above.
                created.append(meta(cluster.core.create_namespaced_pod(
                    kns, body)).name)  # type: ignore[arg-type]
            except k8s.ApiException as exc:
                rejected.append(f"{exc.status}: {str(exc.body)[:300]}")
    worker = threading.Thread(target=create_pods, daemon=True)
    worker.start()
    try:
        # One entry deleted on purpose: the prune guard lets it through.
        sync(keep, sync={"prune": True, "concurrency": concurrency})
    finally:
        stop.set()
        worker.join(timeout=30)
    print(f"{len(created)} Pods admitted and {len(rejected)} rejected during the prune",
          *rejected[:3], sep="\n  ")
    assert created, "no Pod was created during the prune"
    assert cluster.core.read_namespaced_service_account("s3-sa", kns).secrets in (None, [])

    events = audit_events(cluster, kns, mark)
    [sa_patch] = [e for e in events if e["verb"] == "patch"
                  and e["objectRef"]["resource"] == "serviceaccounts"]
    [secret_delete] = [e for e in events if e["verb"] == "delete"
                       and e["objectRef"]["resource"] == "secrets"]
    assert sa_patch["stageTimestamp"] <= secret_delete["requestReceivedTimestamp"], (
        f"Secret {secret_delete['objectRef']['name']} deleted at "
        f"{secret_delete['requestReceivedTimestamp']}, still listed in its ServiceAccount "
        f"until {sa_patch['stageTimestamp']}")
    assert not rejected, rejected
