"""In-process tracing: spans and episodes recorded straight into the Trajectory."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

from nexforge import __version__
from nexforge.core.messages import Message
from nexforge.core.tools import ToolSpec
from nexforge.core.trajectory import Episode, Provenance, Span, SpanKind, Trajectory


class TraceRecorder:
    """Builds a run's Trajectory as it happens; no external service, no round trip.

    Span and episode ids are short counters unique within the run (``s1``, ``e1``...),
    so they read well in exports and stay stable across runs of the same script.
    """

    def __init__(self, query: str, *, run_id: str | None = None, framework: str | None = None):
        self.trajectory = Trajectory(
            run_id=run_id or uuid.uuid4().hex,
            framework=framework,
            query=query,
            started_at=time.time(),
            provenance=Provenance(package_version=__version__),
        )
        self._span_ids = itertools.count(1)
        self._episode_ids = itertools.count(1)

    @property
    def run_id(self) -> str:
        return self.trajectory.run_id

    def start_span(
        self, kind: SpanKind, name: str, parent_id: str | None, input: Any = None
    ) -> Span:
        span = Span(
            span_id=f"s{next(self._span_ids)}",
            parent_id=parent_id,
            kind=kind,
            name=name,
            start=time.time(),
            input=input,
        )
        self.trajectory.spans.append(span)
        return span

    @staticmethod
    def end_span(span: Span, output: Any = None, error: str | None = None) -> None:
        span.end = time.time()
        span.output = output
        span.error = error

    def new_episode(
        self,
        *,
        agent: str,
        model: str,
        tool_call_format: str,
        system_prompt: str,
        tools: list[ToolSpec],
        parent_episode_id: str | None,
        parent_tool_call_id: str | None,
    ) -> Episode:
        episode = Episode(
            episode_id=f"e{next(self._episode_ids)}",
            parent_episode_id=parent_episode_id,
            parent_tool_call_id=parent_tool_call_id,
            agent=agent,
            model=model,
            tool_call_format=tool_call_format,
            system_prompt=system_prompt,
            tools=tools,
            messages=[Message.system(system_prompt)],
        )
        self.trajectory.episodes.append(episode)
        return episode
