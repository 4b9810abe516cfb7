"""Shared fixtures. No test reaches the internet; models are scripted or mocked over loopback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import installed_model_or_skip

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(autouse=True)
def _no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's endpoint settings must never leak into tests."""
    for name in ("NEXFORGE_BASE_URL", "NEXFORGE_MODEL", "NEXFORGE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def tiny_model_path() -> Path:
    """The installed tiny model (skip without it; fail under NEXFORGE_REQUIRE_MODEL=1)."""
    return installed_model_or_skip("tiny")


@pytest.fixture
def shop_dir(tmp_path: Path) -> Path:
    """A private copy of examples/shop (framework, environment, kit)."""
    target = tmp_path / "shop"
    shutil.copytree(EXAMPLES / "shop", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SynthesisStore]:
    """An empty synthesis store (real SQLite) in the test's folder."""
    with SynthesisStore(tmp_path / "store.sqlite") as opened:
        yield opened
