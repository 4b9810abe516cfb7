"""LocalModel: the ``local`` provider, a GGUF run in-process by llama.cpp (xllamacpp).

- The model loads lazily, once per process, in a background thread; concurrent first
  calls wait for that one load.
- Requests share llama.cpp's ``n_parallel`` slots. Beyond them they wait in a bounded
  queue (``max_queue``); the wait does not count against a request's own timeout.
- Every request is bounded by max tokens and by wall-clock time. A request that times out
  (or is cancelled) raises at once; its generation is told to stop and ends at its next
  token, and its slot permit returns to the pool only when llama.cpp has let go of it, so
  a later request never starts its clock while queued inside llama.cpp.
- With tools offered, output is constrained to the tools' call shapes (see
  ``constraints``); the chat template (llama.cpp applies the model's own) renders the tools.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

from nexforge.core.errors import (
    ModelBusyError,
    ModelError,
    ModelResponseError,
    ModelTimeoutError,
)
from nexforge.core.messages import Message, ToolCall
from nexforge.core.slots import ProcessSlots, SlotsExhaustedError
from nexforge.models.base import ModelRequest, ModelResponse, TokenUsage
from nexforge.models.constraints import (
    AnswerOutput,
    CallOutput,
    answer_shape,
    build_constraint,
    parse_output,
)
from nexforge.models.local_engine import Engine, EngineSettings, Generation
from nexforge.models.openai import message_to_wire, tool_to_wire

logger = logging.getLogger(__name__)


class EngineHost:
    """One loaded llama.cpp engine with its slot permits and worker threads.

    There is one host per ``EngineSettings`` per process, whatever the sampling settings
    of the ``LocalModel`` objects that use it, so the model is loaded once, its slots are
    shared, and the queue bound holds for the whole process.
    """

    _hosts: ClassVar[dict[EngineSettings, EngineHost]] = {}
    _hosts_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, settings: EngineSettings, max_queue: int) -> None:
        self.settings = settings
        self.slots = ProcessSlots(settings.n_parallel, max_waiting=max_queue)
        # One worker per slot: a thread only ever runs while holding a slot permit.
        self.workers = concurrent.futures.ThreadPoolExecutor(
            settings.n_parallel, thread_name_prefix="nexforge-local"
        )
        self._load_lock = threading.Lock()
        self._loading: concurrent.futures.Future[Engine] | None = None

    @classmethod
    def for_settings(cls, settings: EngineSettings, max_queue: int) -> EngineHost:
        with cls._hosts_lock:
            host = cls._hosts.get(settings)
            if host is None:
                host = cls._hosts[settings] = cls(settings, max_queue)
            return host

    def loaded(self) -> Engine | None:
        """The engine if it has finished loading (for benchmarks and diagnostics)."""
        loading = self._loading
        if loading is None or not loading.done() or loading.exception() is not None:
            return None
        return loading.result()

    async def engine(self) -> Engine:
        with self._load_lock:
            loading = self._loading
            if loading is None or (loading.done() and loading.exception() is not None):
                loading = self._loading = concurrent.futures.Future()
                # Running: a cancelled awaiter must not cancel the load for everyone else.
                loading.set_running_or_notify_cancel()
                threading.Thread(
                    target=self._load_into, args=(loading,), name="nexforge-local-load", daemon=True
                ).start()
        return await asyncio.wrap_future(loading)

    def _load_into(self, loading: concurrent.futures.Future[Engine]) -> None:
        started = time.perf_counter()
        try:
            engine = Engine(self.settings)
        except BaseException as exc:
            loading.set_exception(exc)
            return
        logger.info("loaded %s in %.1fs", self.settings.path, time.perf_counter() - started)
        loading.set_result(engine)


class LocalModel:
    """The Model protocol on a local GGUF file, through llama.cpp's parallel slots.

    ``n_ctx`` is the context of one request (one slot). ``temperature`` applies when a
    request sets none (llama.cpp's default is 0.8). ``answer_on_repeat``: in ``auto``
    mode, a call that exactly repeats a call already answered since the last user message
    is replaced by a final answer (generated with only the answer shape allowed). Small
    models re-issue their last call after its result instead of answering (the 0.5B did
    so every time when measured), which would spend every remaining step.
    """

    _shared: ClassVar[dict[tuple[Any, ...], LocalModel]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        path: Path,
        *,
        name: str | None = None,
        n_ctx: int = 8192,
        n_parallel: int = 4,
        n_threads: int | None = None,
        max_queue: int = 256,
        default_max_tokens: int = 512,
        timeout_s: float = 120.0,
        temperature: float | None = None,
        answer_on_repeat: bool = True,
    ) -> None:
        if n_ctx < 1 or n_parallel < 1 or max_queue < 0 or default_max_tokens < 1:
            raise ValueError(
                "n_ctx, n_parallel and default_max_tokens must be >= 1, max_queue >= 0"
            )
        self.path = Path(path)
        self._name = name or self.path.stem
        self._settings = EngineSettings(self.path, n_ctx, n_parallel, n_threads)
        self._default_max_tokens = default_max_tokens
        self._timeout_s = timeout_s
        self._temperature = temperature
        self._answer_on_repeat = answer_on_repeat
        self._host = EngineHost.for_settings(self._settings, max_queue)
        self._slots = self._host.slots
        self._workers = self._host.workers

    @classmethod
    def shared(cls, path: Path, **settings: Any) -> LocalModel:
        """One instance per (file, settings) per process; every instance on the same file
        and engine settings shares one loaded engine (see ``EngineHost``)."""
        key = (str(Path(path).resolve()), tuple(sorted(settings.items())))
        with cls._shared_lock:
            model = cls._shared.get(key)
            if model is None:
                model = cls._shared[key] = cls(path, **settings)
            return model

    @property
    def name(self) -> str:
        return self._name

    @property
    def context_length(self) -> int:
        return self._settings.n_ctx

    async def load(self) -> None:
        """Load the model now (it otherwise loads on the first request)."""
        await self._engine()

    async def _engine(self) -> Engine:
        return await self._host.engine()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        engine = await self._engine()
        try:
            schema = build_constraint(request.tools, request.tool_choice)
        except ValueError as exc:
            raise ModelError(str(exc)) from exc
        body = self._body(request, schema)
        timeout_s = request.timeout_s or self._timeout_s
        try:
            await self._slots.acquire()
        except SlotsExhaustedError as exc:
            raise ModelBusyError(f"local model queue full ({exc})") from exc
        last: list[concurrent.futures.Future[Generation]] = []
        try:
            # The clock starts once a slot is ours: queueing is not this request's fault.
            deadline = asyncio.get_running_loop().time() + timeout_s
            first = await self._generate(engine, body, deadline, timeout_s, last)
            if schema is None:
                return self._text_response(first)
            output = self._parse(first)
            offered = {t.name for t in request.tools}
            if isinstance(output, CallOutput) and output.name not in offered:
                # The constraint makes this impossible; a parser fallback inside llama.cpp
                # must not slip an unknown tool through as if it were valid.
                raise ModelResponseError(f"local model called an unknown tool {output.name!r}")
            if (
                self._answer_on_repeat
                and request.tool_choice == "auto"
                and isinstance(output, CallOutput)
                and _repeats_answered_call(request.messages, output)
            ):
                logger.debug(
                    "%s repeated an answered call to %s: asking for the answer",
                    self.name,
                    output.name,
                )
                retry = await self._generate(
                    engine, {**body, "json_schema": answer_shape()}, deadline, timeout_s, last
                )
                output = self._parse(retry)
                first = _merged(first, retry)
            return self._structured_response(first, output)
        finally:
            if last:
                last[-1].add_done_callback(lambda _: self._slots.release())
            else:
                self._slots.release()

    def _body(self, request: ModelRequest, schema: dict[str, Any] | None) -> dict[str, Any]:
        sampling = request.sampling
        body: dict[str, Any] = {
            "messages": [message_to_wire(m) for m in request.messages],
            "max_tokens": sampling.max_tokens or self._default_max_tokens,
            "cache_prompt": True,  # agent prompts repeat their system part every step
            "stream_options": {"include_usage": True},
        }
        if request.tools and request.tool_choice != "none":
            body["tools"] = [tool_to_wire(t) for t in request.tools]
        if schema is not None:
            body["json_schema"] = schema
        if self._temperature is not None:
            body["temperature"] = self._temperature  # the request's own value wins below
        for key in ("temperature", "top_p", "seed", "stop"):
            value = getattr(sampling, key)
            if value is not None:
                body[key] = value
        return body

    async def _generate(
        self,
        engine: Engine,
        body: dict[str, Any],
        deadline: float,
        timeout_s: float,
        started: list[concurrent.futures.Future[Generation]],
    ) -> Generation:
        stop = threading.Event()
        future = self._workers.submit(engine.stream_chat, body, stop)
        started.append(future)
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.wrap_future(future)
        except TimeoutError as exc:
            logger.warning("%s: no answer within %gs; generation stopped", self.name, timeout_s)
            raise ModelTimeoutError(f"local model gave no answer within {timeout_s:g}s") from exc
        finally:
            # A finished generation ignores this; an abandoned one ends at its next token.
            stop.set()

    def _parse(self, generation: Generation) -> CallOutput | AnswerOutput:
        try:
            return parse_output(generation.output_text())
        except ValueError as exc:
            if generation.finish_reason == "length":
                raise ModelResponseError(
                    f"constrained output cut at the max_tokens limit ({generation.completion_tokens} tokens)"
                ) from exc
            raise ModelResponseError(str(exc)) from exc

    def _usage(self, generation: Generation) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=generation.prompt_tokens, completion_tokens=generation.completion_tokens
        )

    def _text_response(self, generation: Generation) -> ModelResponse:
        finish = "length" if generation.finish_reason == "length" else "stop"
        return ModelResponse(
            message=Message.assistant(generation.output_text()),
            usage=self._usage(generation),
            finish_reason=finish,
            model=self.name,
        )

    def _structured_response(
        self, generation: Generation, output: CallOutput | AnswerOutput
    ) -> ModelResponse:
        if isinstance(output, AnswerOutput):
            message = Message.assistant(output.text)
            finish: Any = "stop"
        else:
            call = ToolCall(
                id=f"call_{uuid.uuid4().hex[:24]}", name=output.name, arguments=output.arguments
            )
            message = Message.assistant(None, [call])
            finish = "tool_calls"
        return ModelResponse(
            message=message, usage=self._usage(generation), finish_reason=finish, model=self.name
        )

    def __repr__(self) -> str:
        return f"LocalModel({self.name!r}, path={str(self.path)!r})"


def _repeats_answered_call(messages: list[Message], call: CallOutput) -> bool:
    """Whether ``call`` equals a call already answered since the last user message."""
    turn: list[Message] = []
    for message in reversed(messages):
        if message.role == "user":
            break
        turn.append(message)
    answered = {m.tool_call_id for m in turn if m.role == "tool"}
    return any(
        c.id in answered and c.name == call.name and c.arguments == call.arguments
        for m in turn
        if m.role == "assistant"
        for c in m.tool_calls
    )


def _merged(first: Generation, second: Generation) -> Generation:
    """The second generation, with usage covering both."""
    second.prompt_tokens += first.prompt_tokens
    second.completion_tokens += first.completion_tokens
    return second
