"""Profile one server app in-process: the ASGI app called directly, no socket, no uvicorn.

Shows where a request's time goes inside the app (parsing, checking, predict, logging,
response), without the network and event-loop costs that are the same for every app.

Usage: KEEL_HOME=... python bench/serving/profile_app.py keel|bare [--rows 1] [--requests 2000]
       [--pickle model.pkl] [--cprofile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from spec import bodies  # noqa: E402


async def call(app: Any, path: str, body: bytes) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def lifespan(app: Any, queue_in: asyncio.Queue, queue_out: asyncio.Queue) -> None:
    async def receive() -> dict[str, Any]:
        return await queue_in.get()

    async def send(message: dict[str, Any]) -> None:
        await queue_out.put(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)


async def main_async(args: argparse.Namespace) -> None:
    if args.app == "keel":
        from keel.serving._app import create_app

        app = create_app(args.uri)
        path = "/v1/predict"
    else:
        os.environ["BENCH_MODEL"] = args.pickle
        import bare_app

        app = bare_app.app
        path = "/predict"
    qi: asyncio.Queue = asyncio.Queue()
    qo: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(lifespan(app, qi, qo))
    await qi.put({"type": "lifespan.startup"})
    await qo.get()
    body = bodies(args.rows)[args.app]
    for _ in range(200):
        assert await call(app, path, body) == 200
    prof = cProfile.Profile() if args.cprofile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    for _ in range(args.requests):
        await call(app, path, body)
    if prof:
        prof.disable()
    dt = time.perf_counter() - t0
    print(f"{args.app} {args.rows} rows: {dt / args.requests * 1e6:.0f} us/request in-process")
    await qi.put({"type": "lifespan.shutdown"})
    await qo.get()
    task.cancel()
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("app", choices=["keel", "bare"])
    ap.add_argument("--uri", default="models:/bench@champion")
    ap.add_argument("--pickle", default="model.pkl")
    ap.add_argument("--rows", type=int, default=1)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--cprofile", action="store_true")
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
