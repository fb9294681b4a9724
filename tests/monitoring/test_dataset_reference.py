"""A registered dataset version as the reference: profiled once, reused, linked in lineage."""

from __future__ import annotations

from typing import Any

import numpy as np

import keel.monitoring as km

from ._traffic import HOUR, T0, customers, log_hours


def test_dataset_version_reference_is_profiled_once_and_reused(keel_env: dict[str, Any]) -> None:
    import keel.data
    from keel.monitoring._client import get_monitoring_client

    reference = customers(np.random.default_rng(3), 3000, drifted=False)
    version = keel.data.register("transactions", reference)
    ref = version.ref
    current = customers(np.random.default_rng(4), 3000, drifted=True)
    report = km.drift(f"{ref.split('@')[0]}@latest", current)
    assert report.drifted_features == ["amount", "country"]
    assert report.reference == f"dataset {ref!r} (3,000 rows)"
    assert km.drift(reference, current).drifted_features == report.drifted_features

    client = get_monitoring_client()
    node = ("dataset_version", ref)
    profiles = [
        e
        for e in client.store.list_lineage_edges(node, "downstream")
        if e.relation == "drift_profile"
    ]
    assert len(profiles) == 1
    km.drift(ref, current)  # reuses the stored profile: no second one
    log_hours("churn", [False, True], seed=5)
    monitor = km.create_monitor("churn", reference=ref, checks=[km.data_drift(share=0.3)])
    assert monitor.reference == ref
    profiles = list(client.store.list_lineage_edges(node, "downstream"))
    assert {e.relation for e in profiles} >= {"drift_profile", "reference"}
    assert sum(e.relation == "drift_profile" for e in profiles) == 1
    results = km.run_monitor("churn", until=int(T0.timestamp() * 1000) + 4 * HOUR)
    assert [r.status for r in results] == ["ok", "breach"]
