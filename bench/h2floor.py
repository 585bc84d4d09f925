"""A Python HTTP/2 floor (prototype): httpx with h2, asyncio, pre-serialised bodies.

What a Python client can reach if it sends the syncer's creates the way the Go
floor does - many streams on one connection, bodies serialised before the
clock starts - to tell the coordinator whether an httpx transport could bring
the syncer within 1.5x of the Go floor. Runs with the python of a cached venv
(``bench/venvs.py``: httpx[http2] is not a project dependency):

    <h2-venv>/bin/python bench/h2floor.py --server URL --ca CA --token-file F \\
        --bodies creates.jsonl --concurrency 64

prints one JSON line like the Go floor. Bodies and the token are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from collections import Counter
from typing import Any

import httpx


def _load(path: str) -> list[tuple[str, bytes]]:
    out = []
    with open(path) as fh:
        for line in fh:
            if line.strip():
                obj = json.loads(line)
                # json.dumps with default separators: the very bytes the file was made of.
                out.append((obj["path"], json.dumps(obj["body"]).encode()))
    return out


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    with open(args.token_file) as fh:
        token = fh.read().strip()
    requests = _load(args.bodies)
    tls = ssl.create_default_context(cafile=args.ca)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/json"}
    statuses: Counter[str] = Counter()
    connections: set[Any] = set()  # local addresses: how many connections carried it
    first_error = ""
    async with httpx.AsyncClient(http2=True, verify=tls, base_url=args.server,
                                 headers=headers, timeout=60.0) as client:
        # Open the one connection before the clock starts, as the Go floor does.
        warm = await client.get("/version")
        warm.raise_for_status()
        queue = iter(requests)

        async def worker() -> None:
            nonlocal first_error
            for path, body in queue:  # one shared iterator: each request taken once
                try:
                    resp = await client.post(path, content=body)
                    key = str(resp.status_code)
                    stream = resp.extensions.get("network_stream")
                    if stream is not None:
                        connections.add(stream.get_extra_info("client_addr"))
                except httpx.HTTPError as exc:
                    key = f"transport {type(exc).__name__}"
                statuses[key] += 1
                if key != "201" and not first_error:
                    first_error = f"POST {path}: {key}"

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        seconds = time.monotonic() - started
    created = statuses["201"]
    return {"seconds": seconds, "created": created, "errors": len(requests) - created,
            "statuses": dict(statuses), "proto": warm.http_version, "connections": len(connections),
            "concurrency": args.concurrency, "first_error": first_error}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for flag in ("--server", "--ca", "--token-file", "--bodies"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    result = asyncio.run(_run(args))
    print(json.dumps(result))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
