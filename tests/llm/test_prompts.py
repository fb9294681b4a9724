"""Versioned prompts: immutable versions, references, aliases and their audited history."""

from __future__ import annotations

from typing import Any

import pytest

import keel
from keel.errors import InvalidArgumentError, NotFoundError
from keel.llm._client import get_llm_client

TEMPLATE = "Answer as {tone}: {question}\nContext: {context}"


def test_versions_are_immutable_and_numbered(keel_env: Any) -> None:
    v1 = keel.prompts.register("support-answer", template=TEMPLATE, model_params={"t": 0.2})
    assert (v1.version, v1.variables) == (1, ["tone", "question", "context"])
    again = keel.prompts.register("support-answer", template=TEMPLATE, model_params={"t": 0.2})
    assert again.version == 1  # same content: the latest version, nothing new
    v2 = keel.prompts.register("support-answer", template=TEMPLATE, model_params={"t": 0.5})
    assert v2.version == 2
    assert v2.digest != v1.digest
    assert [v.version for v in keel.prompts.versions("support-answer")] == [1, 2]
    assert keel.prompts.get("support-answer").version == 2  # bare name: the latest
    assert keel.prompts.get("support-answer/1").model_params == {"t": 0.2}
    assert keel.prompts.get("support-answer@v1").version == 1
    assert keel.prompts.get("support-answer", version=1).version == 1
    assert [p.name for p in keel.prompts.list()] == ["support-answer"]
    events = get_llm_client().store.list_audit_events()
    assert [e.resource_id for e in events if e.action == "prompt.register"] == [
        "support-answer/1",
        "support-answer/2",
    ]


def test_aliases_move_and_keep_their_history(keel_home: Any) -> None:
    keel.prompts.register("p", template="A {x}")
    keel.prompts.register("p", template="B {x}")
    keel.prompts.set_alias("p", "staging", 1, reason="first")
    keel.prompts.set_alias("p", "staging", 2)
    assert keel.prompts.get("p@staging").version == 2
    assert keel.prompts.get("p/2").aliases == ["staging"]
    assert keel.prompts.get("p/1").aliases == []
    history = keel.prompts.alias_history("p", "staging")
    assert [(m.from_version, m.to_version) for m in history] == [(None, 1), (1, 2)]
    assert history[0].reason == "first"
    keel.prompts.delete_alias("p", "staging")
    with pytest.raises(NotFoundError, match="has no alias 'staging'"):
        keel.prompts.get("p@staging")
    actions = [e.action for e in get_llm_client().store.list_audit_events()]
    assert actions.count("prompt.alias.set") == 2
    assert "prompt.alias.delete" in actions


def test_format_fills_variables_and_names_missing_ones(keel_home: Any) -> None:
    p = keel.prompts.register("support-answer", template=TEMPLATE)
    text = keel.prompts.get("support-answer@latest").format(
        tone="friendly", question="Where is my order?", context="order 7 shipped"
    )
    assert text == "Answer as friendly: Where is my order?\nContext: order 7 shipped"
    with pytest.raises(InvalidArgumentError, match="missing variable 'context'") as info:
        p.format(tone="friendly", question="q")
    assert info.value.details["missing"] == ["context"]
    with pytest.raises(InvalidArgumentError, match="unknown variable 'contxt'"):
        p.format(tone="friendly", question="q", context="c", contxt="typo")


def test_bad_templates_names_and_references(keel_home: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="malformed"):
        keel.prompts.register("bad", template="Hello {name")
    with pytest.raises(InvalidArgumentError, match="positional field"):
        keel.prompts.register("bad", template="Hello {}")
    with pytest.raises(InvalidArgumentError, match="prompt name"):
        keel.prompts.register("no spaces allowed", template="x")
    with pytest.raises(InvalidArgumentError, match="model_params must be JSON"):
        keel.prompts.register("bad", template="x", model_params={"f": object()})
    literal = keel.prompts.register("json-out", template='Reply {{"a": {value}}}')
    assert literal.variables == ["value"]
    assert literal.format(value=1) == 'Reply {"a": 1}'
    keel.prompts.register("support-answer", template="x")
    with pytest.raises(NotFoundError, match="Did you mean 'support-answer'"):
        keel.prompts.get("support-answr")
    with pytest.raises(NotFoundError, match="no version 9"):
        keel.prompts.get("support-answer/9")
    with pytest.raises(InvalidArgumentError, match="not 'latest'"):
        keel.prompts.set_alias("support-answer", "latest", 1)


def test_diff_shows_template_and_parameter_changes(keel_home: Any) -> None:
    keel.prompts.register("p", template="Hello {name}", model_params={"temperature": 0.2})
    keel.prompts.register("p", template="Hi {name}!", model_params={"temperature": 0.7})
    text = keel.prompts.diff("p/1", "p/2")
    assert "-Hello {name}" in text
    assert "+Hi {name}!" in text
    assert '+  "temperature": 0.7' in text
