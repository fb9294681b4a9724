"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections, one request each.

Run it in its own process (the server gets the other core). It speaks raw HTTP/1.1 over
asyncio streams (uvloop when installed) with the request bytes built once, so its cost per
request is a few tens of microseconds: far below any server measured here, so it is not the
bottleneck. Latency is measured per request from write to the last body byte; requests that
start during the warm-up are not counted.

Prints one JSON line: requests, rps, p50_ms, p90_ms, p99_ms, max_ms, statuses, errors.

Usage: python loadgen.py URL --body FILE [--connections 16] [--duration 10] [--warmup 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit


def build_request(url: str, body: bytes) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = parts.path or "/"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return host, port, head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    low = head.lower()
    i = low.find(b"\r\ncontent-length:")
    if i >= 0:
        j = low.index(b"\r\n", i + 2)
        await reader.readexactly(int(low[i + 17 : j]))
    elif b"transfer-encoding: chunked" in low:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    if b"\r\nconnection: close" in low:
        raise ConnectionResetError("server closed the connection")
    return status


async def _connection(
    host: str,
    port: int,
    request: bytes,
    start_at: float,
    stop_at: float,
    latencies: list[int],
    statuses: Counter[int],
    errors: Counter[str],
    ok: list[int],
) -> None:
    reader = writer = None
    while True:
        now = time.perf_counter()
        if now >= stop_at:
            break
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            t0 = time.perf_counter_ns()
            writer.write(request)
            status = await _read_response(reader)
            t1 = time.perf_counter_ns()
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            if now >= start_at:
                errors[type(exc).__name__] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
            continue
        if 200 <= status < 300:
            ok[0] += 1
        if t0 / 1e9 >= start_at and t1 / 1e9 <= stop_at:
            latencies.append(t1 - t0)
            statuses[status] += 1
    if writer is not None:
        writer.close()


def _pct(sorted_ns: list[int], q: float) -> float:
    if not sorted_ns:
        return float("nan")
    k = min(len(sorted_ns) - 1, max(0, round(q * (len(sorted_ns) - 1))))
    return sorted_ns[k] / 1e6


async def run(
    url: str, body: bytes, connections: int, duration: float, warmup: float
) -> dict[str, object]:
    host, port, request = build_request(url, body)
    latencies: list[int] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    ok = [0]  # every 2xx answer, warm-up and stragglers included
    # perf_counter and perf_counter_ns share one clock.
    start_at = time.perf_counter() + warmup
    stop_at = start_at + duration
    await asyncio.gather(
        *(
            _connection(host, port, request, start_at, stop_at, latencies, statuses, errors, ok)
            for _ in range(connections)
        )
    )
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / duration,
        "p50_ms": _pct(latencies, 0.50),
        "p90_ms": _pct(latencies, 0.90),
        "p99_ms": _pct(latencies, 0.99),
        "max_ms": latencies[-1] / 1e6 if latencies else float("nan"),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "non_2xx": sum(v for k, v in statuses.items() if not 200 <= k < 300),
        "errors": dict(errors),
        "all_2xx": ok[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--body", required=True, type=Path)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    args = ap.parse_args()
    runner = asyncio.run
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # plain asyncio is fast enough too, a little less so
        pass
    cpu = time.process_time()
    result = runner(
        run(args.url, args.body.read_bytes(), args.connections, args.duration, args.warmup)
    )
    # Its own CPU time per counted request (warm-up included, so an upper bound): shows the
    # generator is far from saturating its core.
    total = result["requests"]
    result["client_cpu_us"] = (time.process_time() - cpu) / total * 1e6 if total else None
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
