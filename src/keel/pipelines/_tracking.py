"""The bridge from a step to tracking: make the pipeline's run the active run where it executes.

A step may log metrics (``keel.log_metric``) or start nested runs (``keel.start_run``) as any
code can; those calls need an active run. In the coordinating thread the pipeline's run is
active already. In a worker process (or a Ray worker) this module makes the same run active for
the duration of the step, without starting or ending it.

This module is the one place in ``keel.pipelines`` that reaches into the tracking package's
thread-local run stack; tracking has no public "activate an existing run" call yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keel.store import RunInfo

__all__ = ["activated", "flush_tracking"]


@contextmanager
def activated(info: RunInfo) -> Iterator[None]:
    """Make the existing run ``info`` the active run of this thread while the block runs."""
    from keel.tracking import _fluent

    stack = _fluent._state.stack
    if stack and stack[-1].id == info.id:
        yield
        return
    run = _fluent.ActiveRun(info)
    stack.append(run)
    try:
        yield
    finally:
        if run in stack:
            stack.remove(run)


def flush_tracking() -> None:
    """Write metrics buffered by the step, if tracking was used in this process."""
    import sys

    module = sys.modules.get("keel.tracking._client")
    client = getattr(module, "_client", None) if module is not None else None
    if client is not None:
        client.flush()
