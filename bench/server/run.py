"""Team-server benchmark: 4 clients logging to one server at once, Keel vs MLflow.

Stdlib only; ``bench/run.sh`` runs it with Keel's venv python. Each tool's server runs in its
own venv (``keel server``; ``mlflow server`` from ``.bench/mlflow``) on a fresh SQLite store on
127.0.0.1. Four client processes each start a run, log params and ``STEPS`` steps of two
metrics with the tool's plain fluent API, end the run, and read the history back to check that
nothing was lost. MLflow is also measured with ``MlflowClient.log_batch`` (1,000 metrics per
call), its fastest documented path. Reported: the slowest client's logging time, and points/s
over all clients. The machine is shared: the load average is recorded next to the figures.

Usage:
    python bench/server/run.py [--steps N] [--no-doc]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from docfile import write_section  # noqa: E402

KEEL_BIN = ROOT / ".venv" / "bin"
MLFLOW_BIN = ROOT / ".bench" / "mlflow" / "bin"
DOC = ROOT / "docs" / "benchmarks.md"
CLIENTS = 4

KEEL_CLIENT = """
import json, sys, time, keel
steps = int(sys.argv[1])
keel.set_experiment("bench")
t = time.perf_counter()
with keel.start_run() as run:
    keel.log_params({"worker": sys.argv[2], "lr": 0.1, "depth": 6})
    for i in range(steps):
        keel.log_metrics({"loss": 1.0 / (i + 1), "acc": i / steps}, step=i)
elapsed = time.perf_counter() - t
n = len(keel.get_metric_history(run.id, "loss"))
print(json.dumps({"elapsed": elapsed, "points": n}))
"""

MLFLOW_CLIENT = """
import json, sys, time, mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
steps, batched = int(sys.argv[1]), sys.argv[3] == "batch"
mlflow.set_experiment("bench")
t = time.perf_counter()
with mlflow.start_run() as run:
    mlflow.log_params({"worker": sys.argv[2], "lr": 0.1, "depth": 6})
    if batched:
        client, now = MlflowClient(), int(time.time() * 1000)
        metrics = [Metric(k, v, now, i) for i in range(steps)
                   for k, v in (("loss", 1.0 / (i + 1)), ("acc", i / steps))]
        for j in range(0, len(metrics), 1000):
            client.log_batch(run.info.run_id, metrics=metrics[j:j + 1000])
    else:
        for i in range(steps):
            mlflow.log_metrics({"loss": 1.0 / (i + 1), "acc": i / steps}, step=i)
elapsed = time.perf_counter() - t
n = len(MlflowClient().get_metric_history(run.info.run_id, "loss"))
print(json.dumps({"elapsed": elapsed, "points": n}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def run_clients(python: Path, code: str, steps: int, env: dict[str, str], mode: str) -> dict:
    procs = [
        subprocess.Popen(
            [str(python), "-c", code, str(steps), str(i), mode],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(CLIENTS)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=1800)
        if p.returncode != 0:
            raise RuntimeError(err[-2000:])
        results.append(json.loads(out.strip().splitlines()[-1]))
    slowest = max(r["elapsed"] for r in results)
    lost = sum(steps - r["points"] for r in results)
    return {"slowest_s": slowest, "points_per_s": CLIENTS * steps * 2 / slowest, "lost": lost}


def bench_keel(steps: int, work: Path) -> dict:
    home = work / "keel-home"
    env = {**os.environ, "KEEL_HOME": str(home)}
    for var in ("KEEL_STORE_URI", "KEEL_ARTIFACT_URI", "KEEL_TRACKING_URI", "KEEL_TOKEN"):
        env.pop(var, None)
    keel = str(KEEL_BIN / "keel")
    subprocess.run(
        [keel, "users", "add", "bench", "--project", "bench", "--role", "admin"],
        env=env,
        check=True,
        capture_output=True,
    )
    token = subprocess.run(
        [keel, "tokens", "create", "bench"], env=env, check=True, capture_output=True, text=True
    ).stdout.splitlines()[0]
    port = free_port()
    server = subprocess.Popen(
        [keel, "server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/api/v1/health", server)
        client_env = {
            **env,
            "KEEL_HOME": str(work / "keel-client"),
            "KEEL_TRACKING_URI": f"http://127.0.0.1:{port}",
            "KEEL_TOKEN": token,
            "KEEL_PROJECT": "bench",
        }
        return run_clients(KEEL_BIN / "python", KEEL_CLIENT, steps, client_env, "fluent")
    finally:
        server.terminate()
        server.wait(timeout=60)


def bench_mlflow(steps: int, work: Path, mode: str) -> dict:
    port = free_port()
    store = work / f"mlflow-{mode}"
    store.mkdir()
    server = subprocess.Popen(
        [
            str(MLFLOW_BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{store / 'mlflow.db'}",
            "--default-artifact-root",
            str(store / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=store,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", server, timeout=300)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
        return run_clients(MLFLOW_BIN / "python", MLFLOW_CLIENT, steps, env, mode)
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="keel-bench-server-") as tmp:
        work = Path(tmp)
        rows.append(("Keel server, fluent API (buffered)", bench_keel(args.steps, work)))
        if (MLFLOW_BIN / "mlflow").exists():
            rows.append(("MLflow server, fluent API", bench_mlflow(args.steps, work, "fluent")))
            rows.append(("MLflow server, log_batch", bench_mlflow(args.steps, work, "batch")))
    load_end = os.getloadavg()[0]
    total = CLIENTS * args.steps * 2
    lines = [
        "## Team server: 4 clients logging at once",
        "",
        f"{CLIENTS} client processes, each one run with 3 params and {args.steps:,} steps of 2 "
        f"metrics ({total:,} points in all), against one server on a fresh SQLite store on "
        "127.0.0.1. Time: the slowest client, from starting its run to ending it. Lost: points "
        "missing when each client read its history back. MLflow's fluent `log_metrics` makes "
        "one synchronous request per step; its async logging mode is not measured here.",
        "",
        "| server, client API | slowest client (s) | points/s (all clients) | lost |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, r in rows:
        lines.append(f"| {label} | {r['slowest_s']:.2f} | {r['points_per_s']:,.0f} | {r['lost']} |")
    lines += [
        "",
        f"Measured {dt.date.today().isoformat()} with `python bench/server/run.py "
        f"--steps {args.steps}`; load average {load_start:.2f} at the start, {load_end:.2f} "
        "at the end (a shared, loaded machine: compare the columns, not the absolute times).",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_doc:
        write_section(DOC, "server", text)


if __name__ == "__main__":
    main()
