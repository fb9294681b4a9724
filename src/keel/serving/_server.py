"""Running the inference app: in the foreground (``keel serve``) or in a background thread.

:func:`serve` runs uvicorn until SIGINT or SIGTERM; uvicorn then stops accepting connections,
finishes the requests in flight and runs the app's shutdown, which flushes the prediction log.
With ``workers > 1`` each worker process builds its own app (and its own log writer) from
``KEEL_SERVE_*`` environment variables. :func:`start_server` runs one app in a thread on a
free port of 127.0.0.1, for tests, notebooks, the quickstart and benchmarks.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidStateError, MissingDependencyError

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

__all__ = ["RunningServer", "serve", "start_server"]


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError.for_extra("uvicorn", "serving", "keel serve") from exc
    return uvicorn


@dataclass
class RunningServer:
    """An app served by uvicorn in a background thread.

    Attributes:
        url: ``http://127.0.0.1:PORT``.
        host: The bound address.
        port: The bound port.
        server: The uvicorn server.
        thread: The thread running it.
    """

    url: str
    host: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down gracefully: finish requests in flight, flush the prediction log."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise InvalidStateError(f"The server at {self.url} did not stop within {timeout}s.")

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    app: FastAPI,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    timeout: float = 30.0,
) -> RunningServer:
    """Serve ``app`` with uvicorn in a daemon thread and wait until it accepts requests.

    Args:
        app: The app (from :func:`keel.serving.create_app`).
        host: The address to bind.
        port: The port; ``0`` picks a free one.
        log_level: uvicorn's log level.
        timeout: Seconds to wait for the server to start.

    Returns:
        The running server; call ``stop()`` (or use it as a context manager).
    """
    uvicorn = _uvicorn()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level=log_level, access_log=False, lifespan="on", timeout_graceful_shutdown=30
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"keel-serve-{bound}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise InvalidStateError(f"The server on {host}:{bound} failed to start; see its log.")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise InvalidStateError(f"The server on {host}:{bound} did not start in {timeout}s.")
        time.sleep(0.01)
    return RunningServer(f"http://{host}:{bound}", host, bound, server, thread)


#: pyarrow's optional filesystems; none of them is needed while artifacts are local files.
_ARROW_FILESYSTEMS = ("pyarrow._s3fs", "pyarrow._gcsfs", "pyarrow._azurefs", "pyarrow._hdfs")


#: glibc's ``mallopt`` parameter for the most malloc arenas (``M_ARENA_MAX``).
_M_ARENA_MAX = -8


def lean_process() -> None:
    """Keep a serving process small. Done only in the processes :func:`serve` runs.

    * Memory freed by the prediction log's flushes goes back to the OS sooner: Arrow allocates
      from the C allocator (its ``system`` pool) instead of mimalloc, which keeps freed pages,
      and glibc keeps one malloc arena instead of one per thread that ever allocated, each
      holding on to its own free memory (the GIL serializes most allocations anyway). The
      log writer also trims both after every flush. Under load this keeps the process about
      30 MB smaller.
    * When the artifact store is a local folder, pyarrow's cloud filesystems are not loaded:
      ``pyarrow.parquet`` imports ``pyarrow.fs``, which loads the S3 (AWS SDK), GCS, Azure and
      HDFS libraries when present (about 6 MB resident), though Keel writes segments through
      its own artifact store. Marking them unavailable before ``pyarrow.fs`` is imported makes
      pyarrow skip them, as on a build without them.
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        if hasattr(libc, "mallopt"):
            libc.mallopt(_M_ARENA_MAX, 1)
    except OSError:  # not glibc: nothing to tune
        pass
    # Arrow's C++ side (the Parquet writer) picks its default pool from this variable when it
    # first allocates; pyarrow's own calls follow set_memory_pool.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    if "pyarrow.fs" in sys.modules:
        return
    from keel.config import get_settings

    uri = get_settings().artifact_uri
    if "://" in uri and not uri.startswith("file://"):
        return
    for name in _ARROW_FILESYSTEMS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "not available"


def freeze_startup_objects() -> None:
    """Keep the objects of imports and model loading out of garbage collection from now on.

    scikit-learn, SciPy and pandas leave about a million objects; a full collection walks them
    all (tens of milliseconds, a stall of every request in flight) while finding nothing to
    free. ``gc.freeze`` moves them to a permanent generation that collections skip; garbage
    made while serving is collected as before. Done only in the processes :func:`serve` runs.
    """
    import gc

    gc.collect()
    gc.freeze()


def serve(
    target: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = False,
    deployment: str | None = None,
    feature_service: str | None = None,
    **options: Any,
) -> None:
    """Serve a model URI or a deployment until interrupted (what ``keel serve`` runs).

    Args:
        target: A model URI or a deployment name (see :func:`keel.serving.create_app`).
        host: The address to bind.
        port: The port.
        workers: Worker processes; each loads the model and logs on its own.
        log_level: uvicorn's log level.
        access_log: Log a line per request (uvicorn's access log; off by default, as it costs
            a large share of a small request's time).
        deployment: For a model URI, the name to log predictions under.
        feature_service: The feature service for entity lookups.
        **options: Fields of :class:`keel.serving.ServingConfig`.
    """
    uvicorn = _uvicorn()
    lean_process()
    from keel.serving._app import create_app

    if workers <= 1:
        app = create_app(target, deployment=deployment, feature_service=feature_service, **options)
        freeze_startup_objects()
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=access_log,
            timeout_graceful_shutdown=30,
        )
        return
    create_app(target, deployment=deployment, feature_service=feature_service, **options)
    os.environ["KEEL_SERVE_TARGET"] = target
    os.environ["KEEL_SERVE_OPTIONS"] = json.dumps(
        {**options, "deployment": deployment, "feature_service": feature_service}
    )
    uvicorn.run(
        "keel.serving._app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=30,
    )
