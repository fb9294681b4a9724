"""Tracking benchmark driver: Keel vs MLflow, side by side, in one run.

Stdlib only; ``bench/run.sh`` runs it with Keel's venv python. Each tool runs in its
own venv through its side script (``keel_side.py``, ``mlflow_side.py``), one fresh
subprocess per timed sample, against a fresh store copied from a pristine template.
Prints a plain table and rewrites the tracking section of ``docs/benchmarks.md``.

Usage:
    python bench/tracking/run.py [--reps N] [--slow-reps N] [--mlflow-async] [--quick]
                                 [--no-doc] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import spec  # noqa: E402
from docfile import write_section  # noqa: E402

KEEL_PYTHON = Path(os.environ.get("BENCH_KEEL_PYTHON", ROOT / ".venv" / "bin" / "python"))
MLFLOW_PYTHON = Path(
    os.environ.get("BENCH_MLFLOW_PYTHON", ROOT / ".bench" / "mlflow" / "bin" / "python")
)
DOC = ROOT / "docs" / "benchmarks.md"
SUBPROCESS_TIMEOUT = 900


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    tool: str  # "keel" or "mlflow"
    journal: str | None = None  # journal mode set on the copied store before timing
    use_async: bool = False

    @property
    def python(self) -> Path:
        return KEEL_PYTHON if self.tool == "keel" else MLFLOW_PYTHON

    @property
    def side(self) -> Path:
        return HERE / f"{self.tool}_side.py"

    @property
    def db_name(self) -> str:
        return "keel.db" if self.tool == "keel" else "mlflow.db"


KEEL = Variant("keel", "Keel", "keel")
MLFLOW = Variant("mlflow", "MLflow, default journal", "mlflow", journal="delete")
MLFLOW_WAL = Variant("mlflow_wal", "MLflow, WAL on", "mlflow", journal="wal")
MLFLOW_ASYNC = Variant(
    "mlflow_async", "MLflow async logging (extra)", "mlflow", journal="delete", use_async=True
)
MLFLOW_SYNC = (MLFLOW, MLFLOW_WAL)


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    target: float
    count: int | None = None  # set for throughput workloads: figure = count / seconds
    unit: str = ""


WORKLOADS = (
    Workload(
        "metrics",
        f"a. {spec.METRIC_CALLS:,} log_metric calls in one run",
        100,
        spec.METRIC_CALLS,
        "calls/s",
    ),
    Workload(
        "runs",
        f"b. {spec.RUNS} runs x ({spec.PARAMS_PER_RUN} params + {spec.METRICS_PER_RUN} metrics)",
        10,
        spec.RUNS,
        "runs/s",
    ),
    Workload("search_filter", f"c. search {spec.SEARCH_RUNS:,} runs: filter", 5),
    Workload("search_order", f"c. search {spec.SEARCH_RUNS:,} runs: order_by", 5),
    Workload("import", "d. import as a whole process", 10),
)


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)
    cpu: list[float | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


Results = dict[str, dict[str, Samples]]  # workload key -> variant key -> samples


def _env(variant: Variant) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "MLFLOW_"))}
    env["PYTHONUNBUFFERED"] = "1"
    if variant.tool == "mlflow":
        env.update(
            MLFLOW_DISABLE_TELEMETRY="true",
            DO_NOT_TRACK="true",
            MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING="false",
        )
    return env


def _side(variant: Variant, *args: str, cwd: Path) -> dict[str, object]:
    """Run the side script in its venv; return its JSON line or raise RuntimeError."""
    argv = [str(variant.python), str(variant.side), *args]
    proc = subprocess.run(
        argv,
        cwd=cwd,
        env=_env(variant),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        raise RuntimeError(f"{' '.join(args[:2])} exited {proc.returncode}: " + " | ".join(tail))
    result: dict[str, object] = json.loads(lines[-1])
    return result


def _journal(db: Path, mode: str | None = None) -> str:
    """Read the journal mode of ``db``, or set it to ``mode`` (it persists in the file)."""
    conn = sqlite3.connect(db)
    try:
        if mode is None:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        got = str(conn.execute(f"PRAGMA journal_mode={mode}").fetchone()[0])
    finally:
        conn.close()
    if got != mode:
        raise RuntimeError(f"could not set journal_mode={mode} on {db}: got {got}")
    return got


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.results: Results = {w.key: {} for w in WORKLOADS}
        self.info: dict[str, str] = {}
        self.broken: dict[str, str] = {}  # tool -> why it could not run at all
        self._templates: dict[tuple[str, str], Path] = {}

    # -- helpers -----------------------------------------------------------------------
    def _log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def _record(self, workload: str, variant: Variant, fn_result: dict[str, object]) -> None:
        samples = self.results[workload].setdefault(variant.key, Samples())
        expected, logged = fn_result.get("expected"), fn_result.get("logged")
        if "error" in fn_result:
            samples.errors.append(str(fn_result["error"]))
        elif expected is not None and logged != expected:
            samples.errors.append(f"check failed: {logged} of {expected} recorded")
        else:
            samples.seconds.append(float(str(fn_result["seconds"])))
            cpu = fn_result.get("cpu_seconds")
            samples.cpu.append(None if cpu is None else float(str(cpu)))

    def _template(self, variant: Variant, kind: str) -> Path:
        """A pristine store made once per tool: ``empty`` (experiment only) or ``search``."""
        key = (variant.tool, kind)
        if key not in self._templates:
            path = self.tmp / f"template-{variant.tool}-{kind}"
            path.mkdir()
            t0 = time.perf_counter()
            _side(variant, "setup", kind, str(path), cwd=path)
            self._log(f"{variant.tool}: {kind} store set up ({time.perf_counter() - t0:.1f} s)")
            if kind == "empty":
                self.info[f"{variant.tool}_journal"] = _journal(path / variant.db_name)
            self._templates[key] = path
        return self._templates[key]

    def _fresh_store(self, variant: Variant, kind: str, tag: str) -> Path:
        store = self.tmp / f"{variant.key}-{tag}"
        shutil.copytree(self._template(variant, kind), store)
        if variant.journal is not None:
            _journal(store / variant.db_name, variant.journal)
        return store

    def _usable(self, variant: Variant) -> bool:
        return variant.tool not in self.broken

    # -- workloads ---------------------------------------------------------------------
    def versions(self) -> None:
        for variant in (KEEL, MLFLOW):
            try:
                out = _side(variant, "version", cwd=self.tmp)
                self.info[f"{variant.tool}_version"] = str(out["version"])
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                self.broken[variant.tool] = str(exc)
                self._log(f"{variant.tool} unavailable: {exc}")

    def imports(self) -> None:
        reps = self.args.import_reps
        for variant, module in ((KEEL, "keel"), (MLFLOW, "mlflow")):
            if not self._usable(variant):
                continue
            samples = self.results["import"].setdefault(variant.key, Samples())
            argv = [str(variant.python), "-c", f"import {module}"]
            for rep in range(reps + 1):  # rep 0 warms the page cache and .pyc files
                t0 = time.perf_counter()
                proc = subprocess.run(
                    argv, cwd=self.tmp, env=_env(variant), capture_output=True, check=False
                )
                seconds = time.perf_counter() - t0
                if proc.returncode != 0:
                    samples.errors.append(proc.stderr.decode(errors="replace")[-300:])
                    break
                if rep:
                    samples.seconds.append(seconds)
            self._log(f"{variant.tool}: import x{reps}, median {samples.median or 0:.3f} s")

    def writes(self, workload: str) -> None:
        variants = [KEEL, *MLFLOW_SYNC] + ([MLFLOW_ASYNC] if self.args.mlflow_async else [])
        variants = [v for v in variants if self._usable(v)]
        for rep in range(max(self.args.reps, self.args.slow_reps)):
            # Interleave the tools rep by rep so a slow patch of the machine hits all alike.
            for variant in variants:
                reps = self.args.reps if variant.tool == "keel" else self.args.slow_reps
                if rep >= reps:
                    continue
                store = self._fresh_store(variant, "empty", f"{workload}-{rep}")
                args = ["run", workload, str(store)] + (["--async"] if variant.use_async else [])
                try:
                    out = _side(variant, *args, cwd=store)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    out = {"error": str(exc)}
                self._record(workload, variant, out)
                shutil.rmtree(store, ignore_errors=True)
                self._log(f"{variant.key}: {workload} rep {rep + 1}/{reps}: {_brief(out)}")

    def searches(self) -> None:
        variants = [v for v in (KEEL, *MLFLOW_SYNC) if self._usable(v)]
        stores = {}
        for variant in variants:
            try:
                stores[variant.key] = self._fresh_store(variant, "search", "search")
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                for w in ("search_filter", "search_order"):
                    self.results[w].setdefault(variant.key, Samples()).errors.append(str(exc))
        for rep in range(max(self.args.reps, self.args.slow_reps)):
            for workload in ("search_filter", "search_order"):
                for variant in variants:
                    reps = self.args.reps if variant.tool == "keel" else self.args.slow_reps
                    if rep >= reps or variant.key not in stores:
                        continue
                    store = stores[variant.key]
                    try:
                        out = _side(variant, "run", workload, str(store), cwd=store)
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        out = {"error": str(exc)}
                    self._record(workload, variant, out)
                    self._log(f"{variant.key}: {workload} rep {rep + 1}/{reps}: {_brief(out)}")

    def run(self) -> None:
        self.versions()
        self.imports()
        for tool_variant in (KEEL, MLFLOW):
            if self._usable(tool_variant):
                try:
                    self._template(tool_variant, "empty")
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    self.broken[tool_variant.tool] = str(exc)
                    self._log(f"{tool_variant.tool} setup failed: {exc}")
        self.writes("metrics")
        self.writes("runs")
        self.searches()


def _brief(out: dict[str, object]) -> str:
    if "error" in out:
        return f"ERROR {out['error']}"
    return f"{float(str(out['seconds'])):.3f} s"


# -- reporting -------------------------------------------------------------------------
def _figure(workload: Workload, samples: Samples | None) -> str:
    if samples is None:
        return "-"
    if samples.median is None:
        return "error" if samples.errors else "-"
    med = samples.median
    if workload.count is not None:
        rate = workload.count / med
        shown = f"{rate:,.0f}" if rate >= 100 else f"{rate:.1f}"
        return f"{shown} {workload.unit} ({med:.2f} s)"
    if workload.key == "import":
        return f"{med:.3f} s (min {min(samples.seconds):.3f})"
    return f"{med:.3f} s"


def _best_mlflow(row: dict[str, Samples]) -> Samples | None:
    candidates = [row[v.key] for v in MLFLOW_SYNC if v.key in row and row[v.key].median]
    return min(candidates, key=lambda s: s.median or 0) if candidates else None


def _ratio(row: dict[str, Samples], against: Samples | None) -> float | None:
    keel = row.get(KEEL.key)
    if keel is None or keel.median is None or against is None or against.median is None:
        return None
    return against.median / keel.median


def _fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:,.1f}x" if ratio < 100 else f"{ratio:,.0f}x"


def table_rows(results: Results, with_async: bool) -> tuple[list[str], list[list[str]]]:
    head = ["workload", KEEL.label, MLFLOW.label, MLFLOW_WAL.label]
    if with_async:
        head.append(MLFLOW_ASYNC.label)
    head += ["Keel vs MLflow best", "target", "met"]
    rows = []
    for w in WORKLOADS:
        row = results[w.key]
        ratio = _ratio(row, _best_mlflow(row))
        cells = [w.title] + [_figure(w, row.get(v.key)) for v in (KEEL, MLFLOW, MLFLOW_WAL)]
        if with_async:
            cells.append(
                _figure(w, row.get(MLFLOW_ASYNC.key)) if w.key in ("metrics", "runs") else "n/a"
            )
        met = "-" if ratio is None else ("yes" if ratio >= w.target else "NO")
        cells += [_fmt_ratio(ratio), f">= {w.target:g}x", met]
        rows.append(cells)
    return head, rows


def plain_table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)) for r in [head, *rows]]
    return "\n".join([out[0], line, *out[1:]])


def md_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def machine() -> dict[str, str]:
    cpu = "unknown CPU"
    mem = "unknown"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemTotal"):
                mem = f"{int(ln.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "nproc": str(
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        ),
        "ram": mem,
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def markdown(
    bench: Bench, head: list[str], rows: list[list[str]], started: dt.datetime, took: float
) -> str:
    m = machine()
    info = bench.info
    args = bench.args
    results = bench.results
    lines = [
        "## Tracking: Keel vs MLflow",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC with `make bench` "
        f"(`bash bench/run.sh`, which runs `bench/tracking/run.py`{_flags(args)}); "
        f"the whole run took {took / 60:.1f} min.",
        "",
        f"- Machine: {m['nproc']} CPUs (nproc), {m['ram']} RAM, {m['cpu']}; {m['os']}; "
        f"Python {m['python']}. Load average (1 min) {info.get('load_start', '?')} at the start, "
        f"{info.get('load_end', '?')} at the end: other processes on the machine slow both "
        "tools, not evenly, so compare figures within one run, not across runs, and see the "
        "CPU seconds in the raw samples, which they disturb less.",
        f"- Keel {info.get('keel_version', '(not available)')} from `.venv`; its SQLite store "
        f"(`KEEL_HOME`) runs in journal mode `{info.get('keel_journal', '?')}`.",
        f"- MLflow {info.get('mlflow_version', '(not available)')} from `.bench/mlflow`, "
        "tracking URI `sqlite:///<tmp>/mlflow.db`, fluent API, synchronous logging, "
        "no system metrics, no autologging, telemetry off. Its fresh database is in journal "
        f'mode `{info.get("mlflow_journal", "?")}`; "WAL on" runs '
        "`PRAGMA journal_mode=WAL` on the file after MLflow created its schema.",
        f"- Figures are medians: Keel over {args.reps} samples, MLflow over {args.slow_reps} "
        f'(import: {args.import_reps} each). "Keel vs MLflow best" divides MLflow\'s faster '
        "synchronous mode (default or WAL) by Keel; above 1x Keel is faster.",
        "",
        md_table(head, rows),
        "",
        "What is timed (each sample is a fresh subprocess in the tool's own venv, against a fresh "
        "store copied from a pristine one that already holds the experiment; opening the store "
        "is not timed):",
        "",
        f'- **a.** `start_run`, {spec.METRIC_CALLS:,} x `log_metric("loss", v, step=i)`, end of '
        "the run. Keel's buffered metrics are flushed when the run ends, inside the timing; "
        "afterwards the metric history is read back and must hold every point.",
        f"- **b.** {spec.RUNS} x (`start_run`, `log_params` with {spec.PARAMS_PER_RUN} params, "
        f"`log_metrics` with {spec.METRICS_PER_RUN} metrics, end of the run); afterwards every "
        "run must be found with all its params and metrics.",
        f"- **c.** one `search_runs` call over {spec.SEARCH_RUNS:,} finished runs "
        f"({spec.SEARCH_PARAMS} params and {spec.SEARCH_METRICS} metrics each, created before "
        f"timing): filter `{spec.SEARCH_FILTER}` ({spec.SEARCH_EXPECTED_FILTERED} matches), and "
        f'`order_by=["{spec.SEARCH_ORDER}"]` with no filter (all {spec.SEARCH_RUNS:,}). '
        'Both return every matching run as run objects (MLflow with `output_format="list"`, '
        "not a DataFrame); the count and the order are checked.",
        '- **d.** wall time of `python -c "import keel"` vs `python -c "import mlflow"`, '
        "whole process, nothing subtracted, after one untimed warm-up.",
    ]
    if args.mlflow_async:
        row_m, row_r = results["metrics"], results["runs"]
        lines += [
            "",
            "Extra, not part of the targets: MLflow with `mlflow.config.enable_async_logging()` "
            "(timing runs until `mlflow.flush_async_logging()` returns, so every point is "
            f"written). Keel vs it: a. {_fmt_ratio(_ratio(row_m, row_m.get(MLFLOW_ASYNC.key)))}, "
            f"b. {_fmt_ratio(_ratio(row_r, row_r.get(MLFLOW_ASYNC.key)))}.",
        ]
    lines += [
        "",
        "Raw samples, wall seconds (in brackets: CPU seconds of the timed block, all threads; "
        "wall minus CPU is time spent waiting, on the disk or for a core):",
        "",
    ]
    for w in WORKLOADS:
        for key, samples in results[w.key].items():
            text = (
                ", ".join(
                    _sample(wall, cpu)
                    for wall, cpu in zip(samples.seconds, samples.cpu, strict=False)
                )
                or "none"
            )
            if not samples.cpu:
                text = ", ".join(f"{wall:.3f}" for wall in samples.seconds) or "none"
            if samples.errors:
                text += f"; errors: {'; '.join(samples.errors)[:300]}"
            lines.append(f"- {w.key} / {key}: {text}")
    return "\n".join(lines)


def _sample(wall: float, cpu: float | None) -> str:
    return f"{wall:.3f}" if cpu is None else f"{wall:.3f} [{cpu:.3f}]"


def _flags(args: argparse.Namespace) -> str:
    flags = []
    if args.mlflow_async:
        flags.append("--mlflow-async")
    if args.quick:
        flags.append("--quick")
    return (" " + " ".join(flags)) if flags else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="samples per Keel workload")
    parser.add_argument("--slow-reps", type=int, default=3, help="samples per MLflow workload")
    parser.add_argument("--import-reps", type=int, default=5, help="samples of each import")
    parser.add_argument(
        "--mlflow-async",
        action="store_true",
        default=os.environ.get("BENCH_MLFLOW_ASYNC") == "1",
        help="add MLflow's async logging as an extra column for a and b (env BENCH_MLFLOW_ASYNC=1)",
    )
    parser.add_argument("--quick", action="store_true", help="one sample each, for a smoke test")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave the doc alone")
    parser.add_argument("--keep", action="store_true", help="keep the temp stores")
    args = parser.parse_args()
    if args.quick:
        args.reps = args.slow_reps = args.import_reps = 1

    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="keel-bench-"))
    bench = Bench(args, tmp)
    bench.info["load_start"] = f"{os.getloadavg()[0]:.2f}"
    try:
        bench.run()
    finally:
        if args.keep:
            print(f"stores kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    took = time.perf_counter() - t0
    bench.info["load_end"] = f"{os.getloadavg()[0]:.2f}"

    head, rows = table_rows(bench.results, args.mlflow_async)
    print()
    print(f"Tracking: Keel vs MLflow  ({took / 60:.1f} min)")
    print(plain_table(head, rows))
    errors = [
        f"{w}/{v}: {e}"
        for w, row in bench.results.items()
        for v, s in row.items()
        for e in s.errors
    ]
    for tool, why in bench.broken.items():
        errors.append(f"{tool}: {why}")
    if not args.no_doc:
        write_section(DOC, "tracking", markdown(bench, head, rows, started, took))
        print(f"\nwrote {DOC.relative_to(ROOT)}")
    if errors:
        print("\nerrors:", *errors, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
