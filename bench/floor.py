"""The raw-client floor: only the creates, nothing else.

A minimal script with the syncer's client limits - the official Python
client, a connection pool of ``--concurrency`` and a thread pool of the same
size - that POSTs the exact Secret and ServiceAccount bodies the syncer
would create (Secrets first, then ServiceAccounts, as one queue). No Vault
read, no list, no diff: what the API server on this machine can take.

    python -m bench.floor --kubeconfig K --bodies creates.jsonl --concurrency 8

(``creates.jsonl``: one {kind, namespace, path, body} per line, see bench/syncer_parts.py)

prints one JSON line: {"seconds": ..., "created": ..., "errors": ...}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--bodies", required=True,
                        help="JSON lines of {kind, namespace, path, body}")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    with open(args.bodies) as fh:
        objects: list[dict[str, Any]] = [json.loads(line) for line in fh if line.strip()]
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=args.kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = args.concurrency
    configuration.retries = 0
    core = k8s.CoreV1Api(k8s.ApiClient(configuration))

    def create(obj: dict[str, Any]) -> int:
        fn: Any = (core.create_namespaced_secret if obj["kind"] == "Secret"
                   else core.create_namespaced_service_account)
        try:
            # A plain dict body and the raw response (_preload_content=False), not models.
            resp = fn(obj["namespace"], obj["body"], _preload_content=False)
            resp.data  # noqa: B018 - read the body so the connection is reused
            return int(resp.status)
        except ApiException as exc:
            return int(exc.status or 0)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        statuses = list(pool.map(create, objects))
    seconds = time.monotonic() - started
    created = sum(1 for s in statuses if s == 201)
    print(json.dumps({"seconds": seconds, "created": created,
                      "errors": len(statuses) - created}))
    return 0 if created == len(objects) else 1


if __name__ == "__main__":
    sys.exit(main())
