"""One ``nexforge serve-model`` process for all of a run's Ray workers.

An in-process llama.cpp model is ~500 MB of weights and a pool of CPU threads: loaded in
every Ray worker it would multiply memory and fight over the cores. Instead the driver
starts one ``serve-model`` on loopback with a fresh token, and workers get
``openai`` ``ModelSettings`` pointing at it. The served model behaves as it does
in-process (the server applies the same constrained decoding), and rollouts still record
the model file's sha256 (the driver fills it in, see ``WorkerModels.model_shas``).

Loopback means the workers must run on the driver's machine (a local cluster). For a
multi-node cluster, serve the model yourself (``serve-model --allow-remote``) and pass
``--model openai:NAME`` with ``NEXFORGE_BASE_URL`` / ``NEXFORGE_API_KEY``.
"""

from __future__ import annotations

import logging
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from nexforge.core.errors import ModelNotConfiguredError, NexForgeError
from nexforge.models.base import Model
from nexforge.models.settings import ModelSettings
from nexforge.runtime.agent import Agent
from nexforge.synthesis.fingerprint import file_sha256
from nexforge.synthesis.rollout import RolloutContext

log = logging.getLogger(__name__)

TOKEN_ENV = "NEXFORGE_SERVER_TOKEN"
MODEL_ENV = ("NEXFORGE_BASE_URL", "NEXFORGE_MODEL", "NEXFORGE_API_KEY")
EMBEDDED_DEFAULT = "tiny"
_READY_PREFIX = "export NEXFORGE_BASE_URL="
_STOP_TIMEOUT_S = 15.0


class ServeModelError(NexForgeError):
    """``serve-model`` did not come up (its log's last lines are in the message)."""


@dataclass(frozen=True)
class ServedModel:
    """A running ``serve-model``: ``settings`` reach it; ``path`` is the model file, if local."""

    settings: ModelSettings
    path: Path | None
    log_file: Path


@dataclass
class WorkerModels:
    """What Ray workers get instead of the driver's models (all picklable)."""

    model: Model | ModelSettings | None
    user_model: Model | ModelSettings | None
    env: dict[str, str] = field(default_factory=dict)
    """The driver's ``NEXFORGE_*`` model variables, for the workers' own model resolution."""
    agent_models: dict[str, ModelSettings] = field(default_factory=dict)
    """Agent name -> settings replacing the model it would load in-process."""
    model_shas: dict[str, str] = field(default_factory=dict)
    """Served model name -> sha256 of its file (workers cannot see the file)."""


@contextmanager
def serve_model_process(
    spec: str,
    *,
    env: Mapping[str, str] | None = None,
    client_timeout_s: float = 900.0,
    start_timeout_s: float = 600.0,
    path: Path | None = None,
) -> Iterator[ServedModel]:
    """Run ``nexforge serve-model --model SPEC`` on a free loopback port until the block ends.

    ``env`` is added to the server's environment (e.g. ``NEXFORGE_BASE_URL`` for an
    ``openai:NAME`` SPEC, which proxies that endpoint). The yielded settings carry the
    server's URL, model name and a token made for this run; ``client_timeout_s`` is the
    workers' per-request timeout (requests may queue for the model's slots).
    """
    token = secrets.token_urlsafe(24)
    handle, name = tempfile.mkstemp(prefix="nexforge-serve-model-", suffix=".log")
    log_file = Path(name)
    command = [sys.executable, "-m", "nexforge", "serve-model", "--model", spec, "--port", "0"]
    with os.fdopen(handle, "wb") as sink:
        # Its own session: a Ctrl-C meant for the driver must not stop the server while
        # rollouts in flight still need it; the driver stops it on the way out.
        process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {}), TOKEN_ENV: token},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            start_new_session=True,
        )
    ok = False
    try:
        url, served_name = _wait_until_ready(process, log_file, start_timeout_s)
        log.info("serving %s for Ray workers at %s (log: %s)", served_name, url, log_file)
        settings = ModelSettings(
            provider="openai",
            base_url=url,
            model=served_name,
            api_key=token,
            timeout_s=client_timeout_s,
        )
        yield ServedModel(settings, path, log_file)
        ok = True
    finally:
        _stop(process)
        if ok:
            log_file.unlink(missing_ok=True)


def _wait_until_ready(
    process: subprocess.Popen[bytes], log_file: Path, timeout_s: float
) -> tuple[str, str]:
    """Wait for the line ``serve-model`` prints once the model is loaded and it listens."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log_file.read_text(errors="replace").splitlines():
            if line.startswith(_READY_PREFIX):
                return _parse_exports(line)
        if process.poll() is not None:
            raise ServeModelError(
                f"serve-model exited with status {process.returncode} before it was ready:\n"
                + _tail(log_file)
            )
        time.sleep(0.1)
    raise ServeModelError(
        f"serve-model was not ready after {timeout_s:g} s (log: {log_file}):\n" + _tail(log_file)
    )


def _parse_exports(line: str) -> tuple[str, str]:
    pairs = dict(word.partition("=")[::2] for word in shlex.split(line)[1:])
    return pairs["NEXFORGE_BASE_URL"], pairs["NEXFORGE_MODEL"]


def _tail(log_file: Path, lines: int = 15) -> str:
    return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # SIGTERM: serve-model finishes requests in flight and exits
    try:
        process.wait(_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log.warning("serve-model (pid %d) did not stop in time: killing it", process.pid)
        process.kill()
        process.wait()


# --- which models need serving ---------------------------------------------------------------


def local_model_file(model: Model | ModelSettings | None) -> Path | None:
    """The GGUF file of an in-process (llama.cpp) model or local settings; None otherwise."""
    if isinstance(model, ModelSettings):
        if model.provider != "local":
            return None
        from nexforge.models.install import resolve_model_file

        return resolve_model_file(model.path or model.model or EMBEDDED_DEFAULT)
    path = getattr(model, "path", None)
    return path if isinstance(path, Path) and path.suffix.lower() == ".gguf" else None


@contextmanager
def models_for_workers(
    ctx: RolloutContext, env: Mapping[str, str] | None = None
) -> Iterator[WorkerModels]:
    """The driver's models as Ray workers should get them, in-process models served once.

    Every in-process (llama.cpp) model the run would use gets one ``serve-model``, and
    workers get ``openai`` settings for it instead: ``ctx.model``, ``ctx.user_model``,
    and, when ``ctx.model`` is unset, agents whose ``model:`` names a local model and the
    entry agent when it would fall back to the embedded default (no ``model:``, no
    ``NEXFORGE_BASE_URL``). The driver's ``NEXFORGE_*`` model variables are passed on
    (workers on other machines do not have them).
    """
    environ = os.environ if env is None else env
    forwarded = {name: environ[name] for name in MODEL_ENV if environ.get(name)}
    served: dict[Path, ServedModel] = {}
    with ExitStack() as stack:

        def for_workers(model: Model | ModelSettings | None) -> Model | ModelSettings | None:
            path = local_model_file(model)
            if path is None:
                return model
            if path not in served:
                served[path] = stack.enter_context(
                    serve_model_process(
                        f"local:{path}", client_timeout_s=ctx.options.timeout_s, path=path
                    )
                )
            settings = served[path].settings
            if isinstance(model, ModelSettings):
                update = {"temperature": model.temperature, "max_tokens": model.max_tokens}
                settings = settings.model_copy(update=update)
            return settings

        workers = WorkerModels(for_workers(ctx.model), for_workers(ctx.user_model), forwarded)
        if ctx.model is None:
            for agent, model in _agent_models(ctx.framework.entry, environ):
                replacement = for_workers(model)
                if isinstance(replacement, ModelSettings) and replacement is not model:
                    workers.agent_models[agent] = replacement
        for server in served.values():
            if server.path is not None and server.settings.model is not None:
                workers.model_shas[server.settings.model] = file_sha256(server.path)
        yield workers


def apply_agent_models(entry: Agent, models: Mapping[str, ModelSettings]) -> None:
    """Give the named agents of a loaded hierarchy their workers' models (in a worker)."""
    for agent in _hierarchy(entry):
        if agent.name in models:
            agent.model = models[agent.name]


def _agent_models(entry: Agent, environ: Mapping[str, str]) -> Iterator[tuple[str, ModelSettings]]:
    """Agents with a local ``model:``, and the entry agent when it falls back to the embedded
    default (the resolver's last resort)."""
    from nexforge.models.install import ModelFileError
    from nexforge.models.resolve import HOW_TO_CONFIGURE

    for agent in _hierarchy(entry):
        if isinstance(agent.model, ModelSettings) and agent.model.provider == "local":
            yield agent.name, agent.model
    if entry.model is None and not environ.get("NEXFORGE_BASE_URL"):
        default = ModelSettings(provider="local", model=EMBEDDED_DEFAULT)
        try:
            local_model_file(default)
        except ModelFileError as exc:
            raise ModelNotConfiguredError(
                f"no model configured for agent {entry.name!r} and the embedded model is not "
                f"available ({exc}); or {HOW_TO_CONFIGURE}"
            ) from exc
        yield entry.name, default


def _hierarchy(agent: Agent) -> Iterator[Agent]:
    yield agent
    for sub in agent.sub_agents:
        yield from _hierarchy(sub)
