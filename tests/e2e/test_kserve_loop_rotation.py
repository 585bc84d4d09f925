"""KServe in the loop: a rotation reaches predictor pods only through a restart.

A new key goes into OpenBao, the real CLI syncs it. With ``rollout: true`` on
the target, the syncer restarts the InferenceServices that use the Secret
(and, today, their Deployments too); KServe's controller and
kube-controller-manager make a new Pod, KServe's webhook injects the storage
initializer, and its resolved env holds the new key and downloads. Without
it, nothing restarts and the running Pod keeps the key it started with: fine
until the old key is revoked. Env "of a running Pod" is the env resolved when
it started (the kubelet resolves secretKeyRefs at container start).
"""

from __future__ import annotations

from typing import Any

import hvac
import pytest

from tests.e2e import kubelet
from tests.e2e.conftest import Sync
from tests.e2e.consumer import MotoS3, download
from tests.e2e.kserve_cluster import KServeCluster, audit_offset
from tests.e2e.kserve_shapes import Shapes, predictors, s3_credential
from tests.e2e.readback import STORAGE, deployment_writes, key_in, sha

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
ISVCS = ("s3-sa", "spec-key")  # the ServiceAccount path and the storage-config path


def start(cluster: KServeCluster, kbao: hvac.Client, sync: Sync, moto: MotoS3, ns: str,
          rollout: bool) -> tuple[Shapes, list[dict[str, Any]], dict[str, dict[str, Any]]]:
    shapes = Shapes(f"loop/rotation-{ns}", moto.initial_key)
    shapes.write(kbao)
    config = [s3_credential(shapes, moto, ns, rollout=rollout)]
    sync(config)
    every = predictors(moto)
    for name in ISVCS:
        cluster.create_isvc(ns, name, every[name])
    return shapes, config, {name: cluster.wait_pod(ns, name) for name in ISVCS}


@pytest.mark.parametrize("rollout", [True, False], ids=["rollout", "no-rollout"])
def test_rotation_reaches_pods_only_through_a_restart(
        cluster: KServeCluster, kbao: hvac.Client, sync: Sync, moto: MotoS3, kns: str,
        rollout: bool) -> None:
    shapes, config, old_pods = start(cluster, kbao, sync, moto, kns, rollout)
    running = {n: kubelet.resolve(cluster.core, p, "storage-initializer")
               for n, p in old_pods.items()}
    old_key = moto.initial_key
    for name, env in running.items():
        assert key_in(env) == sha(old_key[1]), name
        assert download(env.env, moto.uri, version=STORAGE).ok, name
    before = {n: cluster.replica_sets(kns, n) for n in ISVCS}
    for name in ISVCS:
        cluster.settled(kns, name)
    mark = audit_offset(cluster)

    new_key = moto.create_access_key()
    shapes.rotate_s3(kbao, new_key)
    out = sync(config)
    assert ("rolled" in out) is rollout, out

    for name in ISVCS:
        cluster.settled(kns, name)
        if not rollout:
            assert cluster.replica_sets(kns, name) == before[name], name
            assert [p["metadata"]["name"] for p in cluster.pods(kns, name)] == \
                [old_pods[name]["metadata"]["name"]], name
            continue
        pod = cluster.wait_pod(kns, name, not_in=frozenset({old_pods[name]["metadata"]["name"]}))
        fresh = kubelet.resolve(cluster.core, pod, "storage-initializer")
        assert key_in(fresh) == sha(new_key[1]), name
        result = download(fresh.env, moto.uri, version=STORAGE)
        assert result.ok and result.files == {moto.object_key: moto.object_bytes}, name
        running[f"{name} (restarted)"] = fresh
    print("Deployment writes after the rotation:", *deployment_writes(cluster, kns, mark),
          sep="\n  ")

    # No restart loop: another cycle rolls nothing, KServe and the deployment
    # controller settle, and no further ReplicaSet or Pod appears.
    settled = {n: (cluster.replica_sets(kns, n),
                   sorted(p["metadata"]["name"] for p in cluster.pods(kns, n))) for n in ISVCS}
    for name in ISVCS:
        print(f"{name}: ReplicaSets before the rotation {before[name]}, after {settled[name][0]}; "
              f"Pods {settled[name][1]}")
    assert "rolled" not in sync(config)
    for name in ISVCS:
        dep = cluster.settled(kns, name)
        assert (cluster.replica_sets(kns, name),
                sorted(p["metadata"]["name"] for p in cluster.pods(kns, name))) == \
            settled[name], name
        annotations = dep["spec"]["template"]["metadata"].get("annotations") or {}
        assert ("kserve-vault-sync/rollout-hash" in annotations) is rollout, annotations

    # The old key is revoked: the pods that kept it can no longer download.
    moto.delete_access_key(old_key[0])
    for name, env in running.items():
        result = download(env.env, moto.uri, version=STORAGE)
        assert result.ok is name.endswith("(restarted)"), f"{name}: {result.output[-500:]}"


def test_rollout_restarts_an_isvc_on_the_default_service_account(
        cluster: KServeCluster, kbao: hvac.Client, sync: Sync, moto: MotoS3, kns: str) -> None:
    """An InferenceService without serviceAccountName runs as `default`: a rotation of
    a Secret listed there restarts it."""
    shapes = Shapes(f"loop/default-sa-{kns}", moto.initial_key)
    shapes.write(kbao)
    config = [s3_credential(shapes, moto, kns, rollout=True, service_account="default")]
    sync(config)
    predictor = predictors(moto)["s3-sa"]
    del predictor["serviceAccountName"]
    cluster.create_isvc(kns, "on-default", predictor)
    old = cluster.wait_pod(kns, "on-default")
    assert key_in(kubelet.resolve(cluster.core, old, "storage-initializer")) == \
        sha(moto.initial_key[1])
    cluster.settled(kns, "on-default")
    shapes.rotate_s3(kbao, moto.create_access_key())
    sync(config)
    cluster.settled(kns, "on-default")
    pods = len(cluster.pods(kns, "on-default"))
    assert pods > 1, "no new Pod after the rotation"


def test_a_kserve_owned_deployment_is_restarted_only_through_its_isvc(
        cluster: KServeCluster, kbao: hvac.Client, sync: Sync, moto: MotoS3, kns: str) -> None:
    """KServe reverts a restart annotation on a Deployment it owns: the syncer restarts
    it through the InferenceService only, even when that restart is deferred."""
    shapes = Shapes(f"loop/owner-{kns}", moto.initial_key)
    shapes.write(kbao)
    config = [s3_credential(shapes, moto, kns, rollout=True)]
    sync(config, sync={"rolloutsPerMinute": 1})
    cluster.create_isvc(kns, "s3-sa", predictors(moto)["s3-sa"])
    cluster.wait_pod(kns, "s3-sa")
    before = cluster.replica_sets(kns, "s3-sa")
    cluster.settled(kns, "s3-sa")
    mark = audit_offset(cluster)
    shapes.rotate_s3(kbao, moto.create_access_key())
    print(sync(config, sync={"rolloutsPerMinute": 1}))
    template = cluster.settled(kns, "s3-sa")["spec"]["template"]["metadata"]
    print("Deployment template annotations after KServe's reconcile:",
          sorted(template.get("annotations") or {}))
    writes = deployment_writes(cluster, kns, mark)
    print("Deployment writes:", *writes, sep="\n  ")
    print("ReplicaSets before", before, "after", cluster.replica_sets(kns, "s3-sa"))
    assert not [w for w in writes if not w.endswith("kserve-controller-manager")], \
        "the syncer wrote a Deployment that KServe owns"
