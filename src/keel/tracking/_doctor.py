"""``keel doctor``: find (and safely repair) inconsistencies between metadata and bytes."""

from __future__ import annotations

import socket
from collections import defaultdict
from dataclasses import dataclass, field

from keel.store import RunInfo, RunStatus
from keel.tracking._client import TrackingClient

__all__ = ["DoctorReport", "run_doctor"]


@dataclass
class BlobProblem:
    """A referenced blob that is missing or whose bytes do not match its digest."""

    digest: str
    kind: str  # "missing" or "corrupt"
    references: list[tuple[str, str]]  # (run_id, path)


@dataclass
class DoctorReport:
    """What ``keel doctor`` found and, with ``fix``, what it repaired."""

    database_ok: bool = True
    database_message: str = "ok"
    dead_runs: list[RunInfo] = field(default_factory=list)
    unknown_runs: list[RunInfo] = field(default_factory=list)
    blob_problems: list[BlobProblem] = field(default_factory=list)
    blobs_checked: int = 0
    fixed: list[str] = field(default_factory=list)
    dead_runs_fixed: bool = False

    @property
    def ok(self) -> bool:
        """Whether nothing is left wrong (after fixes, if any were made)."""
        return (
            self.database_ok
            and (not self.dead_runs or self.dead_runs_fixed)
            and not self.blob_problems
        )


def _process_alive(info: RunInfo) -> bool | None:
    """Whether the process that started a run still runs; ``None`` if it cannot be told."""
    if info.pid is None or info.hostname != socket.gethostname():
        return None
    import psutil

    try:
        proc = psutil.Process(info.pid)
    except psutil.NoSuchProcess:
        return False
    if info.process_start is not None and abs(proc.create_time() - info.process_start) > 1.0:
        return False  # the pid was reused by another process
    return proc.status() != psutil.STATUS_ZOMBIE


def run_doctor(
    client: TrackingClient, *, fix: bool = False, verify_digests: bool = True
) -> DoctorReport:
    """Check the store and, with ``fix``, repair what can be repaired safely.

    Checks: the database's own integrity check; runs left RUNNING by processes that no longer
    exist (on this host); artifacts referenced but missing; blobs whose bytes do not match
    their digest. Fixes: dead runs are marked KILLED; damaged blobs are moved to quarantine so
    that logging the same content again stores good bytes (their runs keep pointing at the
    digest and report it missing until then).
    """
    report = DoctorReport()
    try:
        client.store.check()
    except Exception as exc:  # report every store failure rather than stopping the check
        report.database_ok = False
        report.database_message = str(exc)
        return report

    for info in client.store.list_runs_by_status(RunStatus.RUNNING):
        alive = _process_alive(info)
        if alive is False:
            report.dead_runs.append(info)
        elif alive is None:
            report.unknown_runs.append(info)

    refs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for digest, run_id, path in client.store.iter_artifact_references():
        refs[digest].append((run_id, path))
    store = client.artifacts
    for digest, where in refs.items():
        report.blobs_checked += 1
        if not store.exists(digest):
            report.blob_problems.append(BlobProblem(digest, "missing", where))
        elif verify_digests and not store.verify(digest):
            report.blob_problems.append(BlobProblem(digest, "corrupt", where))

    if fix:
        dead = [r.id for r in report.dead_runs]
        if dead:
            client.store.mark_runs(
                dead, RunStatus.KILLED, "process no longer exists (keel doctor --fix)"
            )
            report.fixed.extend(f"run {r} marked KILLED" for r in dead)
        report.dead_runs_fixed = True
        for problem in report.blob_problems:
            if problem.kind == "corrupt":
                store.quarantine(problem.digest)
                client.store.record_event(
                    "artifact.quarantine",
                    "blob",
                    problem.digest,
                    {"references": len(problem.references)},
                )
                report.fixed.append(f"damaged blob {problem.digest} moved to quarantine")
                # Its runs now miss the blob until the same content is logged again.
                problem.kind = "missing"
    return report
