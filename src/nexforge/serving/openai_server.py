"""OpenAIServer: any NexForge Model behind an OpenAI-compatible HTTP API.

``GET /v1/models``, ``GET /v1/models/{id}`` and ``POST /v1/chat/completions`` (tools,
tool_choice, sampling, ``stream: true``) so public benchmark harnesses and other
frameworks can use the embedded model. Safe by default: it binds loopback only and every
endpoint needs ``Authorization: Bearer <token>``. Errors are OpenAI-style JSON
``{"error": {"message", "type", "param", "code"}}`` with a one-line message, never a
traceback (those go to the log).

Streaming replays the finished response as chunks (see ``nexforge.serving.sse``): the
Model protocol is not incremental, so the whole content arrives in one delta once the
model is done. The model runs before any byte is sent, so a failing model still gets a
proper 500/504 status instead of a broken stream.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from nexforge.core.errors import ModelBusyError, ModelError, ModelTimeoutError
from nexforge.models.base import Model, ModelRequest, ModelResponse
from nexforge.serving.sse import DONE, completion_chunks, sse_event
from nexforge.serving.wire import (
    ChatCompletionRequest,
    InvalidRequest,
    completion_to_wire,
    parse_chat_request,
    to_model_request,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
# Far deeper than any real request (tool schemas included) and shallow enough that no code
# walking the request recursively (schemas, grammars) runs out of stack.
MAX_JSON_DEPTH = 64
DEFAULT_REQUEST_TIMEOUT_S = 300.0
_MESSAGE_CHARS = 300
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost could resolve anywhere


class OpenAIServer:
    """Serve ``model`` over the OpenAI chat-completions API.

    ``async with OpenAIServer(model, token=...) as server`` listens (``port=0``: any free
    port) until the block ends; ``server.url`` is the base URL for clients (ends in
    ``/v1``). ``request_timeout_s`` bounds each request's wall-clock time, queueing for the
    model included (504 when exceeded). A non-loopback ``host`` is refused unless
    ``allow_remote=True``. The requested ``model`` name is not checked: one model is served
    whatever a harness calls it.
    """

    def __init__(
        self,
        model: Model,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str,
        allow_remote: bool = False,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    ) -> None:
        if not token:
            raise ValueError("OpenAIServer needs a non-empty bearer token")
        if not allow_remote and not is_loopback(host):
            raise ValueError(
                f"refusing to bind {host!r}: not a loopback address; pass allow_remote=True "
                "to let other machines reach the model (anyone with the token can use it)"
            )
        if max_body_bytes < 1 or request_timeout_s <= 0:
            raise ValueError("max_body_bytes and request_timeout_s must be positive")
        self._model = model
        self._host = host
        self._port = port
        self._token = token.encode()
        self._max_body_bytes = max_body_bytes
        self._timeout_s = request_timeout_s
        self._runner: web.AppRunner | None = None

    @property
    def model(self) -> Model:
        return self._model

    @property
    def url(self) -> str:
        """Base URL for OpenAI clients, e.g. ``http://127.0.0.1:8765/v1``."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("OpenAIServer is not running")
        host, port = self._runner.addresses[0][:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/v1"

    async def start(self) -> OpenAIServer:
        if self._runner is not None:
            raise RuntimeError("OpenAIServer is already running")
        app = web.Application(client_max_size=self._max_body_bytes, middlewares=[self._guard])
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{model_id}", self._model_info)
        app.router.add_post("/v1/chat/completions", self._chat)
        # handler_cancellation: a client that hangs up cancels its model call, freeing a slot.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=5.0
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        logger.info("serving model %r at %s", self._model.name, self.url)
        return self

    async def aclose(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> OpenAIServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- HTTP ----------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        """Authentication for every route, and aiohttp's own errors as OpenAI-style JSON."""
        started = time.monotonic()
        try:
            if self._authorized(request):
                response = await handler(request)
            else:
                response = _error(
                    401,
                    "missing or invalid API key: send 'Authorization: Bearer <token>'",
                    code="invalid_api_key",
                )
                response.headers["WWW-Authenticate"] = "Bearer"
        except web.HTTPException as exc:  # unknown route, wrong method, body too large
            response = _error(exc.status, self._describe_http_error(request, exc))
        except Exception:  # a bug must still answer in JSON; the traceback goes to the log
            logger.exception("%s %s failed", request.method, request.path)
            response = _error(500, "internal server error", "server_error")
        logger.info(
            "%s %s -> %d in %.2fs",
            request.method,
            request.path,
            response.status,
            time.monotonic() - started,
        )
        return response

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        # aiohttp keeps header bytes that are not UTF-8 as surrogates: compare the raw bytes.
        # compare_digest: the time taken does not reveal how much of the token matched.
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode("utf-8", "surrogateescape"), self._token
        )

    def _describe_http_error(self, request: web.Request, exc: web.HTTPException) -> str:
        if exc.status == 404:
            return f"unknown endpoint: {request.method} {request.path}"
        if exc.status == 405:
            return f"method {request.method} is not allowed on {request.path}"
        if exc.status == 413:
            return f"request body exceeds the server's limit of {self._max_body_bytes} bytes"
        return exc.reason

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return _json({"object": "list", "data": [self._model_card()]})

    async def _model_info(self, request: web.Request) -> web.StreamResponse:
        model_id = request.match_info["model_id"]
        if model_id != self._model.name:
            return _error(
                404, f"model {model_id!r} is not served here", param="model", code="model_not_found"
            )
        return _json(self._model_card())

    def _model_card(self) -> dict[str, Any]:
        return {"id": self._model.name, "object": "model", "created": 0, "owned_by": "nexforge"}

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge (413)
        too_deep = _error(400, f"request body is nested more than {MAX_JSON_DEPTH} levels deep")
        try:
            body = json.loads(raw)
        except ValueError as exc:  # UnicodeDecodeError included
            return _error(400, f"request body is not valid JSON: {_one_line(str(exc))}")
        except RecursionError:  # json's own stack limit, around 1,000 levels
            return too_deep
        if _nested_deeper_than(body, MAX_JSON_DEPTH):
            return too_deep
        try:
            chat = parse_chat_request(body)
            model_request = to_model_request(chat, timeout_s=self._timeout_s)
        except InvalidRequest as exc:
            return _error(400, str(exc), param=exc.param)
        response = await self._complete(model_request)
        if isinstance(response, web.Response):
            return response
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        model = response.model or self._model.name
        if chat.stream:
            return await self._stream(request, chat, response, completion_id, created, model)
        return _json(
            completion_to_wire(response, completion_id=completion_id, created=created, model=model)
        )

    async def _complete(self, request: ModelRequest) -> ModelResponse | web.Response:
        """The model's response, or the error response to send instead."""
        try:
            # The model also gets timeout_s; this bound holds even for one that ignores it.
            async with asyncio.timeout(self._timeout_s):
                response = await self._model.complete(request)
        except (TimeoutError, ModelTimeoutError) as exc:
            detail = str(exc) or f"no answer within {self._timeout_s:g}s"
            logger.warning("model request timed out: %s", detail)
            return _error(
                504, f"model timed out: {_one_line(detail)}", "server_error", code="timeout"
            )
        except ModelBusyError as exc:
            logger.warning("model busy: %s", exc)
            busy = _error(503, f"model busy: {_one_line(str(exc))}", "server_error", code="busy")
            busy.headers["Retry-After"] = "1"  # clients back off instead of failing the run
            return busy
        except ModelError as exc:
            logger.warning("model request failed: %s", exc)
            return _error(500, f"model error: {_one_line(str(exc))}", "server_error")
        except Exception as exc:  # a bug in a model must not kill the server or leak a traceback
            logger.exception("model %r raised", self._model.name)
            message = f"model failed: {type(exc).__name__}: {_one_line(str(exc))}"
            return _error(500, message, "server_error")
        if response.finish_reason == "error":
            detail = _one_line(response.message.content or "no detail")
            return _error(500, f"model error: {detail}", "server_error")
        return response

    async def _stream(
        self,
        request: web.Request,
        chat: ChatCompletionRequest,
        response: ModelResponse,
        completion_id: str,
        created: int,
        model: str,
    ) -> web.StreamResponse:
        stream = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # reverse proxies must not hold events back
            }
        )
        await stream.prepare(request)
        include_usage = chat.stream_options is not None and chat.stream_options.include_usage
        chunks = completion_chunks(
            response,
            completion_id=completion_id,
            created=created,
            model=model,
            include_usage=include_usage,
        )
        try:
            for chunk in chunks:
                await stream.write(sse_event(chunk))
            await stream.write(DONE)
            await stream.write_eof()
        except ConnectionResetError:
            logger.info("client went away during stream %s", completion_id)
        return stream


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) nests more than ``limit`` arrays/objects deep."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MESSAGE_CHARS else line[: _MESSAGE_CHARS - 3] + "..."


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    body = json.dumps(data, ensure_ascii=False).encode()
    return web.Response(body=body, status=status, content_type="application/json")


def _error(
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    *,
    param: str | None = None,
    code: str | None = None,
) -> web.Response:
    error = {"message": message, "type": kind, "param": param, "code": code}
    return _json({"error": error}, status)
