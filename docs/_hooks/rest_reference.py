"""MkDocs hook: generate the REST reference from the server's OpenAPI spec at build time.

The spec comes from the FastAPI routers of ``keel server`` (no store is opened): every route
becomes a section with its method, path, the action it is authorized as, its parameters and
its request body, and the spec itself is published as ``reference/openapi.json``. While the
``keel.server`` package does not exist the page and its navigation entry are left out; once it
exists, any error building the spec fails the build.
"""

from __future__ import annotations

import json
from typing import Any

from mkdocs.structure.files import File, Files

PAGE = "reference/rest.md"
SPEC = "reference/openapi.json"
_spec: dict[str, Any] | None = None


def build_spec() -> dict[str, Any] | None:
    """Return the OpenAPI spec of the server's routes, or ``None`` without a server package."""
    try:
        import keel.server  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("keel.server"):
            return None
        raise
    from fastapi import FastAPI

    from keel._version import __version__
    from keel.server._app import _declare_bearer_auth, api_routers

    app = FastAPI(
        title="Keel",
        version=__version__,
        description="The REST API of a Keel server. Send 'Authorization: Bearer <token>'.",
    )
    for router in api_routers():
        app.include_router(router)
    _declare_bearer_auth(app)  # the same security scheme as the running server's spec
    spec: dict[str, Any] = app.openapi()
    return spec


def _schema_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if ref:
        return f"`{ref.rsplit('/', 1)[-1]}`"
    if schema.get("type") == "array":
        return f"array of {_schema_name(schema.get('items', {}))}"
    return f"`{schema.get('type', 'object')}`"


def render(spec: dict[str, Any]) -> str:
    """Return the Markdown of the REST reference."""
    out = [
        "# REST API reference",
        "",
        f"Generated from the OpenAPI spec of `keel server` {spec['info']['version']} at "
        f"documentation build time (the spec itself: [openapi.json](openapi.json)). "
        "Send `Authorization: Bearer <token>`; errors come back as "
        '`{"error_code", "message", "details"}`.',
        "",
        "| method | path | action | summary |",
        "| --- | --- | --- | --- |",
    ]
    sections: list[str] = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            action = op.get("x-keel-action", "")
            summary = op.get("summary", "")
            anchor = op.get("operationId", f"{method}-{path}")
            out.append(f"| `{method.upper()}` | [`{path}`](#{anchor}) | `{action}` | {summary} |")
            sections += [f"## {method.upper()} `{path}` {{#{anchor}}}", ""]
            if op.get("description"):
                sections += [op["description"].strip(), ""]
            if action:
                sections += [
                    f"Authorized as `{action}` on `{op.get('x-keel-resource', '')}`.",
                    "",
                ]
            params = op.get("parameters", [])
            if params:
                sections += ["| parameter | in | type | required |", "| --- | --- | --- | --- |"]
                sections += [
                    f"| `{p['name']}` | {p.get('in', '')} | {_schema_name(p.get('schema', {}))} "
                    f"| {'yes' if p.get('required') else 'no'} |"
                    for p in params
                ]
                sections.append("")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                sections += [f"Body (`{media}`): {_schema_name(content.get('schema', {}))}.", ""]
            codes = ", ".join(f"`{c}`" for c in op.get("responses", {}))
            sections += [f"Responses: {codes}.", ""]
    return "\n".join([*out, "", *sections]) + "\n"


def on_config(config: Any) -> Any:
    """Build the spec once and add the page to the Reference section of the navigation."""
    global _spec
    _spec = build_spec()
    if _spec is None:
        return config
    for item in config["nav"] or []:
        if isinstance(item, dict) and "Reference" in item:
            item["Reference"].append({"REST API": PAGE})
    return config


def on_files(files: Files, config: Any) -> Files:
    """Add the generated REST reference and the spec to the site."""
    if _spec is not None:
        files.append(File.generated(config, PAGE, content=render(_spec)))
        files.append(File.generated(config, SPEC, content=json.dumps(_spec, indent=1)))
    return files
