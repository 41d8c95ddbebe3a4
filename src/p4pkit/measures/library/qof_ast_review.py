"""QOF_AST_REVIEW: asthma, a review in the preceding 12 months.

Modelled on QOF 2023/24 AST007 (NHS England QOF guidance 2023/24 and business rules). QOF asks that
the review include a validated control questionnaire, the number of exacerbations, inhaler
technique and a written plan; this indicator accepts the coded review itself (SNOMED review codes
below) and does not check the components. The QOF register also requires asthma drug treatment in
the preceding 12 months; p4pkit's register uses diagnosis, age 6 and over and resolution only.
"""

from __future__ import annotations

from p4pkit.measures.definition import Group, Measure
from p4pkit.measures.library.qof_rules import QOF_REFERENCES, Recorded, Register, snomed
from p4pkit.model.codes import ICD10, ICD10CM

# Asthma annual review; asthma monitoring check done; asthma review using Royal College of
# Physicians three questions.
REVIEW_CODES = snomed("394700004", "270442000", "754061000000100")

ASTHMA_REGISTER = Register(
    valuesets=(),
    codes=snomed("195967001")
    + tuple((ICD10CM, c) for c in ("J45.20", "J45.21", "J45.22", "J45.30", "J45.31", "J45.32", "J45.40", "J45.41",
                                   "J45.42", "J45.50", "J45.51", "J45.52", "J45.901", "J45.902", "J45.909", "J45.990",
                                   "J45.991", "J45.998"))
    + tuple((ICD10, c) for c in ("J45.0", "J45.1", "J45.8", "J45.9", "J46")),
    resolved=snomed("162660004"),  # Asthma resolved
    min_age=6,
    unsuitable=snomed("717291000000103"),  # Excepted from asthma quality indicators: patient unsuitable
    dissent=snomed("716491000000100"),  # Excepted from asthma quality indicators: informed dissent
)

MEASURE = Measure(
    id="QOF_AST_REVIEW",
    title="Asthma: review in the preceding 12 months",
    steward="NHS England (Quality and Outcomes Framework), adapted by p4pkit",
    version="2023/24-style",
    description="Share of patients 6 and over on the asthma register with an asthma review in the 12 months up to the achievement date.",
    rationale=(
        "A structured yearly review finds poorly controlled asthma and poor inhaler technique before an attack; "
        "most asthma deaths follow care that a review would have changed."
    ),
    guideline="BTS/SIGN 158 and NICE NG80: review people with asthma at least once a year.",
    references=QOF_REFERENCES + ("Royal College of Physicians, Why asthma still kills (NRAD), 2014",),
    improvement_notation="increase",
    scoring="proportion",
    source="QOF 2023/24 guidance and business rules (AST007-style indicator); see measures/library/qof_rules.py",
    groups=(
        Group(
            initial_population=ASTHMA_REGISTER.members(),
            denominator=None,
            numerator=Recorded(REVIEW_CODES),
            exceptions=ASTHMA_REGISTER.adjustments(REVIEW_CODES),
        ),
    ),
)
