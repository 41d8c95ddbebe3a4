"""Never-event nonpayment with POA logic, worked by hand on a few stays."""

from __future__ import annotations

from decimal import Decimal

import ibis
import pyarrow as pa
import pytest

from p4pkit.errors import UserError
from p4pkit.programs.never_events import denials, flag_diagnoses, listed_conditions

MONEY = pa.decimal128(18, 2)


def _diagnoses(rows):
    return ibis.memtable(pa.table({"encounter_id": [r[0] for r in rows], "diagnosis_code": [r[1] for r in rows],
                                   "poa": [r[2] for r in rows]}))


def _encounters():
    return ibis.memtable(pa.table({
        "encounter_id": ["E1", "E2", "E3", "E4", "E5", "E6"],
        "entity_id": ["H1", "H1", "H2", "H2", "H2", "H2"],
        "paid_amount": pa.array([Decimal("18000.00"), Decimal("9500.00"), Decimal("42000.00"),
                                 Decimal("7000.00"), Decimal("12000.00"), Decimal("8000.00")], MONEY),
        "amount_without_hac": pa.array([Decimal("11250.50"), Decimal("9500.00"), Decimal("42000.00"),
                                        Decimal("7000.00"), Decimal("12000.00"), Decimal("6500.00")], MONEY),
    }))


def test_denials():
    diagnoses = _diagnoses([
        ("E1", "I50.9", "Y"), ("E1", "L89.153", "N"),  # stage 3 sacral pressure ulcer acquired in hospital
        ("E2", "L89.154", "Y"),  # stage 4 ulcer present on admission: paid
        ("E3", "Y65.53", "1"), ("E3", "S72.001A", "W"),  # wrong-site surgery: whole claim; fracture POA undetermined
        ("E4", "T81.509A", "U"),  # retained foreign object, documentation insufficient, but grouper adds nothing
        ("E5", "E11.641", "Y"),  # hypoglycaemic coma present on admission: paid
        ("E6", "T80.211A", None),  # line infection with a blank POA: blank must not be used on HAC codes
    ])
    out = denials(diagnoses, _encounters()).to_pyarrow().to_pylist()
    assert [(r["encounter_id"], r["denied_amount"]) for r in out] == [
        ("E1", Decimal("6749.50")),  # 18,000.00 - 11,250.50
        ("E3", Decimal("42000.00")),
        ("E4", Decimal("0.00")),
        ("E6", Decimal("1500.00")),  # 8,000.00 - 6,500.00
    ]
    assert out[0]["reason"] == "hospital-acquired condition not present on admission: pressure ulcer stage III or IV"
    assert out[1]["reason"].startswith("serious reportable event, claim not payable: correct procedure on wrong side")


def test_codes_on_and_off_the_list():
    diagnoses = _diagnoses([("E", code, "N") for code in
                            ("T81.500A", "T80.0XXA", "L89.152", "S06.0X0A", "E11.10", "T83.511A", "T80.211A",
                             "Y65.51", "I10", "T81.500D")])
    flagged = flag_diagnoses(diagnoses).to_pyarrow().to_pylist()
    # Stage 2 ulcers, hypertension and a subsequent-encounter code (7th character D) are not listed.
    assert len(flagged) == 7
    assert {r["category"] for r in flagged} >= {"air embolism", "falls and trauma: intracranial injury",
                                                "wrong procedure on correct patient"}
    assert set(listed_conditions()["kind"]) == {"hospital_acquired_condition", "serious_reportable_event"}


def test_unknown_poa_value_is_a_user_error():
    with pytest.raises(UserError) as caught:
        denials(_diagnoses([("E1", "L89.153", "Q")]), _encounters())
    assert caught.value.problems[0].column == "poa"
