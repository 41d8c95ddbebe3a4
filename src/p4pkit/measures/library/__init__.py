"""The measure library: one module per measure, each defining `MEASURE`."""

from __future__ import annotations

from p4pkit.measures.definition import Measure
from p4pkit.measures.library import cms122, cms125, cms130, cms138, cms165

LIBRARY: dict[str, Measure] = {m.MEASURE.id: m.MEASURE for m in (cms122, cms125, cms130, cms138, cms165)}
