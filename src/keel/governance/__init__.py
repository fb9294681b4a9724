"""Governance: principals, projects, roles, tokens and the one :func:`authorize` check.

Projects are the unit of access; users hold one role per project (``viewer``,
``contributor``, ``approver``, ``admin``, cumulative). The server authorizes every request with
:func:`authorize`, and embedded mode runs as :func:`local_principal`, a server administrator,
so both enforce the same rules. Accounts live in the metadata store (:class:`Governance`);
tokens are stored hashed, with expiry and revocation.
"""

from typing import TYPE_CHECKING, Any

from keel.governance._policy import (
    ACTIONS,
    ADMIN,
    GLOBAL_ACTIONS,
    ROLES,
    SELF_ACTIONS,
    Principal,
    Resource,
    authorize,
    can,
    check_role,
    current_principal,
    has_role,
    local_principal,
    require_role,
    role_allows,
    set_role_checker,
)

if TYPE_CHECKING:
    from keel.governance._accounts import (
        DEFAULT_PROJECT,
        Governance,
        IssuedToken,
        hash_secret,
        parse_token,
    )

    # -- lineage, audit log, compliance, cost (helper D) --------------------------------------
    # isort: split
    from keel.governance._auditlog import audit_log, parse_since, verify_audit
    from keel.governance._compliance import compliance_report, render_compliance_report
    from keel.governance._cost import DEFAULT_RATES, CostLine, CostRates, CostReport, cost
    from keel.governance._lineage import (
        NODE_KINDS,
        LineageGraph,
        LineageNode,
        lineage,
        parse_lineage_ref,
    )

    # -- end of lineage, audit log, compliance, cost ------------------------------------------
    # isort: split
    from keel.governance._gc import GcReport, PurgeReport, collect_garbage, purge_dataset_version
    from keel.governance._retention import RetentionPolicy, get_retention, set_retention

#: Names loaded on first use: they need the metadata store (SQLAlchemy), which the role check
#: that ``keel.registry`` imports does not. ``name -> submodule``.
_LAZY: dict[str, str] = {
    "DEFAULT_PROJECT": "_accounts",
    "Governance": "_accounts",
    "IssuedToken": "_accounts",
    "hash_secret": "_accounts",
    "parse_token": "_accounts",
    # -- lineage, audit log, compliance, cost (helper D) --
    "audit_log": "_auditlog",
    "parse_since": "_auditlog",
    "verify_audit": "_auditlog",
    "compliance_report": "_compliance",
    "render_compliance_report": "_compliance",
    "DEFAULT_RATES": "_cost",
    "CostLine": "_cost",
    "CostRates": "_cost",
    "CostReport": "_cost",
    "cost": "_cost",
    "NODE_KINDS": "_lineage",
    "LineageGraph": "_lineage",
    "LineageNode": "_lineage",
    "lineage": "_lineage",
    "parse_lineage_ref": "_lineage",
    # -- end of lineage, audit log, compliance, cost --
    "GcReport": "_gc",
    "PurgeReport": "_gc",
    "collect_garbage": "_gc",
    "purge_dataset_version": "_gc",
    "RetentionPolicy": "_retention",
    "get_retention": "_retention",
    "set_retention": "_retention",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keel.governance' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"keel.governance.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ACTIONS",
    "ADMIN",
    "DEFAULT_PROJECT",
    "GLOBAL_ACTIONS",
    "ROLES",
    "SELF_ACTIONS",
    "Governance",
    "IssuedToken",
    "Principal",
    "Resource",
    "authorize",
    "can",
    "check_role",
    "current_principal",
    "has_role",
    "hash_secret",
    "local_principal",
    "parse_token",
    "require_role",
    "role_allows",
    "set_role_checker",
    # -- lineage, audit log, compliance, cost (helper D) --
    "DEFAULT_RATES",
    "NODE_KINDS",
    "CostLine",
    "CostRates",
    "CostReport",
    "LineageGraph",
    "LineageNode",
    "audit_log",
    "compliance_report",
    "cost",
    "lineage",
    "parse_lineage_ref",
    "parse_since",
    "render_compliance_report",
    "verify_audit",
    # -- garbage collection and retention --
    "GcReport",
    "PurgeReport",
    "RetentionPolicy",
    "collect_garbage",
    "get_retention",
    "purge_dataset_version",
    "set_retention",
]
