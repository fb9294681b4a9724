"""Reference profiles kept in the artifact store and reused.

A dataset version's drift profile is computed on first use and linked from the version in the
lineage graph (``dataset_version -> drift_profile``), so every later :func:`~keel.monitoring.drift`
call and every monitor on that version reads a few kilobytes per column instead of the data.
The profile is Keel's drift summary (2,048 quantiles per numeric column, full value counts per
categorical one), finer than the dataset's descriptive profile (7 quantiles, a 20-bin
histogram), which is too coarse for exact KS and Wasserstein distances.
"""

from __future__ import annotations

from keel.monitoring._client import MonitoringClient
from keel.monitoring._drift import GRID_NOTE, ReferenceProfile, reference_profile
from keel.monitoring._frames import Columns

__all__ = ["dataset_profile", "load_profile"]


def load_profile(client: MonitoringClient, digest: str) -> ReferenceProfile:
    """Return a stored profile, from the process's small cache when it was read before."""
    cached = client.profiles.get(digest)
    if isinstance(cached, ReferenceProfile):
        client.profiles.move_to_end(digest)
        return cached
    profile = ReferenceProfile.from_bytes(client.artifacts.get_bytes(digest))
    client.profiles[digest] = profile
    while len(client.profiles) > 16:
        client.profiles.popitem(last=False)
    return profile


def dataset_profile(client: MonitoringClient, ref: str) -> tuple[ReferenceProfile, str, str]:
    """Return the drift profile of a dataset version, computing and storing it on first use.

    The profile is kept in the artifact store and linked from the version in the lineage graph
    (``dataset_version -> drift_profile``), so every monitor and drift call on that version
    reuses it instead of reading the data again.

    Returns:
        The profile, its digest and the version's resolved reference (``"tx@v3"``).
    """
    import keel.data as data

    version = data.get(ref)
    node = ("dataset_version", version.ref)
    for edge in client.store.list_lineage_edges(node, "downstream"):
        if (
            edge.relation == "drift_profile"
            and edge.properties.get("grid") == GRID_NOTE
            and client.artifacts.exists(edge.target_id)
        ):
            return load_profile(client, edge.target_id), edge.target_id, version.ref
    table = version.to_arrow()
    source = f"dataset {version.ref!r} ({table.num_rows:,} rows)"
    profile = reference_profile(Columns(table, source, node))
    digest = client.artifacts.put_bytes(profile.to_bytes())
    client.profiles[digest] = profile
    client.store.add_lineage_edge(
        node, ("drift_profile", digest), "drift_profile", {"grid": GRID_NOTE}
    )
    return profile, digest, version.ref
