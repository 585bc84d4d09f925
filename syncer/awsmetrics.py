"""Metrics of keys from Vault's AWS secrets engine, computed when scraped.

A collector rather than gauges set per cycle, so an age is exact at every
scrape. Beside ``metrics.py``, which it does not touch: the daemon registers it
in the same registry (``kserve_vault_sync_`` prefix; docs in README).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from syncer.awskeys import AwsKeys

PREFIX = "kserve_vault_sync"


class AwsKeyCollector(Collector):
    def __init__(self, keys: AwsKeys) -> None:
        self._keys = keys

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ages, counts = self._keys.snapshot()
        age = GaugeMetricFamily(
            f"{PREFIX}_aws_key_age_seconds",
            "Age of the AWS key a credential syncs: since Vault issued its lease (role), or "
            "since this process first saw it (staticRole: Vault gives no rotation time).",
            labels=["credential"])
        for name, seconds in sorted(ages.items()):
            age.add_metric([name], max(0.0, seconds))
        yield age
        held = GaugeMetricFamily(
            f"{PREFIX}_aws_leases",
            "Leases held per dynamic credential: current (0 or 1) and retiring (old keys "
            "waiting until the new one is everywhere, then revoked).",
            labels=["credential", "state"])
        for name, (current, retiring) in sorted(counts.items()):
            held.add_metric([name, "current"], current)
            held.add_metric([name, "retiring"], retiring)
        yield held
