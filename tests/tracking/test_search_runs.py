"""``keel.search_runs``: the filter language, ordering, pagination and DataFrame output."""

from __future__ import annotations

import math
import time

import pytest

import keel
from keel.errors import InvalidArgumentError, NotFoundError
from keel.tracking import TrackingClient


@pytest.fixture
def runs(client: TrackingClient) -> dict[str, str]:
    """Four runs (created in this order, so newest first is delta, gamma, beta, alpha)."""
    keel.set_experiment("search")
    spec = [
        (
            "alpha",
            {"depth": 6, "lr": 0.1},
            {"auc": 0.9, "val loss": 0.3},
            {"team": "risk", "tier": "b"},
        ),
        ("beta", {"depth": 8}, {"auc": 0.8}, {"team": "Risk-EU", "tier": "c"}),
        ("gamma", {"depth": 6}, {}, {}),
        ("delta", {}, {"auc": 0.95}, {"team": "growth", "tier": "a"}),
    ]
    ids: dict[str, str] = {}
    for name, params, metrics, tags in spec:
        with keel.start_run(run_name=name, tags=tags) as run:
            if params:
                keel.log_params(params)
            if metrics:
                keel.log_metrics(metrics)
            if name == "gamma":
                keel.end_run("FAILED")
        ids[name] = run.id
        time.sleep(0.003)  # distinct start times: ties sort by start time
    return ids


def _names(runs: dict[str, str], result: list[keel.Run]) -> list[str]:
    by_id = {v: k for k, v in runs.items()}
    return [by_id[r.id] for r in result]


FILTER_CASES: list[tuple[str, set[str]]] = [
    ("metrics.auc > 0.85", {"alpha", "delta"}),
    ("metrics.auc >= 0.9", {"alpha", "delta"}),
    ("metrics.auc < 0.9", {"beta"}),
    ("metrics.auc <= 0.9", {"alpha", "beta"}),
    ("metrics.auc = 0.8", {"beta"}),
    ("metrics.auc != 0.8", {"alpha", "delta"}),  # a run without the metric never matches
    ("metrics.`val loss` < 1", {"alpha"}),
    ('metrics."val loss" < 1', {"alpha"}),
    ("params.depth = '6'", {"alpha", "gamma"}),
    ('params.depth = "6"', {"alpha", "gamma"}),
    ("params.depth != '6'", {"beta"}),
    ("params.lr like '0.%'", {"alpha"}),
    ("tags.team like 'risk%'", {"alpha"}),  # like is case-sensitive on every backend
    ("tags.team like 'Risk%'", {"beta"}),
    ("tags.team ilike 'RISK%'", {"alpha", "beta"}),
    ("tags.team != 'risk'", {"beta", "delta"}),
    ("attributes.status = 'FAILED'", {"gamma"}),
    ("attributes.status != 'FAILED'", {"alpha", "beta", "delta"}),
    ("attributes.run_name like 'g%'", {"gamma"}),
    ("attributes.run_name ilike 'ALPHA'", {"alpha"}),
    ("attributes.start_time > 0", {"alpha", "beta", "gamma", "delta"}),
    ("attributes.end_time < 0", set()),
    ("params.depth = '6' and metrics.auc > 0.5", {"alpha"}),
    ("PARAMS.depth = '6' AND tags.team = 'risk' and metric.auc >= 0.9", {"alpha"}),
    ("params.missing = 'x'", set()),
    ("", {"alpha", "beta", "gamma", "delta"}),
]


def test_filter_language(runs: dict[str, str], client: TrackingClient) -> None:
    for filter_text, expected in FILTER_CASES:
        got = set(_names(runs, keel.search_runs("search", filter=filter_text)))
        assert got == expected, filter_text
    alpha = runs["alpha"]
    assert _names(runs, keel.search_runs(filter=f"attributes.run_id = '{alpha}'")) == ["alpha"]
    user = client.settings.user
    assert len(keel.search_runs(filter=f"attributes.user = '{user}'")) == 4


def test_order_by(runs: dict[str, str]) -> None:
    assert _names(runs, keel.search_runs("search")) == ["delta", "gamma", "beta", "alpha"]
    # Runs without the metric go last in either direction.
    desc = keel.search_runs("search", order_by=["metrics.auc DESC"])
    assert _names(runs, desc) == ["delta", "alpha", "beta", "gamma"]
    asc = keel.search_runs("search", order_by=["metrics.auc ASC"])
    assert _names(runs, asc) == ["beta", "alpha", "delta", "gamma"]
    implicit = keel.search_runs("search", order_by=["metrics.auc"])
    assert _names(runs, implicit) == _names(runs, asc)
    # Ties ('6') fall back to newest first; runs without the param go last.
    by_param = keel.search_runs("search", order_by=["params.depth"])
    assert _names(runs, by_param) == ["gamma", "alpha", "beta", "delta"]
    by_tag = keel.search_runs("search", order_by=["tags.tier desc"])
    assert _names(runs, by_tag) == ["beta", "alpha", "delta", "gamma"]
    by_name = keel.search_runs("search", order_by=["attributes.run_name"])
    assert _names(runs, by_name) == ["alpha", "beta", "delta", "gamma"]
    by_start = keel.search_runs("search", order_by=["attributes.start_time ASC"])
    assert _names(runs, by_start) == ["alpha", "beta", "gamma", "delta"]
    two_keys = keel.search_runs("search", order_by=["params.depth DESC", "metrics.auc DESC"])
    assert _names(runs, two_keys) == ["beta", "alpha", "gamma", "delta"]


def test_pages_frames_and_experiments(runs: dict[str, str]) -> None:
    order = ["metrics.auc DESC"]
    first = keel.search_runs("search", order_by=order, max_results=3)
    assert _names(runs, first) == ["delta", "alpha", "beta"]
    assert first.next_page_token is not None
    second = keel.search_runs(
        "search", order_by=order, max_results=3, page_token=first.next_page_token
    )
    assert _names(runs, second) == ["gamma"]
    assert second.next_page_token is None
    exact = keel.search_runs("search", max_results=4)
    assert len(exact) == 4
    assert exact.next_page_token is None

    frame = keel.search_runs("search", order_by=["metrics.auc DESC"], output="pandas")
    assert list(frame["run_name"]) == ["delta", "alpha", "beta", "gamma"]
    assert list(frame["run_id"]) == [runs[n] for n in ("delta", "alpha", "beta", "gamma")]
    assert frame["metrics.auc"].iloc[0] == 0.95
    assert math.isnan(frame["metrics.auc"].iloc[3])  # gamma has no auc
    assert frame["params.depth"].iloc[1] == "6"
    assert frame["tags.team"].iloc[2] == "Risk-EU"
    assert {"status", "start_time", "end_time", "experiment_id", "metrics.val loss"} <= set(
        frame.columns
    )
    assert frame.attrs["next_page_token"] is None
    paged = keel.search_runs("search", max_results=1, output="pandas")
    assert len(paged) == 1
    assert paged.attrs["next_page_token"] is not None
    with pytest.raises(InvalidArgumentError, match=r"output must be 'list' or 'pandas'"):
        keel.search_runs("search", output="arrow")  # type: ignore[call-overload]

    other_id = keel.set_experiment("other")
    with keel.start_run(run_name="elsewhere"):
        keel.log_metric("auc", 0.99)
    both = keel.search_runs(["search", other_id], filter="metrics.auc > 0.85")
    assert {r.info.name for r in both} == {"alpha", "delta", "elsewhere"}
    assert [r.info.name for r in keel.search_runs()] == ["elsewhere"]  # the current experiment
    with pytest.raises(
        NotFoundError, match=r"No experiment is named 'serch'\. Did you mean 'search'\?"
    ):
        keel.search_runs("serch")
