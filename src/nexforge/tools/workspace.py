"""The per-run workspace: a fresh directory per run, and access to it that cannot be steered.

The file tools run in this process (as root when NexForge runs as root) while the run's own
sandboxed children change the same tree at the same time, so a path is never checked and
then reopened by name. ``open_entry`` and ``write_bytes`` open it relative to a handle on
the workspace and refuse every symbolic link and every ``..`` that would leave it: one
``openat2`` with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it, else one
``O_NOFOLLOW`` open per component, each relative to the directory opened before. The
caller then works on that descriptor only: it checks what was opened (a regular file or a
directory, nothing else), reads or writes it, and changes its owner with ``fchown``. Opens
are non-blocking, so a FIFO is refused instead of hanging the tool.

As root, run workspaces live in a folder only root may write: a run's uid owns its
workspace, and in world-writable /tmp it could rename it and leave a link in its place.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nexforge.tools.errors import ToolInputError
from nexforge.tools.isolation import allocate_run_uid, running_as_root

# struct open_how's resolve flags (linux/openat2.h).
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
# New syscalls have one number on every architecture (alpha aside, where NexForge does not run).
_OPENAT2_NR = 437
_AT_FDCWD = -100
_OPENAT2_RETRIES = 8  # EAGAIN: the kernel saw a concurrent rename and wants a retry
_OPEN_FLAGS = os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK | os.O_NOFOLLOW
_DIR_MODE = 0o755
_FILE_MODE = 0o644


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


@dataclass(frozen=True)
class Entry:
    """An open regular file or directory inside a workspace: ``name`` is the path as the
    model gave it, ``relative`` the same normalized below the workspace (``.`` for itself)."""

    fd: int
    stat: os.stat_result
    name: str
    relative: str

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.stat.st_mode)


def resolve_in_workspace(workspace: Path, user_path: str) -> Path:
    """The real path of ``user_path`` (relative to ``workspace``) if it stays inside.

    A check by name, for folders nothing else changes meanwhile. Anything a sandboxed child
    can write while the caller acts goes through ``open_entry`` / ``write_bytes`` instead.
    """
    if "\x00" in user_path:
        raise ToolInputError("path contains a NUL byte")
    root = Path(os.path.realpath(workspace))
    target = Path(os.path.realpath(root / user_path))
    if target != root and root not in target.parents:
        raise ToolInputError(f"path '{user_path}' escapes the workspace")
    return target


def make_run_workspace(prefix: str = "nexforge-run-") -> Path:
    """A fresh private directory; the caller removes it when the run ends.

    As root it is handed to a uid of its own (see ``allocate_run_uid``): the shell tools
    run as that uid, so they can write here and nowhere in another run's workspace. Its
    parent is root's (see the module doc), so that uid cannot move the workspace itself.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=_runs_folder()))
    if running_as_root():
        uid = allocate_run_uid()
        os.chown(path, uid, uid)
    return path


@functools.cache
def _runs_folder() -> Path | None:
    """As root, a folder only root may write and others may only pass through (shared by
    NexForge processes; a private one if someone else holds its name); else None, the
    usual temp folder."""
    if not running_as_root():
        return None
    shared = Path(tempfile.gettempdir()) / "nexforge-runs"
    with contextlib.suppress(FileExistsError):
        shared.mkdir(mode=0o711)
    info = shared.lstat()
    if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022:
        folder = shared
    else:
        folder = Path(tempfile.mkdtemp(prefix="nexforge-runs-"))
    folder.chmod(0o711)
    return folder


def give_to_workspace_owner(workspace: Path, path: Path) -> None:
    """As root, make ``path`` (inside ``workspace``) belong to the workspace's owner.

    Files NexForge copies in would otherwise be root's and read-only to the unprivileged
    shell tools of the same run. The path is resolved without following any link, and a
    link itself gets the new owner, never its target. A no-op when not root.
    """
    if not running_as_root():
        return
    parts = _parts(workspace, str(path))
    if not parts:
        return
    with _workspace_fd(workspace) as root:
        owner = os.fstat(root)
        parent = _open_path(root, parts[:-1], os.O_RDONLY | os.O_DIRECTORY, 0)
        try:
            os.chown(parts[-1], owner.st_uid, owner.st_gid, dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(parent)


@contextlib.contextmanager
def open_entry(workspace: Path, user_path: str) -> Iterator[Entry]:
    """The regular file or directory at ``user_path``, opened read-only inside ``workspace``.

    ToolInputError (a line for the model) when the path leaves the workspace, is or passes
    through a symbolic link, does not exist, or names anything else (FIFO, socket, device).
    """
    parts = _parts(workspace, user_path)
    with _workspace_fd(workspace) as root:
        try:
            fd = _open_path(root, parts, os.O_RDONLY, 0)
        except OSError as exc:
            raise _refusal(workspace, user_path, exc) from None
        try:
            entry = Entry(fd, os.fstat(fd), user_path, "/".join(parts) or ".")
            _check_kind(entry, os.fstat(root))
            yield entry
        finally:
            os.close(fd)


def write_bytes(workspace: Path, user_path: str, data: bytes) -> None:
    """Create or overwrite the regular file at ``user_path``, making missing parent folders.

    What this creates is given to the workspace's owner (by descriptor). Refuses what
    ``open_entry`` refuses, and a directory.
    """
    parts = _parts(workspace, user_path)
    if not parts:
        raise ToolInputError(f"'{user_path}' is a directory")
    with _workspace_fd(workspace) as root:
        owner = os.fstat(root)
        try:
            parent = _make_parents(root, parts[:-1], owner)
            try:
                fd = _openat(parent, parts[-1], os.O_WRONLY | os.O_CREAT, _FILE_MODE)
            finally:
                os.close(parent)
        except OSError as exc:
            raise _refusal(workspace, user_path, exc) from None
        try:
            entry = Entry(fd, os.fstat(fd), user_path, "/".join(parts))
            _check_kind(entry, owner)
            os.set_blocking(fd, True)
            os.ftruncate(fd, 0)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            _give(fd, entry.stat, owner)
        finally:
            os.close(fd)


def _parts(workspace: Path, user_path: str) -> tuple[str, ...]:
    """``user_path`` as components below the workspace, ``.`` and ``..`` resolved by name
    (links are refused anyway, so this is what the kernel would do); absolute paths must
    lie in the workspace."""
    if "\x00" in user_path:
        raise ToolInputError("path contains a NUL byte")
    path = PurePosixPath(user_path)
    if path.is_absolute():
        for base in (PurePosixPath(workspace), PurePosixPath(os.path.realpath(workspace))):
            if path == base or base in path.parents:
                path = path.relative_to(base)
                break
        else:
            raise ToolInputError(f"path '{user_path}' escapes the workspace")
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                raise ToolInputError(f"path '{user_path}' escapes the workspace")
            parts.pop()
        elif part != ".":
            parts.append(part)
    return tuple(parts)


@contextlib.contextmanager
def _workspace_fd(workspace: Path) -> Iterator[int]:
    try:
        fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise ToolInputError(f"the workspace cannot be opened: {exc.strerror}") from None
    try:
        yield fd
    finally:
        os.close(fd)


def _open_path(root: int, parts: tuple[str, ...], flags: int, mode: int) -> int:
    """``parts`` opened below the directory ``root``, following no link; no parts is
    ``root`` itself (a new descriptor). Raises OSError."""
    if not parts:
        return os.open(".", flags | os.O_CLOEXEC, dir_fd=root)
    if _openat2_syscall() is not None:
        return _openat(root, "/".join(parts), flags, mode)
    fd = os.dup(root)
    try:
        for part in parts[:-1]:
            step = _open_dir(fd, part)
            os.close(fd)
            fd = step
        return _openat(fd, parts[-1], flags, mode)
    finally:
        os.close(fd)


def _make_parents(root: int, parts: tuple[str, ...], owner: os.stat_result) -> int:
    """The parent folder of a file to write, opened; missing folders are made and given to
    ``owner``. One component at a time, so each new folder is known by descriptor."""
    fd = os.dup(root)
    try:
        for part in parts:
            try:
                step = _open_dir(fd, part)
            except FileNotFoundError:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, _DIR_MODE, dir_fd=fd)
                step = _open_dir(fd, part)
                _give(step, os.fstat(step), owner)
            os.close(fd)
            fd = step
        return os.dup(fd)
    finally:
        os.close(fd)


def _open_dir(dir_fd: int, name: str) -> int:
    try:
        return _openat(dir_fd, name, os.O_RDONLY | os.O_DIRECTORY, 0)
    except NotADirectoryError:
        # O_DIRECTORY | O_NOFOLLOW on a link says ENOTDIR; say what it is.
        if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name) from None
        raise


def _openat(dir_fd: int, path: str, flags: int, mode: int) -> int:
    """``path`` below ``dir_fd``, non-blocking and following no link: with openat2 any
    relative path, else a single component. Raises OSError."""
    syscall = _openat2_syscall()
    if syscall is None:
        return os.open(path, flags | _OPEN_FLAGS, mode, dir_fd=dir_fd)
    libc, number = syscall
    how = _OpenHow(
        flags | _OPEN_FLAGS,
        mode if flags & os.O_CREAT else 0,
        _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS,
    )
    raw = os.fsencode(path)
    code = errno.EAGAIN
    for _ in range(_OPENAT2_RETRIES):
        fd = int(libc.syscall(number, dir_fd, raw, ctypes.byref(how), ctypes.sizeof(how)))
        if fd >= 0:
            return fd
        code = ctypes.get_errno()
        if code != errno.EAGAIN:
            break
    raise OSError(code, os.strerror(code), path)


@functools.cache
def _openat2_syscall() -> tuple[ctypes.CDLL, int] | None:
    """libc and the syscall number of a working ``openat2``; None where the kernel lacks it
    (ENOSYS) or a seccomp filter refuses it (EPERM)."""
    if sys.platform != "linux":
        return None
    number = _OPENAT2_NR
    libc = ctypes.CDLL(None, use_errno=True)
    how = _OpenHow(os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0, _RESOLVE_BENEATH)
    fd = int(libc.syscall(number, _AT_FDCWD, b".", ctypes.byref(how), ctypes.sizeof(how)))
    if fd < 0:
        return None
    os.close(fd)
    return libc, number


def _refusal(workspace: Path, user_path: str, exc: OSError) -> ToolInputError:
    code = exc.errno
    if code in (errno.ELOOP, errno.EXDEV):
        # Where the link leads decides the wording only: looked up by name, after the
        # refusal, and nothing is opened.
        try:
            resolve_in_workspace(workspace, user_path)
        except ToolInputError as escape:
            return escape
        return ToolInputError(
            f"path '{user_path}' is or passes through a symbolic link; "
            "file tools do not follow links"
        )
    if code in (errno.ENOENT, errno.ENOTDIR):
        return ToolInputError(f"no such file or directory: '{user_path}'")
    if code == errno.EISDIR:
        return ToolInputError(f"'{user_path}' is a directory")
    if code == errno.ENXIO:  # a FIFO nobody reads, or a socket
        return ToolInputError(f"'{user_path}' is not a regular file or directory")
    if code == errno.EAGAIN:
        return ToolInputError(f"'{user_path}' kept changing while it was opened; try again")
    return ToolInputError(f"cannot open '{user_path}': {exc.strerror}")


def _check_kind(entry: Entry, owner: os.stat_result) -> None:
    mode = entry.stat.st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ToolInputError(f"'{entry.name}' is not a regular file or directory")
    # With fs.protected_hardlinks off, a child could link a file it cannot read in here.
    linked = stat.S_ISREG(mode) and entry.stat.st_nlink > 1 and running_as_root()
    if linked and entry.stat.st_uid != owner.st_uid:
        raise ToolInputError(
            f"'{entry.name}' is a hard link to a file the workspace's owner does not own"
        )


def _give(fd: int, current: os.stat_result, owner: os.stat_result) -> None:
    if running_as_root() and (current.st_uid, current.st_gid) != (owner.st_uid, owner.st_gid):
        os.fchown(fd, owner.st_uid, owner.st_gid)
