"""QOF_DM_HBA1C58: diabetes, latest IFCC-HbA1c in the preceding 12 months 58 mmol/mol or less.

Modelled on the QOF diabetes indicator of 2019/20 onward (DM020: patients on the diabetes register
without moderate or severe frailty whose last IFCC-HbA1c in the preceding 12 months is 58 mmol/mol
or less; NHS England QOF guidance 2023/24 and business rules). p4pkit stores HbA1c in % (NGSP), so
the threshold is converted with the IFCC-NGSP master equation of `model.units`:
58 mmol/mol = 0.09148 x 58 + 2.152 = 7.45784 %. Results that arrive in mmol/mol (LOINC 59261-8) are
converted by ingest with the same equation, so a reading of exactly 58 mmol/mol meets the target.
The "last" reading is the lowest on the most recent day with a reading (several readings the same
day count as the best one).
"""

from __future__ import annotations

from p4pkit.measures.blocks import observations, vs
from p4pkit.measures.criteria import LowestOnMostRecentDay, Timed
from p4pkit.measures.definition import Group, Measure, Reasoned
from p4pkit.measures.library.qof_rules import PRECEDING_12_MONTHS, QOF_REFERENCES, Recorded, Register, snomed
from p4pkit.model import units
from p4pkit.model.codes import LOINC

HBA1C_CODES = ((LOINC, "4548-4"), (LOINC, "17856-6"))
HBA1C_TARGET_PERCENT = units.to_canonical(58, "59261-8", "mmol/mol")
HBA1C = Timed(observations(codes=HBA1C_CODES), "ends_during", PRECEDING_12_MONTHS)
# SNOMED "Moderate frailty", "Severe frailty" (the QOF MODFRAIL/SEVFRAIL clusters' concepts).
MODERATE_OR_SEVERE_FRAILTY = Recorded(snomed("925831000000107", "925861000000102"))

DIABETES_REGISTER = Register(
    valuesets=vs("464.1003.103.12.1001"),  # eCQM "Diabetes": ICD-10-CM and SNOMED diagnoses
    codes=snomed("73211009"),
    resolved=snomed("315051004"),  # Diabetes resolved
    min_age=17,
)

MEASURE = Measure(
    id="QOF_DM_HBA1C58",
    title="Diabetes: latest HbA1c in the preceding 12 months 58 mmol/mol (7.46%) or less",
    steward="NHS England (Quality and Outcomes Framework), adapted by p4pkit",
    version="2023/24-style",
    description=(
        "Share of patients 17 and over on the diabetes register, without moderate or severe frailty, whose "
        "latest HbA1c in the 12 months up to the achievement date is 58 mmol/mol or less."
    ),
    rationale=(
        "Keeping HbA1c near 58 mmol/mol lowers the risk of the microvascular complications of diabetes "
        "(eye, kidney and nerve damage); frail patients are left out because tight control harms them."
    ),
    guideline="NICE NG28 (type 2 diabetes in adults): HbA1c target 53 mmol/mol on drugs that cause hypoglycaemia, 48 otherwise.",
    references=QOF_REFERENCES + ("UKPDS 33, Lancet 1998;352:837-853",),
    improvement_notation="increase",
    scoring="proportion",
    source="QOF 2023/24 guidance and business rules (DM020-style indicator); see measures/library/qof_rules.py",
    groups=(
        Group(
            initial_population=DIABETES_REGISTER.members(),
            denominator=None,
            exclusions=(Reasoned("moderate or severe frailty", MODERATE_OR_SEVERE_FRAILTY),),
            numerator=LowestOnMostRecentDay(HBA1C, "<=", HBA1C_TARGET_PERCENT),
            exceptions=DIABETES_REGISTER.adjustments(HBA1C_CODES),
        ),
    ),
)
