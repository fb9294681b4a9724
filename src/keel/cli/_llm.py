"""``keel prompts``, ``keel eval`` and ``keel traces``: LLM operations in the terminal."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from keel.cli._output import console, fmt_time

prompts_app = typer.Typer(help="Versioned prompts: list, show, diff.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluations of LLM targets.", no_args_is_help=True)
traces_app = typer.Typer(help="Traces of LLM applications: list, show.", no_args_is_help=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# -- prompts ----------------------------------------------------------------------------------


@prompts_app.command("ls")
def prompts_ls() -> None:
    """List prompts with their latest version and aliases."""
    import keel.prompts as kp

    table = Table(title="Prompts")
    for col in ("name", "latest", "aliases", "created by", "created"):
        table.add_column(col)
    for p in kp.list_prompts():
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(p.aliases.items()))
        table.add_row(
            p.name, str(p.latest_version), aliases or "-", p.created_by, fmt_time(p.created_at)
        )
    console.print(table)


@prompts_app.command("show")
def prompts_show(
    ref: Annotated[str, typer.Argument(help="name, name/3, name@production")],
) -> None:
    """Show a prompt version: template, parameters, aliases, evaluations, alias history."""
    import keel.llm as kl
    import keel.prompts as kp

    p = kp.get(ref)
    console.print(
        f"[bold]{p.ref}[/]  aliases: {', '.join(p.aliases) or '-'}  "
        f"digest {p.digest[:12]}  by {p.created_by} at {fmt_time(p.created_at)}",
        highlight=False,
    )
    console.print(f"variables: {', '.join(p.variables) or '-'}", highlight=False)
    console.print(f"model_params: {json.dumps(p.model_params, sort_keys=True)}", highlight=False)
    console.rule("template")
    console.print(p.template, markup=False, highlight=False)
    console.rule()
    evals = kl.list_evaluations(p.ref, limit=10)
    if evals:
        table = Table(title=f"Evaluations of {p.ref}")
        for col in ("id", "data", "rows", "errors", "scores", "when"):
            table.add_column(col)
        for e in evals:
            scores = ", ".join(f"{k}={_fmt(v)}" for k, v in e.scores.items())
            table.add_row(
                e.id[:8],
                e.record.data_ref,
                str(e.record.num_rows),
                str(e.record.num_errors),
                scores,
                fmt_time(e.record.created_at),
            )
        console.print(table)
    history = kp.alias_history(p.name)
    if history:
        table = Table(title=f"Alias history of {p.name}")
        for col in ("when", "alias", "action", "from", "to", "evaluation", "by", "reason"):
            table.add_column(col)
        for m in history:
            table.add_row(
                fmt_time(m.created_at),
                m.alias,
                m.action,
                _fmt(m.from_version),
                _fmt(m.to_version),
                (m.evaluation_id or "-")[:8],
                m.created_by,
                m.reason or "-",
            )
        console.print(table)


@prompts_app.command("diff")
def prompts_diff(
    a: Annotated[str, typer.Argument(help="A version: name/1, name@production")],
    b: Annotated[str, typer.Argument(help="Another version")],
) -> None:
    """Show what changed between two prompt versions (template and parameters)."""
    import keel.prompts as kp

    text = kp.diff(a, b)
    if not text:
        console.print("The two versions are identical.")
        return
    for line in text.splitlines():
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
        console.print(line, style=style, markup=False, highlight=False)


# -- eval -------------------------------------------------------------------------------------


def _load_target(spec: str) -> Any:
    from keel.errors import InvalidArgumentError

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidArgumentError(
            f"--target is 'module:function' (a callable taking the input text), got {spec!r}."
        )
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidArgumentError(f"Cannot import {module_name!r} for --target: {exc}.") from exc
    target = getattr(module, attr, None)
    if not callable(target):
        raise InvalidArgumentError(f"{spec!r} is not a callable.")
    return target


def _scorer(spec: str, judge: Any) -> Any:
    import keel.scorers as ks
    from keel.errors import InvalidArgumentError

    name, _, arg = spec.partition(":")
    simple = {
        "exact_match": ks.exact_match,
        "json_valid": ks.json_valid,
        "semantic_similarity": ks.semantic_similarity,
        "latency": ks.latency,
        "token_cost": ks.token_cost,
    }
    if name in simple and not arg:
        return simple[name]()
    if name == "regex" and arg:
        return ks.regex(arg)
    if name == "llm_judge" and arg:
        if judge is None:
            raise InvalidArgumentError("llm_judge needs --judge-model (and an --endpoint).")
        return ks.llm_judge(arg, judge=judge)
    known = [*simple, "regex:PATTERN", "llm_judge:RUBRIC"]
    raise InvalidArgumentError(f"Unknown scorer {spec!r}; use one of: {', '.join(known)}.")


@eval_app.command("run")
def eval_run(
    data: Annotated[str, typer.Option(help="A registered dataset, name@v2")],
    prompt: Annotated[str | None, typer.Option(help="A prompt version, name@production")] = None,
    target: Annotated[
        str | None, typer.Option(help="module:function taking the input text")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="OpenAI-compatible base URL, http://host:8000/v1")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model name for --endpoint")] = None,
    judge_model: Annotated[
        str | None, typer.Option(help="Judge model on --endpoint for llm_judge")
    ] = None,
    scorer: Annotated[
        list[str] | None,
        typer.Option(
            help="exact_match, json_valid, regex:PAT, semantic_similarity, latency, "
            "token_cost, llm_judge:RUBRIC (repeat)"
        ),
    ] = None,
    max_concurrency: Annotated[int, typer.Option(help="Rows in flight at once")] = 8,
    retries: Annotated[int, typer.Option(help="Extra attempts per failing call")] = 3,
    timeout: Annotated[float, typer.Option(help="Seconds per endpoint call")] = 30.0,
    cache: Annotated[bool, typer.Option(help="Reuse cached answers")] = True,
    report: Annotated[Path | None, typer.Option(help="Write the HTML report here")] = None,
) -> None:
    """Evaluate a target (a Python callable or an endpoint) on a dataset and record it."""
    from rich.progress import Progress

    import keel.llm as kl
    from keel.errors import InvalidArgumentError

    if (target is None) == (endpoint is None):
        raise InvalidArgumentError("Give exactly one of --target module:function or --endpoint.")
    judge = None
    if endpoint is not None:
        if not model:
            raise InvalidArgumentError("--endpoint needs --model.")
        fn: Any = kl.endpoint(endpoint, model, timeout=timeout)
        if judge_model:
            judge = kl.endpoint(endpoint, judge_model, timeout=timeout)
    else:
        fn = _load_target(target or "")
    scorers = [_scorer(s, judge) for s in (scorer or ["exact_match", "latency"])]
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("evaluating", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = kl.evaluate(
            fn,
            data,
            scorers,
            prompt=prompt,
            max_concurrency=max_concurrency,
            retries=retries,
            cache=cache,
            progress=advance,
        )
    s = result.summary
    table = Table(title=f"Evaluation {result.id[:8]} of {result.prompt or 'target'} on {data}")
    table.add_column("scorer")
    table.add_column("mean", justify="right")
    for k, v in result.scores.items():
        table.add_row(k, _fmt(v))
    console.print(table)
    console.print(
        f"rows {s['num_rows']}, errors {s['num_errors']}, cached {s['num_cached']}, "
        f"run {result.run_id}",
        highlight=False,
    )
    if report is not None:
        result.to_html(str(report))
        console.print(f"Report written to {report}", highlight=False)


# -- traces -----------------------------------------------------------------------------------


@traces_app.command("ls")
def traces_ls(
    deployment: Annotated[str | None, typer.Option(help="Only this deployment")] = None,
    name: Annotated[str | None, typer.Option(help="Only traces of this name")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first")] = 50,
) -> None:
    """List traces, newest first."""
    import keel.llm as kl

    frame = kl.list_traces(deployment, name=name, limit=limit)
    table = Table(title="Traces")
    for col in (
        "id",
        "name",
        "deployment",
        "prompt",
        "started",
        "ms",
        "spans",
        "tokens",
        "cost",
        "error",
    ):
        table.add_column(col)
    for r in frame.to_dict(orient="records"):
        tokens = sum(
            int(r[k])
            for k in ("prompt_tokens", "completion_tokens")
            if r[k] is not None and r[k] == r[k]
        )
        table.add_row(
            r["trace_id"][:8],
            Text(r["name"]),
            Text(r["deployment"] or "-"),
            r["prompt"] or "-",
            fmt_time(int(r["start_ms"])),
            f"{r['latency_ms']:.0f}",
            str(r["num_spans"]),
            str(tokens),
            _fmt(_nan_none(r["cost"])),
            Text((r["error"] or "-")[:60]),
        )
    console.print(table)


def _nan_none(value: Any) -> Any:
    return None if value is None or value != value else value


@traces_app.command("show")
def traces_show(
    trace_id: Annotated[str, typer.Argument(help="A trace id or unique prefix")],
) -> None:
    """Show a trace as a tree of spans with inputs, outputs, tokens, latency, cost, errors."""
    from rich.tree import Tree

    import keel.llm as kl

    spans = kl.get_trace(trace_id).to_dict(orient="records")
    nodes: dict[str, Tree] = {}
    root: Tree | None = None
    for s in spans:
        tokens = [
            f"{k.split('_')[0]} {int(s[k])}"
            for k in ("prompt_tokens", "completion_tokens")
            if _nan_none(s[k]) is not None
        ]
        cost = _nan_none(s["cost"])
        # Text, not markup: names, inputs and errors are user values and may contain "[...]".
        label = Text.assemble(
            (s["name"], "bold"),
            f" ({s['kind']}) {s['latency_ms']:.1f} ms",
            f", tokens {' / '.join(tokens)}" if tokens else "",
            f", cost {cost:.4g}" if cost is not None else "",
            (f" {s['error']}", "red") if s["error"] else "",
        )
        if s["parent_id"] is None:
            label.append(f"  deployment={s['deployment'] or '-'} prompt={s['prompt'] or '-'}")
        parent = nodes.get(s["parent_id"]) if s["parent_id"] else None
        node = Tree(label) if parent is None else parent.add(label)
        node.add(Text(f"in:  {s['inputs'][:200]}"))
        node.add(Text(f"out: {s['outputs'][:200]}"))
        nodes[s["span_id"]] = node
        if root is None:
            root = node
    console.print(f"Trace {spans[0]['trace_id']}", highlight=False)
    if root is not None:
        console.print(root)
