"""The UI over a store filled by ``keel quickstart``: every page it links to answers.

Crawls from ``/`` through every link (runs, models, lineage, datasets, pipelines, monitors,
deployments, ...) and checks each page's status and accessibility basics.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import deque
from pathlib import Path

import httpx
import pytest

from .conftest import _reset, serving
from .test_pages import check_accessible


@pytest.mark.slow
def test_every_linked_page_of_a_quickstart_store_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(KEEL_HOME=str(home), COLUMNS="200")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "keel"), "quickstart"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for var in ("KEEL_STORE_URI", "KEEL_ARTIFACT_URI", "KEEL_TRACKING_URI", "KEEL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KEEL_HOME", str(home))
    _reset()
    try:
        from keel.ui import create_ui_app

        seen: set[str] = set()
        kinds: set[str] = set()
        with serving(create_ui_app()) as url, httpx.Client(base_url=url, timeout=120) as http:
            queue = deque(["/"])
            while queue and len(seen) < 2000:
                path = queue.popleft()
                if path in seen:
                    continue
                seen.add(path)
                r = http.get(path)
                assert r.status_code == 200, (path, r.text[-500:])
                if "/artifacts/" in path or not r.headers["content-type"].startswith("text/html"):
                    continue
                if "/results/" not in path:  # stored monitor reports are their own documents
                    check_accessible(r.text, path)
                kinds.add(path.split("/")[1].split("?")[0])
                for href in re.findall(r'href="(/[^"#]*)"', r.text):
                    href = href.replace("&amp;", "&")
                    if "/static/" in href or (href.startswith("/experiments/") and "?" in href):
                        continue
                    queue.append(href)
        assert kinds >= {"", "experiments", "runs", "models", "lineage", "datasets", "pipelines"}
        assert kinds >= {"monitors", "deployments", "audit"}
        assert len(seen) > 50
    finally:
        _reset()
