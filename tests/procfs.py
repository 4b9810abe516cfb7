"""Finding processes from the host through /proc, for the sandbox tests.

Pids printed inside a sandboxed child's PID namespace mean nothing on the host, so tests
give the processes they start a unique marker in their command line and look for that.
"""

from __future__ import annotations

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
