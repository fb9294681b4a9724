"""Bad input: unserializable outputs, wrong parameter types, cycles, misused handles."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import keel
from keel.errors import InvalidArgumentError
from keel.pipelines import PipelineDefinitionError, StepStatus, list_runs


@keel.step(retries=2, retry_delay=0.01)
def numbers(n: int) -> Iterator[int]:
    return (i for i in range(n))


@keel.step
def consume(values: Iterator[int]) -> int:
    return sum(values)


@keel.pipeline
def streaming(n: int = 3):
    return consume(numbers(n))


def test_unserializable_output_names_the_step_and_the_type(home: Path) -> None:
    run = streaming.run()
    assert run.status == "FAILED"
    step = run.steps["numbers"]
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert step.error.startswith(
        "UnserializableOutputError: Step 'numbers' returned a generator object"
    )
    assert "register a serializer" in step.error
    assert step.attempts == 1  # storing again would fail again: not retried
    assert run.steps["consume"].status is StepStatus.SKIPPED


@keel.step
def lock() -> object:
    return threading.Lock()


@keel.pipeline
def locking():
    return lock()


def test_unpicklable_object_names_the_type(home: Path) -> None:
    run = locking.run()
    assert run.status == "FAILED"
    assert "Step 'lock' returned a _thread.lock object" in (run.error or "")


@keel.step
def load(version: str) -> pd.DataFrame:
    return pd.DataFrame({"v": [version]})


@keel.step
def train(df: pd.DataFrame, lr: float) -> float:
    return float(len(df)) * lr


@keel.pipeline
def training(version: str = "latest", lr: float = 0.1):
    return train(load(version), lr)


def test_pipeline_parameter_of_the_wrong_type_is_refused(home: Path) -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=r"Pipeline 'training' parameter 'lr' expects float, got 'fast' \(str\)\. "
        r"Pass a float: training\.run\(lr=\.\.\.\)\.",
    ):
        training.run(lr="fast")
    assert list_runs() == []  # refused before anything was recorded
    assert training.run(lr=1).outputs == 1.0  # an int is a fine float


def test_unknown_and_missing_parameters(home: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"has no parameter 'lrr'\. Did you mean 'lr'"):
        training.run(lrr=0.1)

    @keel.pipeline
    def needs(x: int):
        return train(load("a"), x)

    with pytest.raises(InvalidArgumentError, match=r"needs a value for parameter\(s\) \['x'\]"):
        needs.run()


def test_step_argument_of_the_wrong_type_is_refused_while_building(home: Path) -> None:
    @keel.pipeline
    def bad():
        return train(load("a"), "0.1")

    with pytest.raises(
        PipelineDefinitionError,
        match=r"Step 'train' parameter 'lr' expects float, got '0\.1' \(str\)",
    ):
        bad.run()


def test_annotated_type_mismatch_between_steps(home: Path) -> None:
    @keel.step
    def fit(df: pd.DataFrame) -> float:
        return 1.0

    @keel.step
    def report(frame: pd.DataFrame) -> int:
        return len(frame)

    @keel.pipeline
    def mismatched():
        return report(fit(load("a")))

    with pytest.raises(
        PipelineDefinitionError,
        match=r"Step 'report' parameter 'frame' expects DataFrame, but it receives the output "
        r"of step 'fit', annotated float",
    ):
        mismatched.build()


def test_cycle_is_refused(home: Path) -> None:
    @keel.step
    def a(x: int) -> int:
        return x

    @keel.pipeline
    def loop():
        first = a(1)
        second = a(first)
        third = a(second)
        first.after(third)
        return third

    with pytest.raises(PipelineDefinitionError, match=r"has a cycle: 'a' -> 'a_2' -> 'a_3' -> 'a'"):
        loop.run()
    assert list_runs() == []


def test_signature_mismatch_and_handle_misuse(home: Path) -> None:
    @keel.pipeline
    def too_many():
        return train(load("a"), 0.1, 3)

    with pytest.raises(PipelineDefinitionError, match=r"calls step 'train' with arguments"):
        too_many.build()

    @keel.pipeline
    def branching():
        df = load("a")
        if df:
            return df
        return None

    with pytest.raises(PipelineDefinitionError, match=r"used the output of step 'load' as a"):
        branching.build()


def test_step_options_and_run_options_are_checked() -> None:
    with pytest.raises(InvalidArgumentError, match=r"Unknown step option\(s\) \['retry'\]"):
        keel.step(retry=2)
    with pytest.raises(InvalidArgumentError, match=r"retries must be an integer >= 0, got -1"):
        keel.step(retries=-1)(lambda: 1)
    with pytest.raises(InvalidArgumentError, match=r"parameter named 'executor'"):

        @keel.pipeline
        def clash(executor: str = "x"):
            return None


def test_steps_outside_pipelines_are_plain_functions() -> None:
    assert train(pd.DataFrame({"a": [1, 2]}), 0.5) == 1.0
