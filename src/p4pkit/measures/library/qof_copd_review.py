"""QOF_COPD_REVIEW: COPD, a review in the preceding 12 months.

Modelled on QOF 2023/24 COPD010 (NHS England QOF guidance 2023/24 and business rules). QOF asks that
the review record the number of exacerbations and the MRC dyspnoea grade; this indicator accepts
the coded review (the COPDRVW_COD concepts below) and does not check the components. PCA codes
and invitation codes are the SNOMED concepts of the QOF COPD clusters (COPDPCAPU_COD,
COPDPCADEC_COD, COPDINVITE_COD).
"""

from __future__ import annotations

from p4pkit.measures.definition import Group, Measure
from p4pkit.measures.library.qof_rules import QOF_REFERENCES, Recorded, Register, snomed
from p4pkit.model.codes import ICD10, ICD10CM

# COPD annual review; COPD 3 monthly review; COPD 6 monthly review.
REVIEW_CODES = snomed("394703002", "760601000000107", "760621000000103")

COPD_REGISTER = Register(
    valuesets=(),
    codes=snomed("13645005", "313296004", "313297008", "313299006")
    + tuple((ICD10CM, c) for c in ("J44.0", "J44.1", "J44.81", "J44.89", "J44.9"))
    + tuple((ICD10, c) for c in ("J44.0", "J44.1", "J44.8", "J44.9")),
    resolved=snomed("941201000000103"),  # Chronic obstructive pulmonary disease resolved
    unsuitable=snomed("716311000000100"),
    dissent=snomed("716291000000101"),
    # Monitoring invitation; first, second, third letter; verbal and telephone invitation;
    # QOF quality indicator-related care invitation.
    invitations=snomed(
        "711431000000109", "716241000000106", "717021000000106", "717521000000104", "716281000000103",
        "716901000000101", "1110861000000102",
    ),
)

MEASURE = Measure(
    id="QOF_COPD_REVIEW",
    title="COPD: review in the preceding 12 months",
    steward="NHS England (Quality and Outcomes Framework), adapted by p4pkit",
    version="2023/24-style",
    description="Share of patients on the COPD register with a COPD review in the 12 months up to the achievement date.",
    rationale=(
        "A yearly review records exacerbations and breathlessness, checks treatment and inhaler use and offers "
        "pulmonary rehabilitation, which reduce admissions."
    ),
    guideline="NICE NG115 (COPD in over 16s): review at least once a year, more often in severe disease.",
    references=QOF_REFERENCES,
    improvement_notation="increase",
    scoring="proportion",
    source="QOF 2023/24 guidance and business rules (COPD010-style indicator); see measures/library/qof_rules.py",
    groups=(
        Group(
            initial_population=COPD_REGISTER.members(),
            denominator=None,
            numerator=Recorded(REVIEW_CODES),
            exceptions=COPD_REGISTER.adjustments(REVIEW_CODES),
        ),
    ),
)
