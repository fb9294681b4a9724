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
