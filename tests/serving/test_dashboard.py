"""The Grafana dashboard charts metrics a real ``keel serve`` exports, with the labels it uses.

`keel monitor grafana` promises one dashboard for monitors and serving; this checks the names
and label keys of every query against the ``/metrics`` text of a served model (over HTTP).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.serving.conftest import MODEL, Models, records, serving

_METRIC = re.compile(r"\b(keel_[a-z_]+)\{([^}]*)\}")


def _exported(text: str) -> dict[str, set[str]]:
    """``{metric family: label keys}`` of the exposition text (buckets fold into their family)."""
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"(keel_[a-z_]+)(?:\{([^}]*)\})?", line)
        if not m:
            continue
        name = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        keys = {kv.split("=", 1)[0] for kv in (m.group(2) or "").split(",") if kv}
        out.setdefault(name, set()).update(keys)
    return out


def test_dashboard_queries_name_metrics_and_labels_serving_exports(
    models: Models, keel_home: Path
) -> None:
    import keel.monitoring as km

    dashboard = km.grafana_dashboard()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    serving_queries = [(n, labels) for e in exprs for n, labels in _METRIC.findall(e)]
    serving_queries = [(n, lab) for n, lab in serving_queries if n.startswith("keel_serving")]
    assert serving_queries, "the dashboard charts no serving metric"

    with serving(f"models:/{MODEL}@champion", monitor_metrics=True) as s:
        s.predict({"instances": records(2)})
        exported = _exported(s.client.get("/metrics").text)

    for name, labels in serving_queries:
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert family in exported, f"dashboard queries {name}, serving exports {sorted(exported)}"
        keys = {part.split("=", 1)[0].strip().rstrip("=~!") for part in labels.split(",") if part}
        assert keys <= exported[family] | {"le"}, (name, keys, exported[family])
