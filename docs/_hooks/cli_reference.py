"""MkDocs hook: generate ``reference/cli.md`` from the Typer app at build time.

The page is never committed: every build walks the Click command tree behind ``keel`` (Typer
builds on Click, a copy of which recent Typer vendors, so the walk uses Click's interface
without importing ``click``) and writes each command's usage, help text and options, so the
reference cannot fall behind the code.
"""

from __future__ import annotations

from typing import Any

from mkdocs.structure.files import File, Files

PAGE = "reference/cli.md"


def _is_group(cmd: Any) -> bool:
    return hasattr(cmd, "list_commands")


def _usage(ctx: Any, cmd: Any) -> str:
    return " ".join(cmd.collect_usage_pieces(ctx))


def _params(cmd: Any) -> list[str]:
    rows = []
    for param in cmd.params:
        if param.param_type_name == "option":
            if param.hidden:
                continue
            names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
            help_text = (param.help or "").replace("|", "\\|").replace("\n", " ")
            default = ""
            value = param.default
            shown = param.show_default is not False and not callable(value)
            if shown and value not in (None, False, (), ""):
                default = f" (default: `{value}`)"
            rows.append(f"| {names} | {help_text}{default} |")
        elif param.param_type_name == "argument":
            help_text = (getattr(param, "help", None) or "").replace("|", "\\|")
            rows.append(f"| `{(param.name or '').upper()}` | {help_text or 'argument'} |")
    if not rows:
        return []
    return ["| option | meaning |", "| --- | --- |", *rows, ""]


def _walk(ctx: Any, cmd: Any, path: list[str], out: list[str]) -> None:
    if path:
        level = min(len(path), 4)
        out += [f"{'#' * level} `{' '.join(path)}`", ""]
        if cmd.help:
            out += [cmd.help.strip().replace("\b\n", ""), ""]
        if not _is_group(cmd):
            out += ["```text", f"{' '.join(path)} {_usage(ctx, cmd)}".rstrip(), "```", ""]
            out += _params(cmd)
    if _is_group(cmd):
        for name in sorted(cmd.list_commands(ctx)):
            sub = cmd.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            sub_ctx = sub.context_class(sub, info_name=name, parent=ctx)
            _walk(sub_ctx, sub, [*path, name] if path else ["keel", name], out)


def render() -> str:
    """Return the Markdown of the CLI reference."""
    import typer.main

    from keel.cli._app import app

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="keel")
    out = [
        "# CLI reference",
        "",
        "Generated from the `keel` command tree at documentation build time; "
        "`keel COMMAND --help` prints the same.",
        "",
    ]
    _walk(ctx, root, [], out)
    return "\n".join(out) + "\n"


def on_files(files: Files, config: Any) -> Files:
    """Add the generated CLI reference page to the site."""
    files.append(File.generated(config, PAGE, content=render()))
    return files
