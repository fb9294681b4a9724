"""Feature-store benchmark driver: Keel vs Feast (and a hand-written DuckDB ASOF JOIN).

Stdlib only; ``bench/run.sh`` runs it with Keel's venv python. Each tool runs in its own venv
through its side script, one fresh process per timed sample, on the same generated files:
10,000 customers hourly over 30 days (7.2M source rows), 100,000 entity rows, 3 features
(``--quick``: 1,000 x 240 hours, 10,000 entity rows). Peak memory is each process's maximum
resident set (``wait4``). Prints a table and rewrites the features section of
``docs/benchmarks.md``.

Usage:
    python bench/features/run.py [--quick] [--reps N] [--feast-reps N] [--no-feast] [--no-doc]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
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
FEAST_VENV = Path(os.environ.get("BENCH_FEAST_VENV", ROOT / ".bench" / "feast"))
FEAST_PYTHON = FEAST_VENV / "bin" / "python"
FEAST_SPEC = os.environ.get("BENCH_FEAST_SPEC", "feast[duckdb]>=0.40")
DOC = ROOT / "docs" / "benchmarks.md"
WORK = ROOT / ".bench" / "work" / "features"
TIMEOUT = 3600
APPLY_REPS = 7  # apply takes seconds, not minutes: more samples steady its median


@dataclass
class Sample:
    seconds: float
    peak_mb: float
    data: dict[str, object] = field(default_factory=dict)
    cpu: float = 0.0  # user + system CPU seconds of the process and its children


class Failed(Exception):
    pass


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Sample:
    """Run one process; return its wall time, its JSON output (last line) and the peak RSS it
    reports (side scripts run under :func:`peak_wrapper`)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=side_env(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise Failed(f"timed out after {TIMEOUT}s: {' '.join(cmd[:4])}") from None
    wall = time.perf_counter() - started
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (done.ru_utime - usage.ru_utime) + (done.ru_stime - usage.ru_stime)
    if proc.returncode != 0:
        raise Failed(f"{' '.join(cmd[:4])} failed ({proc.returncode}): {err.strip()[-2000:]}")
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    data = json.loads(lines[-1]) if lines else {}
    return Sample(wall, float(data.get("peak_mb", 0.0)), data, cpu)


def side_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a side process: bytecode cached in the bench's folder, for both tools.

    An installed package has its bytecode compiled at install time; Keel runs here from an
    editable checkout, and a ``PYTHONDONTWRITEBYTECODE`` in the caller's environment would make
    every fresh Keel process compile its sources again. Both tools read and write their
    bytecode under one prefix instead, warmed by the untimed setup runs before any timing.
    """
    env = {**os.environ, **(extra or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(WORK / "pycache")
    return env


def peak_wrapper(python: Path) -> list[str]:
    """Run a side script through a tiny wrapper that reports the process's peak RSS in MB."""
    code = (
        "import json, resource, runpy, sys, io, contextlib\n"
        "script = sys.argv[1]; sys.argv = sys.argv[1:]\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    runpy.run_path(script, run_name='__main__')\n"
        "lines = [l for l in buf.getvalue().splitlines() if l.startswith('{')]\n"
        "data = json.loads(lines[-1]) if lines else {}\n"
        "data['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps(data))\n"
    )
    return [str(python), "-c", code]


def keel(op: str, *args: str, home: Path) -> Sample:
    cmd = [*peak_wrapper(KEEL_PYTHON), str(HERE / "keel_side.py"), op, *args]
    return run(cmd, env={"KEEL_HOME": str(home), "KEEL_STORE_URI": "", "KEEL_ONLINE_STORE": ""})


def feast(op: str, repo: Path, *args: str) -> Sample:
    cmd = [*peak_wrapper(FEAST_PYTHON), str(HERE / "feast_side.py"), op, str(repo), *args]
    return run(cmd, env={"FEAST_USAGE": "False", "PYTHONWARNINGS": "ignore"})


def feast_apply(repo: Path) -> Sample:
    return run([str(FEAST_VENV / "bin" / "feast"), "apply"], cwd=repo, env={"FEAST_USAGE": "False"})


def keel_apply(repo: Path) -> Sample:
    env = {"KEEL_HOME": str(repo / "home"), "KEEL_STORE_URI": "", "KEEL_ONLINE_STORE": ""}
    return run(
        [str(KEEL_PYTHON.parent / "keel"), "features", "apply", "defs.py"], env=env, cwd=repo
    )


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def keel_repo(name: str, source: str, ttl: int) -> Path:
    repo = fresh(WORK / "repos" / name)
    subprocess.run(
        [str(KEEL_PYTHON), str(HERE / "keel_side.py"), "setup", str(repo), source, str(ttl)],
        check=True,
    )
    keel_apply(repo)
    return repo


def feast_repo(name: str, source: str, store: str, ttl: int) -> Path:
    repo = fresh(WORK / "repos" / name)
    subprocess.run(
        [
            str(FEAST_PYTHON),
            str(HERE / "feast_side.py"),
            "setup",
            str(repo),
            source,
            store,
            str(ttl),
        ],
        check=True,
    )
    feast_apply(repo)
    return repo


def best(samples: list[Sample]) -> tuple[float, float]:
    """Median seconds (of in-process timings) and median peak MB."""
    secs = statistics.median(float(s.data.get("seconds", s.seconds)) for s in samples)
    return secs, statistics.median(s.peak_mb for s in samples)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def percentiles(sample: Sample) -> dict[str, float]:
    """p50 and p99 of a lookup run: wall-clock, and CPU time of the process per call."""
    lat = [float(x) for x in sample.data["latencies"]]  # type: ignore[union-attr]
    cpu = [float(x) for x in sample.data.get("cpu", [])]  # type: ignore[union-attr]
    got = {"p50": pct(lat, 0.5), "p99": pct(lat, 0.99)}
    if cpu:
        got.update(cpu_p50=pct(cpu, 0.5), cpu_p99=pct(cpu, 0.99))
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Small data for a smoke run.")
    parser.add_argument("--reps", type=int, default=3, help="Processes per Keel/DuckDB sample.")
    parser.add_argument("--feast-reps", type=int, default=2, help="Processes per Feast sample.")
    parser.add_argument("--no-feast", action="store_true", help="Measure Keel and DuckDB only.")
    parser.add_argument("--no-doc", action="store_true", help="Do not rewrite the doc section.")
    parser.add_argument(
        "--reuse-feast-file",
        action="store_true",
        help="Take Feast's file-store numbers (~20 minutes at full size) from the last run.",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="Rewrite the doc section from the last run's results file; measure nothing.",
    )
    opts = parser.parse_args()
    size = spec.QUICK if opts.quick else spec.FULL
    if opts.render_only:
        saved = json.loads((WORK / f"results-{size.name}.json").read_text())
        write_doc(size, saved, opts)
        return
    if not opts.no_feast:
        ensure_feast()
    with_feast = not opts.no_feast and FEAST_PYTHON.exists()
    if not opts.no_feast and not with_feast:
        print(f"Feast's venv {FEAST_VENV} is missing: pip install 'feast[duckdb]' into it.")
    data_dir = WORK / f"data-{size.name}"
    subprocess.run(
        [
            str(KEEL_PYTHON),
            "-c",
            f"import sys, pathlib; sys.path.insert(0, {str(HERE)!r}); import spec; "
            f"spec.generate(spec.{size.name.upper()}, pathlib.Path({str(data_dir)!r}))",
        ],
        check=True,
    )
    source, entities = str(data_dir / "customer_stats.parquet"), str(data_dir / "entities.parquet")
    results: dict[str, object] = {"size": size.__dict__, "historical": {}, "errors": {}}
    load_before = os.getloadavg()[0]
    hist: dict[str, tuple[float, float, dict[str, object]]] = {}
    errors: dict[str, str] = {}
    previous: dict[str, object] = {}
    last = WORK / f"results-{size.name}.json"
    if opts.reuse_feast_file and last.exists():
        previous = json.loads(last.read_text())
    reused: list[str] = []

    def measure(label: str, fn: object, reps: int) -> None:
        try:
            samples = [fn() for _ in range(reps)]  # type: ignore[operator]
        except Failed as exc:
            errors[label] = str(exc)
            print(f"  {label}: FAILED {exc}")
            return
        secs, mb = best(samples)
        hist[label] = (secs, mb, samples[0].data)
        print(f"  {label:34s} {secs:8.2f} s  {mb:8.0f} MB  {samples[0].data.get('checksum')}")

    print(
        f"Historical retrieval: {size.source_rows:,} source rows, {size.entity_rows:,} entity rows"
    )
    for ttl in (spec.TTL_HOURS, 0):
        tag = "ttl" if ttl else "no ttl"
        repo = keel_repo(f"keel-{ttl}", source, ttl)
        measure(
            f"keel ({tag})", lambda r=repo: keel("historical", entities, home=r / "home"), opts.reps
        )
        measure(
            f"duckdb asof ({tag})",
            lambda t=ttl: keel("baseline", source, entities, str(t), home=WORK / "baseline"),
            opts.reps,
        )
        if with_feast:
            for store in ("duckdb", "file"):
                label = f"feast {store} ({tag})"
                old = previous.get("historical", {}).get(label)  # type: ignore[union-attr]
                if store == "file" and old:
                    hist[label] = (float(old[0]), float(old[1]), dict(old[2]))
                    reused.append(label)
                    print(f"  {label:34s} {old[0]:8.2f} s  {old[1]:8.0f} MB  (last run)")
                    continue
                frepo = feast_repo(f"feast-{store}-{ttl}", source, store, ttl)
                measure(
                    f"feast {store} ({tag})",
                    lambda r=frepo: feast("historical", r, entities),
                    opts.feast_reps,
                )

    start = spec.START
    end = (dt.datetime.fromisoformat(start) + dt.timedelta(hours=size.hours)).isoformat()
    mats: dict[str, float] = {}
    online: dict[str, dict[str, float]] = {}
    print("Materialization (whole range) and online lookups (SQLite online stores)")
    repo = keel_repo("keel-online", source, 0)
    try:
        sample = keel("materialize", start, end, home=repo / "home")
        mats["keel"] = float(sample.data["seconds"])  # type: ignore[arg-type]
        for n in (1, 100):
            s = keel(
                "online",
                str(n),
                str(size.online_calls),
                "1",
                str(size.entities),
                home=repo / "home",
            )
            online[f"keel {n}"] = percentiles(s)
    except Failed as exc:
        errors["keel online"] = str(exc)
    if with_feast:
        for store in ("duckdb", "file"):
            frepo = feast_repo(f"feast-online-{store}", source, store, 0)
            try:
                sample = feast("materialize", frepo, start, end)
                mats[f"feast {store}"] = float(sample.data["seconds"])  # type: ignore[arg-type]
                if store == "duckdb":
                    for n in (1, 100):
                        s = feast(
                            "online", frepo, str(n), str(size.online_calls), "1", str(size.entities)
                        )
                        online[f"feast {n}"] = percentiles(s)
            except Failed as exc:
                errors[f"feast {store} materialize/online"] = str(exc)
    for k, v in mats.items():
        print(f"  materialize {k:20s} {v:8.2f} s  {size.source_rows / v:12,.0f} rows/s")
    for k, v in online.items():
        print(
            f"  online {k:25s} p50 {v['p50'] * 1e3:7.3f} ms  p99 {v['p99'] * 1e3:7.3f} ms  "
            f"cpu p50 {v.get('cpu_p50', 0) * 1e3:7.3f} ms  "
            f"cpu p99 {v.get('cpu_p99', 0) * 1e3:7.3f} ms"
        )

    print("Apply, end to end (command line): a fresh store, then a changed ttl")
    applies: dict[str, float] = {}
    times: dict[str, list[float]] = {"keel": [], "feast": [], "keel again": [], "feast again": []}
    cpu_times: dict[str, list[float]] = {k: [] for k in times}

    def record(key: str, sample: Sample) -> None:
        times[key].append(sample.seconds)
        cpu_times[key].append(sample.cpu)

    warm = fresh(WORK / "repos" / "apply-warm")
    subprocess.run(
        [str(KEEL_PYTHON), str(HERE / "keel_side.py"), "setup", str(warm / "keel"), source, "24"],
        check=True,
    )
    keel_apply(warm / "keel")  # untimed: the bytecode cache and the page cache, as for Feast
    if with_feast:
        feast_repo("apply-warm-feast", source, "file", 24)
    for i in range(max(opts.reps, APPLY_REPS)):
        repo = fresh(WORK / "repos" / f"apply-keel-{i}")
        subprocess.run(
            [str(KEEL_PYTHON), str(HERE / "keel_side.py"), "setup", str(repo), source, "24"],
            check=True,
        )
        record("keel", keel_apply(repo))
        subprocess.run(
            [str(KEEL_PYTHON), str(HERE / "keel_side.py"), "setup", str(repo), source, "48"],
            check=True,
        )
        record("keel again", keel_apply(repo))
        if with_feast:
            frepo = fresh(WORK / "repos" / f"apply-feast-{i}")
            subprocess.run(
                [
                    str(FEAST_PYTHON),
                    str(HERE / "feast_side.py"),
                    "setup",
                    str(frepo),
                    source,
                    "file",
                    "24",
                ],
                check=True,
            )
            record("feast", feast_apply(frepo))
            subprocess.run(
                [
                    str(FEAST_PYTHON),
                    str(HERE / "feast_side.py"),
                    "setup",
                    str(frepo),
                    source,
                    "file",
                    "48",
                ],
                check=True,
            )
            record("feast again", feast_apply(frepo))
    applies = {k: statistics.median(v) for k, v in times.items() if v}
    applies.update({f"{k} cpu": statistics.median(v) for k, v in cpu_times.items() if v})
    for k, v in applies.items():
        print(f"  {k:12s} {v:6.2f} s")

    results.update(historical=hist, materialize=mats, online=online, apply=applies, errors=errors)
    results["load"] = [load_before, os.getloadavg()[0]]
    results["reused"] = reused
    out_json = WORK / f"results-{size.name}.json"
    out_json.write_text(json.dumps(results, indent=2, default=str))
    if not opts.no_doc:
        write_doc(size, json.loads(out_json.read_text()), opts)


def write_doc(size: spec.Size, saved: dict[str, object], opts: argparse.Namespace) -> None:
    """Render the features section from a results dict and write it into the doc."""
    hist = {k: (float(v[0]), float(v[1]), dict(v[2])) for k, v in saved["historical"].items()}  # type: ignore[union-attr]
    body = render(
        size,
        hist,
        dict(saved["materialize"]),  # type: ignore[call-overload]
        dict(saved["online"]),  # type: ignore[call-overload]
        dict(saved["apply"]),  # type: ignore[call-overload]
        dict(saved["errors"]),  # type: ignore[call-overload]
        opts,
        list(saved.get("load") or []),  # type: ignore[call-overload]
    )
    reused = list(saved.get("reused", []))  # type: ignore[call-overload]
    if reused:
        body += (
            "\nFeast's file-store numbers are from the previous full run (same data, same "
            "machine), not re-measured: " + ", ".join(reused) + ".\n"
        )
    write_section(DOC, "features", body)
    print(f"Wrote the features section of {DOC}")


def ensure_feast() -> None:
    """Create Feast's venv (``.bench/feast``) from PyPI on first use."""
    check = [str(FEAST_PYTHON), "-c", "import feast, duckdb, ibis"]
    if FEAST_PYTHON.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return
    print(f"Creating {FEAST_VENV} with {FEAST_SPEC!r} (takes a few minutes)", flush=True)
    shutil.rmtree(FEAST_VENV, ignore_errors=True)
    base = os.environ.get("PYTHON", "python3")  # a system Python, not Keel's venv
    subprocess.run([base, "-m", "venv", str(FEAST_VENV)], check=True)
    pip = [str(FEAST_VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run([*pip, FEAST_SPEC], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"Could not install Feast: {done.stderr.strip()[-500:]}")


def feast_version() -> str:
    """The installed Feast version, read from its venv's metadata."""
    for meta in (FEAST_VENV / "lib").glob("python*/site-packages/feast-*.dist-info"):
        return meta.name.split("-")[1].removesuffix(".dist")
    return "(not installed)"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "n/a"
    return f"{b / a:.1f}x"


def render(
    size: spec.Size,
    hist: dict[str, tuple[float, float, dict[str, object]]],
    mats: dict[str, float],
    online: dict[str, dict[str, float]],
    applies: dict[str, float],
    errors: dict[str, str],
    opts: argparse.Namespace,
    load: list[float] | None = None,
) -> str:
    def h(label: str) -> tuple[float, float] | None:
        got = hist.get(label)
        return (got[0], got[1]) if got else None

    lines = [
        "## Features: Keel vs Feast",
        "",
        f"Measured {dt.date.today().isoformat()} on {platform.machine()} "
        f"({os.cpu_count()} cores), Python {platform.python_version()}, size `{size.name}`: "
        f"{size.entities:,} customers hourly over {size.hours // 24} days "
        f"({size.source_rows:,} source rows in one Parquet file), {size.entity_rows:,} entity "
        f"rows, 3 features (float64, int64, string). Feast {feast_version()} "
        "runs in its own venv with its default file (Dask) offline store, its DuckDB offline "
        "store and its SQLite online store; Keel with its defaults (DuckDB over Parquet, SQLite "
        "online store). Each historical number is the median in-process time of "
        f"{opts.reps} (Keel, DuckDB) or {opts.feast_reps} (Feast) fresh processes; peak memory is "
        "the process's maximum resident set. The machine was shared with other work while "
        "measuring"
        + (f" (load average {load[0]:.1f} at the start, {load[1]:.1f} at the end)" if load else "")
        + ", so absolute times are noisy; ratios come from the same run. Both tools' processes "
        "use compiled bytecode, cached under `.bench/work/features/pycache` and warmed by "
        "untimed runs first (as an installed package has it). Regenerate "
        "with `python bench/features/run.py` (`--quick` for a small smoke run).",
        "",
        "### Historical retrieval (point-in-time join)",
        "",
        "| variant | ttl 24h: seconds | peak MB | no ttl: seconds | peak MB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in ("keel", "duckdb asof", "feast duckdb", "feast file"):
        cells = []
        for tag in ("ttl", "no ttl"):
            got = h(f"{name} ({tag})")
            cells += [f"{got[0]:.2f}", f"{got[1]:,.0f}"] if got else ["failed", "-"]
        label = {
            "duckdb asof": "hand-written DuckDB ASOF JOIN",
            "feast duckdb": "Feast, DuckDB store",
            "feast file": "Feast, file store",
            "keel": "**Keel**",
        }[name]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    lines += ["", "| target | ttl 24h | no ttl |", "| --- | --- | --- |"]

    def ratio_row(title: str, other: str, want: str, better_is_lower: bool = True) -> None:
        cells = []
        for tag in ("ttl", "no ttl"):
            k, o = h(f"keel ({tag})"), h(f"{other} ({tag})")
            if not k or not o:
                cells.append("n/a")
                continue
            cells.append(f"{o[0] / k[0]:.1f}x faster")
        lines.append(f"| {title} (want {want}) | {' | '.join(cells)} |")

    ratio_row("Keel vs Feast file store", "feast file", ">= 10x")
    ratio_row("Keel vs Feast DuckDB store", "feast duckdb", ">= 1.5x")
    cells = []
    for tag in ("ttl", "no ttl"):
        k, b = h(f"keel ({tag})"), h(f"duckdb asof ({tag})")
        cells.append(f"{k[0] / b[0]:.2f}x the baseline's time" if k and b else "n/a")
    lines.append(
        f"| Keel vs hand-written ASOF JOIN (want <= 1.2x its time) | {' | '.join(cells)} |"
    )
    cells = []
    for tag in ("ttl", "no ttl"):
        k = h(f"keel ({tag})")
        feasts = [x for x in (h(f"feast duckdb ({tag})"), h(f"feast file ({tag})")) if x]
        if k and feasts:
            cells.append(
                " / ".join(f"{k[1] / f[1]:.2f}" for f in feasts) + " of Feast's (duckdb / file)"
            )
        else:
            cells.append("n/a")
    lines.append(f"| Keel peak memory (want <= 0.5 of Feast's) | {' | '.join(cells)} |")
    k_t, k_n = h("keel (ttl)"), h("keel (no ttl)")
    if k_t and k_n:
        lines.append(f"| Keel without ttl vs with ttl | {k_n[0] / k_t[0]:.2f}x the time | |")
    fd_t, fd_n = h("feast duckdb (ttl)"), h("feast duckdb (no ttl)")
    if fd_t and fd_n:
        lines.append(
            f"| Feast DuckDB store without ttl vs with ttl | {fd_n[0] / fd_t[0]:.2f}x the time | |"
        )
    checks = {
        label: (v[2].get("rows"), v[2].get("non_null"), round(float(v[2].get("checksum") or 0), 2))
        for label, v in hist.items()
    }
    agree = {
        tag: {c for lab, c in checks.items() if lab.endswith(f"({tag})")}
        for tag in ("ttl", "no ttl")
    }
    lines += [
        "",
        "Results agree across tools: "
        + ", ".join(
            f"{tag}: {'yes' if len(v) == 1 else 'NO ' + str(sorted(v))}" for tag, v in agree.items()
        )
        + " (rows, non-null count and sum of `avg_amount_7d`).",
        "",
        "### Materialization, online lookup, apply",
        "",
        "| measure | Keel | Feast | ratio (want) |",
        "| --- | ---: | ---: | --- |",
    ]
    rows = size.source_rows
    k_m = mats.get("keel")
    for store in ("duckdb", "file"):
        f_m = mats.get(f"feast {store}")
        lines.append(
            f"| materialize {rows:,} rows into SQLite, rows/s (Feast {store} store) | "
            f"{rows / k_m:,.0f} | {rows / f_m:,.0f} | {f_m / k_m:.1f}x (>= 5x) |"
            if k_m and f_m
            else f"| materialize (Feast {store} store) | "
            f"{f'{rows / k_m:,.0f}' if k_m else 'failed'} | failed | n/a |"
        )
    for n in (100, 1):
        k_o, f_o = online.get(f"keel {n}"), online.get(f"feast {n}")
        for q in ("p50", "p99", "cpu_p50", "cpu_p99"):
            if k_o and q not in k_o:
                continue
            want = ">= 5x" if n == 100 else ">= 1x"
            what = f"{q[4:]} CPU ms" if q.startswith("cpu") else f"{q} ms"
            lines.append(
                f"| online lookup of {n} entit{'ies' if n > 1 else 'y'}, {what} "
                f"({size.online_calls:,} calls) | {k_o[q] * 1e3:.3f} | "
                + (
                    f"{f_o[q] * 1e3:.3f} | {f_o[q] / k_o[q]:.1f}x ({want}) |"
                    if f_o and q in f_o
                    else "n/a | n/a |"
                )
                if k_o
                else f"| online lookup of {n}, {q} | failed | - | - |"
            )
    for key, what in (("", "first apply, fresh store"), (" again", "apply of a changed ttl")):
        for suffix, unit in (("", "seconds end to end"), (" cpu", "CPU seconds of the process")):
            k_a, f_a = applies.get("keel" + key + suffix), applies.get("feast" + key + suffix)
            if k_a:
                lines.append(
                    f"| `keel features apply` vs `feast apply` ({what}), {unit} | "
                    f"{k_a:.2f} | "
                    + (f"{f_a:.2f} | {f_a / k_a:.1f}x (>= 5x) |" if f_a else "n/a | n/a |")
                )
    lines += [
        "",
        "The first apply creates Keel's metadata database (the tables of every capability, "
        "created from the models and stamped at the migration heads) and Feast's registry; the "
        "second applies a changed ttl to the existing store. Each apply is a fresh `keel` / "
        "`feast` process, timed end to end (median of "
        f"{max(opts.reps, APPLY_REPS)}"
        ", after one untimed apply of "
        "each); the CPU rows are the user + system time of the same processes, which the load "
        "of other jobs on the shared machine does not inflate as it does the wall-clock time. "
        "Materialization loads the whole 30 days (the latest row of each of the customers); "
        "rows/s counts source rows. Online lookups are timed twice per call: wall-clock, and "
        "the CPU time the process spent in the call (`time.process_time`, all threads). On a "
        "loaded machine the wall-clock p99 of a sub-millisecond call is the scheduler's: a "
        "tight loop of calls uses up its time slice every few milliseconds and then waits for "
        "the other jobs, so a few percent of calls include a wait of several milliseconds that "
        "is not the store's. The CPU rows are what each store costs per call, tails included, "
        "independent of that load; on an idle machine the two agree.",
    ]
    if errors:
        lines += ["", "Failures:", ""] + [f"- {k}: {v[:300]}" for k, v in errors.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
