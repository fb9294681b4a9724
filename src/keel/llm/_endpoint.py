"""Model calls: an OpenAI-compatible HTTP endpoint, and what any target's answer becomes.

:func:`endpoint` returns a callable that POSTs to ``{base_url}/chat/completions`` (the OpenAI
chat API, which vLLM, llama.cpp's server, Ollama, LiteLLM and most gateways speak) with the
standard library's HTTP client: no SDK to install. A reply that is not JSON, lacks
``choices[0].message.content`` or arrives after ``timeout`` raises :class:`EndpointError`, which
the evaluation retries with backoff.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from keel.errors import InvalidArgumentError, KeelError

__all__ = ["Completion", "Endpoint", "EndpointError", "as_completion", "endpoint"]


class EndpointError(KeelError):
    """A model endpoint failed: unreachable, timed out, an HTTP error, or a malformed reply."""

    code = "endpoint-error"


@dataclass(frozen=True)
class Completion:
    """A model's answer.

    Attributes:
        text: The generated text.
        usage: Token counts as the endpoint reported them (``prompt_tokens``,
            ``completion_tokens``, ``total_tokens``); empty if it did not.
        model: The model that answered, if known.
    """

    text: str
    usage: dict[str, Any] = field(default_factory=dict)
    model: str | None = None


def as_completion(value: Any) -> Completion:
    """Turn what a target returned into a :class:`Completion`.

    A target may return a string, a :class:`Completion`, a dict with ``text`` or ``output``
    (and optionally ``usage``), or an OpenAI-style chat completion dict.

    Raises:
        InvalidArgumentError: The value is none of these.
    """
    if isinstance(value, Completion):
        return value
    if isinstance(value, str):
        return Completion(value)
    if isinstance(value, Mapping):
        usage = dict(value.get("usage") or {})
        if "choices" in value:
            return _parse_chat(dict(value))
        for key in ("text", "output", "content"):
            if key in value:
                return Completion(str(value[key]), usage, value.get("model"))
    raise InvalidArgumentError(
        f"A target returns a string, a Completion or a dict with 'text' (and 'usage'); got "
        f"{type(value).__name__} {str(value)[:80]!r}."
    )


def _parse_chat(body: dict[str, Any]) -> Completion:
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise EndpointError(
            f"The endpoint's reply has no choices[0].message.content: {str(body)[:200]!r}."
        ) from exc
    if not isinstance(content, str):
        raise EndpointError(f"choices[0].message.content is not text: {content!r}.")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    return Completion(content, dict(usage or {}), body.get("model"))


class Endpoint:
    """A callable client of an OpenAI-compatible chat-completions endpoint.

    Call it with the prompt text (a user message) or a list of chat messages; it returns a
    :class:`Completion`. Make one with :func:`endpoint`.

    Args:
        base_url: The API root, with its version: ``http://127.0.0.1:8000/v1``.
        model: The model name sent in each request.
        api_key: A bearer token; ``OPENAI_API_KEY`` from the environment by default (never
            put in messages or logs, and left out when the endpoint is pickled: process and
            Ray workers of a sharded evaluation read ``OPENAI_API_KEY`` from their environment).
        timeout: Seconds to wait for a reply.
        params: Request fields sent with every call (``temperature``, ``max_tokens``...).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise InvalidArgumentError(
                f"base_url is an http(s) URL such as 'http://127.0.0.1:8000/v1', got {base_url!r}."
            )
        if timeout <= 0:
            raise InvalidArgumentError(f"timeout is a positive number of seconds, got {timeout!r}.")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = float(timeout)
        self.params = dict(params or {})
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")

    @property
    def identity(self) -> str:
        """``model@base_url``: what the cache key and the evaluation record name."""
        return f"{self.model}@{self.base_url}"

    def __repr__(self) -> str:
        return f"Endpoint({self.base_url!r}, {self.model!r})"

    def __getstate__(self) -> dict[str, Any]:
        # A pickled endpoint travels to process and Ray workers as a blob kept in the artifact
        # store: the key stays out of it, and the worker reads OPENAI_API_KEY instead.
        state = dict(self.__dict__)
        state["_api_key"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._api_key = os.environ.get("OPENAI_API_KEY")

    def __call__(self, prompt: str | list[dict[str, Any]], **params: Any) -> Completion:
        """Send one chat completion request.

        Args:
            prompt: The user message, or the full list of chat messages.
            **params: Request fields for this call, over the endpoint's ``params``.

        Raises:
            EndpointError: Unreachable, timed out, an HTTP error status, or a malformed reply.
        """
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        body = {"model": self.model, "messages": messages, **self.params, **params}
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        url = f"{self.base_url}/chat/completions"
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode("utf-8", "replace")
            raise EndpointError(f"{url} answered HTTP {exc.code}: {detail!r}.") from exc
        except TimeoutError as exc:
            raise EndpointError(f"{url} did not answer within {self.timeout:g} s.") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError | socket.timeout):
                raise EndpointError(f"{url} did not answer within {self.timeout:g} s.") from exc
            raise EndpointError(f"Cannot reach {url}: {reason}.") from exc
        try:
            parsed = json.loads(raw)
        except ValueError as exc:
            raise EndpointError(
                f"{url} answered with malformed JSON: {raw[:120].decode('utf-8', 'replace')!r}."
            ) from exc
        if not isinstance(parsed, dict):
            raise EndpointError(f"{url} answered with JSON that is not an object: {parsed!r}.")
        return _parse_chat(parsed)


def endpoint(
    base_url: str,
    model: str,
    *,
    api_key: str | None = None,
    timeout: float = 30.0,
    params: Mapping[str, Any] | None = None,
) -> Endpoint:
    """Return a client of an OpenAI-compatible endpoint, to use as an evaluation target or judge.

    Args:
        base_url: The API root with its version, ``http://127.0.0.1:8000/v1``.
        model: The model name.
        api_key: A bearer token (``OPENAI_API_KEY`` by default).
        timeout: Seconds to wait for each reply.
        params: Request fields sent with every call.

    Examples:
        >>> ep = keel.llm.endpoint("http://127.0.0.1:8000/v1", "llama-3-8b")  # doctest: +SKIP
        >>> ep("Say hi").text  # doctest: +SKIP
        'Hi!'
    """
    return Endpoint(base_url, model, api_key=api_key, timeout=timeout, params=params)
