"""Static-role rotation latency (part of bench/vault_rotation.py), timed from
both ends without a polling loop's coarseness: a thread reads each server's
``aws/static-creds/NAME`` every 0.1 s (when Vault rotated, to 0.1 s), and a
watch on the managed Secrets records when each namespace's Secret first holds
the new key (to the millisecond). Latency = first seen in the Secret - first
seen in Vault.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import defaultdict

import hvac
from kubernetes import client as k8s
from kubernetes import watch

MANAGED = "app.kubernetes.io/managed-by=kserve-vault-sync"
PREFIX = "s3-static-"


class RotationClock:
    def __init__(self, core: k8s.CoreV1Api, clients: dict[str, hvac.Client],
                 first: dict[str, str]) -> None:
        self._core, self._clients = core, clients
        self.rotations: dict[str, list[tuple[str, float]]] = {k: [] for k in clients}
        self._current = dict(first)
        # (server, key id) -> namespace -> first seen there
        self._arrived: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._poll_vault, daemon=True),
                         threading.Thread(target=self._watch, daemon=True)]

    def start(self) -> RotationClock:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _poll_vault(self) -> None:
        while not self._stop.wait(0.1):
            for kind, bao in self._clients.items():
                key = bao.read("aws/static-creds/models")["data"]["access_key"]
                if key != self._current[kind]:
                    self._current[kind] = key
                    with self._lock:
                        self.rotations[kind].append((key, time.time()))
                    print(f"{kind}: static key rotated ({len(self.rotations[kind])})",
                          flush=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            stream = watch.Watch()  # type: ignore[no-untyped-call]
            for event in stream.stream(  # type: ignore[no-untyped-call]
                    self._core.list_secret_for_all_namespaces,
                                       label_selector=MANAGED, timeout_seconds=5):
                secret = event["object"]
                name = secret.metadata.name
                if name.startswith(PREFIX) and secret.data:
                    key = base64.b64decode(secret.data["AWS_ACCESS_KEY_ID"]).decode()
                    with self._lock:
                        self._arrived[(name[len(PREFIX):], key)].setdefault(
                            secret.metadata.namespace, time.time())
                if self._stop.is_set():
                    stream.stop()  # type: ignore[no-untyped-call]

    def done(self, namespaces: int, rotations: int) -> bool:
        """Every server rotated ``rotations`` times, each new key in every namespace."""
        with self._lock:
            return all(len(rot) >= rotations and all(
                len(self._arrived[(kind, key)]) >= namespaces for key, _ in rot)
                for kind, rot in self.rotations.items())

    def latencies(self, namespaces: int) -> tuple[dict[str, list[float]],
                                                  dict[str, list[float]]]:
        """(server -> per-namespace latencies, server -> all-namespaces latencies), for
        rotations that reached every namespace. A Secret seen before Vault's poll
        noticed the rotation counts 0."""
        per_ns: dict[str, list[float]] = defaultdict(list)
        all_ns: dict[str, list[float]] = defaultdict(list)
        with self._lock:
            for kind, rotations in self.rotations.items():
                for key, at in rotations:
                    seen = self._arrived[(kind, key)]
                    if len(seen) < namespaces:
                        continue
                    waits = [max(0.0, t - at) for t in seen.values()]
                    per_ns[kind] += waits
                    all_ns[kind].append(max(waits))
        return dict(per_ns), dict(all_ns)
