"""The per-run workspace: path confinement and a fresh directory per run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from nexforge.tools.errors import ToolInputError
from nexforge.tools.isolation import allocate_run_uid, running_as_root


def resolve_in_workspace(workspace: Path, user_path: str) -> Path:
    """The real path of ``user_path`` (relative to ``workspace``) if it stays inside.

    Symlinks are resolved on both sides before the containment check, so neither ``..``
    nor a link pointing outside escapes. (A link swapped in after this check is not
    caught; tools act on the returned real path, which narrows that window.)
    """
    if "\x00" in user_path:
        raise ToolInputError("path contains a NUL byte")
    root = Path(os.path.realpath(workspace))
    target = Path(os.path.realpath(root / user_path))
    if target != root and root not in target.parents:
        raise ToolInputError(f"path '{user_path}' escapes the workspace")
    return target


def make_run_workspace(prefix: str = "nexforge-run-") -> Path:
    """A fresh private temp directory; the caller removes it when the run ends.

    As root it is handed to a uid of its own (see ``allocate_run_uid``): the shell tools
    run as that uid, so they can write here and nowhere in another run's workspace.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if running_as_root():
        uid = allocate_run_uid()
        os.chown(path, uid, uid)
    return path


def give_to_workspace_owner(workspace: Path, path: Path) -> None:
    """As root, make ``path`` belong to the workspace's owner (no-op otherwise).

    Files the file tools create would otherwise be root's and read-only to the
    unprivileged shell tools of the same run.
    """
    if not running_as_root():
        return
    owner = workspace.stat()
    current = path.lstat()
    if (current.st_uid, current.st_gid) != (owner.st_uid, owner.st_gid):
        os.lchown(path, owner.st_uid, owner.st_gid)
