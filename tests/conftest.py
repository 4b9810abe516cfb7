"""Shared fixtures. No test reaches the internet; models are scripted or mocked over loopback."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's endpoint settings must never leak into tests."""
    for name in ("NEXFORGE_BASE_URL", "NEXFORGE_MODEL", "NEXFORGE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
