"""Bad input: odd values are kept or refused with a message that says what to do."""

from __future__ import annotations

import logging
import math
import re
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.errors import InvalidArgumentError, NotFoundError
from keel.store import MAX_PARAM_LENGTH
from keel.tracking import TrackingClient, stringify_param

GHOST = "0123456789abcdef0123456789abcdef"


def test_nan_and_infinities_are_kept(client: TrackingClient) -> None:
    keel.set_experiment("odd-values")
    with keel.start_run(run_name="pos") as pos:
        keel.log_metric("score", math.nan)
        keel.log_metric("score", math.inf)
    with keel.start_run(run_name="neg") as neg:
        keel.log_metric("score", -math.inf)
    with keel.start_run(run_name="nan") as nan:
        keel.log_metric("score", 1.0)
        keel.log_metric("score", float("nan"))
    with keel.start_run(run_name="plain"):
        keel.log_metric("score", 0.5)
    history = keel.get_metric_history(pos.id, "score")
    assert math.isnan(history[0].value)
    assert history[1].value == math.inf
    assert keel.get_run(neg.id).data.metrics["score"] == -math.inf
    assert math.isnan(keel.get_run(nan.id).data.metrics["score"])

    def names(filter_text: str | None = None, order_by: list[str] | None = None) -> list[str]:
        return [r.info.name for r in keel.search_runs(filter=filter_text, order_by=order_by)]

    assert set(names("metrics.score > 0")) == {"pos", "plain"}
    assert names("metrics.score < 0") == ["neg"]
    assert names("metrics.score = inf") == ["pos"]
    assert names("metrics.score > 1e308") == ["pos"]
    assert set(names("metrics.score >= -inf")) == {"pos", "plain", "neg"}
    assert names("metrics.score = nan") == []  # NaN equals nothing, and nothing crashes
    # NaN sorts with the runs that lack the metric: last, in either direction.
    assert names(order_by=["metrics.score DESC"]) == ["pos", "plain", "neg", "nan"]
    assert names(order_by=["metrics.score ASC"]) == ["neg", "plain", "pos", "nan"]
    frame = keel.search_runs(output="pandas", order_by=["metrics.score DESC"])
    assert frame["metrics.score"].iloc[0] == math.inf
    assert math.isnan(frame["metrics.score"].iloc[3])

    with keel.start_run() as run:
        keel.log_metrics({"a_nan": math.nan, "b_inf": math.inf, "c_neg": -math.inf})
    shown = CliRunner().invoke(app, ["runs", "show", run.id[:10]])
    assert shown.exit_code == 0, shown.output
    for key, text in (("a_nan", "NaN"), ("b_inf", "inf"), ("c_neg", "-inf")):
        assert re.search(rf"{key}\s*│\s*{re.escape(text)}\s", shown.output), shown.output


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("already text", "already text"),
        ("", ""),
        (6, "6"),
        (0.1, "0.1"),
        (1e-5, "1e-05"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        ([1, 2], "[1, 2]"),
        ((1, "a"), '[1, "a"]'),
        ({"b": 1, "a": 2}, '{"a": 2, "b": 1}'),
        (math.nan, "NaN"),
        (np.int64(6), "6"),
        (np.float64(0.1), "0.1"),
        (np.bool_(True), "true"),
        (np.array(3), "3"),
        (Decimal("1.5"), "1.5"),  # JSON cannot encode it: str()
        ({1, 2}, "{1, 2}"),
    ],
)
def test_stringify_param(value: Any, text: str) -> None:
    assert stringify_param(value) == text


def test_non_string_params_are_stored_as_json_text(client: TrackingClient) -> None:
    values = {
        "int": 6,
        "float": 0.1,
        "bool": True,
        "none": None,
        "np_int": np.int32(6),
        "np_float": np.float64(0.1),
        "list": [1, 2],
        "dict": {"b": 1, "a": 2},
    }
    with keel.start_run() as run:
        keel.log_params(values)
        keel.log_params({"np_int": 6, "int": "6", "np_float": 0.1})  # the same text: fine
    assert keel.get_run(run.id).data.params == {k: stringify_param(v) for k, v in values.items()}
    assert keel.get_run(run.id).data.params["bool"] == "true"
    assert len(keel.search_runs(filter="params.int = '6' and params.none = 'null'")) == 1


def test_oversized_param_and_tag_values(client: TrackingClient) -> None:
    with keel.start_run() as run:
        keel.log_param("at_limit", "x" * MAX_PARAM_LENGTH)
        with pytest.raises(
            InvalidArgumentError,
            match=r"The value of param 'blob' is 1,048,576 characters long; the limit is "
            r"65,536\. Log large values as an artifact instead",
        ):
            keel.log_param("blob", "x" * 1024 * 1024)
        with pytest.raises(InvalidArgumentError, match=r"tag 'note' is 65,537 characters long"):
            keel.set_tag("note", "y" * (MAX_PARAM_LENGTH + 1))
    data = keel.get_run(run.id).data
    assert len(data.params["at_limit"]) == MAX_PARAM_LENGTH
    assert "blob" not in data.params
    assert "note" not in data.tags


BAD_NAMES = ["", "bad name!", "/lead", "trail/", "x" * 251, "new\nline", "tab\t", "é"]


def test_invalid_names_are_refused(local_client: TrackingClient) -> None:
    with keel.start_run() as run:
        for name in BAD_NAMES:
            for kind, call in (
                ("metric", lambda n=name: keel.log_metric(n, 1.0)),
                ("param", lambda n=name: keel.log_param(n, 1)),
                ("tag", lambda n=name: keel.set_tag(n, "v")),
            ):
                with pytest.raises(
                    InvalidArgumentError,
                    match=rf"Invalid {kind} name {re.escape(repr(name))}: use 1 to 250 "
                    r"characters of letters, digits, '_', '-', '\.', '/', ':' and spaces",
                ):
                    call()
    assert len(local_client.buffer) == 0
    data = keel.get_run(run.id).data
    assert (data.metrics, data.params, data.tags) == ({}, {}, {})


def test_non_string_names_are_refused(local_client: TrackingClient) -> None:
    with keel.start_run():
        with pytest.raises(InvalidArgumentError, match=r"A metric name must be a string, got 5"):
            keel.log_metric(5, 1.0)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match=r"A param name must be a string, got None"):
            keel.log_params({None: 1})  # type: ignore[dict-item]
    with pytest.raises(InvalidArgumentError, match=r"Invalid experiment name 'a\|b'"):
        keel.set_experiment("a|b")


NOT_NUMBERS: list[Any] = ["0.5", "abc", None, b"1", [1.0], {"v": 1}, object(), 1j]


def test_non_numeric_metric_values_are_refused(local_client: TrackingClient) -> None:
    with keel.start_run():
        for value in [*NOT_NUMBERS, np.array([1.0, 2.0])]:
            with pytest.raises(InvalidArgumentError, match=r"Metric 'loss' must be a number, got"):
                keel.log_metric("loss", value)
        assert len(local_client.buffer) == 0


def test_numeric_types_are_accepted(local_client: TrackingClient) -> None:
    with keel.start_run() as run:
        keel.log_metric("a", np.float32(0.5))
        keel.log_metric("b", np.int64(3), step=np.int64(2))
        keel.log_metric("c", Decimal("1.25"))
        keel.log_metric("d", 7)
    assert keel.get_run(run.id).data.metrics == {"a": 0.5, "b": 3.0, "c": 1.25, "d": 7.0}
    assert keel.get_metric_history(run.id, "b")[0].step == 2


def test_bad_steps_and_timestamps_are_refused(local_client: TrackingClient) -> None:
    """Regression: a bool step was taken as 0 or 1; a step or timestamp the database cannot
    hold was buffered and then failed every later flush, so the run could not even end."""
    with keel.start_run() as run:
        for step in ("3", 1.5, True, [1], 2**63, -(2**63) - 1):
            with pytest.raises(
                InvalidArgumentError,
                match=r"Metric 'loss': step must be an integer between -2\*\*63 and "
                r"2\*\*63 - 1, got",
            ):
                keel.log_metric("loss", 1.0, step=step)  # type: ignore[arg-type]
        for timestamp in ("now", 1.5e12, 10**20):
            with pytest.raises(InvalidArgumentError, match=r"timestamp must be an integer"):
                local_client.log_metric(run.id, "loss", 1.0, timestamp=timestamp)  # type: ignore[arg-type]
        assert len(local_client.buffer) == 0
        keel.log_metric("loss", 1.0, step=2**63 - 1)
        local_client.log_metric(run.id, "loss", 2.0, step=0, timestamp=np.int64(5))
    history = keel.get_metric_history(run.id, "loss")
    assert [(m.step, m.timestamp) for m in history][0] == (0, 5)
    assert history[-1].step == 2**63 - 1


def test_unknown_names_and_ids_are_named(client: TrackingClient) -> None:
    keel.set_experiment("quickstart-churn")
    keel.set_experiment("fraud-detection")
    with pytest.raises(
        NotFoundError,
        match=r"No experiment is named 'quickstart-chrun'\. Did you mean 'quickstart-churn'\? "
        r"List experiments with 'keel experiments ls'\.",
    ):
        keel.search_runs("quickstart-chrun")
    with pytest.raises(NotFoundError, match=r"No experiment is named 'zzz'\. List experiments"):
        keel.search_runs(["fraud-detection", "zzz"])
    with keel.start_run() as run:
        keel.log_metrics({"accuracy": 0.9, "loss": 0.1})
    with pytest.raises(
        NotFoundError,
        match=rf"Run '{run.id}' has no metric 'acuracy'\. Did you mean 'accuracy'\? "
        r"Logged metrics: 'accuracy', 'loss'\.",
    ):
        keel.get_metric_history(run.id, "acuracy")

    message = rf"No run has id '{GHOST}'\. List runs with 'keel runs ls --experiment NAME'\."
    with pytest.raises(NotFoundError, match=message):
        keel.get_run(GHOST)
    with pytest.raises(NotFoundError, match=message):
        keel.get_metric_history(GHOST, "loss")
    with pytest.raises(NotFoundError, match=message):
        client.log_metric(GHOST, "loss", 1.0)
    with pytest.raises(NotFoundError, match=message):
        client.log_metrics(GHOST, {"loss": 1.0})
    with pytest.raises(NotFoundError, match=message):
        client.log_params(GHOST, {"lr": 0.1})
    with pytest.raises(NotFoundError, match=message):
        client.set_tags(GHOST, {"team": "risk"})
    with pytest.raises(NotFoundError, match=message):
        keel.load_dict(GHOST, "x.json")
    with pytest.raises(NotFoundError, match=r"No run has an id starting with 'fffff'"):
        client.resolve_run_id("fffff")


def test_metrics_for_a_missing_run_do_not_block_other_runs(
    client: TrackingClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: one bad point stayed in the buffer and failed every later flush and run end."""
    with keel.start_run() as run:
        keel.log_metric("loss", 0.5)
        client.buffer.add((GHOST, "loss", 1.0, 0, 1))  # a run deleted behind our back, say
        client.buffer.add((GHOST, "acc", 1.0, 0, 1))
        with caplog.at_level(logging.WARNING, logger="keel.tracking"):
            client.flush()
        assert f"Dropped 2 buffered metric point(s) of run '{GHOST}'" in caplog.text
        keel.log_metric("loss", 0.4)
        client.buffer.add((GHOST, "loss", 2.0, 1, 2))  # also at the run's end
    # The run still ends, and keeps both of its own points.
    got = keel.get_run(run.id)
    assert got.info.status == "FINISHED"
    assert [m.value for m in keel.get_metric_history(run.id, "loss")] == [0.5, 0.4]
    assert len(client.buffer) == 0


MALFORMED_FILTERS = [
    ("metrics.auc >", r"Filter 'metrics\.auc >' ends early at position 13: expected a number"),
    ("metrics.auc > 0.9 and", r"ends early at position 21: expected a field"),
    ("metrics.auc >> 1", r"at position 13 \('>'\): expected a number or a quoted string"),
    ("metrics.auc > 0.9 or params.a = '1'", r"at position 18 \(\"or params\.a = '1'\"\)"),
    ("params.a = 'unterminated", r"at position 11 \(\"'unterminated\"\): expected a number"),
    ("metrics.a = 1 metrics.b = 2", r"at position 14 \('metrics\.b'\): expected 'and'"),
    ("auc > 0.9", r"at position 0 \('auc > 0\.9'\): expected a field such as metrics\.auc"),
    ("foo.auc > 0.9", r"Unknown field 'foo' in filter 'foo\.auc > 0\.9'\. Use metrics\."),
    ("params.depth > 5", r"params\.depth is text and compares with .* write params\.depth"),
    ("params.depth = 6", r"params\.depth is text; quote the value: params\.depth = '6'"),
    ("metrics.auc like '0.9%'", r"metrics compare with .*, not 'like'"),
    ("metrics.auc = 'high'", r"metrics\.auc compares with a number, not 'high'"),
    ("attributes.colour = 'red'", r"unknown attribute 'colour'\. Attributes: "),
    ("attributes.start_time = 'today'", r"attributes\.start_time is a time in milliseconds"),
]


def test_malformed_filters_say_where(local_client: TrackingClient) -> None:
    keel.set_experiment("filters")
    for filter_text, message in MALFORMED_FILTERS:
        with pytest.raises(InvalidArgumentError, match=message):
            keel.search_runs(filter=filter_text)


MALFORMED_ORDER_BY = [
    ("metrics.auc SIDEWAYS", r"order_by 'metrics\.auc SIDEWAYS'.*ASC or DESC"),
    ("auc DESC", r"Unknown field 'auc' in order_by 'auc DESC'"),
    ("attributes.colour", r"unknown attribute 'colour'"),
]


def test_malformed_order_by_is_refused(local_client: TrackingClient) -> None:
    keel.set_experiment("filters")
    for order_by, message in MALFORMED_ORDER_BY:
        with pytest.raises(InvalidArgumentError, match=message):
            keel.search_runs(order_by=[order_by])


def test_page_token_must_be_one_keel_issued(local_client: TrackingClient) -> None:
    keel.set_experiment("filters")
    with pytest.raises(InvalidArgumentError, match=r"Page token 'not-a-token' is not one Keel"):
        keel.search_runs(page_token="not-a-token")
