"""``keel serve`` as a process: it serves, and SIGTERM drains and flushes the prediction log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import keel.monitoring as km

from .conftest import MODEL, Models, records


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_keel_serve_process_flushes_its_log_on_sigterm(models: Models, keel_home: Path) -> None:
    port = _free_port()
    keel = Path(sys.executable).parent / "keel"
    cmd = [str(keel), "serve", f"models:/{MODEL}@champion", "--port", str(port)]
    cmd += ["--deployment", "churn-cli", "--log-level", "warning"]
    env = {**os.environ, "KEEL_HOME": str(keel_home)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(url + "/v1/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "keel serve did not become ready"
            time.sleep(0.2)
        ids = []
        for i in range(5):
            r = httpx.post(url + "/v1/predict", json={"instances": records(2, seed=i)})
            assert r.status_code == 200, r.text
            ids += r.json()["prediction_ids"]
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught (exit -15).
        assert proc.wait(60) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    table = km.read_predictions("churn-cli")
    assert sorted(table.column("prediction_id").to_pylist()) == sorted(ids)


@pytest.mark.parametrize(("flag", "expected"), [([], False), (["--access-log"], True)])
def test_access_log_is_off_unless_asked(
    monkeypatch: pytest.MonkeyPatch, flag: list[str], expected: bool
) -> None:
    from typer.testing import CliRunner

    import keel.serving
    from keel.cli import app

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(keel.serving, "serve", lambda target, **kw: calls.append(kw))
    result = CliRunner().invoke(app, ["serve", "models:/m@champion", *flag])
    assert result.exit_code == 0, result.output
    assert calls[0]["access_log"] is expected
