"""Canonical units for the results measures compare against thresholds, and the conversions into them.

Measures state thresholds in one unit (CMS122: HbA1c > 9 %; QOF DM: HbA1c <= 58 mmol/mol), while
laboratories report in whichever unit their country uses. Ingest converts every result whose LOINC
code is listed here into the canonical unit, so a measure compares like with like; measures convert
their own thresholds with the same functions, so both sides use one set of factors.

Canonical units (UCUM spellings):
- HbA1c: % (NGSP/DCCT). IFCC mmol/mol converts with the IFCC-NGSP master equation
  NGSP % = 0.09148 x IFCC mmol/mol + 2.152 (Hoelzel W et al., "IFCC reference system for measurement
  of hemoglobin A1c in human blood and the national standardization schemes in the United States,
  Japan, and Sweden: a method-comparison study", Clin Chem 2004;50(1):166-174; as published by the
  NGSP, ngsp.org/ifcc.asp). LOINC 59261-8 is by definition the IFCC (mmol/mol) result, so once
  converted it is reported as 4548-4, the HbA1c % code.
- Glucose: mg/dL. mmol/L x 18.016 (molar mass of glucose 180.16 g/mol; mg/dL = mmol/L x M / 10).
- Blood pressure: mm[Hg]. kPa x 7.50062 (1 mmHg = 133.322 Pa, NIST SP 811 Appendix B.8).
- Total cholesterol: mg/dL. mmol/L x 38.67 (molar mass of cholesterol 386.65 g/mol).

The conversions are linear (`value x factor + offset`), so the same `Linear.apply` works on a Python
float, a NumPy/pandas column, an Ibis expression, or (through pyarrow.compute) an Arrow array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


class UnitError(ValueError):
    """A unit that p4pkit cannot convert for the given code."""


@dataclass(frozen=True)
class Linear:
    """canonical = value x factor + offset; `source` names where the factor comes from."""

    factor: float
    offset: float
    source: str

    def apply(self, value: Any) -> Any:
        """Convert into the canonical unit (float, NumPy/pandas, Ibis or Arrow values)."""
        if isinstance(value, (pa.Array, pa.ChunkedArray)):
            return pc.add(pc.multiply(value, self.factor), self.offset)
        return value * self.factor + self.offset

    def invert(self, value: Any) -> Any:
        """Convert from the canonical unit back into this unit (e.g. to report in the user's unit)."""
        if isinstance(value, (pa.Array, pa.ChunkedArray)):
            return pc.divide(pc.subtract(value, self.offset), self.factor)
        return (value - self.offset) / self.factor


IDENTITY = Linear(1.0, 0.0, "canonical unit")
IFCC_TO_NGSP = Linear(0.09148, 2.152, "IFCC-NGSP master equation, Hoelzel et al. Clin Chem 2004;50:166-174")
GLUCOSE_MMOL_TO_MG = Linear(18.016, 0.0, "glucose molar mass 180.16 g/mol")
KPA_TO_MMHG = Linear(7.50062, 0.0, "1 mmHg = 133.322 Pa (NIST SP 811)")
CHOLESTEROL_MMOL_TO_MG = Linear(38.67, 0.0, "cholesterol molar mass 386.65 g/mol")


@dataclass(frozen=True)
class Quantity:
    """A kind of result with one canonical unit and the units it may arrive in.

    `units` maps each accepted spelling (UCUM first) to the conversion into `canonical_unit`; spellings
    are compared through `unit_key`.
    """

    name: str
    canonical_unit: str
    units: dict[str, Linear]

    def find(self, unit: str) -> Linear | None:
        key = unit_key(unit)
        return next((linear for spelling, linear in self.units.items() if unit_key(spelling) == key), None)


def unit_key(unit: str) -> str:
    """How unit spellings are compared: case and spaces ignored ("mg/dl", "mm Hg", "MMOL/L")."""
    return unit.strip().lower().replace(" ", "")


HBA1C = Quantity("HbA1c", "%", {"%": IDENTITY, "percent": IDENTITY, "mmol/mol": IFCC_TO_NGSP})
GLUCOSE = Quantity("glucose", "mg/dL", {"mg/dL": IDENTITY, "mmol/L": GLUCOSE_MMOL_TO_MG})
BLOOD_PRESSURE = Quantity("blood pressure", "mm[Hg]", {"mm[Hg]": IDENTITY, "mmHg": IDENTITY, "kPa": KPA_TO_MMHG})
CHOLESTEROL = Quantity("total cholesterol", "mg/dL", {"mg/dL": IDENTITY, "mmol/L": CHOLESTEROL_MMOL_TO_MG})


@dataclass(frozen=True)
class CodedQuantity:
    """A LOINC code whose values are normalised, and the code it is reported under afterwards."""

    quantity: Quantity
    reported_as: str


NORMALISED: dict[str, CodedQuantity] = {
    "4548-4": CodedQuantity(HBA1C, "4548-4"),  # Hemoglobin A1c/Hemoglobin.total in Blood
    "17856-6": CodedQuantity(HBA1C, "17856-6"),  # ... in Blood by HPLC
    "59261-8": CodedQuantity(HBA1C, "4548-4"),  # ... in Blood by IFCC protocol (mmol/mol)
    "2345-7": CodedQuantity(GLUCOSE, "2345-7"),  # Glucose [Mass/volume] in Serum or Plasma
    "2339-0": CodedQuantity(GLUCOSE, "2339-0"),  # Glucose [Mass/volume] in Blood
    "8480-6": CodedQuantity(BLOOD_PRESSURE, "8480-6"),  # Systolic blood pressure
    "8462-4": CodedQuantity(BLOOD_PRESSURE, "8462-4"),  # Diastolic blood pressure
    "2093-3": CodedQuantity(CHOLESTEROL, "2093-3"),  # Cholesterol [Mass/volume] in Serum or Plasma
}


def conversion(code: str, unit: str) -> Linear:
    """The conversion of a value of LOINC `code` given in `unit` into the canonical unit."""
    coded = NORMALISED.get(code)
    if coded is None:
        raise UnitError(f"LOINC {code} has no canonical unit in p4pkit")
    linear = coded.quantity.find(unit)
    if linear is None:
        raise UnitError(f"unit '{unit}' is not known for LOINC {code} ({coded.quantity.name}); {accepted_units(code)}")
    return linear


def accepted_units(code: str) -> str:
    """A readable list of the units accepted for a code, for error messages."""
    return "use one of: " + ", ".join(NORMALISED[code].quantity.units)


def canonical_unit(code: str) -> str:
    """The canonical (UCUM) unit of a normalised LOINC code."""
    return NORMALISED[code].quantity.canonical_unit


def to_canonical(value: float, code: str, unit: str) -> float:
    """A scalar value of LOINC `code` in `unit`, in the canonical unit (e.g. a threshold of 58 mmol/mol)."""
    return conversion(code, unit).apply(value)


def from_canonical(value: float, code: str, unit: str) -> float:
    """A scalar canonical value of LOINC `code` expressed in `unit` (the inverse of `to_canonical`)."""
    return conversion(code, unit).invert(value)
