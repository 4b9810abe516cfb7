"""finish: the tool a model calls to end the run with its final answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nexforge.tools.base import Tool
from nexforge.tools.builtins.options import CommonOptions, parse_options
from nexforge.tools.schema import tool_from_function

# The runtime stops the run when a call to this tool succeeds.
FINISH_TOOL_NAME = "finish"


def make_finish(options: dict[str, Any] | None, base_dir: Path | None) -> Tool:
    opts = parse_options(FINISH_TOOL_NAME, CommonOptions, options)

    async def finish(answer: str) -> str:
        """Finish the task: call this once, when done, with your final answer.

        Args:
            answer: The final answer for the user, complete and self-contained.
        """
        return answer

    return tool_from_function(
        finish,
        name=FINISH_TOOL_NAME,
        read_only=True,
        timeout_s=opts.timeout_s,
        max_output_chars=opts.max_output_chars,
    )
