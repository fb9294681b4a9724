"""``keel deploy``: record deployments, split their traffic, roll back, write deployment targets.

::

    keel deploy churn --alias champion --name churn-prod      # a new deployment of model churn
    keel deploy churn-prod --canary 4:10                       # 10% of requests to version 4
    keel deploy churn-prod --shadow 4                          # v4 on every request, unseen
    keel deploy churn-prod --canary off --shadow off
    keel deploy rollback churn-prod                            # undo the last change
    keel deploy ls | show churn-prod
    keel deploy churn-prod --target k8s --out deploy/          # Dockerfile and manifests
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from keel.cli._output import console, fmt_time
from keel.errors import InvalidArgumentError

if TYPE_CHECKING:
    from keel.store._serving import DeploymentRecord, DeploymentSpec

_VERBS = ("ls", "show", "rollback")


def _traffic(spec: DeploymentSpec) -> str:
    serves = f"@{spec.alias}" if spec.alias else f"v{spec.version}"
    parts = [serves]
    if spec.canary_version is not None and spec.canary_percent:
        parts.append(f"canary v{spec.canary_version} {spec.canary_percent:g}%")
    if spec.shadow_version is not None:
        parts.append(f"shadow v{spec.shadow_version}")
    return ", ".join(parts)


def _show(record: DeploymentRecord) -> None:
    from keel.serving import deployment_history

    spec = record.spec
    info = Table(title=f"Deployment {record.name}", show_header=False)
    info.add_column("field", style="bold")
    info.add_column("value")
    info.add_row("model", spec.model_name)
    info.add_row("serves", f"alias {spec.alias}" if spec.alias else f"version {spec.version}")
    if spec.canary_version is not None and spec.canary_percent:
        info.add_row("canary", f"version {spec.canary_version}, {spec.canary_percent:g}%")
    if spec.shadow_version is not None:
        info.add_row("shadow", f"version {spec.shadow_version}")
    info.add_row("feature service", spec.feature_service or "- (the model's own)")
    info.add_row("revision", str(record.revision))
    info.add_row("updated", f"{fmt_time(record.updated_at)} by {record.updated_by}")
    if record.description:
        info.add_row("description", record.description)
    console.print(info)
    history = Table(title="History")
    for col in ("revision", "action", "traffic", "when", "who", "reason"):
        history.add_column(col)
    for e in deployment_history(record.name):
        history.add_row(
            str(e.revision), e.action, _traffic(e.spec), fmt_time(e.created_at), e.actor,
            e.reason or "-",
        )  # fmt: skip
    console.print(history)


def _list() -> None:
    from keel.serving import list_deployments

    found = list_deployments()
    table = Table(title="Deployments")
    for col in ("name", "model", "traffic", "revision", "updated"):
        table.add_column(col)
    for d in found:
        table.add_row(
            d.name, d.spec.model_name, _traffic(d.spec), str(d.revision), fmt_time(d.updated_at)
        )
    console.print(table)
    if not found:
        console.print("[dim]No deployments yet: keel deploy MODEL --alias champion --name NAME[/]")


def _version_or_off(text: str) -> int | None:
    if text.strip().lower() in ("off", "none"):
        return None
    if not text.isdigit() or int(text) < 1:
        raise InvalidArgumentError(
            f"Invalid shadow {text!r}: give a version number, such as '4', or 'off'."
        )
    return int(text)


def deploy(
    what: Annotated[
        str,
        typer.Argument(
            help="A model to deploy (with --name), a deployment to change, or one of "
            "'ls', 'show NAME', 'rollback NAME'.",
            metavar="MODEL|DEPLOYMENT|ls|show|rollback",
        ),
    ],
    deployment_name: Annotated[
        str | None, typer.Argument(help="The deployment, after show or rollback.", metavar="[NAME]")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Name of the new deployment of MODEL.")
    ] = None,
    alias: Annotated[
        str | None, typer.Option(help="Follow this alias of MODEL (moves are picked up).")
    ] = None,
    version: Annotated[int | None, typer.Option(help="Pin this version of MODEL.", min=1)] = None,
    canary: Annotated[
        str | None, typer.Option(help="VERSION:PERCENT of requests to a canary, or 'off'.")
    ] = None,
    shadow: Annotated[
        str | None, typer.Option(help="VERSION to run on every request unseen, or 'off'.")
    ] = None,
    feature_service: Annotated[
        str | None, typer.Option(help="Feature service for entity lookups.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why; kept in the history and audit log.")] = "",
    target: Annotated[
        str | None, typer.Option(help="Write deployment files: 'docker' or 'k8s'.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the files of --target.")] = None,
) -> None:
    """Record a deployment, split its traffic (canary, shadow), roll it back, or list them."""
    import keel.serving as ks

    if what in _VERBS and name is None:
        if what == "ls":
            _list()
            return
        if deployment_name is None:
            raise InvalidArgumentError(f"'keel deploy {what}' needs a deployment name.")
        if what == "show":
            _show(ks.get_deployment(deployment_name))
            return
        record = ks.rollback(deployment_name, reason=reason)
        console.print(
            f"Rolled back [bold]{record.name}[/] to revision {record.revision - 2}'s settings: "
            f"{_traffic(record.spec)} (now revision {record.revision})."
        )
        return
    if deployment_name is not None:
        raise InvalidArgumentError(
            f"Unexpected argument {deployment_name!r}: name a new deployment with --name."
        )
    if name is not None:
        if alias is None and version is None:
            alias = "champion"
        record = ks.create_deployment(
            name,
            what,
            alias=alias,
            version=version,
            feature_service=feature_service,
            reason=reason,
        )
        console.print(
            f"Deployment [bold]{record.name}[/] serves {what} {_traffic(record.spec)}. "
            f"Serve it with: keel serve {record.name}"
        )
    elif alias is not None or version is not None:
        record = ks.set_target(what, alias=alias, version=version, reason=reason)
        console.print(f"[bold]{record.name}[/] now serves {_traffic(record.spec)}.")
    changed = False
    if canary is not None:
        canary_version, percent = ks.parse_canary(canary)
        record = ks.set_canary(name or what, canary_version, percent, reason=reason)
        changed = True
    if shadow is not None:
        record = ks.set_shadow(name or what, _version_or_off(shadow), reason=reason)
        changed = True
    if changed:
        console.print(
            f"[bold]{record.name}[/] revision {record.revision}: {_traffic(record.spec)}. "
            "Running servers switch within a second."
        )
    if target is not None:
        if out is None:
            raise InvalidArgumentError("--target needs --out DIR, the folder to write into.")
        import importlib

        # Written by the deployment-targets work; imported lazily so deploy works without it.
        targets = importlib.import_module("keel.serving._targets")
        written = targets.write_targets(name or what, target=target, out=out)
        console.print(f"Wrote the {target} files of {name or what} to [cyan]{out}[/]")
        for path in written or []:
            console.print(f"  {path}")
    elif name is None and alias is None and version is None and not changed:
        raise InvalidArgumentError(
            f"Nothing to do for {what!r}: give --name to deploy a model, --canary or --shadow "
            "to change a deployment, --target and --out to write deployment files, or use "
            "'keel deploy ls | show NAME | rollback NAME'."
        )
