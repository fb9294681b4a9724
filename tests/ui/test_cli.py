"""``keel ui``: the command serves the pages over the store of the current settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

import keel


def test_keel_ui_serves_the_local_store(keel_home: Path) -> None:
    keel.set_experiment("from-cli")
    with keel.start_run(run_name="seen-in-the-ui"):
        keel.log_metric("auc", 0.9)
    with socket.socket() as s:  # ask the OS for a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    keel_cli = Path(sys.executable).with_name("keel")
    proc = subprocess.Popen(
        [str(keel_cli), "ui", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "KEEL_HOME": str(keel_home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                home = httpx.get(f"{url}/", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "keel ui did not start"
                time.sleep(0.1)
        assert home.status_code == 200
        assert ">from-cli</a>" in home.text
        exp = home.text.split('href="/experiments/')[1].split('"')[0]
        assert "seen-in-the-ui" in httpx.get(f"{url}/experiments/{exp}", timeout=10).text
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stdout:
            proc.stdout.close()
