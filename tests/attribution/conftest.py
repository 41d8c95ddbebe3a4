"""The `world` fixture: builds small in-memory stores (see attribution_world.py) and closes them."""

from __future__ import annotations

import pytest
from attribution_world import build_store

from p4pkit.store import Store


@pytest.fixture
def world():
    stores: list[Store] = []

    def make(*args, **kwargs) -> Store:
        stores.append(build_store(*args, **kwargs))
        return stores[-1]

    yield make
    for store in stores:
        store.close()
