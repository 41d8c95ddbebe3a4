"""One scan per file: parse every value into its canonical type and list each row's own problems.

Every check that needs only the row itself (required values, types, vocabularies, money to the
cent, code systems, intervals, units) is evaluated in the pass that parses the file and writes the
staged table, instead of one query per check re-reading the file: on 15 million events, one scan
with twenty checks costs little more than the scan, twenty scans cost twenty. The problems of a row
are a list of (col, reason) structs in the column `__problems`, NULL for a good row. The list is
built inside a CASE, which DuckDB evaluates only for the rows its condition selects, so a clean file
pays for a few boolean tests per value, not for building strings.

Values whose file type already is the canonical type (a Parquet DATE for a date column) are taken
as they are: they cannot fail to parse, so neither the parse nor its check is run.

Reasons never repeat identifiers or dates the user wrote (they may identify a patient); they repeat
only vocabulary values, code systems and units, which help the user fix the row.
"""

from __future__ import annotations

import functools

import pyarrow as pa

from p4pkit.ingest.files import SourceFile, quote_identifier, quote_literal, rows_sql
from p4pkit.model import units
from p4pkit.model.codes import ALIASES, KNOWN, LOINC
from p4pkit.model.schemas import MONEY, TABLES, TIMESTAMP
from p4pkit.store import duckdb_type

EXPECTED = {
    pa.date32(): "a date (YYYY-MM-DD)",
    TIMESTAMP: "a timestamp (YYYY-MM-DD HH:MM:SS, UTC unless an offset such as +01:00 is given)",
    pa.float64(): "a number",
    pa.int8(): "a whole number from -128 to 127",
    pa.int32(): "a whole number",
    pa.bool_(): "true or false",
    MONEY: "an amount (digits and a decimal point, no currency sign)",
}
RESULT_COLUMNS = {"code_system", "code", "value_num", "value_unit"}
PROBLEM = "struct(col varchar, reason varchar)"


def expected(arrow_type: pa.DataType) -> str:
    """What a value of a column type must look like, for messages (also for types added to schemas later)."""
    if arrow_type in EXPECTED:
        return EXPECTED[arrow_type]
    if pa.types.is_integer(arrow_type):
        return "a whole number"
    if pa.types.is_floating(arrow_type):
        return "a number"
    return f"a {arrow_type} value"


def is_system_column(name: str) -> bool:
    return name == "code_system" or name.endswith("_system")


def code_column(system_column: str) -> str:
    """The code column paired with a system column: code_system -> code, type_system -> type_code,
    value_code_system -> value_code."""
    if system_column == "code_system":
        return "code"
    prefix = system_column.removesuffix("_system")
    return prefix if prefix.endswith("_code") else prefix + "_code"


def _in_list(values: object) -> str:
    return "(" + ", ".join(quote_literal(v) for v in sorted(values)) + ")"  # type: ignore[attr-defined]


def _same_type(file_type: str, arrow_type: pa.DataType) -> bool:
    return file_type.replace(" ", "").upper() == duckdb_type(arrow_type).replace(" ", "").upper()


def _system_lookup(text: str) -> str:
    """SQL mapping a code system as written to its canonical URI (`model.codes.canonical_system`).

    The aliases are bare names (`icd10cm`, `loinc`), so a value holding a colon is a URI and only
    trimmed; the alias map is looked up for the others. Most files write URIs, so most rows skip
    the lookup (a map lookup compares the value with every alias).
    """
    aliases = "map {" + ", ".join(f"{quote_literal(alias)}: {quote_literal(uri)}" for alias, uri in ALIASES.items()) + "}"
    return f"case when contains({text}, ':') then trim({text}) else coalesce({aliases}[lower(trim({text}))], trim({text})) end"


def _problem(name: str, reason: str) -> str:
    """SQL of a one-problem list: `reason` is SQL text."""
    return f"[{{'col': {quote_literal(name)}, 'reason': {reason}}}::{PROBLEM}]"


def _problems(checks: list[tuple[str, str]], found: str = "false", earlier: str | None = None) -> str:
    """SQL of the list of problems whose condition holds (after the list `earlier`), NULL when none
    does and `found` is false (see the module note)."""
    anyone = " or ".join([found] + [f"coalesce({condition}, false)" for condition, _ in checks])
    lists = ", ".join(([earlier] if earlier else []) + [f"case when {condition} then {problem} end" for condition, problem in checks])
    return f"case when {anyone} then list_concat({lists}) end" if lists else f"cast(null as {PROBLEM}[])"


class RowChecks:
    """The staging query of one file: its canonical columns, `__row` and `__problems`."""

    def __init__(self, source: SourceFile, columns: dict[str, str]):
        self.source = source
        self.spec = TABLES[source.table]
        self.columns = columns

    def query(self) -> str:
        """SQL of the staged rows, in four streaming layers so that each value is parsed once:
        file values -> parsed values (+ the raw ones a check needs) -> value problems ->
        normalised units -> row problems and canonical types."""
        parsed = f"select {', '.join(self._parsed_columns())} from ({rows_sql(self.source, self.columns)})"
        checked = f"select __row, {', '.join(map(quote_identifier, self.spec.schema.names))}, {self._value_problems()} as __value_problems from ({parsed})"
        normalised = _normalising_sql(f"({checked})") if self._has_results() else checked
        casts = ", ".join(f"cast({quote_identifier(f.name)} as {duckdb_type(f.type)}) as {quote_identifier(f.name)}" for f in self.spec.schema)
        problems = _problems(self._row_checks(), found="__value_problems is not null", earlier="__value_problems")
        return f"select __row, {casts}, {problems} as __problems from ({normalised})"

    def _has_results(self) -> bool:
        return RESULT_COLUMNS <= set(self.spec.schema.names)

    # -- parsing -------------------------------------------------------------------------------

    def _parsed(self, name: str) -> str:
        """SQL turning the file's column into its canonical value (NULL when it does not parse)."""
        field = self.spec.schema.field(name)
        column = quote_identifier(name)
        if _same_type(self.columns[name], field.type) and name not in self.spec.vocabularies and not is_system_column(name):
            return column
        text = f"cast({column} as varchar)"
        if name in self.spec.vocabularies:
            return f"lower(trim({text}))"
        if is_system_column(name):
            return _system_lookup(text)
        if field.type == pa.string():
            return text
        if field.type == TIMESTAMP:
            # The load runs with TimeZone=UTC: offsets convert to UTC, naive times are taken as UTC.
            return f"cast(try_cast({column} as timestamptz) as timestamp)"
        if pa.types.is_integer(field.type):
            # DuckDB rounds "1.5" to 2 when casting to an integer; a whole number must be one already.
            whole = f"try_cast({column} as {duckdb_type(field.type)})"
            return f"case when try_cast({column} as double) = {whole} then {whole} end"
        return f"try_cast({column} as {duckdb_type(field.type)})"

    def _needs_raw(self, name: str) -> bool:
        """Whether a value check reads the value as written (and not only the parsed one)."""
        field = self.spec.schema.field(name)
        return not field.nullable or name in self.spec.vocabularies or not _same_type(self.columns[name], field.type)

    def _parsed_columns(self) -> list[str]:
        selects = ["__row"]
        for field in self.spec.schema:
            name = quote_identifier(field.name)
            if field.name not in self.columns:
                selects.append(f"cast(null as {duckdb_type(field.type)}) as {name}")
                continue
            selects.append(f"{self._parsed(field.name)} as {name}")
            if self._needs_raw(field.name):
                selects.append(f"{name} as {quote_identifier('__raw_' + field.name)}")
        return selects

    # -- checks on single values ---------------------------------------------------------------

    def _value_problems(self) -> str:
        """Missing required values, unparseable values, values outside vocabularies, money beyond the cent."""
        checks = []
        for field in self.spec.schema:
            name = field.name
            if name not in self.columns:
                continue
            raw, parsed = quote_identifier("__raw_" + name), quote_identifier(name)
            if not field.nullable:
                checks.append((f"{raw} is null", _problem(name, "'required value missing'")))
            if name in self.spec.vocabularies:
                allowed = ", ".join(sorted(self.spec.vocabularies[name]))
                checks.append(
                    (
                        f"{parsed} is not null and {parsed} not in {_in_list(self.spec.vocabularies[name])}",
                        _problem(name, f"'''' || cast({raw} as varchar) || ''' is not one of: {allowed}'"),
                    )
                )
            elif field.type != pa.string() and not _same_type(self.columns[name], field.type):
                checks.append((f"{raw} is not null and {parsed} is null", _problem(name, quote_literal(f"not {expected(field.type)}"))))
                if field.type == MONEY:
                    checks.append(
                        (
                            f"try_cast({raw} as decimal(38, 10)) <> {parsed}",
                            _problem(name, "'more than two decimal places; give money to the cent'"),
                        )
                    )
        return _problems(checks)

    # -- checks across a row -------------------------------------------------------------------

    def _row_checks(self) -> list[tuple[str, str]]:
        """Intervals that end before they start, code systems, and units that cannot be converted."""
        checks = [
            (f"{quote_identifier(end)} < {quote_identifier(start)}", _problem(end, quote_literal(f"before {start} of the same row")))
            for start, end in self.spec.intervals
        ]
        aliases = ", ".join(sorted(ALIASES))
        for name in filter(is_system_column, self.spec.schema.names):
            system, code = quote_identifier(name), quote_identifier(code_column(name))
            unknown = quote_literal(f"' is neither a code system URI nor one of: {aliases}")
            checks.append((f"{system} not in {_in_list(KNOWN)} and {system} not like '%:%'", _problem(name, f"'''' || {system} || {unknown}")))
            checks.append(
                (f"{code} is not null and {system} is null", _problem(code_column(name), quote_literal(f"a code needs its code system in column {name}")))
            )
        if self._has_results():
            advice = " ".join(f"when {quote_literal(code)} then {quote_literal(units.accepted_units(code))}" for code in units.NORMALISED)
            reason = (
                "coalesce('unit ''' || value_unit || '''', 'a missing unit') || ' cannot be converted for LOINC ' || code "
                f"|| '; ' || case code {advice} end"
            )
            checks.append(("not __unit_ok", _problem("value_unit", reason)))
        return checks


@functools.cache
def _conversions() -> str:
    """SQL map from "code|unit key" to the conversion of `model.units`: factor, offset, the code the
    result is reported under and its canonical unit."""
    entries = [
        f"{quote_literal(code + '|' + units.unit_key(spelling))}: {{'factor': {linear.factor!r}::double, "
        f"'offset': {linear.offset!r}::double, 'code': {quote_literal(coded.reported_as)}, 'unit': {quote_literal(coded.quantity.canonical_unit)}}}"
        for code, coded in units.NORMALISED.items()
        for spelling, linear in coded.quantity.units.items()
    ]
    return "map {" + ", ".join(entries) + "}"


def _normalising_sql(relation: str) -> str:
    """SQL converting the results of `relation` into canonical units, in three streaming layers so
    that each row builds its unit key and looks it up once.

    Only rows of a LOINC code that `units` normalises and that carry a value are looked up; the
    others pass unchanged. A looked-up row whose unit (or its absence)
    is not in the table keeps its values and gets `__unit_ok` false, which is a problem of the row.
    Units compare as `units.unit_key` does: case, spaces and surrounding whitespace ignored.
    """
    applies = f"coalesce(code_system = {quote_literal(LOINC)} and code in {_in_list(units.NORMALISED)} and value_num is not null, false)"
    key = "code || '|' || replace(lower(trim(value_unit, ' \t\n\r')), ' ', '')"
    looked_up = f"select *, case when __applies then {_conversions()}[{key}] end as __conversion from (select *, {applies} as __applies from {relation})"
    return (
        "select * exclude (code, value_num, value_unit, __applies, __conversion), "
        "coalesce(__conversion.code, code) as code, "
        "case when __conversion is null then value_num else value_num * __conversion.factor + __conversion.offset end as value_num, "
        "coalesce(__conversion.unit, value_unit) as value_unit, "
        f"not __applies or __conversion is not null as __unit_ok from ({looked_up})"
    )
