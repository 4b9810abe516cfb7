"""Environment: a named set of tools acting on owned state, copied per run, replayable.

Tools are plain sync functions marked with ``@env_tool`` that take the run's ``EnvState``
as a parameter (kept out of their JSON schema)::

    @env_tool(read_only=True)
    def get_order(state: EnvState, order_id: int) -> dict[str, Any]:
        \"\"\"Look up one order.\"\"\"

An ``Environment`` is a ``Resource``: each run opens its own copy of the seed (in a private
temp dir, not the run's workspace, so only the environment's tools can change it).

Determinism, so that replay reproduces what a run wrote:
- State-changing calls of one run execute one at a time, in the order they reach the
  environment; for parallel calls that is their listed order, matching the tool spans.
- The clock ticks once before each state-changing call; reads never tick it or draw ids.
- A state-changing call that fails (raises, or returns an error ``ToolOutcome``) is rolled
  back: its database changes, clock tick and ids are undone. Errored calls therefore have
  no effect and replay skips them. File writes are not rolled back, so a tool should
  validate before it writes files. Read-only calls run with ``PRAGMA query_only``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import itertools
import logging
import shutil
import sqlite3
import tempfile
import threading
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar, overload

from nexforge.core.trajectory import Trajectory
from nexforge.tools.base import Tool, ToolContext, ToolOutcome
from nexforge.tools.env_replay import state_changing_calls
from nexforge.tools.env_state import DEFAULT_EPOCH, DEFAULT_STEP, EnvState, Seed
from nexforge.tools.executor import execute_tool
from nexforge.tools.resources import RunInfo, RunResources
from nexforge.tools.schema import tool_from_function
from nexforge.tools.threads import run_in_thread

__all__ = ["EnvState", "Environment", "ReplayError", "SeedError", "env_tool", "env_tools_in"]

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__nexforge_env_tool__"
_replay_ids = itertools.count(1)


@dataclasses.dataclass(frozen=True)
class EnvToolMark:
    read_only: bool
    name: str | None
    timeout_s: float | None


@overload
def env_tool(fn: F, /) -> F: ...
@overload
def env_tool(
    *, read_only: bool = False, name: str | None = None, timeout_s: float | None = None
) -> Callable[[F], F]: ...
def env_tool(
    fn: F | None = None,
    /,
    *,
    read_only: bool = False,
    name: str | None = None,
    timeout_s: float | None = None,
) -> F | Callable[[F], F]:
    """Mark a function as a tool of an environment (``read_only`` if it never changes state).

    The function is returned unchanged, so it stays directly callable in tests.
    """

    def mark(f: F) -> F:
        setattr(f, _MARK, EnvToolMark(read_only, name, timeout_s))
        return f

    return mark(fn) if fn is not None else mark


def env_tools_in(module: ModuleType) -> list[Callable[..., Any]]:
    """The ``@env_tool`` functions of ``module``, in definition order."""
    return [v for v in vars(module).values() if callable(v) and hasattr(v, _MARK)]


class SeedError(ValueError):
    """The seed database or files folder is missing or unreadable; ``part`` says which."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part


class ReplayError(ValueError):
    """Reference calls name a tool the environment does not have."""


class Environment:
    """Tools over a SQLite database and/or a folder of files, with one state copy per run."""

    def __init__(
        self,
        name: str,
        tools: Iterable[Callable[..., Any]],
        *,
        seed: Path | None = None,
        files: Path | None = None,
        clock_start: datetime | None = None,
        clock_step: timedelta | None = None,
    ) -> None:
        """Raises SeedError for a missing or unreadable seed and TypeError for a function
        that cannot be an environment tool (async, or without an ``EnvState`` parameter).

        ``clock_start`` (an aware datetime) and ``clock_step`` (a timedelta) default to
        2026-01-01T09:00Z and one minute.
        """
        self._name = name
        self.seed = Seed(
            database=_check_database(seed) if seed is not None else None,
            files=_check_folder(files) if files is not None else None,
            clock_start=clock_start or DEFAULT_EPOCH,
            clock_step=clock_step or DEFAULT_STEP,
        )
        self.on_close: Callable[[EnvState], None] | None = None
        """Called (in a worker thread) with each run's state just before it is discarded,
        e.g. to record the run's end-state hash; an exception is logged, not raised."""
        self._replays: set[str] = set()
        self._tools: dict[str, Tool] = {}
        for fn in tools:
            tool = self._make_tool(fn)
            if tool.name in self._tools:
                raise ValueError(f"environment {name!r}: duplicate tool name {tool.name!r}")
            self._tools[tool.name] = tool

    @property
    def name(self) -> str:
        return self._name

    @property
    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    def tool(self, name: str) -> Tool:
        """The tool called ``name``; KeyError when there is none."""
        return self._tools[name]

    @property
    def write_tool_names(self) -> frozenset[str]:
        """Names of the state-changing tools: the calls replay re-executes."""
        return frozenset(n for n, t in self._tools.items() if not t.spec.read_only)

    async def open(self, run: RunInfo) -> EnvState:
        """The run's own copy of the seed state."""
        directory = Path(tempfile.mkdtemp(prefix=f"nexforge-env-{self._name}-"))
        try:
            state = await asyncio.to_thread(EnvState, self.seed, directory, run.run_id)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        log.debug(
            "environment %s: opened state for run %s in %s", self._name, run.run_id, directory
        )
        return state

    async def close(self, handle: EnvState) -> None:
        replayed = handle.run_id in self._replays
        self._replays.discard(handle.run_id)
        if self.on_close is not None and not replayed:
            try:
                await asyncio.to_thread(self.on_close, handle)
            except Exception:
                log.exception("environment %s: on_close failed for %s", self._name, handle.run_id)
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(shutil.rmtree, handle.directory, ignore_errors=True)

    async def replay(self, trajectory: Trajectory) -> str:
        """The end-state hash after re-executing the trajectory's successful state-changing
        calls of this environment on a fresh copy (see ``state_changing_calls``)."""
        return await self.replay_calls(state_changing_calls(trajectory, self.write_tool_names))

    async def replay_calls(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        """The end-state hash after executing ``calls`` (name, arguments) in order on a fresh
        copy. Read-only calls are skipped (they cannot change the state); a call that fails
        is logged and has no effect. Raises ReplayError for a name that is not a tool here.
        """
        unknown = sorted({n for n, _ in calls if n not in self._tools})
        if unknown:
            raise ReplayError(f"environment {self._name!r} has no tool {unknown[0]!r}")
        directory = Path(tempfile.mkdtemp(prefix=f"nexforge-replay-{self._name}-"))
        resources = RunResources(RunInfo(f"replay-{next(_replay_ids)}", directory))
        self._replays.add(resources.run.run_id)  # on_close is for runs, not replays
        try:
            ctx = ToolContext(
                directory, run_id=resources.run.run_id, agent="replay", resources=resources
            )
            for index, (name, arguments) in enumerate(calls):
                tool = self._tools[name]
                if tool.spec.read_only:
                    continue
                outcome = await execute_tool(tool, dict(arguments), ctx)
                if outcome.is_error:
                    log.warning("replay call %d (%s) failed: %s", index, name, outcome.content)
            state = await resources.get(self)
            return await asyncio.to_thread(state.state_hash)
        finally:
            await resources.aclose()
            self._replays.discard(resources.run.run_id)
            shutil.rmtree(directory, ignore_errors=True)

    async def seed_hash(self) -> str:
        """The hash of an untouched copy of the seed."""
        return await self.replay_calls([])

    def _make_tool(self, fn: Callable[..., Any]) -> Tool:
        mark: EnvToolMark = getattr(fn, _MARK, None) or EnvToolMark(False, None, None)
        tool_name = mark.name or str(getattr(fn, "__name__", ""))
        if inspect.iscoroutinefunction(fn):
            # Calls run in a worker thread under the state's lock, in order; an async tool
            # would hold that lock across awaits on the event loop.
            raise TypeError(f"environment tool {tool_name!r} must be a plain (sync) function")
        param = _state_parameter(fn, tool_name)
        kwargs: dict[str, Any] = {"name": mark.name, "read_only": mark.read_only}
        if mark.timeout_s is not None:
            kwargs["timeout_s"] = mark.timeout_s
        tool = tool_from_function(fn, resources={param: self}, **kwargs)
        guarded = _guard(tool.fn, param, read_only=mark.read_only)
        return dataclasses.replace(tool, fn=guarded)


def _state_parameter(fn: Callable[..., Any], tool_name: str) -> str:
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError):
        hints = {}
    params = inspect.signature(fn).parameters
    found = [p for p in params if hints.get(p) is EnvState]
    if not found and "state" in params:
        found = ["state"]
    if len(found) != 1:
        raise TypeError(
            f"environment tool {tool_name!r} needs exactly one parameter annotated EnvState "
            f"(or named 'state'); found {len(found)}"
        )
    return found[0]


def _guard(fn: Callable[..., Any], param: str, *, read_only: bool) -> Callable[..., Any]:
    """Wrap a tool so its calls are serialized on the run's state (see the module doc)."""

    @functools.wraps(fn)
    async def call(**kwargs: Any) -> Any:
        state: EnvState = kwargs[param]
        if read_only:
            return await run_in_thread(_read, state, fn, kwargs)
        abandoned = threading.Event()
        # FIFO: state-changing calls apply in the order they arrive, which replay mirrors.
        async with state.write_order:
            try:
                return await run_in_thread(_write, state, fn, kwargs, abandoned)
            except asyncio.CancelledError:
                abandoned.set()  # timed out or cancelled: the worker rolls back, not commits
                raise

    return call


def _read(state: EnvState, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    with state.lock:
        if not state.has_db:
            return fn(**kwargs)
        state.db.execute("PRAGMA query_only=ON")
        try:
            return fn(**kwargs)
        finally:
            state.db.execute("PRAGMA query_only=OFF")


def _write(
    state: EnvState, fn: Callable[..., Any], kwargs: dict[str, Any], abandoned: threading.Event
) -> Any:
    with state.lock:
        ticks, counters = state.clock.ticks, dict(state.ids.counters)
        if state.has_db:
            state.db.execute("SAVEPOINT env_call")
        state.clock.tick()
        try:
            result = fn(**kwargs)
        except BaseException:
            _undo(state, ticks, counters)
            raise
        if abandoned.is_set() or (isinstance(result, ToolOutcome) and result.is_error):
            _undo(state, ticks, counters)
        elif state.has_db:
            state.db.execute("RELEASE env_call")
        return result


def _undo(state: EnvState, ticks: int, counters: dict[str, int]) -> None:
    state.clock.ticks = ticks
    state.ids.counters = counters
    if state.has_db:
        state.db.execute("ROLLBACK TO env_call")
        state.db.execute("RELEASE env_call")


def _check_database(path: Path) -> Path:
    resolved = path.resolve()
    if not resolved.is_file():
        raise SeedError("seed", f"seed database not found: {path}")
    try:
        db = sqlite3.connect(f"file:{resolved}?mode=ro", uri=True)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise SeedError("seed", f"seed {path} is not a SQLite database: {exc}") from exc
    return resolved


def _check_folder(path: Path) -> Path:
    resolved = path.resolve()
    if not resolved.is_dir():
        raise SeedError("files", f"seed files folder not found: {path}")
    return resolved
