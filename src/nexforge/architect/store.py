"""Saved stage results, so a failed or interrupted build resumes from its last good stage.

``DIR/.build/`` holds ``manifest.json`` (what is being built: description, seed) and one
JSON file per finished stage. A stage that finds its file reuses it; a repair deletes the
stages it redoes. Files are written atomically, so a killed build never leaves one torn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nexforge.architect.assemble import write_json
from nexforge.core.errors import NexForgeError

BUILD_DIR = ".build"


class BuildConflict(NexForgeError):
    """The output folder holds (part of) a different build."""


class StageStore:
    def __init__(self, out: Path) -> None:
        self.root = out / BUILD_DIR

    def claim(self, manifest: dict[str, Any]) -> bool:
        """Record what this build is; True when resuming the same build.

        A folder holding a build of something else is refused rather than mixed.
        """
        path = self.root / "manifest.json"
        if path.is_file():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise BuildConflict(f"{path}: unreadable build manifest ({exc})") from exc
            mismatched = sorted(k for k in manifest if saved.get(k) != manifest[k])
            if mismatched:
                raise BuildConflict(
                    f"{path.parent.parent} holds a build with a different {', '.join(mismatched)} "
                    f"({', '.join(f'{k}={saved.get(k)!r}' for k in mismatched)}); "
                    "use another output folder or delete it"
                )
            return True
        write_json(path, manifest)
        return False

    def load(self, name: str) -> Any | None:
        path = self.root / f"{name}.json"
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            path.unlink()  # torn by a crash that predates atomic writes: redo the stage
            return None

    def save(self, name: str, value: Any) -> None:
        write_json(self.root / f"{name}.json", value)

    def forget(self, prefix: str) -> None:
        """Drop every saved stage whose name starts with ``prefix``."""
        folder = (self.root / prefix).parent
        stem = Path(prefix).name
        if folder.is_dir():
            for path in folder.glob(f"{stem}*.json"):
                path.unlink()
