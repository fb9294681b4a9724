"""Load test of `keel serve`: 60 s at 32 keep-alive connections, prediction log on.

Passes when no response is non-2xx, no connection fails, and the server's resident memory
(its whole process tree) grows by less than 10% from the end of the warm-up to the end of the
run. Then stops the server with SIGTERM, checks that it exits cleanly, and that its
prediction log holds exactly one row per 2xx answer (a graceful stop flushes everything).
Prints one JSON line with the figures and exits 1 on failure.

Usage: python bench/serving/load.py [--duration 60] [--connections 32] [--rows 1]
       [--work DIR]   (default: a temp folder, removed afterwards; KEEL_HOME lives in it)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _servers import RssSampler, keel_server, prepare, run_load  # noqa: E402
from spec import bodies  # noqa: E402

MAX_GROWTH = 0.10


def _logged_rows(home: str) -> int:
    """Rows in the server's prediction log, read after it stopped (a fresh process)."""
    import subprocess

    from _servers import DEPLOYMENT, KEEL_PYTHON, _clean_env

    env = _clean_env()
    env["KEEL_HOME"] = home
    code = f"import keel.monitoring as m; print(m.read_predictions({DEPLOYMENT!r}).num_rows)"
    out = subprocess.run(
        [str(KEEL_PYTHON), "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        return -1
    return int(out.stdout.strip().splitlines()[-1])


def load_test(work: Path, duration: float, connections: int, rows: int, warmup: float) -> dict:
    info = prepare(work, mlflow=False)
    server = keel_server(info, work)
    server.start()
    try:
        with RssSampler(server, interval=0.5) as sampler:
            res = run_load(
                server.base + server.predict_path,
                bodies(rows)["keel"],
                connections,
                duration,
                warmup,
            )
        samples = sampler.samples
    finally:
        t = time.perf_counter()
        proc = server.proc
        server.stop()
        stop_s = time.perf_counter() - t
    logged = _logged_rows(info["keel_home"])
    exit_code = proc.returncode if proc is not None else None
    # uvicorn re-raises SIGTERM after its graceful shutdown, so -15 is a clean stop too. A
    # failing shutdown (the prediction log's flush, say) leaves a traceback in the log.
    log = server.log.read_text(errors="replace")
    graceful = exit_code in (0, -15) and "Traceback" not in log
    # Baseline: the first sample after warm-up; final: the last one before the load ended.
    after = [s for t_, s in samples if t_ >= warmup]
    baseline = after[0] if after else 0
    final = after[-1] if after else 0
    growth = final / baseline - 1 if baseline else float("nan")
    errors = sum(res["errors"].values())
    passed = (
        res["non_2xx"] == 0
        and errors == 0
        and growth < MAX_GROWTH
        and res["requests"] > 0
        and graceful
        and logged == res["all_2xx"]
    )
    return {
        "passed": passed,
        "duration_s": duration,
        "connections": connections,
        "rows_per_request": rows,
        "requests": res["requests"],
        "rps": round(res["rps"], 1),
        "p50_ms": round(res["p50_ms"], 2),
        "p99_ms": round(res["p99_ms"], 2),
        "statuses": res["statuses"],
        "non_2xx": res["non_2xx"],
        "connection_errors": res["errors"],
        "rss_baseline_mb": round(baseline / 2**20, 1),
        "rss_final_mb": round(final / 2**20, 1),
        "rss_peak_mb": round(max((s for _, s in samples), default=0) / 2**20, 1),
        "rss_growth": round(growth, 4),
        "stop_s": round(stop_s, 2),
        "exit_code": exit_code,
        "graceful_stop": graceful,
        "answered_2xx": res["all_2xx"],
        "logged_predictions": logged,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rows", type=int, default=1)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--work", type=Path)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="keel-load-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = load_test(work, args.duration, args.connections, args.rows, args.warmup)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
