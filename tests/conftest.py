"""Shared test fixtures: where the shared data lives, and small helpers used across packages."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"

# Hypothesis's default 200 ms deadline per example is a timing assertion: on a loaded 2-core CI
# machine it fails correct code (test_rosp did at 428 ms). Speed is measured by bench/, not tests.
settings.register_profile("p4pkit", deadline=None)
settings.load_profile("p4pkit")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`, read in place. Missing data is a failure, never a skip."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.fail(f"shared data folder not found at {path}: clone the project with ../shared beside it")
    return path
