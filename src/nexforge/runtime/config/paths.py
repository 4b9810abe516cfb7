"""The config root and the rule that relative paths may not leave it."""

from __future__ import annotations

from pathlib import Path

FRAMEWORK_FILE = "framework.yaml"


def find_root(config_path: Path) -> Path:
    """The nearest folder from the config's own upwards holding ``framework.yaml``.

    Falls back to the config's own folder. Returned resolved (symlinks followed).
    """
    folder = config_path.resolve().parent
    for candidate in (folder, *folder.parents):
        if (candidate / FRAMEWORK_FILE).is_file():
            return candidate
    return folder


class PathEscapeError(ValueError):
    """A configured path resolves outside the root."""


def resolve_inside(root: Path, base_dir: Path, value: str) -> Path:
    """Resolve ``value`` from ``base_dir``; raise PathEscapeError when it leaves ``root``.

    Symlinks are followed before the check, so a link inside the root pointing out of it
    is refused as well. Absolute paths get the same check.
    """
    resolved = (base_dir / Path(value).expanduser()).resolve()
    if not resolved.is_relative_to(root):
        raise PathEscapeError(f"path {value!r} resolves outside the config root {root}")
    return resolved


def display_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it (for short messages)."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
