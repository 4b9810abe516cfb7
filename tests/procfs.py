"""Finding processes from the host through /proc, and polling, for the sandbox tests.

Pids printed inside a sandboxed child's PID namespace mean nothing on the host, so tests
give the processes they start a unique marker in their command line and look for that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path


def marked(marker: str) -> list[int]:
    """Live (not zombie) host processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


async def until(condition: Callable[[], bool], within_s: float = 30.0) -> bool:
    """Poll ``condition``; the bound only keeps a broken test from hanging, so it is large."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True
