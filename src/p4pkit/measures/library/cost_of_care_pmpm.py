"""TCOC_PMPM: total cost of care per member per month (continuous variable).

Total allowed amounts of every claim line with a service start day in the measurement period, for
members with payer enrollment in it, over their member-months (HEDIS member-month convention, see
`measures.observations`). This is the ratio-of-sums PMPM that payers and the IHA AMP "total cost of
care" report (sum of allowed dollars / sum of member months), not a mean of each member's PMPM,
so members with few months weigh less. Unadjusted: no risk adjustment, truncation of outliers or
carve-outs. The interval is the t interval of the ratio estimator (see `measures.summary`).

Allowed amounts are summed in DuckDB as decimals and reported as float dollars for the statistic;
payments computed from it must go through `programs.money`.
"""

from __future__ import annotations

from p4pkit.measures.definition import Group, Measure
from p4pkit.measures.observations import AllowedAmounts, MemberMonths, Observed

MEMBER_MONTHS = MemberMonths(("payer",))
MEMBERS = Observed(MEMBER_MONTHS, minimum=1)

MEASURE = Measure(
    id="TCOC_PMPM",
    title="Total cost of care per member per month (allowed amounts)",
    steward="p4pkit, after the Integrated Healthcare Association AMP total cost of care measure",
    version="1.0",
    description="Allowed amounts of all claims with service in the period, divided by the members' member-months in the period.",
    rationale=(
        "Total cost of care is what value-based contracts hold providers accountable for; PMPM makes populations "
        "with different enrollment comparable."
    ),
    guideline="IHA Align. Measure. Perform. (AMP) total cost of care; actuarial PMPM convention.",
    references=("https://www.iha.org/performance-measurement/", "NCQA HEDIS General Guidelines: member months"),
    improvement_notation="decrease",
    scoring="continuous-variable",
    source="Ratio-of-sums PMPM over canonical claim_lines.allowed_amount and enrollments",
    groups=(
        Group(
            initial_population=MEMBERS,
            denominator=None,
            numerator=MEMBERS,
            numerator_observation=AllowedAmounts(),
            denominator_observation=MEMBER_MONTHS,
        ),
    ),
)
