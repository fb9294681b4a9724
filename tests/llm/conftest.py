"""Fixtures of the LLM tests: a fresh client and trace buffer, and an OpenAI-compatible server.

The server is a real HTTP server on 127.0.0.1 (a free port chosen by the OS) implementing
``POST /v1/chat/completions`` with ``usage``. What it answers depends on the user message:

- a message containing ``SLOW`` is answered after ``slow_seconds`` (past the client's timeout);
- ``BROKEN`` gets a reply that is not JSON;
- ``FLAKY`` gets malformed JSON on its first call and a good answer after;
- otherwise the answer is ``answers[key]`` for the first key the message contains, else
  ``"I don't know"``; a judge prompt ("You are grading") is answered ``judge_reply``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fresh_llm_state() -> Iterator[None]:
    from keel.llm import _trace
    from keel.llm._client import reset_llm_client

    reset_llm_client()
    _trace._buffer.take()
    _trace._buffer.flush_size = 200
    yield
    _trace._buffer.take()
    reset_llm_client()


@dataclass
class FakeLLM:
    """The state of the test server: its URL, what it answers, and the requests it got."""

    base_url: str = ""
    answers: dict[str, str] = field(default_factory=dict)
    judge_reply: str = '{"score": 4, "reason": "mostly right"}'
    slow_seconds: float = 1.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls_with(self, text: str) -> int:
        """How many requests had ``text`` in their user message."""
        return sum(1 for r in self.requests if text in r["messages"][-1]["content"])


def _handler(state: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib name
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # The client may have given up already (a timeout test).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def do_POST(self) -> None:
            if self.path != "/v1/chat/completions":
                self._send(404, b'{"error": "not found"}')
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            content = body["messages"][-1]["content"]
            with state.lock:
                state.requests.append(body)
                state.seen[content] = state.seen.get(content, 0) + 1
                seen = state.seen[content]
            if "SLOW" in content:
                time.sleep(state.slow_seconds)
            if "BROKEN" in content or ("FLAKY" in content and seen == 1):
                self._send(200, b'{"choices": [{"message": ')
                return
            if content.startswith("You are grading"):
                answer = state.judge_reply
            else:
                answer = next((v for k, v in state.answers.items() if k in content), "I don't know")
            reply = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": len(content.split()),
                    "completion_tokens": len(answer.split()),
                    "total_tokens": len(content.split()) + len(answer.split()),
                },
            }
            self._send(200, json.dumps(reply).encode())

    return Handler


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """An OpenAI-compatible chat-completions server on 127.0.0.1, stopped after the test."""
    state = FakeLLM()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def support_eval(keel_home: Path) -> str:
    """A registered evaluation dataset ``support-eval@v1``: questions and references."""
    import pandas as pd

    import keel.datasets

    frame = pd.DataFrame(
        {
            "question": ["capital of France", "capital of Italy", "two plus two", "sky colour"],
            "reference": ["Paris", "Rome", "4", "blue"],
        }
    )
    path = keel_home.parent / "support-eval.parquet"
    frame.to_parquet(path)
    return keel.datasets.register("support-eval", path).ref
