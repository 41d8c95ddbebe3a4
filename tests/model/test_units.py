"""Unit conversions: hand-worked examples from the published factors, and a round-trip property."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from p4pkit.model import units


def test_qof_hba1c_threshold_58_mmol_mol_is_7_46_percent():
    # 0.09148 x 58 + 2.152 = 7.45784 (IFCC-NGSP master equation)
    assert units.to_canonical(58, "4548-4", "mmol/mol") == pytest.approx(7.45784)
    assert round(units.to_canonical(58, "59261-8", "mmol/mol"), 2) == 7.46


def test_cms122_threshold_9_percent_is_75_mmol_mol():
    # (9 - 2.152) / 0.09148 = 74.858...
    assert units.from_canonical(9.0, "4548-4", "mmol/mol") == pytest.approx(74.8579, abs=1e-4)


def test_glucose_7_mmol_per_litre_is_126_mg_per_dl():
    assert units.to_canonical(7.0, "2345-7", "mmol/L") == pytest.approx(126.112)
    assert round(units.to_canonical(7.0, "2339-0", "mmol/l")) == 126


def test_blood_pressure_16_kpa_is_120_mm_hg():
    assert units.to_canonical(16.0, "8480-6", "kPa") == pytest.approx(120.00992)
    assert units.to_canonical(80, "8462-4", "mm Hg") == 80


def test_cholesterol_5_mmol_per_litre_is_193_mg_per_dl():
    assert units.to_canonical(5.0, "2093-3", "mmol/L") == pytest.approx(193.35)


def test_canonical_units_are_ucum():
    assert [units.canonical_unit(c) for c in ("4548-4", "2345-7", "8480-6", "2093-3")] == ["%", "mg/dL", "mm[Hg]", "mg/dL"]


def test_unknown_unit_is_refused_with_the_accepted_ones():
    with pytest.raises(units.UnitError, match=r"unit 'g/L' is not known for LOINC 2345-7 \(glucose\); use one of: mg/dL, mmol/L"):
        units.to_canonical(1.0, "2345-7", "g/L")
    with pytest.raises(units.UnitError, match="no canonical unit"):
        units.to_canonical(1.0, "1234-5", "%")


_CASES = [(code, spelling) for code, coded in units.NORMALISED.items() for spelling in coded.quantity.units]


@given(case=st.sampled_from(_CASES), value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_round_trip_through_the_canonical_unit(case, value):
    code, unit = case
    assert units.from_canonical(units.to_canonical(value, code, unit), code, unit) == pytest.approx(value, rel=1e-9, abs=1e-9)


def test_arrow_columns_convert_like_scalars():
    converted = units.IFCC_TO_NGSP.apply(pa.array([58.0, 75.0]))
    assert converted.to_pylist() == pytest.approx([units.to_canonical(v, "4548-4", "mmol/mol") for v in (58.0, 75.0)])
