"""Shared fixtures. No test reaches the internet; models are scripted or mocked over loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexforge.testing import installed_model_or_skip


@pytest.fixture(autouse=True)
def _no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's endpoint settings must never leak into tests."""
    for name in ("NEXFORGE_BASE_URL", "NEXFORGE_MODEL", "NEXFORGE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def tiny_model_path() -> Path:
    """The installed tiny model (skip without it; fail under NEXFORGE_REQUIRE_MODEL=1)."""
    return installed_model_or_skip("tiny")
