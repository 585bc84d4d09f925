"""``kserve-vault-sync`` - validate, render, once, run, status, schema (docs/cli.md).

Exit codes: 0 ok, 1 some entries failed (or the cluster / Vault could not be
reached), 2 bad config or usage. A user's mistake (a missing kubeconfig, an
unreadable file) is one line saying what to do, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from syncer.kube import Kube
    from syncer.vault import VaultReader

from syncer import loader, settings
from syncer.errors import ConfigError, SyncError

# Cron jobs and rotation pipelines start this for one command: each command
# imports only what it uses (the Kubernetes client, hvac and prometheus-client
# cost more than the rest together), so `validate` and `--help` start fast.
FORMATS = ("table", "json", "yaml")  # syncer.report.FORMATS, without importing it

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def version() -> str:
    """The installed package's version ("unknown" when run from a bare checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed
    try:
        return installed("kserve-vault-sync")
    except PackageNotFoundError:
        return "unknown"


def load_config(path: str) -> settings.Config:
    return loader.load_file(path, os.environ)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=os.environ.get("KVS_CONFIG", "config.yaml"),
                        help="mapping config file (default: $KVS_CONFIG or config.yaml)")
    common.add_argument("--kubeconfig", default=None,
                        help="kubeconfig file (default: in-cluster, then KUBECONFIG / ~/.kube)")
    common.add_argument("--log-level", default=os.environ.get("KVS_LOG_LEVEL", "info"),
                        choices=["debug", "info", "warning", "error"])
    common.add_argument("--state-namespace",
                        default=os.environ.get("POD_NAMESPACE", "kserve-vault-sync"),
                        help="namespace of the syncer's own state (namespace-scoped mode "
                             "remembers there where it wrote); default $POD_NAMESPACE")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("-o", "--output", choices=FORMATS, default="table",
                        help="table for people; json or yaml (a stable document) for scripts")
    parser = argparse.ArgumentParser(prog="kserve-vault-sync", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("validate", parents=[common], help="check the config; no network")
    p = sub.add_parser("render", parents=[common], help="print the desired objects as YAML")
    p.add_argument("--reveal", action="store_true", help="print secret values in clear")
    p.add_argument("--no-cluster", action="store_true",
                   help="never read namespaces from the cluster (selectors match nothing); "
                        "without selectors the cluster is not needed anyway")
    p = sub.add_parser("once", parents=[common, output], help="run one reconcile cycle")
    p.add_argument("--dry-run", action="store_true", help="send writes with dryRun=All")
    p.add_argument("--only", action="append", metavar="NAME", help="only this credential")
    p.add_argument("--prune-confirm", action="store_true",
                   help="allow a prune larger than sync.pruneMaxFraction, this once")
    p = sub.add_parser("run", parents=[common], help="the daemon: reconcile every sync.interval")
    p.add_argument("--listen", default=os.environ.get("KVS_LISTEN", ":8080"),
                   help="host:port for /metrics, /healthz, /readyz, /trigger: ':8080' "
                        "every address (IPv6 and IPv4), '127.0.0.1:8080', '[::1]:8080'; "
                        "'' to disable")
    p.add_argument("--leader-elect", action="store_true",
                   default=os.environ.get("KVS_LEADER_ELECT", "") == "true",
                   help="hold a coordination.k8s.io Lease; only the leader writes")
    p.add_argument("--lease-namespace",
                   default=os.environ.get("POD_NAMESPACE", "kserve-vault-sync"))
    p.add_argument("--lease-name", default="kserve-vault-sync")
    p.add_argument("--lease-duration", type=float, default=15.0, help="seconds")
    p.add_argument("--no-watch", action="store_true",
                   help="do not watch managed objects (drift is then repaired each interval)")
    p.add_argument("--trigger-token-file", default=None,
                   help="enable POST /trigger with this bearer token (or KVS_TRIGGER_TOKEN)")
    sub.add_parser("status", parents=[common, output],
                   help="per managed object: versions, drift")
    sub.add_parser("schema", help="print the config file's JSON Schema")
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors; keep that code
        return int(exc.code or 0)
    if args.command == "schema":
        out.write(json.dumps(settings.json_schema(), indent=2) + "\n")
        return EXIT_OK
    if args.command != "validate":
        from syncer import logs
        logs.configure(level=args.log_level)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{exc.source}: invalid config", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return EXIT_CONFIG
    for warning in settings.warnings(config):
        print(f"warning: {warning}", file=sys.stderr)
    if args.command == "validate":
        targets = sum(len(c.targets) for c in config.credentials)
        print(f"{args.config}: ok ({len(config.credentials)} credentials, {targets} targets)",
              file=out)
        return EXIT_OK
    try:
        if args.command == "render":
            return _render(config, args, out)
        if args.command == "once":
            return _once(config, args, out)
        if args.command == "status":
            return _status(config, args, out)
        return _run(config, args)
    except ConfigError as exc:  # the daemon re-reads the file
        print(f"{exc.source}: invalid config: {'; '.join(exc.errors)}", file=sys.stderr)
        return EXIT_CONFIG
    except SyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, the details in the log
        import structlog
        structlog.get_logger("kserve_vault_sync").error(
            "internal_error", error_type=type(exc).__name__, exc_info=True)
        print(f"internal error ({type(exc).__name__}); the log above has the details; "
              "please report it", file=sys.stderr)
        return EXIT_FAILED


def _clients(config: settings.Config, args: argparse.Namespace, *, dry_run: bool = False
             ) -> tuple[VaultReader, Kube]:
    from syncer.kube import Kube, load_api_client
    from syncer.vault import VaultReader
    api = load_api_client(args.kubeconfig, pool_size=config.sync.concurrency)
    return VaultReader(config.vault), Kube(api, dry_run=dry_run, instance=config.sync.instance)


# -- render --------------------------------------------------------------


def _render(config: settings.Config, args: argparse.Namespace, out: TextIO) -> int:
    """Print the objects a first sync would create, exactly as they would be sent."""
    import yaml

    from syncer import diff, reconcile, render, secretvalue
    from syncer.kube import Kube, load_api_client
    from syncer.model import Namespace
    from syncer.vault import VaultReader
    from syncer.writer import stamp

    vault = VaultReader(config.vault)
    selectors = any(t.namespace_selector for c in config.credentials for t in c.targets)
    if args.no_cluster or not selectors:
        # Named namespaces are taken as they are: render works without a cluster.
        namespaces = {n: Namespace(n, {}) for c in config.credentials
                      for t in c.targets for n in t.namespaces}
    else:
        namespaces = Kube(load_api_client(args.kubeconfig)).namespaces()
    data, _ = reconcile.read_vault(config, vault, None)
    rendered = render.render(config, namespaces=namespaces, vault=data)
    bodies = diff.create_bodies([s for _, s in sorted(rendered.secrets.items())],
                                [a for _, a in sorted(rendered.service_accounts.items())],
                                now=stamp())
    show = secretvalue.encode if args.reveal else secretvalue.redact
    out.write(yaml.safe_dump_all([show(b) for b in bodies], sort_keys=False) if bodies else "")
    for error in rendered.errors:
        print(f"error: {error.reason}", file=sys.stderr)
    return EXIT_FAILED if rendered.errors else EXIT_OK


# -- once / run ------------------------------------------------------------


def _once(config: settings.Config, args: argparse.Namespace, out: TextIO) -> int:
    from syncer import awsread, events, reconcile, report
    from syncer.memory import NamespaceMemory

    vault, kube = _clients(config, args, dry_run=args.dry_run)
    if args.only:
        unknown = set(args.only) - {c.name for c in config.credentials}
        if unknown:
            print(f"error: --only: no credential named {sorted(unknown)}", file=sys.stderr)
            return EXIT_CONFIG
    memory = (NamespaceMemory(kube, namespace=args.state_namespace,
                              instance=config.sync.instance)
              if config.sync.namespace_scoped and not args.dry_run else None)
    # Keys of Vault's AWS engine: leases issued, renewed and revoked across runs.
    keys = awsread.build(vault, kube, namespace=args.state_namespace,
                         instance=config.sync.instance, dry_run=args.dry_run)
    state = reconcile.CycleState(config.sync.rollouts_per_minute)
    summary = reconcile.run(config, awsread.reader(keys, config, vault), kube,
                            dry_run=args.dry_run, only=args.only, memory=memory,
                            prune_confirmed=args.prune_confirm, state=state)
    keys.settle(summary, state.rollouts.pending)
    if not args.dry_run:
        events.Recorder(kube, instance=f"once@{socket.gethostname()}").emit(
            events.from_summary(summary))
    for line in report.summary_lines(summary, args.output):
        print(line, file=out)
    return EXIT_FAILED if summary.failed else EXIT_OK


def parse_listen(text: str) -> tuple[str, int]:
    """``:8080`` (every address), ``host:8080``, ``[::1]:8080`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SyncError(f"--listen {text!r}: expected host:port, [ipv6]:port or :port")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _run(config: settings.Config, args: argparse.Namespace) -> int:
    """The daemon (syncer/service.py)."""
    from syncer.service import Daemon

    listen = parse_listen(args.listen) if args.listen else None
    election = None
    if args.leader_elect:
        election = {"namespace": args.lease_namespace, "name": args.lease_name,
                    "lease_duration": args.lease_duration,
                    "renew_deadline": args.lease_duration * 2 / 3,
                    "retry_period": max(0.5, args.lease_duration / 7.5)}
    token = os.environ.get("KVS_TRIGGER_TOKEN") or None
    if args.trigger_token_file:
        try:
            token = Path(args.trigger_token_file).read_text().strip()
        except OSError as exc:
            raise SyncError(f"--trigger-token-file {args.trigger_token_file}: cannot read: "
                            f"{exc.strerror}") from None
    daemon = Daemon(args.config, environ=os.environ, kubeconfig=args.kubeconfig,
                    listen=listen, leader_election=election, watch=not args.no_watch,
                    trigger_token=token, state_namespace=args.state_namespace)
    return daemon.run(max_cycles=int(os.environ.get("KVS_MAX_CYCLES", "0")))


# -- status ----------------------------------------------------------------


def _status(config: settings.Config, args: argparse.Namespace, out: TextIO) -> int:
    """Vault's version against the cluster's, drift and conflicts (syncer/status.py)."""
    from syncer import report, status

    vault, kube = _clients(config, args)
    result = status.rows(config, vault, kube)
    for line in report.status_lines(result, status.HEADER, args.output):
        print(line, file=out)
    return EXIT_OK if all(r.state == "in sync" for r in result) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
