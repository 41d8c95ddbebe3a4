"""Synthetic worlds shared by the synth tests: generated once per session (about a second each)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from p4pkit.synth import BEHAVIOURS, generate


class World:
    """A generated folder with cached pandas readers for its tables and truth files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            self._cache[name] = pd.read_parquet(self.folder / f"{name}.parquet")
        return self._cache[name]


@pytest.fixture(scope="session")
def world_at():
    """Open a generated folder as a `World` (for tests that generate a world of their own)."""
    return World


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    """20,000 patients, every behaviour off: large enough for prevalence tolerances to mean something."""
    folder = tmp_path_factory.mktemp("synth") / "world"
    generate(20_000, 7, folder)
    return World(folder)


@pytest.fixture(scope="session")
def gamed(tmp_path_factory) -> World:
    """8,000 patients with every behaviour switched on."""
    folder = tmp_path_factory.mktemp("synth") / "gamed"
    generate(8_000, 7, folder, behaviours=BEHAVIOURS, behaviour_share=0.4)
    return World(folder)
