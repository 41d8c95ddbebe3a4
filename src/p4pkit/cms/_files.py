"""Reading and writing CMS public CSV files (Provider Data Catalog and program supplemental files).

CMS files mix numbers with words: "Not Available", "N/A", "--" or "Too Few to Report" where a value is
missing or suppressed, "9.09%" for percentages, "1,234" with thousands separators and "7 out of 10"
for HVBP points. Every file is therefore read with all-string columns (so facility ids such as
"010001" keep their leading zeros) and numbers are parsed column by column, collecting every
unreadable cell into one `UserError` that names file, row and column.

Adapters in `cms/` use these helpers to map columns; formulas stay in `programs/`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from p4pkit.atomic import replacing
from p4pkit.errors import Problem, UserError

# Words CMS writes where a value is missing, suppressed or does not apply.
MISSING = frozenset({"", "Not Available", "Not Applicable", "N/A", "NA", "--", "Too Few to Report"})

_OUT_OF = r"^\s*(-?[0-9.]+)\s+out\s+of\s+[0-9.]+\s*$"


def read_cms_csv(path: str | Path, required: Iterable[str] = ()) -> pd.DataFrame:
    """Read a CMS CSV with every column as text, after checking that `required` columns are present.

    CMS has published files both as UTF-8 and as Latin-1 (ISO-8859-1); Latin-1 is tried when UTF-8
    fails, since facility names with accents are the only non-ASCII content.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"CMS file not found: {path}", hint="Check the --input path and the file name.")
    try:
        frame = _read_text_csv(path, "utf-8")
    except UnicodeDecodeError:
        frame = _read_text_csv(path, "latin-1")
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise UserError(
            f"{path.name} lacks columns this program needs",
            [Problem(path.name, None, c, "column missing") for c in missing],
            hint="Use the file as downloaded from the CMS Provider Data Catalog, with its header row unchanged.",
        )
    return frame


def _read_text_csv(path: Path, encoding: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
    except pd.errors.ParserError as error:
        raise UserError(f"{path.name} is not a readable CSV file: {error}") from error
    except pd.errors.EmptyDataError as error:
        raise UserError(f"{path.name} is empty", hint="Expected a header row and one row per hospital.") from error


def parse_numbers(
    frame: pd.DataFrame, columns: Iterable[str], file: str, missing: frozenset[str] = MISSING
) -> pd.DataFrame:
    """Numbers of the named text columns as floats, NaN where CMS wrote a missing-value word.

    Accepts "9.09%" (read as 9.09: the unit stays what the column says), "1,234", and "7 out of 10"
    (read as 7, the points earned). Any other text is a problem; all problems of all columns are
    raised together.
    """
    numbers: dict[str, pd.Series] = {}
    problems: list[Problem] = []
    for column in columns:
        raw = frame[column].astype(str).str.strip()
        is_missing = raw.isin(missing)
        cleaned = raw.str.replace(",", "", regex=False).str.removesuffix("%")
        out_of = cleaned.str.extract(_OUT_OF, expand=False)
        cleaned = out_of.fillna(cleaned)
        values = pd.to_numeric(cleaned.where(~is_missing), errors="coerce")
        bad = values.isna() & ~is_missing
        for position in np.flatnonzero(bad.to_numpy()):
            problems.append(
                Problem(file, int(position) + 1, column, f"'{raw.iloc[position]}' is not a number or a missing-value word")
            )
        numbers[column] = values.astype(float)
    if problems:
        raise UserError(
            f"{file} has values that are not numbers",
            problems,
            hint="Numbers may carry '%', thousands commas or 'N out of M'; missing values must be one of: "
            + ", ".join(repr(m) for m in sorted(missing) if m),
        )
    return pd.DataFrame(numbers, index=frame.index)


def facility_ids(values: pd.Series) -> pd.Series:
    """CMS Certification Numbers as 6-character text.

    Spreadsheet programs and some CMS APIs drop the leading zeros of all-digit CCNs ("10001" for
    "010001"); those are padded back. CCNs containing letters are left as written.
    """
    text = values.astype(str).str.strip()
    digits = text.str.fullmatch(r"[0-9]{1,6}")
    return text.where(~digits, text.str.zfill(6))


def unique_facility_ids(frame: pd.DataFrame, column: str, file: str) -> pd.Series:
    """The facility-id column as 6-character CCNs, refusing blanks and repeats (one row per hospital)."""
    ids = facility_ids(frame[column])
    problems = [Problem(file, int(i) + 1, column, "facility id is blank") for i in np.flatnonzero((ids == "").to_numpy())]
    repeated = ids.duplicated(keep="first") & (ids != "")
    problems += [
        Problem(file, int(i) + 1, column, f"facility id '{ids.iloc[i]}' appears on an earlier row")
        for i in np.flatnonzero(repeated.to_numpy())
    ]
    if problems:
        raise UserError(f"{file} must have one row per hospital", problems)
    return ids


def write_csv_atomically(frame: pd.DataFrame, out_dir: str | Path, name: str) -> Path:
    """Write `frame` to `out_dir/name` so that a crash leaves either the old file or the new one.

    The CSV is written to a temporary file in the same folder and then renamed into place.
    """
    target = Path(out_dir) / name
    with replacing(target) as scratch, scratch.open("w", newline="", encoding="utf-8") as stream:
        frame.to_csv(stream, index=False)
    return target
