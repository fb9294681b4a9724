"""Start, probe, measure and stop the servers of the serving benchmark (stdlib + psutil).

Each server runs as its own process group started here; ``stop`` sends SIGTERM to the
server's main process (so ``keel serve`` drains and flushes its prediction log), waits, and
then ends whatever is left of that group. Memory is the resident set of the whole process tree
(the CLI parent and its workers), sampled while the load runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
KEEL_PYTHON = Path(os.environ.get("BENCH_KEEL_PYTHON", ROOT / ".venv" / "bin" / "python"))
MLFLOW_VENV = ROOT / ".bench" / "mlflow"

sys.path.insert(0, str(HERE))
from spec import train  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    cmd: list[str]
    env: dict[str, str]
    ready_path: str
    predict_path: str
    port: int
    cwd: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    rss_samples: list[int] = field(default_factory=list)
    startup_s: float = 0.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> None:
        t0 = time.perf_counter()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                    + self.log.read_text(errors="replace")[-3000:]
                )
            try:
                with urllib.request.urlopen(self.base + self.ready_path, timeout=2) as resp:
                    if resp.status == 200:
                        self.startup_s = time.perf_counter() - t0
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{self.name} was not ready after {timeout:.0f}s; see {self.log}")

    def rss(self) -> int:
        return sum(self.rss_by_process())

    def rss_by_process(self) -> list[int]:
        """The RSS of each process of the server's tree (the CLI parent and its workers)."""
        import psutil

        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        sizes = []
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                sizes.append(p.memory_info().rss)
        return sizes

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
        # Leftover workers of the process group this script started.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None


class RssSampler:
    """Samples a server's tree RSS every ``interval`` seconds in a thread."""

    def __init__(self, server: Server, interval: float = 0.25) -> None:
        self.server = server
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self.largest = 0  # the largest single process of the tree
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            sizes = self.server.rss_by_process()
            self.samples.append((time.monotonic() - t0, sum(sizes)))
            self.largest = max([self.largest, *sizes])
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> int:
        return max((s for _, s in self.samples), default=0)


def run_load(url: str, body: bytes, connections: int, duration: float, warmup: float) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        fh.write(body)
        body_path = fh.name
    try:
        out = subprocess.run(
            [
                str(KEEL_PYTHON),
                str(HERE / "loadgen.py"),
                url,
                "--body",
                body_path,
                "--connections",
                str(connections),
                "--duration",
                str(duration),
                "--warmup",
                str(warmup),
            ],
            capture_output=True,
            text=True,
            timeout=duration + warmup + 120,
            check=False,
        )
    finally:
        os.unlink(body_path)
    if out.returncode != 0:
        raise SystemExit(f"load generator failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def prepare(work: Path, *, mlflow: bool, model_kind: str = "logreg") -> dict[str, str]:
    """Train the model once and store it for each server; return paths and URIs."""
    model, _ = train(model_kind)
    pkl = work / "model.pkl"
    with pkl.open("wb") as fh:
        pickle.dump(model, fh)
    home = work / "keel-home"
    env = _clean_env()
    env["KEEL_HOME"] = str(home)
    out = subprocess.run(
        [str(KEEL_PYTHON), str(HERE / "keel_side.py"), str(pkl)],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"keel side failed:\n{out.stderr[-3000:]}")
    side = json.loads(out.stdout.strip().splitlines()[-1])
    info = {
        "pickle": str(pkl),
        "keel_home": str(home),
        "keel_uri": "models:/bench@champion",
        "keel_matrix": "yes" if side.get("matrix") else "no",
        "keel_compiled": "yes" if side.get("compiled") else "no",
    }
    if mlflow:
        mdir = work / "mlflow-model"
        out = subprocess.run(
            [
                str(MLFLOW_VENV / "bin" / "python"),
                str(HERE / "mlflow_side.py"),
                str(pkl),
                str(mdir),
            ],
            env=_clean_env(),
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise SystemExit(f"mlflow side failed:\n{out.stderr[-3000:]}")
        info["mlflow_model"] = str(mdir)
    return info


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("KEEL_STORE_URI", "KEEL_ARTIFACT_URI", "KEEL_TRACKING_URI", "KEEL_CONFIG"):
        env.pop(var, None)
    return env


#: The deployment name `keel serve` logs the benchmark's predictions under.
DEPLOYMENT = "bench-serving"


def keel_server(info: dict[str, str], work: Path, workers: int = 1) -> Server:
    port = free_port()
    env = _clean_env()
    env["KEEL_HOME"] = info["keel_home"]
    keel = KEEL_PYTHON.parent / "keel"
    cmd = [str(keel), "serve", info["keel_uri"], "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers), "--deployment", DEPLOYMENT]
    return Server("keel", cmd, env, "/v1/ready", "/v1/predict", port, work, work / "keel.log")


def mlflow_server(info: dict[str, str], work: Path) -> Server:
    port = free_port()
    env = _clean_env()
    # `mlflow models serve` starts `uvicorn` by name: its own venv's.
    env["PATH"] = f"{MLFLOW_VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"file://{work / 'mlruns'}"
    cmd = [
        str(MLFLOW_VENV / "bin" / "mlflow"),
        "models",
        "serve",
        "-m",
        info["mlflow_model"],
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        "1",
    ]
    return Server("mlflow", cmd, env, "/ping", "/invocations", port, work, work / "mlflow.log")


def bare_server(info: dict[str, str], work: Path) -> Server:
    port = free_port()
    env = _clean_env()
    env["BENCH_MODEL"] = info["pickle"]
    cmd = [
        str(KEEL_PYTHON),
        "-m",
        "uvicorn",
        "bare_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # BENCH_BARE_ACCESS_LOG=1 keeps uvicorn's per-request access log, to measure what it costs.
    if os.environ.get("BENCH_BARE_ACCESS_LOG") != "1":
        cmd.append("--no-access-log")
    return Server("bare", cmd, env, "/health", "/predict", port, HERE, work / "bare.log")
