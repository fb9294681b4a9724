"""Recorded validations: stored with suite versions, linked, and queryable by a registry gate."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import keel
import keel.data as kd
from keel.errors import NotFoundError


def tx_suite(**extra: Any) -> kd.Suite:
    return kd.Suite(
        "tx-quality",
        checks=[
            kd.not_null(["amount", "customer_id"]),
            kd.between("amount", 0, 50_000),
            kd.in_set("country", ["DE", "FR", "IT"]),
            kd.unique("tx_id"),
            kd.row_count(min=1_000),
            kd.matches("email", r"^[^@]+@[^@]+$"),
            kd.fresh("event_time", max_age="2d"),
            kd.schema({"amount": "float64", "country": "string"}),
        ],
        **extra,
    )


def test_validation_of_a_version_is_recorded_and_linked(
    keel_env: dict[str, Any], transactions: pd.DataFrame
) -> None:
    ds = keel.datasets.register("transactions", transactions)
    assert kd.latest_validation(ds) is None
    result = tx_suite().validate(ds)
    assert result.passed
    assert result.id is not None
    assert (result.suite_name, result.suite_version) == ("tx-quality", 1)
    assert result.dataset_version == "transactions@v1"
    assert len(result.checks) == 9
    stored = kd.latest_validation("transactions@v1")
    assert stored is not None
    assert stored.id == result.id
    assert stored.passed
    assert [c.name for c in stored.checks] == [c.name for c in result.checks]
    assert stored.suite_digest == tx_suite().digest
    client = kd._client.get_data_client()
    edges = client.store.list_lineage_edges(ds.lineage_node(), direction="downstream")
    assert [(e.target_kind, e.target_id, e.relation) for e in edges] == [
        ("data_validation", result.id, "validated_by")
    ]
    assert "data_validation.create" in [e.action for e in client.store.list_audit_events()]


def test_failures_are_stored_with_counts_and_samples(
    keel_env: dict[str, Any], transactions: pd.DataFrame
) -> None:
    bad = transactions.copy()
    bad.loc[[3, 8, 13], "amount"] = -5.0
    bad.loc[[4, 9], "country"] = "XX"
    bad.loc[7, "tx_id"] = 1
    ds = keel.datasets.register("transactions", bad)
    result = ds.validate(tx_suite())
    assert not result.passed
    failures = {c.name: c for c in result.failures}
    assert set(failures) == {
        "between(amount, [0, 50000])",
        "in_set(country, {'DE', 'FR', 'IT'})",
        "unique(tx_id)",
    }
    amount = failures["between(amount, [0, 50000])"]
    assert (amount.bad_rows, amount.samples, amount.sample_rows) == (3, [-5.0] * 3, [3, 8, 13])
    stored = ds.latest_validation()
    assert stored is not None
    assert not stored.passed
    again = {c.name: c for c in stored.failures}
    assert again["unique(tx_id)"].bad_rows == 2
    assert again["in_set(country, {'DE', 'FR', 'IT'})"].samples == ["XX", "XX"]
    assert again["between(amount, [0, 50000])"].sample_rows == [3, 8, 13]


def test_changed_suite_gets_a_new_version_and_same_suite_keeps_it(
    keel_env: dict[str, Any], transactions: pd.DataFrame
) -> None:
    ds = keel.datasets.register("transactions", transactions)
    first = tx_suite().validate(ds)
    same = tx_suite().validate(ds)
    changed = tx_suite(description="now with a description").validate(ds)
    assert (first.suite_version, same.suite_version, changed.suite_version) == (1, 1, 2)
    history = ds.validations()
    assert [r.id for r in history] == [changed.id, same.id, first.id]
    assert kd.latest_validation(ds, suite="tx-quality").id == changed.id  # type: ignore[union-attr]
    assert kd.latest_validation(ds, suite="other") is None


def test_record_false_and_unregistered_data_store_nothing(
    keel_env: dict[str, Any], transactions: pd.DataFrame
) -> None:
    ds = keel.datasets.register("transactions", transactions)
    result = tx_suite().validate(ds, record=False)
    assert result.id is None
    assert kd.latest_validation(ds) is None


def test_registry_gate_question_for_a_training_run(
    keel_env: dict[str, Any], transactions: pd.DataFrame
) -> None:
    checked = keel.datasets.register("features", transactions)
    unchecked = keel.datasets.register("labels", transactions[["tx_id"]])
    tx_suite().validate(checked)
    with keel.start_run() as run:
        keel.log_input(checked)
        keel.log_input(unchecked)
    status = kd.run_validations(run.id)
    assert set(status) == {"features@v1", "labels@v1"}
    assert status["features@v1"] is not None
    assert status["features@v1"].passed
    assert status["labels@v1"] is None
    assert kd.run_validations("no-such-run") == {}


def test_validations_of_unknown_versions_raise(keel_env: dict[str, Any]) -> None:
    with pytest.raises(NotFoundError, match="No dataset is named 'ghost'"):
        kd.latest_validation("ghost@v1")


def test_validate_accepts_yaml_path_and_ref(
    keel_env: dict[str, Any], transactions: pd.DataFrame, tmp_path: Any
) -> None:
    keel.datasets.register("transactions", transactions)
    path = tmp_path / "suite.yaml"
    tx_suite().to_yaml(path)
    result = kd.validate("transactions@latest", str(path))
    assert result.passed
    assert result.suite_version == 1


def test_validation_inside_a_run_is_attached_to_it(
    keel_env: dict[str, Any], transactions: pd.DataFrame
) -> None:
    ds = keel.datasets.register("transactions", transactions)
    with keel.start_run() as run:
        result = tx_suite().validate(ds)
    assert result.run_id == run.id
    stored = kd.latest_validation(ds)
    assert stored is not None
    assert stored.run_id == run.id
    assert tx_suite().validate(ds, run_id="explicit").run_id == "explicit"
