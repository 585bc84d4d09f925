"""What the KServe e2e tests read back: which key a storage initializer would use,
who wrote a namespace's Deployments, and the kserve-storage release they run."""

from __future__ import annotations

import hashlib
import json

from devenv import kserve
from tests.e2e import kubelet
from tests.e2e.kserve_cluster import KServeCluster

STORAGE = kserve.KSERVE_VERSION.removeprefix("v")


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def key_in(resolved: kubelet.Resolved) -> str:
    """The hash of the S3 secret key a storage initializer would use."""
    if "STORAGE_CONFIG" in resolved.env:  # it overrides the env keys in kserve-storage
        return sha(json.loads(resolved.env["STORAGE_CONFIG"])["secret_access_key"])
    return sha(resolved.env["AWS_SECRET_ACCESS_KEY"])


def deployment_writes(cluster: KServeCluster, ns: str, since: int) -> list[str]:
    """Who wrote the namespace's Deployments, from the API server's audit log."""
    out = []
    with open(cluster.env.audit_log) as fh:
        fh.seek(since)
        for line in fh:
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            if (ref.get("resource") == "deployments" and ref.get("namespace") == ns
                    and event["verb"] in {"create", "update", "patch"}
                    and not ref.get("subresource")):
                out.append(f"{event['verb']} {ref.get('name')} by {event['user']['username']}")
    return out
