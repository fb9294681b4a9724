"""Step caching: hits, misses on code and input changes, missing blobs, content addressing."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import keel
from keel.pipelines import StepStatus
from keel.tracking import get_client


def _tick(path: str) -> None:
    with open(path, "a") as f:
        f.write("x")


@keel.step
def load(n: int, log: str) -> pd.DataFrame:
    _tick(log + "-load")
    return pd.DataFrame({"x": list(range(n)), "y": [i * 2.0 for i in range(n)]})


@keel.step
def summarize(df: pd.DataFrame, scale: float, log: str) -> float:
    _tick(log + "-summarize")
    return float(df["y"].sum() * scale)


@keel.pipeline
def small(n: int = 5, scale: float = 1.0, log: str = "counts"):
    df = load(n, log)
    return summarize(df, scale, log)


def test_rerun_is_a_cache_hit(home: Path, counter: Any) -> None:
    log = counter.path("a")
    first = small.run(n=5, log=log)
    assert first.status == "FINISHED"
    assert first.outputs == 20.0
    assert [s.cache_hit for s in first.steps.values()] == [False, False]
    second = small.run(n=5, log=log)
    assert second.status == "FINISHED"
    assert second.steps["load"].cache_hit
    assert second.steps["summarize"].cache_hit
    assert second.steps["load"].status is StepStatus.CACHED
    assert second.steps["load"].record.cached_from == first.steps["load"].record.id
    assert second.outputs == 20.0
    assert counter.read("a-load") == 1
    assert counter.read("a-summarize") == 1


def test_input_change_misses_only_downstream_of_it(home: Path, counter: Any) -> None:
    log = counter.path("b")
    small.run(n=5, scale=1.0, log=log)
    run = small.run(n=5, scale=3.0, log=log)
    assert run.steps["load"].cache_hit
    assert not run.steps["summarize"].cache_hit
    assert run.outputs == 60.0
    assert counter.read("b-load") == 1
    assert counter.read("b-summarize") == 2
    run = small.run(n=6, scale=3.0, log=log)
    assert not run.steps["load"].cache_hit
    assert not run.steps["summarize"].cache_hit


def test_no_cache_runs_everything(home: Path, counter: Any) -> None:
    log = counter.path("c")
    small.run(log=log)
    run = small.run(log=log, cache=False)
    assert run.cache_hits == []
    assert counter.read("c-load") == 2


def test_cache_entry_whose_blob_is_gone_is_a_miss(home: Path, counter: Any) -> None:
    log = counter.path("d")
    first = small.run(log=log)
    artifacts = get_client().artifacts
    for step in first.steps.values():
        artifacts.delete(step.outputs[0]["digest"])
    second = small.run(log=log)
    assert second.status == "FINISHED"
    assert second.cache_hits == []
    assert second.outputs == first.outputs
    assert counter.read("d-load") == 2
    third = small.run(log=log)  # the re-run stored the blobs again: hits once more
    assert len(third.cache_hits) == 2


@keel.step
def parity(n: int, log: str) -> int:
    _tick(log + "-parity")
    return n % 2


@keel.step
def describe(bit: int, log: str) -> str:
    _tick(log + "-describe")
    return "odd" if bit else "even"


@keel.pipeline
def parity_of(n: int, log: str):
    return describe(parity(n, log), log)


def test_same_output_from_changed_input_keeps_downstream_cached(home: Path, counter: Any) -> None:
    # Cache keys use input digests, so an upstream step that reruns but produces the same
    # bytes does not invalidate what follows it.
    log = counter.path("e")
    assert parity_of.run(n=3, log=log).outputs == "odd"
    run = parity_of.run(n=5, log=log)
    assert not run.steps["parity"].cache_hit
    assert run.steps["describe"].cache_hit
    assert counter.read("e-describe") == 1


def _load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_CODE = '''
import keel


def helper(x):
    return x + {helper_add}


@keel.step(retries={retries})
def base(n: int) -> int:
    """Docstring {doc}."""
    return n * 10  # {comment}


@keel.step
def derived(value: int) -> int:
    return helper(value) * {factor}


@keel.pipeline
def flow(n: int = 1):
    return derived(base(n))
'''


def _version(tmp_path: Path, tag: str, **changes: Any) -> Any:
    values = {"helper_add": 1, "retries": 0, "doc": "a", "comment": "a", "factor": 2, **changes}
    path = tmp_path / f"flow_{tag}.py"
    path.write_text(textwrap.dedent(_CODE.format(**values)))
    return _load_module(path, f"flow_{tag}")


def test_code_change_is_a_miss_and_cosmetic_change_is_not(home: Path, tmp_path: Path) -> None:
    v1 = _version(tmp_path, "v1")
    first = v1.flow.run(n=2)
    assert first.outputs == 42
    assert first.cache_hits == []
    # Comments, docstrings and decorator options are not code changes.
    cosmetic = _version(tmp_path, "v2", doc="b", comment="b", retries=3)
    run = cosmetic.flow.run(n=2)
    assert run.cache_hits == ["base", "derived"]
    # Changing what a step does misses that step (and only what depends on its output).
    changed = _version(tmp_path, "v3", factor=3)
    run = changed.flow.run(n=2)
    assert run.steps["base"].cache_hit
    assert not run.steps["derived"].cache_hit
    assert run.outputs == 63


def test_change_in_a_called_helper_is_a_miss(home: Path, tmp_path: Path) -> None:
    _version(tmp_path, "h1").flow.run(n=2)
    run = _version(tmp_path, "h2", helper_add=5).flow.run(n=2)
    assert run.steps["base"].cache_hit
    assert not run.steps["derived"].cache_hit
    assert run.outputs == 50


def test_version_option_invalidates_by_hand(home: Path) -> None:
    @keel.step
    def value() -> int:
        return 1

    @keel.pipeline
    def flow():
        return value()

    flow.run()
    assert flow.run().cache_hits == ["value"]
    bumped = value.with_options(version="2")

    @keel.pipeline
    def flow2():
        return bumped()

    assert flow2.run().cache_hits == []


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_cache_is_shared_between_executors(home: Path, counter: Any, executor: str) -> None:
    log = counter.path("f")
    small.run(log=log, executor="inline")
    run = small.run(log=log, executor=executor)
    assert run.cache_hits == ["load", "summarize"]
