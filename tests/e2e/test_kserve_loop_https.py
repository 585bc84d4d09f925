"""KServe in the loop: the ``https-host`` + ``headers`` shape, downloaded for real.

The syncer writes the Secret from OpenBao and lists it in a ServiceAccount; an
InferenceService with an ``http://localhost:<port>/...`` storageUri uses that
ServiceAccount; KServe's webhook turns the Secret into env
``<https-host>-headers`` (pkg/credentials/https/https_secret.go) on the storage
initializer; kserve-storage 0.17.0 downloads the model from a loopback server
that answers 401 without the header. A rotation with ``rollout: true`` reaches a
new Pod, and the old header is then refused.
"""

from __future__ import annotations

import secrets
from typing import Any

import hvac
import pytest

from tests import seeds
from tests.e2e import kubelet
from tests.e2e.conftest import Sync
from tests.e2e.consumer import download
from tests.e2e.kserve_cluster import KServeCluster
from tests.e2e.modelhost import ModelHost
from tests.e2e.readback import STORAGE

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
ENV = "localhost-headers"  # <https-host>-headers


def credential(path: str, ns: str) -> dict[str, Any]:
    return {"name": "model-host", "type": "https", "https": {"host": "localhost"},
            "vault": {"path": path, "keys": {"token": "bearer"}},
            "targets": [{"namespaces": [ns], "secret": "model-host", "serviceAccount": "web-sa",
                         "rollout": True}]}


def test_https_headers_reach_kserve_storage_and_a_rotation_restarts_the_predictor(
        cluster: KServeCluster, kbao: hvac.Client, sync: Sync, kns: str) -> None:
    path = f"loop/https-{secrets.token_hex(3)}"
    token = seeds.fake("loop-https-token")
    kbao.secrets.kv.v2.create_or_update_secret(path, secret={"bearer": token})
    with ModelHost("Authorization", f"Bearer {token}") as host:
        config = [credential(path, kns)]
        sync(config)
        cluster.create_isvc(kns, "web", {"serviceAccountName": "web-sa", "model": {
            "modelFormat": {"name": "sklearn"}, "storageUri": host.uri}})
        pod = cluster.wait_pod(kns, "web")
        init = cluster.storage_initializer(pod)
        assert init["args"][:2] == [host.uri, "/mnt/models"], init["args"]
        started = kubelet.resolve(cluster.core, pod, "storage-initializer")
        assert ENV in started.env, started

        result = download(started.env, host.uri, version=STORAGE)
        assert result.ok, result.output
        assert result.files == {"model.joblib": host.body}
        # The header is what lets it in: without it the same download is refused.
        bare = download({k: v for k, v in started.env.items() if k != ENV}, host.uri,
                        version=STORAGE)
        assert not bare.ok and bare.files == {} and host.statuses[-1] == 401

        # Rotation: a new token in OpenBao; rollout restarts the InferenceService once.
        cluster.settled(kns, "web")
        new_token = seeds.fake("loop-https-token-2")
        kbao.secrets.kv.v2.create_or_update_secret(path, secret={"bearer": new_token})
        host.value = f"Bearer {new_token}"
        out = sync(config)
        assert "rolled" in out, out
        fresh_pod = cluster.wait_pod(kns, "web",
                                     not_in=frozenset({pod["metadata"]["name"]}))
        fresh = kubelet.resolve(cluster.core, fresh_pod, "storage-initializer")
        assert download(fresh.env, host.uri, version=STORAGE).ok
        stale = download(started.env, host.uri, version=STORAGE)
        assert not stale.ok and host.statuses[-1] == 401
        assert "rolled" not in sync(config)  # once per rotation
