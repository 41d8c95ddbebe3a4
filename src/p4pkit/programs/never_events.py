"""Never events: nonpayment of listed adverse events, with present-on-admission (POA) logic.

Patient-level work, so written as Ibis expressions (they run on DuckDB here and unchanged on Spark).

Two lists, kept as data in `LISTED_CONDITIONS` (category, kind, ICD-10-CM pattern on the code without
its dot):

- Medicare hospital-acquired conditions (SSA §1886(d)(4)(D); 42 CFR 412.2 and the IPPS HAC list): when
  a listed condition is a secondary diagnosis NOT present on admission, the hospital is not paid the
  extra the condition would bring: the stay is paid as if the diagnosis were absent. POA indicators
  (CMS HAC coding page, as carried by the HL7 presentOnAdmission code system and ResDAC): Y (present)
  and W (clinically undetermined) are paid; N (not present), U (documentation insufficient) and 1 or
  blank (exempt/unreported, which must not be used on HAC codes) are not. Any other value is an input
  error.
- Surgical serious reportable events (NQF; Medicare NCDs 140.6-140.8: wrong surgery, wrong body part,
  wrong patient), reported with ICD-10-CM Y65.51-Y65.53: the whole claim is not paid, whatever the POA.

This is a subset of the CMS HAC list (see `docs/programs/never-events.md`): HAC categories that also
need a procedure code (surgical site infections after CABG, orthopaedic or bariatric surgery; DVT/PE
after hip or knee replacement; iatrogenic pneumothorax with venous catheterisation) are not listed,
and falls and trauma are represented by fractures, intracranial injuries and burns.

The amount denied for a HAC is `paid_amount − amount_without_hac`, where `amount_without_hac` is what
the stay pays with the listed diagnoses ignored (the payer's grouper gives it).
"""

from __future__ import annotations

import ibis
import pandas as pd

from p4pkit.errors import Problem, UserError

HAC = "hospital_acquired_condition"
SRE = "serious_reportable_event"

LISTED_CONDITIONS: tuple[tuple[str, str, str], ...] = (
    ("foreign object retained after surgery", HAC, r"^T81(5|6)\w*A$"),
    ("air embolism", HAC, r"^T800\w*A$"),
    ("blood incompatibility", HAC, r"^T803\w*A$"),
    ("pressure ulcer stage III or IV", HAC, r"^L89\d{1,2}[34]$"),
    ("falls and trauma: fracture", HAC, r"^S\d2\w*[AB]$"),
    ("falls and trauma: intracranial injury", HAC, r"^S06\w*A$"),
    ("falls and trauma: burn", HAC, r"^T2[0-5]\w*A$"),
    ("poor glycaemic control", HAC, r"^(E(0[89]|1[013])(00|01|10|11|641)|E15)$"),
    ("catheter-associated urinary tract infection", HAC, r"^T8351[0128]A$"),
    ("vascular catheter-associated infection", HAC, r"^T8021[1289]A$"),
    ("wrong procedure on correct patient", SRE, r"^Y6551$"),
    ("procedure on patient not scheduled for surgery", SRE, r"^Y6552$"),
    ("correct procedure on wrong side or body part", SRE, r"^Y6553$"),
)

PAID_POA = ("Y", "W")
VALID_POA = PAID_POA + ("N", "U", "1", "")


def listed_conditions() -> pd.DataFrame:
    """The lists as a table: category, kind, pattern."""
    return pd.DataFrame(LISTED_CONDITIONS, columns=["category", "kind", "pattern"])


def flag_diagnoses(diagnoses: ibis.Table) -> ibis.Table:
    """The diagnoses on the lists: encounter_id, category, kind, poa, nonpayable.

    `diagnoses`: encounter_id, diagnosis_code (ICD-10-CM, with or without the dot), poa.
    """
    code = diagnoses.diagnosis_code.upper().strip().replace(".", "")
    category = ibis.cases(*[(code.re_search(p), c) for c, _, p in LISTED_CONDITIONS], else_=ibis.null("string"))
    kind = ibis.cases(*[(code.re_search(p), k) for _, k, p in LISTED_CONDITIONS], else_=ibis.null("string"))
    poa = diagnoses.poa.cast("string").upper().strip().fill_null("")
    flagged = diagnoses.mutate(category=category, kind=kind, poa=poa).filter(ibis._.category.notnull())
    nonpayable = (flagged.kind == SRE) | ~flagged.poa.isin(PAID_POA)
    return flagged.select("encounter_id", "category", "kind", "poa", nonpayable=nonpayable)


def denials(diagnoses: ibis.Table, encounters: ibis.Table) -> ibis.Table:
    """Amount denied per encounter with a nonpayable listed event, and the reason.

    `encounters`: encounter_id, entity_id, paid_amount, amount_without_hac (decimals). A serious
    reportable event denies the whole paid amount; otherwise a HAC not present on admission denies
    paid_amount − amount_without_hac (never below zero). Raises `UserError` when a listed HAC carries
    a POA value that is not a POA indicator (Y, N, U, W, 1 or blank).
    """
    flagged = flag_diagnoses(diagnoses)
    bad_poa = flagged.filter((flagged.kind == HAC) & ~flagged.poa.isin(VALID_POA))
    count = int(bad_poa.count().to_pyarrow().as_py())
    if count:
        raise UserError(
            f"{count} listed hospital-acquired condition(s) carry an unknown POA value",
            [Problem("diagnoses", None, "poa", "must be Y, N, U, W, 1 or blank")],
            hint="Use the CMS present-on-admission indicators on every secondary diagnosis.",
        )
    unpaid = flagged.filter(flagged.nonpayable)
    per_encounter = unpaid.group_by("encounter_id").aggregate(
        serious_event=(unpaid.kind == SRE).any(),
        categories=unpaid.category.collect(distinct=True).sort().join("; "),
    )
    joined = per_encounter.join(encounters, "encounter_id")
    hac_amount = joined.paid_amount - joined.amount_without_hac
    denied = ibis.cases((joined.serious_event, joined.paid_amount), (hac_amount > 0, hac_amount), else_=0)
    reason = ibis.cases(
        (joined.serious_event, "serious reportable event, claim not payable: " + joined.categories),
        else_="hospital-acquired condition not present on admission: " + joined.categories,
    )
    return joined.select("encounter_id", "entity_id", denied_amount=denied.cast(joined.paid_amount.type()),
                         reason=reason).order_by("encounter_id")
