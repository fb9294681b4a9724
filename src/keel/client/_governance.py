"""Governance reads and online features from a remote ``keel server``, as the embedded calls.

Each function returns what its embedded counterpart in :mod:`keel.governance` (or
:mod:`keel.features`) returns, so the command line can print either the same way.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from keel.config import Settings, get_settings
from keel.errors import InvalidArgumentError
from keel.store._rest import RestTransport, is_remote_uri

if TYPE_CHECKING:
    from keel.governance._cost import CostReport
    from keel.governance._lineage import LineageGraph
    from keel.store.entities import AuditEvent, ChainVerification

__all__ = [
    "audit_log",
    "compliance_report_text",
    "cost",
    "lineage",
    "remote_audit_log",
    "remote_compliance_report",
    "remote_cost",
    "remote_lineage",
    "remote_online_features",
    "remote_verify_audit",
    "verify_audit",
]


def _transport(settings: Settings | None) -> RestTransport:
    settings = settings or get_settings()
    if not is_remote_uri(settings.tracking_uri):
        raise InvalidArgumentError(
            f"KEEL_TRACKING_URI is {settings.tracking_uri!r}, not a server URL: call the "
            "embedded functions of keel.governance instead, or set KEEL_TRACKING_URI=http://..."
        )
    assert settings.tracking_uri is not None
    return RestTransport(settings.tracking_uri, settings.token)


def _since(value: Any) -> str | None:
    return None if value is None else str(value)


def remote_lineage(
    ref: str,
    direction: str = "upstream",
    depth: int | None = None,
    *,
    settings: Settings | None = None,
) -> LineageGraph:
    """:func:`keel.governance.lineage` on the server (foreign projects' nodes hidden)."""
    from keel.governance._lineage import LineageGraph, LineageNode
    from keel.store.entities import LineageEdge

    params: dict[str, Any] = {"ref": ref, "direction": direction}
    if depth is not None:
        params["depth"] = depth
    data = _transport(settings).request("GET", "/lineage", params=params)
    nodes = [
        LineageNode(n["kind"], n["id"], int(n["depth"]), dict(n["properties"]))
        for n in data["nodes"]
    ]
    edges = []
    for e in data["edges"]:
        sk, _, si = str(e["source"]).partition(":")
        tk, _, ti = str(e["target"]).partition(":")
        edges.append(
            LineageEdge(sk, si, tk, ti, e["relation"], int(e["created_at"]), e["properties"])
        )
    return LineageGraph(
        root=nodes[0],
        direction=data["direction"],
        depth=data["depth"],
        nodes=nodes,
        edges=edges,
        truncated=bool(data["truncated"]),
    )


def remote_audit_log(
    since: Any = None,
    *,
    until: Any = None,
    actor: str | None = None,
    action: str | None = None,
    resource: str | None = None,
    limit: int = 100,
    settings: Settings | None = None,
) -> list[AuditEvent]:
    """:func:`keel.governance.audit_log` on the server (server administrators only)."""
    from keel.store.entities import AuditEvent

    params = {
        "since": _since(since),
        "until": _since(until),
        "actor": actor,
        "action": action,
        "resource": resource,
        "limit": limit,
    }
    params = {k: v for k, v in params.items() if v is not None}
    data = _transport(settings).request("GET", "/audit-events", params=params)
    return [AuditEvent(**e) for e in data["events"]]


def remote_verify_audit(*, settings: Settings | None = None) -> ChainVerification:
    """:func:`keel.governance.verify_audit` on the server (server administrators only)."""
    from keel.store.entities import ChainVerification

    return ChainVerification(**_transport(settings).request("GET", "/audit-events/verify"))


def remote_compliance_report(
    name: str, version: int, format: str = "html", *, settings: Settings | None = None
) -> str:
    """The rendered compliance report of a model version (``html`` or ``md``)."""
    from keel.store._rest import _seg

    resp = _transport(settings).request(
        "GET",
        f"/models/{_seg(name)}/versions/{int(version)}/compliance-report",
        params={"format": format},
        stream=True,
    )
    try:
        return str(resp.read().decode("utf-8"))
    finally:
        resp.close()


def remote_cost(
    by: str = "model",
    since: Any = "30d",
    until: Any = None,
    *,
    settings: Settings | None = None,
) -> CostReport:
    """:func:`keel.governance.cost` on the server, at the server's rates (administrators only)."""
    from keel.governance._cost import CostLine, CostRates, CostReport

    params = {"by": by, "since": _since(since), "until": _since(until)}
    params = {k: v for k, v in params.items() if v is not None}
    data = _transport(settings).request("GET", "/costs", params=params)
    fields = {f.name for f in dataclasses.fields(CostLine)}

    def line(d: dict[str, Any]) -> CostLine:
        return CostLine(**{k: v for k, v in d.items() if k in fields})

    return CostReport(
        by=data["by"],
        since=data["since"],
        until=data["until"],
        rates=CostRates(**data["rates"]),
        lines=[line(d) for d in data["lines"]],
        total=line(data["total"]),
    )


def remote_online_features(
    entities: list[dict[str, Any]],
    *,
    features: list[str] | None = None,
    feature_service: str | None = None,
    request_data: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> dict[str, list[Any]]:
    """Online feature values from the server: name ``features`` or a ``feature_service``."""
    body: dict[str, Any] = {"entities": entities}
    if features is not None:
        body["features"] = features
    if feature_service is not None:
        body["feature_service"] = feature_service
    if request_data is not None:
        body["request_data"] = request_data
    result: dict[str, list[Any]] = _transport(settings).request(
        "POST", "/features/online", body=body
    )
    return result


# -- one call for both modes (what the command line uses) -----------------------------------


def _remote() -> bool:
    return is_remote_uri(get_settings().tracking_uri)


def lineage(ref: str, direction: str = "upstream", depth: int | None = None) -> LineageGraph:
    """:func:`keel.governance.lineage`, on the server when ``KEEL_TRACKING_URI`` is one."""
    if _remote():
        return remote_lineage(ref, direction, depth)
    from keel.governance._lineage import lineage as walk

    return walk(ref, direction, depth)


def audit_log(
    since: Any = None,
    *,
    until: Any = None,
    actor: str | None = None,
    action: str | None = None,
    resource: str | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """:func:`keel.governance.audit_log`, on the server when ``KEEL_TRACKING_URI`` is one."""
    kw: dict[str, Any] = {
        "until": until,
        "actor": actor,
        "action": action,
        "resource": resource,
        "limit": limit,
    }
    if _remote():
        return remote_audit_log(since, **kw)
    from keel.governance._auditlog import audit_log as embedded

    return embedded(since, **kw)


def verify_audit() -> ChainVerification:
    """:func:`keel.governance.verify_audit`, on the server when ``KEEL_TRACKING_URI`` is one."""
    if _remote():
        return remote_verify_audit()
    from keel.governance._auditlog import verify_audit as embedded

    return embedded()


def compliance_report_text(name: str, version: int, format: str = "html") -> str:
    """A rendered compliance report, from the server when ``KEEL_TRACKING_URI`` is one."""
    if _remote():
        return remote_compliance_report(name, version, format)
    from keel.governance._compliance import compliance_report, render_compliance_report

    return render_compliance_report(compliance_report(name, version), format)


def cost(by: str = "model", since: Any = "30d", until: Any = None) -> CostReport:
    """:func:`keel.governance.cost`, on the server when ``KEEL_TRACKING_URI`` is one."""
    if _remote():
        return remote_cost(by, since, until)
    from keel.governance._cost import cost as embedded

    return embedded(by, since, until)
