"""Versioned prompts: register, get by version or alias, format, aliases, gated promotion.

A prompt version is immutable: its template and model parameters are pinned by a digest, and
registering the same content again returns the latest version instead of adding one. Aliases
(``production``, ``staging``...) move atomically and every move is audited and kept in the
alias history; :func:`promote` moves one only when an evaluation shows that the candidate
scores at least as well as the version the alias points at, on the same evaluation set.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, InvalidStateError, ValidationFailedError
from keel.llm._client import get_llm_client

if TYPE_CHECKING:
    from keel.llm._evaluate import EvaluationResult
    from keel.store._llm import EvaluationRecord, PromptAliasMoveRecord, PromptVersionRecord

__all__ = [
    "OPERATIONAL_SCORERS",
    "Prompt",
    "PromptVersion",
    "alias_history",
    "delete_alias",
    "diff",
    "get",
    "list_prompts",
    "list_versions",
    "parse_ref",
    "promote",
    "register",
    "set_alias",
    "template_variables",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,127}$")

#: Scorers that measure cost and speed, not quality: promotion gates skip them by default.
OPERATIONAL_SCORERS = ("latency", "token_cost")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"A prompt name is 1 to 256 letters, digits, '_', '-' or '.', starting with a "
            f"letter or digit; got {name!r}."
        )
    return name


def _check_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not _ALIAS.match(alias) or alias == "latest":
        raise InvalidArgumentError(
            f"An alias is a letter then up to 127 letters, digits, '_' or '-' (and not "
            f"'latest', which always means the newest version); got {alias!r}."
        )
    return alias


def template_variables(template: str) -> list[str]:
    """Return the names of the ``{variables}`` of a template, in order of first use.

    Raises:
        InvalidArgumentError: The template is malformed (an unmatched brace) or uses a
            positional field (``{}`` or ``{0}``).
    """
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidArgumentError(
            f"Template {template[:60]!r} is malformed: {exc}. Write literal braces as '{{{{' "
            "and '}}}}'."
        ) from exc
    for _, field_name, _, _ in parsed:
        if field_name is None:
            continue
        root = re.split(r"[.\[]", field_name, maxsplit=1)[0]
        if not root or root.isdigit():
            raise InvalidArgumentError(
                f"Template {template[:60]!r} has a positional field {{{field_name}}}; name "
                "every variable, as in {question}."
            )
        if root not in names:
            names.append(root)
    return names


def _digest(template: str, model_params: Mapping[str, Any]) -> str:
    payload = json.dumps({"template": template, "model_params": model_params}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class PromptVersion:
    """One immutable version of a prompt.

    Attributes:
        name: The prompt's name.
        version: The version number.
        template: The template, with ``{variables}`` in :meth:`str.format` syntax.
        model_params: Parameters for the model call (``temperature``, ``max_tokens``...).
        variables: The template's variables, in order of first use.
        digest: sha256 of the template and the parameters.
        aliases: The aliases pointing at this version.
        description: What changed.
        created_at: When it was registered (epoch milliseconds).
        created_by: Who registered it.
    """

    name: str
    version: int
    template: str
    model_params: dict[str, Any]
    variables: list[str]
    digest: str
    aliases: list[str] = field(default_factory=list)
    description: str = ""
    created_at: int = 0
    created_by: str = ""

    @property
    def ref(self) -> str:
        """``name/3``: the version's reference (and lineage id)."""
        return f"{self.name}/{self.version}"

    def lineage_node(self) -> tuple[str, str]:
        """Return ``("prompt_version", "name/3")`` for ``keel.log_input``."""
        return ("prompt_version", self.ref)

    def format(self, **variables: Any) -> str:
        """Fill in the template.

        Raises:
            InvalidArgumentError: A variable is missing (the message names it) or an unknown
                one was given.
        """
        missing = [v for v in self.variables if v not in variables]
        extra = sorted(set(variables) - set(self.variables))
        if missing or extra:
            parts = []
            if missing:
                parts.append(
                    f"missing variable{'s' if len(missing) > 1 else ''} "
                    + ", ".join(repr(m) for m in missing)
                )
            if extra:
                parts.append(
                    "unknown variable"
                    + ("s " if len(extra) > 1 else " ")
                    + ", ".join(repr(e) for e in extra)
                )
            expected = ", ".join(repr(v) for v in self.variables) or "none"
            raise InvalidArgumentError(
                f"Cannot format prompt {self.ref!r}: {'; '.join(parts)}. It takes: {expected}.",
                details={"prompt": self.ref, "missing": missing, "unknown": extra},
            )
        return self.template.format(**variables)

    def __str__(self) -> str:
        return self.template


@dataclass(frozen=True)
class Prompt:
    """A named prompt.

    Attributes:
        name: The name.
        latest_version: The newest version number.
        aliases: ``{alias: version}``.
        description: What the prompt is for.
        created_at: When it was created (epoch milliseconds).
        created_by: Who created it.
    """

    name: str
    latest_version: int
    aliases: dict[str, int]
    description: str
    created_at: int
    created_by: str


def _to_version(r: PromptVersionRecord) -> PromptVersion:
    return PromptVersion(
        name=r.name,
        version=r.version,
        template=r.template,
        model_params=dict(r.model_params),
        variables=list(r.variables),
        digest=r.digest,
        aliases=list(r.aliases),
        description=r.description,
        created_at=r.created_at,
        created_by=r.created_by,
    )


def register(
    name: str,
    *,
    template: str,
    model_params: Mapping[str, Any] | None = None,
    description: str = "",
) -> PromptVersion:
    """Register a new version of a prompt (the prompt is created on first use).

    Registering the same template and parameters as the latest version returns that version.

    Args:
        name: The prompt's name.
        template: The text, with ``{variables}`` (``str.format`` syntax; ``{{`` for a brace).
        model_params: Parameters sent with each model call (JSON values).
        description: What this version changes.

    Raises:
        InvalidArgumentError: The name or template is malformed, or the parameters are not JSON.

    Examples:
        >>> p = keel.prompts.register("greet", template="Say hi to {who}.")  # doctest: +SKIP
        >>> p.format(who="Ada")  # doctest: +SKIP
        'Say hi to Ada.'
    """
    _check_name(name)
    if not isinstance(template, str) or not template.strip():
        raise InvalidArgumentError(f"A prompt template is a non-empty string, got {template!r}.")
    variables = template_variables(template)
    params = dict(model_params or {})
    try:
        json.dumps(params)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"model_params must be JSON values (numbers, strings, lists, dicts): {exc}."
        ) from exc
    record, _ = get_llm_client().repo.register_version(
        name,
        template=template,
        model_params=params,
        variables=variables,
        digest=_digest(template, params),
        description=description,
    )
    return _to_version(record)


def parse_ref(ref: str, version: int | str | None = None) -> tuple[str, int | str | None]:
    """Split ``"name@alias"``, ``"name/3"``, ``"name@v3"`` or ``"name"`` into name and selector.

    Returns:
        The name, and a version number, an alias, or ``None`` (the latest version).
    """
    if not isinstance(ref, str):
        raise InvalidArgumentError(f"A prompt reference is a string, got {ref!r}.")
    name, selector = ref, None
    if "@" in ref:
        name, _, selector = ref.partition("@")
    elif "/" in ref:
        name, _, selector = ref.partition("/")
    if version is not None:
        if selector is not None:
            raise InvalidArgumentError(
                f"Give the version in the reference {ref!r} or as version=, not both."
            )
        selector = str(version)
    _check_name(name)
    if selector is None or selector == "":
        return name, None
    text = selector[1:] if re.fullmatch(r"v\d+", selector) else selector
    if text.isdigit():
        return name, int(text)
    return name, selector


def get(ref: str, version: int | str | None = None) -> PromptVersion:
    """Return a prompt version: ``"name@production"``, ``"name/3"``, ``"name@v3"``, ``"name"``.

    A bare name (or ``@latest``) is the newest version.

    Raises:
        NotFoundError: The prompt, version or alias does not exist (near names are suggested).
    """
    name, selector = parse_ref(ref, version)
    repo = get_llm_client().repo
    if selector is None:
        return _to_version(repo.get_version_by_alias(name, "latest"))
    if isinstance(selector, int):
        return _to_version(repo.get_version(name, selector))
    return _to_version(repo.get_version_by_alias(name, selector))


def list_prompts() -> list[Prompt]:
    """Return every prompt, by name."""
    return [
        Prompt(r.name, r.latest_version, dict(r.aliases), r.description, r.created_at, r.created_by)
        for r in get_llm_client().repo.list_prompts()
    ]


def list_versions(name: str) -> list[PromptVersion]:
    """Return every version of a prompt, oldest first."""
    return [_to_version(r) for r in get_llm_client().repo.list_versions(name)]


def set_alias(name: str, alias: str, version: int, *, reason: str = "") -> PromptAliasMoveRecord:
    """Point ``alias`` at ``version`` without a gate (audited, kept in the alias history).

    Raises:
        NotFoundError: The prompt or version does not exist.
    """
    return get_llm_client().repo.move_alias(
        _check_name(name), _check_alias(alias), int(version), action="set", reason=reason
    )


def delete_alias(name: str, alias: str, *, reason: str = "") -> PromptAliasMoveRecord:
    """Remove an alias (audited, kept in its history)."""
    return get_llm_client().repo.move_alias(name, alias, None, action="delete", reason=reason)


def alias_history(name: str, alias: str | None = None) -> list[PromptAliasMoveRecord]:
    """Return every move of a prompt's aliases (or of one alias), oldest first."""
    return get_llm_client().repo.alias_history(name, alias)


def _evaluation_record(evaluation: EvaluationResult | str) -> EvaluationRecord:
    ident = evaluation if isinstance(evaluation, str) else getattr(evaluation, "id", None)
    if not isinstance(ident, str):
        raise InvalidArgumentError(
            f"evaluation is the result of keel.evaluate() or an evaluation id, got {evaluation!r}."
        )
    return get_llm_client().repo.get_evaluation(ident)


def _higher_is_better(record: EvaluationRecord, metric: str) -> bool:
    for spec in record.scorers:
        if spec.get("name") == metric:
            return bool(spec.get("higher_is_better", True))
    return True


def promote(
    name: str,
    version: int,
    *,
    to: str = "production",
    evaluation: EvaluationResult | str,
    metrics: Sequence[str] | None = None,
    tolerance: float = 0.0,
    reason: str = "",
) -> PromptAliasMoveRecord:
    """Move ``to`` to ``version`` if ``evaluation`` shows it is at least as good as the current.

    The gate: the evaluation must be of ``name/version``. If the alias points at a version
    already, that version's latest evaluation on the same evaluation set (same data digest)
    is the baseline, and the candidate must score at least as well on every compared metric
    (``>= baseline - tolerance``, or ``<=`` for lower-is-better scorers). The comparison is
    kept in the alias history and the audit log, and a lineage edge
    ``llm_evaluation -> prompt_version`` records which evaluation justified the move.

    Args:
        name: The prompt.
        version: The candidate version.
        to: The alias to move.
        evaluation: The candidate's evaluation (a result of :func:`keel.evaluate` or its id).
        metrics: The scorers to compare; by default every scorer both evaluations have,
            except the operational ones (``latency``, ``token_cost``).
        tolerance: How much worse a metric may be and still pass.
        reason: Why, kept with the move.

    Raises:
        InvalidArgumentError: The evaluation is not of this prompt version.
        InvalidStateError: The current version has no evaluation on the same set.
        ValidationFailedError: The candidate scores worse; nothing moved.
    """
    _check_alias(to)
    version = int(version)
    repo = get_llm_client().repo
    candidate = _evaluation_record(evaluation)
    if candidate.prompt_name != name or candidate.prompt_version != version:
        got = f"{candidate.prompt_name}/{candidate.prompt_version}"
        raise InvalidArgumentError(
            f"Evaluation {candidate.id[:8]!r} is of prompt {got!r}, not {name}/{version}; "
            f"evaluate {name}/{version} with keel.evaluate(..., prompt='{name}/{version}')."
        )
    current = repo.get_prompt(name).aliases.get(to)
    details: dict[str, Any] = {"candidate_evaluation": candidate.id, "comparison": {}}
    if current is not None and current != version:
        baselines = repo.list_evaluations(
            prompt_name=name, prompt_version=current, data_digest=candidate.data_digest, limit=1
        )
        if not baselines:
            raise InvalidStateError(
                f"Cannot compare {name}/{version} with {name}/{current} (now {to!r}): "
                f"{name}/{current} has no evaluation on the same set ({candidate.data_ref!r}). "
                f"Evaluate it first with keel.evaluate(..., prompt='{name}/{current}').",
                details={"prompt": name, "current": current},
            )
        baseline = baselines[0]
        details["baseline_evaluation"] = baseline.id
        shared = [
            k
            for k in candidate.summary.get("scores", {})
            if k in baseline.summary.get("scores", {})
        ]
        wanted = (
            list(metrics)
            if metrics is not None
            else [k for k in shared if k not in OPERATIONAL_SCORERS]
        )
        failures = []
        for metric in wanted:
            if metric not in shared:
                raise InvalidArgumentError(
                    f"Metric {metric!r} is not in both evaluations; they share: "
                    f"{', '.join(repr(s) for s in shared) or 'none'}."
                )
            new = candidate.summary["scores"][metric]
            old = baseline.summary["scores"][metric]
            higher = _higher_is_better(candidate, metric)
            ok = new is not None and (
                old is None or (new >= old - tolerance if higher else new <= old + tolerance)
            )
            details["comparison"][metric] = {
                "candidate": new,
                "current": old,
                "higher_is_better": higher,
                "passed": ok,
            }
            if not ok:
                failures.append(f"{metric} {new!r} vs {old!r}")
        for rate in ("error_rate",):
            new_r, old_r = candidate.summary.get(rate, 0.0), baseline.summary.get(rate, 0.0)
            ok = new_r <= old_r + tolerance
            details["comparison"][rate] = {"candidate": new_r, "current": old_r, "passed": ok}
            if not ok:
                failures.append(f"{rate} {new_r!r} vs {old_r!r}")
        if failures:
            raise ValidationFailedError(
                f"{name}/{version} did not score at least as well as {name}/{current} "
                f"({to!r}) on {candidate.data_ref!r}: {'; '.join(failures)}. {to!r} still "
                f"points at {current}.",
                details={"prompt": name, **details},
            )
    return repo.move_alias(
        name,
        to,
        version,
        action="promote",
        reason=reason,
        evaluation_id=candidate.id,
        details=details,
    )


def diff(a: str, b: str) -> str:
    """Return a unified diff of two prompt versions' templates and parameters.

    Args:
        a: A reference (``"name/1"``, ``"name@production"``).
        b: Another reference.
    """
    import difflib

    left, right = get(a), get(b)

    def lines(p: PromptVersion) -> list[str]:
        params = json.dumps(p.model_params, indent=2, sort_keys=True)
        return [*p.template.splitlines(), "", "# model_params", *params.splitlines()]

    return "\n".join(
        difflib.unified_diff(lines(left), lines(right), left.ref, right.ref, lineterm="")
    )
