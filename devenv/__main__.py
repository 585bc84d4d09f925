"""``scripts/dev-env`` - bring the real local servers up or down.

    scripts/dev-env up --dir D [--vault openbao|hashicorp] [--kserve]
                                    start them, print shell exports
                                    (default vault: $KVS_VAULT, else openbao; --kserve
                                    also kube-controller-manager and KServe's manager)
    scripts/dev-env down --dir D    stop exactly what `up` started
    scripts/dev-env env --dir D     print the exports again
    scripts/dev-env build           find or build the binaries only
    scripts/dev-env build --kserve  also kube-controller-manager, KServe and the
                                    kubelet's pull-secret lookup (pull-keyring)
    scripts/dev-env tools           find or build promtool, helm, CRDs, docker-compose
    scripts/dev-env build-vault     find or build HashiCorp Vault and its AWS engine
                                    as an OpenBao plugin
    scripts/dev-env image-tools     install podman, runc, mmdebstrap; assemble the base image
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from devenv import (
    binaries,
    containers,
    keyring,
    kserve,
    servers,
    tools,
    vaultbuild,
    vaultserver,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dev-env", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "env"):
        p = sub.add_parser(name)
        p.add_argument("--dir", required=True, type=Path, help="state and log folder")
        if name == "up":
            p.add_argument("--vault", choices=vaultserver.KINDS, default=None,
                           help="the Vault server to run (default: $KVS_VAULT, else openbao)")
            p.add_argument("--kserve", action="store_true",
                           help="also start kube-controller-manager and KServe's manager")
    build = sub.add_parser("build", help="find or build kube-apiserver and etcd")
    build.add_argument("--kserve", action="store_true",
                       help="also kube-controller-manager and KServe's manager and manifests")
    sub.add_parser("tools", help="find or build the test tools (promtool, helm, ...)")
    sub.add_parser("build-vault", help="find or build HashiCorp Vault and the AWS engine "
                                       "plugin for OpenBao")
    sub.add_parser("image-tools", help="install podman, runc, mmdebstrap; build the base image")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            found = binaries.ensure()
            print(f"kube-apiserver: {found.kube_apiserver}\netcd: {found.etcd}\n"
                  f"kubectl: {found.kubectl}\n(from {found.source})")
            if args.kserve:
                t0 = time.monotonic()
                print(f"kube-controller-manager: {binaries.controller_manager()}")
                assets = kserve.ensure()
                print(f"KServe {assets.version}: {assets.root}")
                print(f"pull-keyring (the kubelet's pull-secret lookup): "
                      f"{keyring.pull_keyring()}")
                print(f"# KServe and kube-controller-manager ready in "
                      f"{time.monotonic() - t0:.1f}s", file=sys.stderr)
        elif args.command == "tools":
            print("\n".join(f"{name}: {path}" for name, path in tools.ensure_all().items()))
        elif args.command == "build-vault":
            print("\n".join(f"{name}: {path}" for name, path in vaultbuild.ensure_all().items()))
        elif args.command == "image-tools":
            return _image_tools()
        elif args.command == "up":
            t0 = time.monotonic()
            env = servers.up(args.dir, vault=args.vault, kserve=args.kserve)
            print(env.exports())
            print(f"# dev environment up in {time.monotonic() - t0:.1f}s; "
                  f"stop it with: scripts/dev-env down --dir {args.dir}", file=sys.stderr)
        elif args.command == "down":
            servers.down(args.dir)
        else:
            print(servers.load(args.dir).exports())
    except (servers.DevEnvError, RuntimeError, ValueError) as exc:
        print(f"dev-env: {exc}", file=sys.stderr)
        return 1
    return 0


def _image_tools() -> int:
    """podman, runc, mmdebstrap and the base image. Outside CI a machine that cannot
    have them (no apt-get, not root) only loses the image tests, which then skip."""
    t0 = time.monotonic()
    try:
        containers.ensure_tools()
        print(f"base image: {containers.base_image(containers.Podman())} "
              f"(ready in {time.monotonic() - t0:.1f}s)")
    except (containers.ContainerError, RuntimeError) as exc:
        print(f"dev-env: container tools unavailable: {exc}", file=sys.stderr)
        if os.environ.get("CI", "").lower() == "true":
            return 1
        print("dev-env: not in CI, so carrying on; the image tests will skip", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
