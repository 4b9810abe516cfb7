"""Conversation: runs an agent hierarchy, turn by turn, and keeps its trajectory."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from nexforge.core.errors import NexForgeError
from nexforge.core.messages import Message
from nexforge.core.trajectory import RunResult, StopReason, Trajectory, Usage
from nexforge.models.base import Model
from nexforge.models.resolve import ModelResolver
from nexforge.models.settings import ModelSettings
from nexforge.runtime.agent import Agent
from nexforge.runtime.events import Event, RunStopped
from nexforge.runtime.invocation import Invocation, start_invocation
from nexforge.runtime.loop import EpisodeOutcome, run_episode
from nexforge.runtime.middleware import Middleware
from nexforge.runtime.state import RunState
from nexforge.runtime.tracing import TraceRecorder
from nexforge.tools.resources import RunInfo, RunResources
from nexforge.tools.workspace import make_run_workspace

_DONE = object()


class Conversation:
    """A multi-turn run of ``agent``: each ``send`` continues the same root episode.

    ``model`` overrides every agent's model (the CLI's ``--model``); ``wrap_model`` is
    applied to every model the run resolves (the synthesis runner gates, seeds and
    budgets model calls this way). Without
    ``workspace`` a fresh temporary folder is made and removed by ``aclose()``.
    """

    def __init__(
        self,
        agent: Agent,
        *,
        model: Model | ModelSettings | None = None,
        workspace: str | Path | None = None,
        middleware: Sequence[Middleware] = (),
        run_id: str | None = None,
        framework: str | None = None,
        query_meta: dict[str, Any] | None = None,
        wrap_model: Callable[[Model], Model] | None = None,
    ) -> None:
        self.agent = agent
        self._resolver = ModelResolver(model, wrap=wrap_model)
        self._own_workspace = workspace is None
        if workspace is not None and not Path(workspace).is_dir():
            raise NexForgeError(f"workspace {workspace} is not a directory")
        self.workspace = Path(workspace) if workspace is not None else make_run_workspace()
        self._middleware = list(middleware)
        self._run_id = run_id
        self._framework = framework
        self._query_meta = query_meta or {}
        self._trace: TraceRecorder | None = None
        self._resources: RunResources | None = None
        self._root: Invocation | None = None
        self._state: RunState | None = None

    @property
    def trajectory(self) -> Trajectory:
        if self._trace is None:
            raise RuntimeError("the conversation has not started: call send() first")
        return self._trace.trajectory

    def cancel(self) -> None:
        """Ask the running turn to stop at its next step boundary (stop_reason ``cancelled``)."""
        if self._state is not None:
            self._state.cancel_requested.set()

    async def send(self, message: str, *, emit: Callable[[Event], None] | None = None) -> RunResult:
        """Run one turn: the first call starts the run, later calls continue it."""
        if self._trace is None:
            self._trace = TraceRecorder(message, run_id=self._run_id, framework=self._framework)
            self._trace.trajectory.query_meta = dict(self._query_meta)
            self._resources = RunResources(RunInfo(self._trace.run_id, self.workspace))
        trace = self._trace
        assert self._resources is not None
        state = RunState(
            trace=trace,
            workspace=self.workspace,
            resolver=self._resolver,
            resources=self._resources,
            deadline=time.monotonic() + self.agent.limits.timeout_s,
            max_depth=self.agent.limits.max_depth,
            middleware=self._middleware,
            emit=emit,
        )
        self._state = state
        root = self._start_root(state)
        root.episode.messages.append(Message.user(message))
        before = trace.trajectory.usage.model_copy()
        try:
            outcome = await run_episode(root, state)
        except asyncio.CancelledError:
            self._finish(root, EpisodeOutcome(None, "cancelled", root.steps), before)
            raise
        except BaseException as exc:
            self._finish(root, EpisodeOutcome(None, "error", root.steps, repr(exc)), before)
            raise
        result = self._finish(root, outcome, before)
        if emit is not None:
            emit(RunStopped(self.agent.name, root.episode.episode_id, 0, result))
        return result

    def _start_root(self, state: RunState) -> Invocation:
        model = self._resolver.resolve(self.agent.name, self.agent.model, None)
        state.trace.trajectory.provenance.model = model.name
        # A continued turn reuses the root episode, with a fresh span, clock and step count.
        episode = self._root.episode if self._root is not None else None
        self._root = start_invocation(self.agent, model, state, depth=0, episode=episode)
        return self._root

    def _finish(self, root: Invocation, outcome: EpisodeOutcome, before: Usage) -> RunResult:
        trace = self._trace
        assert trace is not None
        stop: StopReason = outcome.stop_reason
        root.episode.final = outcome.final_output
        trace.end_span(root.span, {"stop_reason": stop, "steps": outcome.steps}, outcome.error)
        trajectory = trace.trajectory
        trajectory.stop_reason = stop
        trajectory.final_output = outcome.final_output
        trajectory.ended_at = time.time()
        now = trajectory.usage
        turn = Usage(
            prompt_tokens=now.prompt_tokens - before.prompt_tokens,
            completion_tokens=now.completion_tokens - before.completion_tokens,
            model_calls=now.model_calls - before.model_calls,
            tool_calls=now.tool_calls - before.tool_calls,
        )
        return RunResult(
            final_output=outcome.final_output,
            stop_reason=stop,
            steps=outcome.steps,
            usage=turn,
            trajectory=trajectory,
            error=outcome.error,
        )

    async def stream(self, message: str) -> AsyncIterator[Event]:
        """Run one turn, yielding its events as they happen; the last is ``RunStopped``."""
        queue: asyncio.Queue[object] = asyncio.Queue()
        task = asyncio.create_task(self.send(message, emit=queue.put_nowait))
        task.add_done_callback(lambda _: queue.put_nowait(_DONE))
        try:
            while (item := await queue.get()) is not _DONE:
                assert isinstance(item, Event)
                yield item
            task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def aclose(self) -> None:
        """Close the run's resources (per-run servers, state copies), then its temp workspace."""
        if self._resources is not None:
            await self._resources.aclose()
        if self._own_workspace:
            shutil.rmtree(self.workspace, ignore_errors=True)

    async def __aenter__(self) -> Conversation:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
