"""Regression tests for bugs found in review of the tracking foundation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import keel
from keel.errors import InvalidArgumentError, NotFoundError
from keel.tracking import get_client


def test_run_id_prefix_with_wildcard_characters_matches_nothing(keel_home: Path) -> None:
    keel.set_experiment("prefix")
    with keel.start_run():
        pass
    client = get_client()
    for prefix in ("_", "%", "", "__", "zz"):
        assert client.store.find_runs(prefix) == []
    with pytest.raises(InvalidArgumentError, match="'_' is not a run id"):
        client.resolve_run_id("_")
    with pytest.raises(NotFoundError, match="No run has an id starting with '0000000000"):
        client.resolve_run_id("0" * 31)


def test_log_dict_refuses_objects_that_would_not_read_back(keel_home: Path) -> None:
    keel.set_experiment("dicts")
    with keel.start_run() as run:
        with pytest.raises(InvalidArgumentError, match="Path is not JSON serializable"):
            keel.log_dict({"where": Path("/tmp")}, "bad.json")
        keel.log_dict({"arr": np.arange(3), "x": np.float64(0.5)}, "ok.json")
    assert keel.load_dict(run.id, "ok.json") == {"arr": [0, 1, 2], "x": 0.5}
    assert [a.path for a in keel.list_artifacts(run.id)] == ["ok.json"]


def test_package_snapshot_is_cached_on_disk_per_environment(tmp_path: Path) -> None:
    from keel.tracking._environment import environment_key, package_snapshot

    package_snapshot.cache_clear()
    first = package_snapshot(tmp_path)
    cached = tmp_path / f"env-{environment_key()}.json"
    assert cached.read_bytes() == first
    assert b'"packages"' in first
    assert b'"keel"' in first
    # A later process of the same environment reads the file instead of every package's
    # metadata: prove it by planting different bytes under the same key.
    cached.write_bytes(b'{"planted": true}')
    package_snapshot.cache_clear()
    assert package_snapshot(tmp_path) == b'{"planted": true}'
    package_snapshot.cache_clear()


def test_runs_record_the_environment_blob(keel_home: Path) -> None:
    keel.set_experiment("env")
    with keel.start_run() as run:
        pass
    info = keel.get_run(run.id).info
    assert info.environment_digest is not None
    blob = get_client().artifacts.get_bytes(info.environment_digest)
    assert b'"python"' in blob


def test_remote_tracking_uri_is_refused_the_same_way_by_every_capability(
    keel_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tracking (and the registry) work against a keel server since the team server landed;
    # the capabilities without a remote client yet still refuse an http URI the same way.
    from keel.config import reset_settings
    from keel.data._client import DataClient
    from keel.monitoring._client import MonitoringClient

    monkeypatch.setenv("KEEL_TRACKING_URI", "http://127.0.0.1:5000")
    reset_settings()
    for make, what in [(DataClient, "datasets"), (MonitoringClient, "monitoring")]:
        with pytest.raises(InvalidArgumentError, match=f"no remote client for {what} yet"):
            make()
