"""MockOpenAIServer: a small OpenAI-compatible chat server for HTTP, fault and load tests.

Replies come from a script (consumed in order) or a responder function; latency and faults
(429, 500, timeout, malformed JSON) are injected per request. The hot path is plain dicts
and stdlib json, because load benchmarks run it against a thousand concurrent clients.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

logger = logging.getLogger(__name__)

FaultKind = Literal["429", "500", "timeout", "malformed"]
FAULT_KINDS: tuple[FaultKind, ...] = ("429", "500", "timeout", "malformed")
Responder = Callable[[dict[str, Any]], "MockReply | Awaitable[MockReply]"]
Latency = float | Callable[[dict[str, Any]], float]


@dataclass
class MockReply:
    """One assistant reply. ``tool_calls`` items are ``{"name", "arguments"}``; a string
    ``arguments`` is sent verbatim (to test undecodable arguments)."""

    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None  # default: "tool_calls" when there are calls, else "stop"
    usage: dict[str, int] | None = None  # default: rough sizes of request and reply
    reasoning: str | None = None


class MockOpenAIServer:
    """``POST /v1/chat/completions`` and ``GET /v1/models`` on 127.0.0.1.

    Use ``async with MockOpenAIServer(...) as server`` in async code, or
    ``start_in_thread()`` / ``stop()`` (or ``with``) from sync code. ``requests`` holds
    every parsed chat request body; ``stats`` counts requests, replies and each fault.
    """

    def __init__(
        self,
        replies: Iterable[MockReply | str] | None = None,
        *,
        responder: Responder | None = None,
        latency_s: Latency = 0.0,
        faults: Iterable[FaultKind | None] = (),
        fault_rate: float = 0.0,
        fault_kinds: Iterable[FaultKind] = FAULT_KINDS,
        seed: int = 0,
        retry_after: float | None = None,
        api_key: str | None = None,
        model: str = "mock-model",
        port: int = 0,
        record_requests: bool = True,
    ) -> None:
        if replies is not None and responder is not None:
            raise ValueError("give scripted replies or a responder, not both")
        self._replies = [MockReply(content=r) if isinstance(r, str) else r for r in replies or []]
        self._scripted = replies is not None
        self._responder = responder
        self._latency = latency_s
        self._faults: list[FaultKind | None] = list(faults)
        self._fault_rate = fault_rate
        self._fault_kinds = list(fault_kinds)
        self._rng = random.Random(seed)
        self._retry_after = retry_after
        self._auth = f"Bearer {api_key}" if api_key else None
        self.model = model
        self._port = port
        self._record = record_requests
        self.requests: list[dict[str, Any]] = []
        self.stats: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL for clients, ending in ``/v1``."""
        if self._runner is None:
            raise RuntimeError("MockOpenAIServer is not running")
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}/v1"

    @property
    def remaining_replies(self) -> int:
        return len(self._replies)

    async def start(self) -> MockOpenAIServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        # No access log and a short shutdown: this server exists for tests and benchmarks.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self._port, backlog=4096).start()
        self._closing = asyncio.Event()
        return self

    async def aclose(self) -> None:
        if self._closing is not None:
            self._closing.set()  # releases handlers hanging in a "timeout" fault
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MockOpenAIServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def start_in_thread(self) -> MockOpenAIServer:
        """Serve from a daemon thread with its own event loop; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("MockOpenAIServer already runs in a thread")
        loop = asyncio.new_event_loop()
        started: Future[None] = Future()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except Exception as exc:  # hand the failure to the starting thread
                started.set_exception(exc)
                loop.close()
                return
            started.set_result(None)
            loop.run_forever()
            loop.close()

        self._thread_loop = loop
        self._thread = threading.Thread(target=serve, name="mock-openai-server", daemon=True)
        self._thread.start()
        try:
            started.result(timeout=10)
        except BaseException:
            self._thread = None
            raise
        return self

    def stop(self) -> None:
        """Stop a server started with ``start_in_thread``."""
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = self._thread_loop = None

    def __enter__(self) -> MockOpenAIServer:
        return self.start_in_thread()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- handlers ------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        if self._auth is None:
            return True
        # Constant-time, so response timing does not reveal how much of a guess was right.
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self._auth.encode())

    async def _models(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _error(401, "invalid or missing API key", "invalid_request_error")
        data = [{"id": self.model, "object": "model", "created": 0, "owned_by": "nexforge"}]
        return _json({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.stats["requests"] += 1
        if not self._authorized(request):
            self.stats["401"] += 1
            return _error(401, "invalid or missing API key", "invalid_request_error")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(400, "request body is not valid JSON", "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "request needs a 'messages' list", "invalid_request_error")
        if self._record:
            self.requests.append(body)
        if body.get("stream"):
            return _error(400, "MockOpenAIServer does not support stream=true", "invalid_request")
        latency = self._latency(body) if callable(self._latency) else self._latency
        if latency > 0:
            await asyncio.sleep(latency)
        fault = self._next_fault()
        if fault is not None:
            self.stats[fault] += 1
            return await self._fault(fault)
        reply = await self._reply(body)
        if reply is None:
            self.stats["unexpected"] += 1
            count = self.stats["requests"]
            return _error(400, f"no scripted reply left for request #{count}", "mock_script")
        self.stats["replies"] += 1
        return _json(self._completion(body, reply))

    def _next_fault(self) -> FaultKind | None:
        if self._faults:
            return self._faults.pop(0)
        if self._fault_rate > 0 and self._rng.random() < self._fault_rate:
            return self._rng.choice(self._fault_kinds)
        return None

    async def _fault(self, fault: FaultKind) -> web.StreamResponse:
        if fault == "429":
            response = _error(429, "rate limited (injected fault)", "rate_limit_error")
            if self._retry_after is not None:
                response.headers["Retry-After"] = f"{self._retry_after:g}"
            return response
        if fault == "500":
            return _error(500, "internal error (injected fault)", "server_error")
        if fault == "malformed":
            return web.Response(body=b'{"choices": [', content_type="application/json")
        # "timeout": hang until the client gives up (disconnect cancels us) or we shut down.
        assert self._closing is not None
        await self._closing.wait()
        return _error(503, "server shutting down", "server_error")

    async def _reply(self, body: dict[str, Any]) -> MockReply | None:
        if self._responder is not None:
            result = self._responder(body)
            return await result if inspect.isawaitable(result) else result
        if self._scripted:
            return self._replies.pop(0) if self._replies else None
        return MockReply(content="ok")

    def _completion(self, body: dict[str, Any], reply: MockReply) -> dict[str, Any]:
        n = self.stats["replies"]
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.reasoning is not None:
            message["reasoning_content"] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.get("id") or f"call_{n}_{i}",
                    "type": "function",
                    "function": {"name": call["name"], "arguments": _arguments(call)},
                }
                for i, call in enumerate(reply.tool_calls)
            ]
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        usage = reply.usage or {
            "prompt_tokens": sum(len(str(m.get("content") or "")) for m in body["messages"]) // 4,
            "completion_tokens": len(reply.content or "") // 4 + 8 * len(reply.tool_calls),
        }
        usage = {
            **usage,
            "total_tokens": usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0),
        }
        return {
            "id": f"chatcmpl-mock-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }


def _arguments(call: dict[str, Any]) -> str:
    arguments = call.get("arguments", {})
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


def _error(status: int, message: str, kind: str) -> web.Response:
    return _json({"error": {"message": message, "type": kind, "code": status}}, status)
