"""``keel quickstart``: the whole lifecycle on built-in data, growing with each capability.

The stages (``STAGES`` in ``_main``): ingest and validate a dataset, define and materialize
features, train with tuning as tracked runs, register and gate the best model, serve it, monitor
drifting traffic, register new data, and let an automation policy retrain, compare challenger and
champion, and promote through a canary. It ends with a summary read back from the store (stage
timings, metrics, drift, the new champion's lineage, the audit chain) and how to look at it all;
``keel quickstart --keep DIR`` leaves the store in ``DIR``.
"""

from __future__ import annotations

from keel.quickstart._main import QuickstartResult, run_quickstart

__all__ = ["QuickstartResult", "run_quickstart"]
