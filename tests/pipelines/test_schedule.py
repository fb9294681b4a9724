"""Cron expressions, schedules in the store, and the agent that fires them."""

from __future__ import annotations

import datetime as dt
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import keel
from keel.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from keel.pipelines import (
    Agent,
    AgentTask,
    CronExpression,
    delete_schedule,
    get_schedule,
    list_runs,
    list_schedules,
    pause_schedule,
    register_agent_task,
    resume_schedule,
)
from keel.pipelines._agent import _TASKS
from keel.store._pipelines import PipelineRepository
from keel.tracking import get_client

UTC = dt.UTC


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        ("0 3 * * *", "2026-11-27 10:15", "2026-11-28 03:00"),
        ("*/15 * * * *", "2026-11-27 10:15", "2026-11-27 10:30"),
        ("30 9 * * mon-fri", "2026-11-27 10:00", "2026-11-30 09:30"),  # Friday -> Monday
        ("0 0 1 jan *", "2026-11-27 10:00", "2027-01-01 00:00"),
        ("0 12 13 * 5", "2026-11-27 12:00", "2026-12-04 12:00"),  # day 13 OR a Friday
        ("@hourly", "2026-11-27 10:59", "2026-11-27 11:00"),
        ("0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"),
        ("5 4 * * 7", "2026-11-27 00:00", "2026-11-29 04:05"),  # 7 is Sunday too
    ],
)
def test_cron_next_fire_time(cron: str, after: str, expected: str) -> None:
    assert CronExpression(cron).next_after(_at(after)) == _at(expected)


def test_cron_in_a_time_zone() -> None:
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    fire = CronExpression("0 3 * * *").next_after(_at("2026-11-27 10:00"), paris)
    assert fire.astimezone(UTC) == _at("2026-11-28 02:00")


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 3 * *", r"has 4 fields; it needs 5"),
        ("61 * * * *", r"the minute field '61' has 61, outside 0-59"),
        ("* * * foo *", r"the month field 'foo' has 'foo', which is not a number"),
        ("*/0 * * * *", r"has the step '0'"),
        ("0 0 30 2 *", r"never matches"),
    ],
)
def test_bad_cron_expressions(cron: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        CronExpression(cron).next_after(_at("2026-01-01 00:00"))


PIPELINE_MODULE = """
import keel


@keel.step
def greet(name: str) -> str:
    return f"hello {name}"


@keel.pipeline
def nightly(name: str = "world"):
    return greet(name)
"""


@pytest.fixture
def nightly(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    (tmp_path / "nightly_jobs.py").write_text(textwrap.dedent(PIPELINE_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("nightly_jobs", None)
    import nightly_jobs

    return nightly_jobs.nightly


def test_schedules_are_stored_listed_paused_and_deleted(nightly: Any) -> None:
    made = keel.schedule(nightly, cron="0 3 * * *", params={"name": "keel"})
    assert made.target == "nightly_jobs:nightly"
    assert made.params == {"name": "keel"}
    assert made.next_run.hour == 3
    assert made.next_run.minute == 0
    assert [s.name for s in list_schedules()] == ["nightly"]
    with pytest.raises(AlreadyExistsError, match=r"A schedule named 'nightly' exists already"):
        keel.schedule(nightly, cron="@daily")
    assert not pause_schedule("nightly").enabled
    assert resume_schedule("nightly").enabled
    delete_schedule("nightly")
    with pytest.raises(NotFoundError, match=r"No schedule is named 'nightly'"):
        get_schedule("nightly")


def test_bad_schedules_are_refused(nightly: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"parameter 'name' expects str, got 3"):
        keel.schedule(nightly, cron="@daily", params={"name": 3})
    with pytest.raises(InvalidArgumentError, match=r"Unknown time zone 'Mars/Olympus'"):
        keel.schedule(nightly, cron="@daily", timezone="Mars/Olympus")

    @keel.pipeline
    def local():
        return None

    with pytest.raises(InvalidArgumentError, match=r"cannot be scheduled"):
        keel.schedule(local, cron="@daily")


def test_each_due_firing_is_claimed_once(nightly: Any) -> None:
    made = keel.schedule(nightly, cron="*/5 * * * *")
    repo = PipelineRepository(get_client().store)
    due_at = made.next_run_at

    def following(record: Any, now: int) -> int:
        return now + 300_000

    first = repo.claim_due_schedules(due_at + 1, following)
    second = repo.claim_due_schedules(due_at + 1, following)
    assert [r.id for r in first] == [made.id]
    assert second == []


@pytest.mark.slow
def test_agent_once_fires_due_schedules(nightly: Any) -> None:
    made = keel.schedule(nightly, cron="* * * * *", params={"name": "agent"})
    repo = PipelineRepository(get_client().store)
    due = made.next_run_at - 120_000
    repo.update_schedule(made.name, next_run_at=due)  # now due
    keel.pipelines.run_agent(once=True, tasks=["schedules"])
    runs = list_runs("nightly")
    assert len(runs) == 1
    assert runs[0].status == "FINISHED"
    assert runs[0].outputs == "hello agent"
    after = get_schedule("nightly")
    assert after.last_run_id == runs[0].id
    assert after.last_status == "FINISHED"
    assert after.next_run_at >= made.next_run_at > due  # moved on from now, not replayed
    record = repo.get_run(runs[0].id)
    assert record.schedule_id == made.id


def test_agent_tasks_are_a_registry() -> None:
    ticks: list[int] = []

    class Heartbeat(AgentTask):
        name = "heartbeat"
        interval = 0.0

        def tick(self, now: int) -> None:
            ticks.append(now)

    register_agent_task("heartbeat", Heartbeat)
    try:
        agent = Agent(["heartbeat"])
        agent.tick()
        agent.tick()
        assert len(ticks) == 2
        with pytest.raises(InvalidArgumentError, match=r"Unknown agent task 'heartbaet'"):
            Agent(["heartbaet"])
    finally:
        _TASKS.pop("heartbeat", None)
