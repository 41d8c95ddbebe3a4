"""Code system URIs. Codes always travel with their system; these are the canonical URIs (FHIR R4)."""

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.nlm.nih.gov/research/umls/hcpcs"  # as HL7 terminology and the eCQM value sets write it
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
MS_DRG = "https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/AcuteInpatientPPS/MS-DRG"

# Short names users may write in CSV files, mapped to the canonical URI.
ALIASES = {
    "icd10cm": ICD10CM,
    "icd-10-cm": ICD10CM,
    "icd10": ICD10,
    "snomed": SNOMED,
    "snomedct": SNOMED,
    "sct": SNOMED,
    "loinc": LOINC,
    "cpt": CPT,
    "hcpcs": HCPCS,
    "rxnorm": RXNORM,
    "cvx": CVX,
    "icd10pcs": ICD10PCS,
    "ucum": UCUM,
}

KNOWN = frozenset({ICD10CM, ICD10, SNOMED, LOINC, CPT, HCPCS, RXNORM, CVX, ICD10PCS, UCUM, ACT_CODE, MS_DRG})


def canonical_system(system: str) -> str:
    """The canonical URI for a system written as a URI or as a short alias (case-insensitive)."""
    return ALIASES.get(system.strip().lower(), system.strip())
