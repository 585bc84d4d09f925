"""bench/RESULTS-vault.md from a bench/vault_rotation.py run: tables computed from
the measurements; the prose says how to read them."""

from __future__ import annotations

import argparse
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.vaultbench import pct

STATIC_HEAD = ("| server | rotations | samples (rotation x namespace) | per namespace p50 | p95 "
               "| max | all namespaces p50 | p95 | max |\n|---|---|---|---|---|---|---|---|---|")
LEASE_HEAD = ("| server | credential | samples | min live | max live | samples with 2 "
              "| leases issued | two-lease window p50 / max |\n|---|---|---|---|---|---|---|---|")


def _dist(values: list[float]) -> str:
    if not values:
        return "- | - | -"
    return " | ".join(f"{v:.2f} s" for v in (pct(values, 0.5), pct(values, 0.95), max(values)))


def render(args: argparse.Namespace, r: dict[str, Any]) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    static = "\n".join(
        f"| {kind} | {len(r['all_ns'].get(kind, []))} | {len(r['per_ns'].get(kind, []))} "
        f"| {_dist(r['per_ns'].get(kind, []))} | {_dist(r['all_ns'].get(kind, []))} |"
        for kind in sorted(r["per_ns"]))
    leases = []
    for (kind, cred), counts in sorted(r["samples"].items()):
        two = sum(1 for c in counts if c >= 2) / len(counts)
        windows = r["windows"].get((kind, cred), [])
        leases.append(
            f"| {kind} | {cred} | {len(counts)} | {min(counts)} | {max(counts)} "
            f"| {100 * two:.1f}% | {r['issued'][(kind, cred)]} "
            f"| {pct(windows, 0.5) if windows else 0:.2f} s / {max(windows, default=0):.2f} s |")
    found = "; ".join(f"{k}: {r['found'][k]} `lease_found`, {r['issued_events'][k]} "
                      f"`lease_issued`, {r['revoked'][k]} `lease_revoked`"
                      for k in sorted(r["found"]))
    final = "; ".join(f"{k}: {n} live, {r['orphans'][k]} orphaned"
                      for k, n in sorted(r["final_leases"].items()))
    logins = "\n".join(
        f"| {x.server} | {x.method} | {x.seconds:.0f} s | {x.logins:.0f} "
        f"| {x.per_hour(x.logins):.0f} | {x.per_hour(x.renewals):.0f} "
        f"| {x.per_hour(x.cycles):.0f} |" for x in r["logins"])
    return f"""# Keys from Vault's AWS secrets engine

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({cpu}), shared
with other work; dev environment (OpenBao v2.7.2 with HashiCorp's AWS engine as a
plugin, HashiCorp Vault v1.18.0, etcd, kube-apiserver {r['k8s_version']}, moto as IAM and S3,
all on loopback), with `.venv/bin/python -m bench.vault_rotation --namespaces
{args.namespaces} --rotations {args.rotations} --lease-seconds {args.lease_seconds:g}
--kill-every {args.kill_every:g} --login-seconds {args.login_seconds:g}`.

## Static role rotation to {args.namespaces} namespaces

A daemon per server (interval 5 s, jitter 10%) syncs one static role's key to
{args.namespaces} namespaces. Vault's shortest `rotation_period` is 60 s and it
checks for due rotations once a minute, so rotations come every 60-120 s:
only a few per run, each giving one sample per namespace. Latency runs from
the rotation first seen in Vault (polled every 0.1 s, so up to 0.1 s late) to
the new key first seen in the namespace's Secret (a watch, to the millisecond).

{STATIC_HEAD}
{static}

The wait is the interval: Vault v1.18's static-creds answer carries no
rotation time to schedule a read by, so a rotation lands at the next cycle
(on average half an interval plus jitter later) plus one cycle's writes.

## Leases over {r['seconds']:.0f} s with short TTLs, SIGKILL every {args.kill_every:g} s

Per server a daemon holds two dynamic credentials (`a`, `b`, {args.namespaces // 2}
namespaces and {args.namespaces - args.namespaces // 2}): leases of 9 s renewable to
24 s, `overlap: 2s`, `revokeAfter: 1s`, interval 1 s, so a new key about every
20 s. The daemon was SIGKILLed and restarted {r['kills']} times. Vault's live leases per
credential (`sys/leases/lookup`) were sampled every 0.25 s.

{LEASE_HEAD}
{chr(10).join(leases)}

One lease per credential at rest; two only between a re-issue and the
revocation of the old lease (`revokeAfter` plus the next cycle), never three.
Samples start at each credential's first lease. After the run (the daemons
stopped with SIGTERM, which keeps the leases for the next start), compared with
the lease store:
{final};
{r['iam_users']} IAM users left in moto (one per live lease). Across the
{r['kills']} restarts the daemons logged, per server:
{found};
a restart finds its leases in the store and reuses them, so SIGKILL costs no
key. The daemons here use the root token, which never ends; the succession
before a login token's end (Vault revokes a token's leases with it) is tested
in tests/integration/test_aws_daemon.py.

## Logins per hour per auth method

One daemon per server and method, interval 1 s, tokens of 10 s renewable to
30 s; counted from the daemon's `vault_requests_total` over the window after a
15 s warm-up, scaled to an hour.

| server | method | window | logins | logins/h | renewals/h | cycles/h |
|---|---|---|---|---|---|---|
{logins}

One login per token lifetime is 3600 / 30 = 120 an hour here; the renewals
fill the lifetime in between (at two thirds of each TTL). With the roles of
docs/vault-setup.md (1 h, renewable to 24 h) that is one login a day per
replica, whatever the interval.
"""
