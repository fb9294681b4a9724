"""Drift benchmark driver: Keel vs Evidently's DataDriftPreset vs a NumPy/SciPy lower bound.

Stdlib only; ``bench/run.sh`` runs it with Keel's venv python. Each side runs in a fresh
subprocess in its own venv (Evidently in ``.bench/evidently``, made here on first use) on the
same generated frames (``spec.py``: 25 columns, 20 numeric and 5 categorical, six shifted), at
100,000 and 1,000,000 rows. Wall time of the drift computation after a warm-up call, and the
process's peak resident memory during it (input data included, and above the data), are
compared; so are the drifted columns each side finds. Prints a table and rewrites the
monitoring section of ``docs/benchmarks.md``.

Raw results go to ``.bench/monitoring/results.json``; ``--render`` rewrites the section from
them without measuring again.

Usage:
    python bench/monitoring/run.py [--sizes 100k,1M] [--reps N] [--no-doc] [--render]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import spec  # noqa: E402
from docfile import write_section  # noqa: E402

KEEL_PYTHON = Path(os.environ.get("BENCH_KEEL_PYTHON", ROOT / ".venv" / "bin" / "python"))
EVIDENTLY_VENV = ROOT / ".bench" / "evidently"
EVIDENTLY_PYTHON = EVIDENTLY_VENV / "bin" / "python"
EVIDENTLY_SPEC = os.environ.get("BENCH_EVIDENTLY_SPEC", "evidently==0.7.23")
DOC = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / ".bench" / "monitoring" / "results.json"
TIMEOUT = 3600


def ensure_evidently() -> str:
    check = [str(EVIDENTLY_PYTHON), "-c", "import evidently; print(evidently.__version__)"]
    try:
        return subprocess.run(check, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    print(f"bench: creating {EVIDENTLY_VENV} with {EVIDENTLY_SPEC}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(EVIDENTLY_VENV)], check=True)
    pip = [str(EVIDENTLY_VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
    # Evidently 0.7 imports pandas internals that pandas 3 removed.
    subprocess.run([*pip, EVIDENTLY_SPEC, "pandas<3", "psutil"], check=True)
    return subprocess.run(check, capture_output=True, text=True, check=True).stdout.strip()


def side(python: Path, script: str, *args: str) -> dict:  # type: ignore[type-arg]
    proc = subprocess.run(
        [str(python), str(HERE / script), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        cwd=ROOT,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{script} {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100k,1M")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--render", action="store_true", help="Only rewrite the doc.")
    args = parser.parse_args()
    if args.render:
        saved = json.loads(RESULTS.read_text(encoding="utf-8"))
        render(saved, args.no_doc)
        return
    version = ensure_evidently()
    load_before = os.getloadavg()
    rows = {}
    for size in args.sizes.split(","):
        print(f"== {size} rows x 25 columns", file=sys.stderr)
        r = {
            "lower": side(KEEL_PYTHON, "numpy_side.py", size, "--reps", str(args.reps)),
            "keel": side(KEEL_PYTHON, "keel_side.py", size, "--reps", str(args.reps)),
            "keel1": side(
                KEEL_PYTHON, "keel_side.py", size, "--reps", str(args.reps), "--threads", "1"
            ),
            "evidently": side(EVIDENTLY_PYTHON, "evidently_side.py", size, "--reps", "1"),
        }
        for name, res in r.items():
            print(
                f"   {name:10s} {res['best']:8.2f} s  peak {mib(res['peak_rss'])}", file=sys.stderr
            )
        rows[size] = r
    load_after = os.getloadavg()
    saved = {
        "date": dt.date.today().isoformat(),
        "evidently": version,
        "reps": args.reps,
        "load": [load_before[0], load_after[0]],
        "machine": [platform.machine(), os.cpu_count(), platform.python_version()],
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    render(saved, args.no_doc)


def render(saved: dict, no_doc: bool) -> None:  # type: ignore[type-arg]
    rows, version, reps = saved["rows"], saved["evidently"], saved["reps"]
    load_before, load_after = saved["load"]
    machine, cores, py = saved["machine"]
    expected = sorted(spec.SHIFTS)
    lines = [
        "## Drift: Keel vs Evidently",
        "",
        f"`python bench/monitoring/run.py` on {saved['date']}: "
        f"`keel.monitoring.drift(reference, current)` against Evidently {version}'s "
        "`Report([DataDriftPreset()])` and a hand-written NumPy/SciPy lower bound that computes "
        "the same statistics (each numeric column sorted once, single thread; pandas' hash "
        "counts for the string columns). Data: reference and current pandas frames of 25 "
        "columns (20 numeric, 5 string categorical; `bench/monitoring/spec.py`), six of them "
        f"shifted ({', '.join(f'{k}: {v}' for k, v in spec.SHIFTS.items())}). Time: the drift "
        "call after a warm-up call (best of "
        f"{reps} for Keel and the lower bound, one run for Evidently). Memory: the "
        "process's peak resident set during the call (Linux VmHWM, reset before it), input "
        "frames included, and above them. Each side runs in a fresh process in its own venv.",
        "",
        f"Machine: {machine}, {cores} cores, Python "
        f"{py}; load average {load_before:.1f} before and "
        f"{load_after:.1f} after (other work shared the machine, so absolute times are "
        "noisy; the sides ran one after the other under the same conditions).",
        "",
        "| rows | side | time | peak RSS (with data) | peak above data | drifted columns |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    labels = {
        "keel": "Keel (default: threads = cores)",
        "keel1": "Keel, one thread",
        "lower": "NumPy/SciPy lower bound",
        "evidently": f"Evidently {version} DataDriftPreset",
    }
    for size, r in rows.items():
        for key in ("keel", "keel1", "lower", "evidently"):
            res = r[key]
            same = "same as shifted" if res["drifted"] == expected else ", ".join(res["drifted"])
            lines.append(
                f"| {size} | {labels[key]} | {res['best']:.2f} s | {mib(res['peak_rss'])} | "
                f"{mib(res['peak_above_data'])} | {same} |"
            )
    lines += [
        "",
        "| rows | Evidently time / Keel time (target >= 20x) | Keel peak / Evidently peak "
        "(target <= 1/3) | Keel time / lower bound (target <= 2x) | Keel, one thread / lower "
        "bound | same drifted columns |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for size, r in rows.items():
        k, k1, lb, ev = r["keel"], r["keel1"], r["lower"], r["evidently"]
        same = k["drifted"] == ev["drifted"] == lb["drifted"] == k1["drifted"]
        lines.append(
            f"| {size} | {ev['best'] / k['best']:.0f}x | "
            f"{k['peak_rss'] / ev['peak_rss']:.2f} (above data: "
            f"{k['peak_above_data'] / max(ev['peak_above_data'], 1):.2f}) | "
            f"{k['best'] / lb['best']:.2f}x | {k1['best'] / lb['best']:.2f}x | "
            f"{'yes' if same else 'NO'} |"
        )
    verdicts = []
    for size, r in rows.items():
        k, k1, lb, ev = r["keel"], r["keel1"], r["lower"], r["evidently"]
        checks = [
            ("at least 20x faster than Evidently", ev["best"] / k["best"] >= 20),
            ("at most 1/3 of Evidently's peak memory", k["peak_rss"] * 3 <= ev["peak_rss"]),
            ("within 2x of the lower bound", k["best"] <= 2 * lb["best"]),
            ("same drifted columns", k["drifted"] == ev["drifted"] == lb["drifted"]),
        ]
        held = [name for name, ok in checks if ok]
        missed = [name for name, ok in checks if not ok]
        verdicts.append(
            f"- {size}: holds: {', '.join(held) or 'none'}"
            + (f"; missed: {', '.join(missed)}" if missed else "")
            + "."
        )
    lines += ["", "Targets of the acceptance criteria:", "", *verdicts]
    lines += [
        "",
        "At 100,000 rows both processes' peak memory is mostly the interpreter, the libraries "
        "and the input frames (Evidently's imports alone are larger than Keel's whole peak); "
        "the memory the drift computation itself adds is the 'above data' column.",
        "",
        "Keel's default spreads columns over a thread pool (NumPy's sort and the hash counts "
        "release the GIL); the one-thread row compares like with like against the "
        "single-threaded lower bound. Keel also infers column types, handles nulls, "
        "infinities and mixed types, checks missing-value drift and new categories, and builds "
        "the report's chart data; the lower bound does none of that.",
    ]
    body = "\n".join(lines)
    print(body)
    if not no_doc:
        write_section(DOC, "monitoring", body)
        print(f"\nwrote the monitoring section of {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
