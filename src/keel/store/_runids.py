"""Run ids as people type them: the full id or a unique prefix, as ``keel runs ls`` shows."""

from __future__ import annotations

from typing import Any

from keel.errors import InvalidArgumentError, NotFoundError

__all__ = ["resolve_run_prefix"]

_HEX = frozenset("0123456789abcdef")


def resolve_run_prefix(store: Any, run_id: str) -> str:
    """Expand a unique prefix of a run id into the full id, with ``store.find_runs``.

    Raises:
        InvalidArgumentError: The text is not hexadecimal, or the prefix is ambiguous.
        NotFoundError: No run id starts with the prefix.
    """
    if len(run_id) == 32:
        return run_id
    if not run_id or any(c not in _HEX for c in run_id):
        raise InvalidArgumentError(
            f"{run_id!r} is not a run id: run ids are 32 lowercase hexadecimal characters. "
            "Give the id or a unique prefix of it, as 'keel runs ls' shows."
        )
    matches = store.find_runs(run_id)
    if len(matches) == 1:
        return str(matches[0])
    if not matches:
        raise NotFoundError(
            f"No run has an id starting with {run_id!r}.", details={"run_id": run_id}
        )
    raise InvalidArgumentError(
        f"Run id prefix {run_id!r} is ambiguous: it matches {matches[:5]!r}. Give more characters."
    )
