"""``keel quickstart``: the whole lifecycle on built-in data, growing with each capability.

Today's stages: generate a tabular classification dataset, train a small model over a few
hyper-parameter settings as tracked runs (params, a loss curve per epoch, final metrics, a
confusion matrix and the run's report as artifacts), pick the best run by search, and print how
to look at everything.
"""

from __future__ import annotations

from keel.quickstart._main import QuickstartResult, run_quickstart

__all__ = ["QuickstartResult", "run_quickstart"]
