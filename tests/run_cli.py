"""Run the `nexforge` command as a real subprocess, without the caller's NEXFORGE_* settings."""

from __future__ import annotations

import os
import subprocess
import sys


def nexforge(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEXFORGE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "nexforge", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
