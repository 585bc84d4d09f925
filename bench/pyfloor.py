"""Python floors (prototypes): the syncer's creates from Python with nothing else in
the way - bodies serialised before the clock starts, one pre-built header set.

What a leaner Python transport could reach, to tell whether the syncer can get
within 1.5x of the Go floor without leaving Python:

- ``--transport httpx-h2``: httpx with h2 on asyncio, N concurrent streams on one
  connection (runs with the python of a cached venv, ``bench/venvs.py``: httpx
  is not a project dependency);
- ``--transport urllib3``: urllib3 (already installed with the kubernetes client)
  over HTTP/1.1, a pool of N connections and N threads.

    python bench/pyfloor.py --transport urllib3 --server URL --ca CA \\
        --token-file F --bodies creates.jsonl --concurrency 8

prints one JSON line like the Go floor. Bodies and the token are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _load(path: str) -> list[tuple[str, bytes]]:
    out = []
    with open(path) as fh:
        for line in fh:
            if line.strip():
                obj = json.loads(line)
                # json.dumps with default separators: the very bytes the file was made of.
                out.append((obj["path"], json.dumps(obj["body"]).encode()))
    return out


def _headers(token_file: str) -> dict[str, str]:
    with open(token_file) as fh:
        token = fh.read().strip()
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
            "Accept": "application/json"}


def _result(seconds: float, statuses: Counter[str], *, total: int, proto: str,
            connections: int, args: argparse.Namespace, first_error: str) -> dict[str, Any]:
    created = statuses["201"]
    return {"seconds": seconds, "created": created, "errors": total - created,
            "statuses": dict(statuses), "proto": proto, "connections": connections,
            "concurrency": args.concurrency, "first_error": first_error}


async def _httpx_h2(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    requests = _load(args.bodies)
    statuses: Counter[str] = Counter()
    connections: set[Any] = set()  # local addresses: how many connections carried it
    first_error = ""
    async with httpx.AsyncClient(http2=True, verify=ssl.create_default_context(cafile=args.ca),
                                 base_url=args.server, headers=_headers(args.token_file),
                                 timeout=60.0) as client:
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
    return _result(seconds, statuses, total=len(requests), proto=warm.http_version,
                   connections=len(connections), args=args, first_error=first_error)


def _urllib3(args: argparse.Namespace) -> dict[str, Any]:
    import urllib3

    requests = _load(args.bodies)
    headers = _headers(args.token_file)
    pool = urllib3.connection_from_url(
        args.server, maxsize=args.concurrency, block=True, retries=False,
        ssl_context=ssl.create_default_context(cafile=args.ca), timeout=60.0)
    warm = pool.request("GET", "/version", headers=headers)
    if warm.status != 200:
        raise SystemExit(f"GET /version: HTTP {warm.status}")
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    first_error = ""

    def post(item: tuple[str, bytes]) -> None:
        nonlocal first_error
        path, body = item
        try:
            key = str(pool.urlopen("POST", path, body=body, headers=headers).status)
        except urllib3.exceptions.HTTPError as exc:
            key = f"transport {type(exc).__name__}"
        with lock:
            statuses[key] += 1
            if key != "201" and not first_error:
                first_error = f"POST {path}: {key}"

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.concurrency) as workers:
        list(workers.map(post, requests))
    seconds = time.monotonic() - started
    return _result(seconds, statuses, total=len(requests), proto="HTTP/1.1",
                   connections=pool.num_connections, args=args, first_error=first_error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=("httpx-h2", "urllib3"), required=True)
    for flag in ("--server", "--ca", "--token-file", "--bodies"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    result = (asyncio.run(_httpx_h2(args)) if args.transport == "httpx-h2"
              else _urllib3(args))
    print(json.dumps(result))
    if result["errors"]:
        # The harness shows stderr's tail when the exit code is not 0.
        print(f"{result['errors']} requests without 201: {result['statuses']}; first: "
              f"{result['first_error']}", file=sys.stderr)
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
