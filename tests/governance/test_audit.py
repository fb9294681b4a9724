"""The audit log: searching events, and verifying the hash chain after tampering."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import keel
from keel.cli._app import app
from keel.config import get_settings
from keel.errors import InvalidArgumentError
from keel.governance._auditlog import audit_log, parse_since, verify_audit

from ._world import gov_env, gov_sqlite  # noqa: F401


def _activity() -> str:
    keel.set_experiment("churn")
    with keel.start_run(run_name="a") as run:
        keel.log_params({"lr": 0.1})
        keel.set_tag("team", "risk")
    return run.id


def _engine(uri: str) -> sa.Engine:
    return sa.create_engine(uri, poolclass=sa.pool.NullPool)


@pytest.mark.usefixtures("gov_env")
def test_search_by_time_actor_action_resource() -> None:
    run_id = _activity()
    events = audit_log("1d")
    assert events
    assert [e.id for e in events] == sorted(e.id for e in events)
    created = audit_log("1d", action="run.create")
    assert [e.resource_id for e in created] == [run_id]
    family = audit_log("1d", action="run")
    assert {e.action for e in family} >= {"run.create", "run.log_params"}
    assert audit_log(resource=f"run:{run_id}", since=None)
    assert audit_log("1d", actor="somebody-else") == []
    assert len(audit_log("1d", limit=2)) == 2
    assert audit_log("1d", limit=2)[-1].id == events[-1].id  # the newest ones
    future = int(time.time() * 1000) + 60_000
    assert audit_log(future) == []
    with pytest.raises(InvalidArgumentError, match=r"Cannot read 'yesterday' as a point"):
        audit_log("yesterday")
    with pytest.raises(InvalidArgumentError, match=r"limit must be a positive"):
        audit_log(limit=0)


def test_parse_since() -> None:
    assert parse_since("1d", now_ms=86_400_000 * 2) == 86_400_000
    assert parse_since("30m", now_ms=3_600_000) == 1_800_000
    assert parse_since("2026-01-01") == 1_767_225_600_000
    assert parse_since(None) is None


@pytest.mark.usefixtures("gov_env")
def test_verify_names_the_altered_event() -> None:
    _activity()
    _activity()
    ok = verify_audit()
    assert ok.ok
    assert ok.events_checked >= 6
    events = audit_log(limit=1000)
    victim = events[len(events) // 2]
    engine = _engine(get_settings().store_uri)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_log SET actor = :a WHERE id = :i"),
            {"a": "mallory", "i": victim.id},
        )
    engine.dispose()
    broken = verify_audit()
    assert not broken.ok
    assert broken.first_bad_event_id == victim.id
    assert "altered" in (broken.reason or "")
    out = CliRunner().invoke(app, ["audit", "verify"])
    assert out.exit_code == 1
    assert f"at event {victim.id}" in out.output


@pytest.mark.usefixtures("gov_env")
def test_verify_names_the_event_after_a_removed_one() -> None:
    _activity()
    events = audit_log(limit=1000)
    engine = _engine(get_settings().store_uri)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :i"), {"i": events[2].id})
    engine.dispose()
    broken = verify_audit()
    assert broken.first_bad_event_id == events[3].id
    assert "removed or reordered" in (broken.reason or "")


@pytest.mark.usefixtures("gov_sqlite")
def test_audit_commands() -> None:
    run_id = _activity()
    runner = CliRunner()
    out = runner.invoke(app, ["audit", "verify"])
    assert out.exit_code == 0, out.output
    assert "intact" in out.output
    out = runner.invoke(app, ["audit", "log", "--since", "1d", "--action", "run.create"])
    assert out.exit_code == 0, out.output
    assert "run.create" in out.output
    assert run_id[:8] in out.output
    out = runner.invoke(
        app, ["audit", "log", "--resource", f"run:{run_id}", "--format", "json", "--limit", "3"]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert len(data) == 3
    assert {d["resource_id"] for d in data} == {run_id}
    out = runner.invoke(app, ["audit", "log", "--since", "soon"])
    assert out.exit_code == 1
    assert "Cannot read 'soon'" in out.output
