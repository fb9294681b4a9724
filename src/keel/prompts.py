"""Versioned prompts: ``keel.prompts.register``, ``get``, ``set_alias``, ``promote``, ``diff``.

A thin namespace over :mod:`keel.llm`, which also holds evaluations and traces::

    p = keel.prompts.register("support-answer", template="Answer as {tone}: {question}",
                              model_params={"temperature": 0.2})
    keel.prompts.get("support-answer@production").format(tone="friendly", question="...")
    keel.prompts.promote("support-answer", 2, to="production", evaluation=results)
"""

from __future__ import annotations

from keel.llm._prompts import (
    Prompt,
    PromptVersion,
    alias_history,
    delete_alias,
    diff,
    get,
    list_prompts,
    list_versions,
    parse_ref,
    promote,
    register,
    set_alias,
    template_variables,
)

__all__ = [
    "Prompt",
    "PromptVersion",
    "alias_history",
    "delete_alias",
    "diff",
    "get",
    "list",
    "list_prompts",
    "list_versions",
    "parse_ref",
    "promote",
    "register",
    "set_alias",
    "template_variables",
    "versions",
]

#: ``keel.prompts.list()``: every prompt, by name.
list = list_prompts
#: ``keel.prompts.versions(name)``: every version of a prompt, oldest first.
versions = list_versions
