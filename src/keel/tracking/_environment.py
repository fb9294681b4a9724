"""What a run records about where it ran: source, git commit, Python and packages, resources."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GitInfo",
    "ResourceClock",
    "git_info",
    "package_snapshot",
    "process_identity",
    "source_file",
]


@dataclass(frozen=True)
class GitInfo:
    """The commit a source file belongs to, and whether the work tree had changes."""

    commit: str | None
    dirty: bool | None


def source_file() -> str | None:
    """Return the script or module the process runs, or ``None`` in an interactive session."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else None)
    if not path or path in ("-c", "-"):
        return None
    p = Path(path)
    return str(p.resolve()) if p.exists() else path


@functools.lru_cache(maxsize=32)
def git_info(directory: str) -> GitInfo:
    """Return the HEAD commit of the repository holding ``directory`` and its dirty flag.

    Cached per directory for the life of the process: it runs ``git`` twice.
    """

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", directory, *args],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return GitInfo(None, None)
    status = git("status", "--porcelain", "--untracked-files=no")
    return GitInfo(commit.strip(), None if status is None else bool(status.strip()))


def environment_key() -> str:
    """Return a key that changes whenever the interpreter or its installed packages change.

    It hashes the interpreter and the modification times of the folders on ``sys.path``:
    installing, upgrading or removing a distribution changes its site-packages folder.
    """
    parts: list[object] = [sys.executable, sys.version]
    for entry in sys.path:
        try:
            parts.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            continue
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


@functools.lru_cache(maxsize=4)
def package_snapshot(cache_dir: Path | None = None) -> bytes:
    """Return the interpreter and installed distributions as canonical JSON bytes.

    Reading every distribution's metadata takes a noticeable fraction of a second, so the
    result is cached for the process and, with ``cache_dir``, on disk under
    :func:`environment_key` for later processes of the same environment.
    """
    cached = cache_dir / f"env-{environment_key()}.json" if cache_dir is not None else None
    if cached is not None:
        try:
            return cached.read_bytes()
        except OSError:
            pass
    packages: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages[name.lower()] = dist.version
    doc = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": dict(sorted(packages.items())),
    }
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    if cached is not None:
        try:  # best effort: a missing cache only costs time
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(cached)
        except OSError:
            pass
    return data


@functools.lru_cache(maxsize=1)
def _identity(pid: int) -> tuple[str, int, float | None]:
    try:
        import psutil

        started: float | None = psutil.Process(pid).create_time()
    except Exception:  # psutil can fail in restricted containers; the pid alone still helps
        started = None
    return socket.gethostname(), pid, started


def process_identity() -> tuple[str, int, float | None]:
    """Return ``(hostname, pid, process start time)`` so a dead run's process can be detected."""
    return _identity(os.getpid())


class ResourceClock:
    """Measures wall time, CPU seconds and peak memory between start and :meth:`stop`."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = self._cpu_now()

    @staticmethod
    def _cpu_now() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def stop(self) -> tuple[float, float, int]:
        """Return ``(wall seconds, CPU seconds, peak RSS bytes)`` (process and children)."""
        wall = time.perf_counter() - self._wall
        cpu = self._cpu_now() - self._cpu
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is KiB on Linux
        peak = (
            max(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            )
            * scale
        )
        return wall, cpu, peak
