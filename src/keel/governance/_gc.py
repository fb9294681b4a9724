"""Garbage collection: mark every blob the metadata store names, sweep the rest of the store.

``keel gc`` first applies retention (purges soft-deleted runs past ``runs-deleted``, expires
prediction log segments and pipeline cache entries), then frees every blob no row names any more
(:mod:`keel.store._references` lists the columns). One blob may be shared by many rows (content
addressing): it is freed only when none is left.

Safety under concurrent writers. A writer stores a blob (or finds it stored) first and commits
the row naming it afterwards, so for a moment a live blob is named by nothing. Keel protects it
with a *grace period* on the blob's modification time rather than a write-ahead record: every
``put_file``/``put_bytes`` and every ``exists`` that answers yes refreshes the blob's time (see
:class:`~keel.artifacts.ArtifactStore`), and the collector frees only blobs older than the grace
period, reading their time again at the moment of deletion. Writers therefore need no extra
metadata transaction on their hot path (a write-ahead record would cost one per artifact and
every capability would have to remember it); the one rule is that a writer commits its row
within the grace period (default one hour) of storing or checking the blob. The order is: take
the cut-off time on the store's clock, list the blobs, then mark: a row committed after the mark
names a blob its writer refreshed after the cut-off, which the sweep therefore keeps.

Object stores (S3) have no atomic rename, so the final time check (a HEAD) and the DELETE are two
requests, and a writer may find the blob present between them, skip its upload and commit a
reference. There the collector *moves* a blob to a trash area instead (copy, then delete; see
:attr:`~keel.artifacts.ArtifactStore.uses_trash`): every read and ``exists`` that misses a blob
restores it from the trash, and a trash entry is purged only by a later pass, once it has spent
the grace period there *and* the references, read again right before the purge, still do not name
it (a referenced entry is restored instead). Freed bytes are counted when the trash is purged.

A pipeline cache entry whose blob was freed is a cache miss, never a broken hit: the runner
checks every output with ``exists`` before using an entry (which also refreshes them).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from keel._utils import now_ms
from keel.artifacts import ArtifactStore, BlobInfo
from keel.errors import InvalidStateError, KeelError, NotFoundError
from keel.governance._retention import get_retention
from keel.store import SqlMetadataStore
from keel.store._gc import GcRepository
from keel.store._references import FoundReference, digests_in

__all__ = [
    "DEFAULT_GRACE_S",
    "GcReport",
    "KindTotal",
    "PurgeReport",
    "collect_garbage",
    "live_digests",
    "purge_dataset_version",
]

#: Blobs written or seen this recently are never collected (seconds).
DEFAULT_GRACE_S = 3600.0

UNREFERENCED = "unreferenced"
TEMP = "temp upload"


@dataclass
class KindTotal:
    """How many blobs of one kind were (or would be) freed, and their bytes."""

    count: int = 0
    bytes: int = 0


@dataclass
class GcReport:
    """The outcome of one garbage collection.

    Attributes:
        dry_run: Whether nothing was changed.
        grace_s: The grace period used.
        by_kind: Blobs freed (or that would be), by what last referenced them (``unreferenced``
            if nothing did in this collection, ``temp upload`` for abandoned upload files).
        freed_bytes: Bytes removed from the artifact store (0 in a dry run). Equal to the sum of
            ``by_kind`` unless a writer refreshed a candidate meanwhile.
        kept_recent: Unreferenced blobs kept because they are within the grace period.
        runs_purged: Soft-deleted runs purged (or that would be).
        runs_kept: Runs due for purging that were kept, with the reason.
        segments_expired: Prediction, label and trace log segments expired.
        cache_entries_expired: Pipeline cache entries expired.
        referenced: How many distinct blobs are referenced.
        missing: Referenced blobs absent from the store (``keel doctor`` explains them).
        trashed: Blobs moved to the trash by this collection (object stores, see
            :attr:`~keel.artifacts.ArtifactStore.uses_trash`): freed, and counted in
            :attr:`by_kind`, by a later collection once they have spent the grace period there
            and are still unreferenced.
    """

    dry_run: bool
    grace_s: float
    by_kind: dict[str, KindTotal] = field(default_factory=dict)
    freed_bytes: int = 0
    kept_recent: int = 0
    runs_purged: list[str] = field(default_factory=list)
    runs_kept: dict[str, str] = field(default_factory=dict)
    segments_expired: int = 0
    cache_entries_expired: int = 0
    referenced: int = 0
    missing: list[str] = field(default_factory=list)
    trashed: KindTotal = field(default_factory=KindTotal)

    @property
    def total_bytes(self) -> int:
        """Bytes of every blob and file counted in :attr:`by_kind`."""
        return sum(t.bytes for t in self.by_kind.values())

    @property
    def total_count(self) -> int:
        """Blobs and files counted in :attr:`by_kind`."""
        return sum(t.count for t in self.by_kind.values())


def live_digests(refs: Iterable[FoundReference], artifacts: ArtifactStore) -> dict[str, str]:
    """Return ``{digest: kind}`` of every referenced blob, manifests expanded to their files.

    Raises:
        InvalidStateError: A referenced manifest cannot be read, so the blobs it names are
            unknown; the collection stops rather than guess.
    """
    live: dict[str, str] = {}
    manifests: list[tuple[str, str]] = []
    for ref in refs:
        live.setdefault(ref.digest, ref.kind)
        if ref.is_manifest:
            manifests.append((ref.digest, ref.kind))
    seen: set[str] = set()
    while manifests:
        digest, kind = manifests.pop()
        if digest in seen:
            continue
        seen.add(digest)
        try:
            data = artifacts.get_bytes(digest)
        except KeelError as exc:
            raise InvalidStateError(
                f"Garbage collection stopped: the manifest {digest!r} ({kind}) cannot be read "
                f"({exc.message}), so the blobs it names are unknown and none were freed. Run "
                "'keel doctor' to find and fix damaged or missing blobs."
            ) from exc
        for child in digests_in(data):
            live.setdefault(child, kind)
    return live


def collect_garbage(
    store: SqlMetadataStore,
    artifacts: ArtifactStore,
    *,
    dry_run: bool = False,
    grace_s: float = DEFAULT_GRACE_S,
    only: Iterable[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> GcReport:
    """Apply retention, then free every blob nothing references any more.

    Args:
        store: The metadata store.
        artifacts: The artifact store.
        dry_run: Report what would be freed; change nothing.
        grace_s: Blobs written or seen within this many seconds are kept (see the module's
            docstring for why this keeps concurrent writers safe).
        only: Consider only these digests (a purge frees just what it released); retention is
            not applied then.
        progress: Called as ``progress(phase, done, total)`` while sweeping.

    Returns:
        What was (or would be) freed.
    """
    if grace_s < 0:
        raise InvalidStateError(f"The grace period must be 0 or more seconds, got {grace_s!r}.")
    repo = GcRepository(store)
    report = GcReport(dry_run=dry_run, grace_s=grace_s)
    # What each blob was referenced as before retention released anything: the kind it is
    # reported under once nothing references it.
    before = live_digests(repo.references(), artifacts)
    exclude: dict[str, list[str]] = {}
    if only is None:
        exclude = _apply_retention(repo, store, report, dry_run=dry_run)
    # The cut-off comes first, on the store's clock, then the listing, then the mark.
    cutoff = artifacts.now() - grace_s
    only_set = set(only) if only is not None else None
    listed = [b for b in artifacts.iter_blobs() if only_set is None or b.key in only_set]
    live = live_digests(repo.references(exclude if dry_run else None), artifacts)
    report.referenced = len(live)
    present = {b.key for b in listed}
    # A blob in the trash is not missing: the first read or ``exists`` restores it.
    present.update(_trash_digest(t.key) for t in artifacts.iter_trash())
    if only_set is None:
        report.missing = sorted(d for d in live if d not in present)
    candidates: list[tuple[BlobInfo, str]] = []
    for blob in listed:
        if blob.key in live:
            continue
        if blob.modified >= cutoff:
            report.kept_recent += 1
            continue
        candidates.append((blob, before.get(blob.key, UNREFERENCED)))
    totals: dict[str, KindTotal] = defaultdict(KindTotal)
    trashed_now: set[str] = set()
    for i, (blob, kind) in enumerate(candidates):
        if progress is not None:
            progress("blobs", i + 1, len(candidates))
        if dry_run:
            freed = blob.size
        else:
            collected = artifacts.collect(blob.key, older_than=cutoff)
            if collected is None:  # refreshed by a writer since the listing: it stays
                report.kept_recent += 1
                continue
            if artifacts.uses_trash:  # moved to the trash: counted when it is purged
                trashed_now.add(blob.key)
                report.trashed.count += 1
                report.trashed.bytes += blob.size
                continue
            freed = collected
            report.freed_bytes += freed
        totals[kind].count += 1
        totals[kind].bytes += freed
    if artifacts.uses_trash:
        # What this pass moved spends a grace period in the trash before a later pass frees
        # it (with no grace period, at once).
        skip = trashed_now if grace_s > 0 else set()
        _purge_trash(repo, artifacts, report, totals, before, grace_s, only_set, live, skip)
    if only_set is None:
        for tmp in artifacts.iter_temp_files():
            if tmp.modified >= cutoff:
                continue
            size = tmp.size if dry_run else artifacts.delete_temp_file(tmp.key)
            report.freed_bytes += 0 if dry_run else size
            totals[TEMP].count += 1
            totals[TEMP].bytes += size
    report.by_kind = dict(sorted(totals.items()))
    if not dry_run:
        store.record_event(
            "gc.collect",
            "artifact_store",
            artifacts.uri,
            {
                "freed_bytes": report.freed_bytes,
                "blobs": report.total_count,
                "grace_s": grace_s,
                "runs_purged": len(report.runs_purged),
                "segments_expired": report.segments_expired,
                "cache_entries_expired": report.cache_entries_expired,
            },
        )
    return report


def _trash_digest(name: str) -> str:
    return name.split(".", 1)[0]


def _purge_trash(
    repo: GcRepository,
    artifacts: ArtifactStore,
    report: GcReport,
    totals: dict[str, KindTotal],
    before: dict[str, str],
    grace_s: float,
    only_set: set[str] | None,
    live: dict[str, str],
    skip: set[str],
) -> None:
    """Free trash entries older than the grace period that nothing references *now*.

    The references are read again right before the deletes: a writer that found a blob
    present just before the collector moved it commits its reference within the grace period,
    so by now that reference is visible and the blob is restored instead of freed.
    """
    trash = [
        t
        for t in artifacts.iter_trash()
        if (only_set is None or _trash_digest(t.key) in only_set)
        and _trash_digest(t.key) not in skip
    ]
    if not trash:
        return
    # Taken after the moves above, so with a grace period of 0 they are purged at once.
    cutoff = artifacts.now() - grace_s
    due = [t for t in trash if t.modified <= cutoff]
    if not due:
        return
    now_live = live if report.dry_run else live_digests(repo.references(), artifacts)
    for entry in due:
        digest = _trash_digest(entry.key)
        if digest in now_live:
            if not report.dry_run:
                artifacts.restore_trash(entry.key)
            continue
        kind = before.get(digest, UNREFERENCED)
        if report.dry_run:
            freed = entry.size
        else:
            purged = artifacts.purge_trash(entry.key, older_than=cutoff)
            if purged is None:  # trashed later than the cut-off, or purged by another collector
                continue
            freed = purged
            report.freed_bytes += freed
        totals[kind].count += 1
        totals[kind].bytes += freed


def _apply_retention(
    repo: GcRepository, store: SqlMetadataStore, report: GcReport, *, dry_run: bool
) -> dict[str, list[str]]:
    """Purge or expire what retention says is due; return the released ids by owner kind."""
    now = now_ms()
    policies = get_retention(store)
    released: dict[str, list[str]] = {}
    runs_keep = policies["runs-deleted"].keep_ms
    if runs_keep is not None:
        due = [r.run_id for r in repo.list_deleted_runs(deleted_before=now - runs_keep)]
        if dry_run:
            report.runs_kept = repo.run_blockers(due)
            report.runs_purged = [r for r in due if r not in report.runs_kept]
        else:
            result = repo.purge_runs(due)
            report.runs_purged, report.runs_kept = result.purged, result.skipped
        released["run"] = report.runs_purged
    logs_keep = policies["prediction-logs"].keep_ms
    if logs_keep is not None:
        segments = repo.expired_segments(now - logs_keep)
        report.segments_expired = sum(len(v) for v in segments.values())
        if not dry_run and report.segments_expired:
            repo.delete_segments(segments)
        released.update(segments)
    cache_keep = policies["pipeline-cache"].keep_ms
    if cache_keep is not None:
        keys = repo.expired_cache_entries(now - cache_keep)
        report.cache_entries_expired = len(keys)
        if not dry_run and keys:
            repo.delete_cache_entries(keys)
        released["pipeline_cache"] = keys
    return released


@dataclass
class PurgeReport:
    """The outcome of purging one dataset version.

    Attributes:
        ref: The version, ``name@vN``.
        released: Digests the version named (its content, its files, its profile).
        gc: The collection of those digests: what was freed, and what stays (shared with other
            rows, or within the grace period, then freed by a later ``keel gc``).
    """

    ref: str
    released: list[str]
    gc: GcReport


def purge_dataset_version(
    store: SqlMetadataStore,
    artifacts: ArtifactStore,
    ref: str,
    *,
    grace_s: float = DEFAULT_GRACE_S,
) -> PurgeReport:
    """Purge a dataset version and free the blobs only it named.

    Refused while a registered model version or a deployment depends on it in the lineage graph.
    The version's row stays with ``storage = 'purged'`` (its number is never reused), and a
    tombstone and a ``purged`` lineage edge record when and by whom.

    Args:
        store: The metadata store.
        artifacts: The artifact store.
        ref: ``name@vN``.
        grace_s: Blobs written or seen this recently are left for a later ``keel gc``.

    Raises:
        NotFoundError: No such version.
        InvalidStateError: Something depends on it (named in the message), or it is purged.
    """
    from keel.data._versions import parse_ref
    from keel.store._data import DataRepository

    name, number = parse_ref(ref)
    if number is None:
        raise InvalidStateError(
            f"Purging needs an explicit version, got {ref!r}. Give 'name@vN' (see "
            f"'keel data ls {name}')."
        )
    record = DataRepository(store).get_version(name, number)
    repo = GcRepository(store)
    dependents = repo.dependents(("dataset_version", record.ref))
    if dependents:
        named = ", ".join(f"{kind} {ident!r}" for kind, ident in dependents[:20])
        more = f" and {len(dependents) - 20} more" if len(dependents) > 20 else ""
        raise InvalidStateError(
            f"Dataset version {record.ref!r} cannot be purged: {named}{more} depend on it. "
            "Archive or delete those first; 'keel lineage' shows the graph.",
            details={"dependents": [f"{k}:{i}" for k, i in dependents]},
        )
    children: list[str] = []
    if record.storage == "manifest":
        # get_bytes, not exists: exists would refresh the blob and shield it from this purge.
        with contextlib.suppress(NotFoundError):
            children = list(digests_in(artifacts.get_bytes(record.digest)))
    released = repo.purge_dataset_version(record.ref, record.id) + children
    report = collect_garbage(store, artifacts, grace_s=grace_s, only=released)
    return PurgeReport(record.ref, released, report)
