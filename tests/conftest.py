"""Shared test fixtures: where the shared data lives, and small helpers used across packages."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`, read in place. Missing data is a failure, never a skip."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.fail(f"shared data folder not found at {path}: clone the project with ../shared beside it")
    return path
