"""The code hash: what counts as a change of a step's code, and what does not."""

from __future__ import annotations

import textwrap
from typing import Any

from keel.pipelines._codehash import code_hash, is_user_code
from keel.pipelines._types import compatible, value_matches


def _define(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "user_module"}
    exec(compile(textwrap.dedent(source), "<user>", "exec"), namespace)
    return namespace


def test_bytecode_hash_for_code_without_source() -> None:
    a = _define("def f(x):\n    return x + 1\n")["f"]
    b = _define("def f(x):\n    return x + 1\n")["f"]
    c = _define("def f(x):\n    return x + 2\n")["f"]
    assert code_hash(a) == code_hash(b) != code_hash(c)


def test_library_code_is_not_user_code() -> None:
    import json

    import pandas as pd

    assert not is_user_code(json.dumps)
    assert not is_user_code(pd.DataFrame)
    assert not is_user_code(code_hash)
    assert is_user_code(test_library_code_is_not_user_code)


def test_annotation_compatibility() -> None:
    import pandas as pd

    assert compatible(int, float)
    assert not compatible(float, int)
    assert compatible(pd.DataFrame, pd.DataFrame | None)
    assert not compatible(pd.DataFrame, str)
    assert compatible(list[int], list[int])
    assert not compatible(list[int], list[str])
    assert value_matches([1, 2], list[int])
    assert not value_matches([1, "a"], list[int])
    assert not value_matches(True, int)
    assert value_matches(None, int | None)
