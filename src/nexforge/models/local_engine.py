"""The narrow, typed edge of xllamacpp: load a GGUF, stream one chat completion.

xllamacpp ships no type information; everything it returns is checked here. Calls block
(they wait for llama.cpp's own server loop), so callers run them in worker threads. The
streaming form is used even though callers want whole answers: its per-chunk callback is
the only way to stop a generation early (returning True ends it and frees the slot).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexforge.core.errors import ModelError, ModelNotConfiguredError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineSettings:
    """How llama.cpp is set up; ``n_ctx`` is the context of ONE slot."""

    path: Path
    n_ctx: int = 8192
    n_parallel: int = 4
    n_threads: int | None = None


@dataclass
class Generation:
    """What one streamed completion produced; ``stopped`` when we ended it early."""

    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stopped: bool = False
    chunks: int = 0
    _calls: dict[int, dict[str, str]] = field(default_factory=dict)

    def add_chunk(self, chunk: dict[str, Any]) -> None:
        self.chunks += 1
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str):
                self.text += content
            # llama.cpp's own tool-call parser may claim the JSON; keep it either way.
            for call in delta.get("tool_calls") or []:
                slot = self._calls.setdefault(
                    int(call.get("index", 0)), {"name": "", "arguments": ""}
                )
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            self.completion_tokens = int(usage.get("completion_tokens") or 0)

    def output_text(self) -> str:
        """The generated text, with a call llama.cpp parsed turned back into its JSON."""
        if self.text.strip() or not self._calls:
            return self.text
        call = self._calls[min(self._calls)]
        try:
            arguments: Any = json.loads(call["arguments"] or "{}")
        except ValueError:
            return self.text
        return json.dumps({"name": call["name"], "arguments": arguments})


class Engine:
    """One loaded model: llama.cpp's in-process server with ``n_parallel`` slots."""

    def __init__(self, settings: EngineSettings) -> None:
        try:
            import xllamacpp  # type: ignore[import-untyped]  # heavy and optional: loaded on first use
        except ImportError as exc:
            raise ModelNotConfiguredError(
                f"the local model provider needs llama.cpp ({exc}): pip install 'nexforge[local]'"
            ) from exc

        params = xllamacpp.CommonParams()
        params.model.path = str(settings.path)
        # llama.cpp splits n_ctx evenly between the slots; callers think per request.
        params.n_ctx = settings.n_ctx * settings.n_parallel
        params.n_parallel = settings.n_parallel
        threads = settings.n_threads or _available_cpus()
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.cache_prompt = True
        params.verbosity = 0
        # The server also listens on a loopback port we never use: lock it with a key
        # nobody knows instead of leaving an open, unauthenticated endpoint.
        params.api_keys = [secrets.token_urlsafe(32)]
        params.endpoint_slots = False
        try:
            self._server: Any = xllamacpp.Server(params)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"cannot load {settings.path}: {exc}") from exc

    def stream_chat(self, body: dict[str, Any], stop: threading.Event) -> Generation:
        """Run one chat completion to the end, or until ``stop`` is set (blocking)."""
        generation = Generation()
        failure: list[str] = []

        def on_chunk(chunk: Any) -> bool:
            if isinstance(chunk, (str, bytes)):
                chunk = json.loads(chunk)
            if not isinstance(chunk, dict):
                return False
            if "error" in chunk:
                failure.append(_error_text(chunk["error"]))
                return True
            generation.add_chunk(chunk)
            return stop.is_set()

        try:
            result = self._server.handle_chat_completions({**body, "stream": True}, on_chunk)
        except ValueError as exc:  # llama.cpp rejects the request (context size, schema...)
            raise ModelError(f"local model rejected the request: {exc}") from exc
        if isinstance(result, dict) and "error" in result:
            failure.append(_error_text(result["error"]))
        if failure:
            raise ModelError(f"local model failed: {failure[0]}")
        generation.stopped = stop.is_set() and generation.finish_reason is None
        return generation


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
