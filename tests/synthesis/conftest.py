from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexforge.synthesis.store import SynthesisStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def shop_dir(tmp_path: Path) -> Path:
    """A private copy of examples/shop (framework, environment, kit)."""
    target = tmp_path / "shop"
    shutil.copytree(EXAMPLES / "shop", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SynthesisStore]:
    with SynthesisStore(tmp_path / "store.sqlite") as opened:
        yield opened
