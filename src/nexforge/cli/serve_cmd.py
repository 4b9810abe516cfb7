"""``nexforge serve-model``: a model (the embedded one by default) as an OpenAI-compatible server.

Benchmark harnesses and other frameworks then reach the model with any OpenAI client. The
server binds loopback and requires a bearer token, taken from ``NEXFORGE_SERVER_TOKEN`` or
freshly generated and printed at start.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import secrets
import shlex
import signal
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from nexforge.core.errors import NexForgeError
from nexforge.models.base import Model
from nexforge.models.settings import ModelSettings
from nexforge.runtime.config import parse_model_spec
from nexforge.serving import OpenAIServer

TOKEN_ENV = "NEXFORGE_SERVER_TOKEN"
MODEL_SPECS = "tiny, small, PATH.gguf, local:tiny|small|PATH.gguf or openai:NAME"

logger = logging.getLogger(__name__)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def build_model(spec: str, *, answer_on_repeat: bool = True) -> Model:
    """The Model a ``--model`` SPEC names (see ``MODEL_SPECS``); ``default`` means ``tiny``.

    ``openai:NAME`` proxies the endpoint configured by ``NEXFORGE_BASE_URL`` /
    ``NEXFORGE_API_KEY``. Raises ValueError for a malformed spec and a NexForgeError when
    the model cannot be built (not installed, endpoint not configured).
    """
    text = spec.strip()
    # A bare name or path means the local provider: `--model tiny` reads better than local:tiny.
    qualified = text if ":" in text or text == "default" else f"local:{text}"
    try:
        settings = parse_model_spec(qualified) or ModelSettings(provider="local", model="tiny")
    except ValueError as exc:
        raise ValueError(f"invalid --model {spec!r}: expected {MODEL_SPECS}") from exc
    if settings.provider == "openai":
        from nexforge.models.openai import OpenAIChatModel

        return OpenAIChatModel.from_settings(settings)
    from nexforge.models.install import resolve_model_file

    # Resolve first: a missing model file is reported even where llama.cpp is not installed.
    path = resolve_model_file(settings.path or settings.model or "tiny")
    # Lazy: the local provider pulls in llama.cpp, which only this branch needs.
    from nexforge.models.local import LocalModel

    # Deterministic by default (a request's own temperature wins). The repeat guard is on,
    # as in-process, so the model behaves the same however it is reached; harnesses that
    # need every call verbatim turn it off with --no-answer-on-repeat.
    return LocalModel.shared(path, temperature=0.0, answer_on_repeat=answer_on_repeat)


def serve_model(
    model: Annotated[str, typer.Option("--model", help=f"Model to serve: {MODEL_SPECS}.")] = "tiny",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: any free port).")
    ] = 8765,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; loopback only unless --allow-remote.")
    ] = "127.0.0.1",
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", help="Allow a non-loopback --host (the token still applies)."
        ),
    ] = False,
    answer_on_repeat: Annotated[
        bool,
        typer.Option(
            "--answer-on-repeat/--no-answer-on-repeat",
            help="Local models: turn a call that repeats an answered call into an answer.",
        ),
    ] = True,
) -> None:
    """Serve a model over an OpenAI-compatible API (chat completions with tools, streaming)."""
    logging.getLogger("nexforge.serving").setLevel(logging.INFO)  # one line per request
    token = os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)
    try:
        built = build_model(model, answer_on_repeat=answer_on_repeat)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--model") from exc
    except NexForgeError as exc:
        _fail(str(exc))
    except ImportError as exc:  # the local extra is not installed
        _fail(f"the local model provider is unavailable ({exc}): pip install 'nexforge[local]'")
    try:
        server = OpenAIServer(built, host=host, port=port, token=token, allow_remote=allow_remote)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--host") from exc
    try:
        asyncio.run(serve_until_stopped(server, token))
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        pass  # Ctrl-C where signal handlers are unavailable: already shutting down


async def serve_until_stopped(server: OpenAIServer, token: str) -> None:
    """Run ``server`` until SIGINT or SIGTERM, then shut it and its model down."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):
            pass  # no loop signal handlers here (Windows, a non-main thread): Ctrl-C still raises
    try:
        await _preload(server.model)
        async with server:
            _announce(server, token)
            await stop.wait()
            err.print("[dim]stopping: finishing requests in flight...[/dim]")
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await _close_model(server.model)


def _announce(server: OpenAIServer, token: str) -> None:
    name = server.model.name
    err.print(f"[bold]NexForge[/bold] serving model [cyan]{escape(name)}[/cyan] at {server.url}")
    # A token the user supplied is theirs to keep out of scrollback and CI logs.
    from_env = os.environ.get(TOKEN_ENV) == token
    shown = f'"${TOKEN_ENV}"' if from_env else shlex.quote(token)
    err.print(f"token: {'from ' + TOKEN_ENV if from_env else escape(token)}")
    err.print("Point OpenAI-compatible clients (and NexForge itself) at it with:")
    exports = (
        f"export NEXFORGE_BASE_URL={shlex.quote(server.url)} "
        f"NEXFORGE_API_KEY={shown} NEXFORGE_MODEL={shlex.quote(name)}"
    )
    err.print(exports, markup=False)
    err.print("[dim]Ctrl-C to stop.[/dim]")


async def _preload(model: Model) -> None:
    # Not part of the Model protocol: a local model loads lazily, but "ready" should mean ready
    # (load errors at start, no slow first request).
    load = getattr(model, "load", None)
    if callable(load):
        err.print(f"[dim]loading {escape(model.name)}...[/dim]")
        result = load()
        if inspect.isawaitable(result):
            await result


async def _close_model(model: Model) -> None:
    # Not part of the Model protocol; providers holding connections or threads offer one.
    close = getattr(model, "aclose", None)
    if not callable(close):
        return
    try:
        result = close()
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.warning("closing model %r failed", model.name, exc_info=True)


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(1)
