"""Row-level validation of staged files, written as DuckDB SQL so it scales to tens of millions of rows.

Every check is one set-based query that inserts (table, file, row, column, reason) into a temporary
problems table; nothing loops over rows in Python. The checks follow `model.schemas.TableSpec`:
required values, parseable types, closed vocabularies, code systems, intervals, primary keys (within
the file and against the store), foreign keys (against the accepted rows of this load plus the
store), dates of care inside the patient's life, and units of the results `model.units` normalises.

Tables are checked in foreign-key order, so when a child row points at a parent row that was
rejected, the child is rejected with that reason rather than as an unknown reference.

Reasons never repeat identifiers or dates the user wrote (they may identify a patient); they repeat
only vocabulary values, code systems and units, which help the user fix the row.
"""

from __future__ import annotations

import functools

import ibis
import pyarrow as pa

from p4pkit.errors import Problem
from p4pkit.ingest.files import SourceFile, quote_identifier, quote_literal
from p4pkit.model import units
from p4pkit.model.codes import ALIASES, KNOWN
from p4pkit.model.schemas import MONEY, TABLES, TIMESTAMP, ForeignKey
from p4pkit.store import Store, duckdb_type

PROBLEMS = "__p4p_problems"

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


def _system_lookup(text: str) -> str:
    """SQL mapping a code system as written to its canonical URI (`model.codes.canonical_system`).

    A map lookup evaluates `lower(trim(...))` once per row; a CASE over the aliases re-evaluates it
    for every alias and was five times slower on a quarter of a million claim lines.
    """
    aliases = "map {" + ", ".join(f"{quote_literal(alias)}: {quote_literal(uri)}" for alias, uri in ALIASES.items()) + "}"
    return f"coalesce({aliases}[lower(trim({text}))], trim({text}))"


def _in_list(values: object) -> str:
    return "(" + ", ".join(quote_literal(v) for v in sorted(values)) + ")"  # type: ignore[attr-defined]


@functools.cache
def _normalising_sql(table: str, typed: str) -> str:
    """SQL applying `model.units.normalise` to the typed table `typed` of `table` (compiled once per process)."""
    schema = pa.schema([pa.field("__row", pa.int64()), *TABLES[table].schema])
    t = ibis.table(ibis.Schema.from_pyarrow(schema), name=typed)
    n = units.normalise(t.code_system, t.code, t.value_num, t.value_unit)
    return str(ibis.to_sql(t.mutate(code=n.code, value_num=n.value, value_unit=n.unit, __unit_ok=n.unit_known), dialect="duckdb"))


class Validation:
    """The checks of one load: staged sources in, a temporary problems table out."""

    def __init__(self, store: Store, sources: list[SourceFile], columns: dict[str, list[str]], replace: bool):
        self.con = store.connection
        self.sources = {s.table: s for s in sources}
        self.columns = columns
        self.replace = replace
        listed = self.con.execute("select table_name from duckdb_tables() where schema_name = 'main' and not temporary").fetchall()
        self.stored = {name for (name,) in listed if name in TABLES}

    # -- running ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Parse every staged file and record every problem, parents before children."""
        self.con.execute(f"create or replace temp table {PROBLEMS} (tbl varchar, file varchar, row bigint, col varchar, reason varchar)")
        for source in self.sources.values():
            self._build_typed(source)
            foreign_keys = TABLES[source.table].foreign_keys
            # Parents are complete by now, so one statement checks everything but self-references.
            outward = [self._foreign_key_check(source, fk) for fk in foreign_keys if fk.table != source.table]
            self._insert(source, self._value_checks(source) + self._row_checks(source) + outward + self._dated_checks(source))
            for fk in foreign_keys:
                # A rejected row rejects the rows pointing at it, and so on down the tree.
                while fk.table == source.table and self._insert(source, [self._foreign_key_check(source, fk)]):
                    pass

    def _insert(self, source: SourceFile, queries: list[str]) -> int:
        if not queries:
            return 0
        union = " union all ".join(queries)
        rows = self.con.execute(
            f"insert into {PROBLEMS} select {quote_literal(source.table)}, {quote_literal(source.name)}, row, col, reason from ({union})"
        ).fetchall()
        return int(rows[0][0])

    # -- parsing ---------------------------------------------------------------------------------

    def _parsed(self, source: SourceFile, name: str) -> str:
        """SQL turning the raw column into its canonical value (NULL when it does not parse)."""
        field = TABLES[source.table].schema.field(name)
        text = f"cast({quote_identifier(name)} as varchar)"
        if name in TABLES[source.table].vocabularies:
            return f"lower(trim({text}))"
        if is_system_column(name):
            return _system_lookup(text)
        if field.type == pa.string():
            return text
        if field.type == TIMESTAMP:
            # The load runs with TimeZone=UTC: offsets convert to UTC, naive times are taken as UTC.
            return f"cast(try_cast({quote_identifier(name)} as timestamptz) as timestamp)"
        if pa.types.is_integer(field.type):
            # DuckDB rounds "1.5" to 2 when casting to an integer; a whole number must be one already.
            whole = f"try_cast({quote_identifier(name)} as {duckdb_type(field.type)})"
            return f"case when try_cast({quote_identifier(name)} as double) = {whole} then {whole} end"
        return f"try_cast({quote_identifier(name)} as {duckdb_type(field.type)})"

    def _build_typed(self, source: SourceFile) -> None:
        """The typed temporary table: canonical columns (absent optional ones as NULL) plus `__row`."""
        schema = TABLES[source.table].schema
        present = self.columns[source.table]
        selects = ["rowid + 1 as __row"] + [
            f"{self._parsed(source, f.name) if f.name in present else f'cast(null as {duckdb_type(f.type)})'} as {quote_identifier(f.name)}"
            for f in schema
        ]
        query = f"select {', '.join(selects)} from {source.raw}"
        if not RESULT_COLUMNS <= set(schema.names):
            self.con.execute(f"create or replace temp table {source.typed} as {query}")
            return
        cast = source.typed + "_cast"
        self.con.execute(f"create or replace temp table {cast} as {query}")
        self.con.execute(f"create or replace temp table {source.typed} as {_normalising_sql(source.table, cast)}")
        self.con.execute(f"drop table {cast}")

    # -- checks on single values -----------------------------------------------------------------

    def _value_checks(self, source: SourceFile) -> list[str]:
        """Missing required values, unparseable values, values outside vocabularies, money beyond the cent."""
        spec = TABLES[source.table]
        raw = source.raw
        present = set(self.columns[source.table])
        queries = []

        def check(name: str, condition: str, reason: str) -> None:
            queries.append(f"select rowid + 1 as row, {quote_literal(name)} as col, {reason} as reason from {raw} where {condition}")

        for field in spec.schema:
            name = field.name
            if name not in present:
                continue
            column, parsed = quote_identifier(name), self._parsed(source, name)
            if not field.nullable:
                check(name, f"{column} is null", "'required value missing'")
            if name in spec.vocabularies:
                allowed = ", ".join(sorted(spec.vocabularies[name]))
                check(
                    name,
                    f"{parsed} is not null and {parsed} not in {_in_list(spec.vocabularies[name])}",
                    f"'''' || cast({column} as varchar) || ''' is not one of: {allowed}'",
                )
            elif field.type != pa.string():
                check(name, f"{column} is not null and {parsed} is null", quote_literal(f"not {expected(field.type)}"))
            if field.type == MONEY:
                check(
                    name,
                    f"try_cast({column} as decimal(38, 10)) <> {parsed}",
                    "'more than two decimal places; give money to the cent'",
                )
        return queries

    # -- checks across a row or across rows ------------------------------------------------------

    def _row_checks(self, source: SourceFile) -> list[str]:
        """Code systems, intervals that end before they start, repeated keys, keys already stored, units."""
        spec = TABLES[source.table]
        typed = source.typed
        queries = [
            f"select __row as row, {quote_literal(end)} as col, {quote_literal(f'before {start} of the same row')} as reason "
            f"from {typed} where {quote_identifier(end)} < {quote_identifier(start)}"
            for start, end in spec.intervals
        ]
        aliases = ", ".join(sorted(ALIASES))
        for name in filter(is_system_column, spec.schema.names):
            system, code = quote_identifier(name), quote_identifier(code_column(name))
            unknown = quote_literal(f"' is neither a code system URI nor one of: {aliases}")
            queries.append(
                f"select __row as row, {quote_literal(name)} as col, '''' || {system} || {unknown} as reason "
                f"from {typed} where {system} not in {_in_list(KNOWN)} and {system} not like '%:%'"
            )
            queries.append(
                f"select __row as row, {quote_literal(code_column(name))} as col, "
                f"{quote_literal(f'a code needs its code system in column {name}')} as reason "
                f"from {typed} where {code} is not null and {system} is null"
            )
        key = ", ".join(quote_identifier(c) for c in spec.primary_key)
        key_label = quote_literal(f"primary key ({', '.join(spec.primary_key)})")
        not_null = " and ".join(f"{quote_identifier(c)} is not null" for c in spec.primary_key)
        queries.append(
            f"select t.__row as row, {quote_literal(spec.primary_key[0])} as col, "
            f"{key_label} || ' repeated at rows ' || array_to_string(d.rows, ', ') || case when d.n > 5 then ', ...' else '' end as reason "
            f"from {typed} t join (select {key}, list(__row order by __row)[1:5] as rows, count(*) as n from {typed} "
            f"where {not_null} group by {key} having count(*) > 1) d using ({key})"
        )
        if source.table in self.stored and not self.replace:
            same = " and ".join(f"s.{quote_identifier(c)} = t.{quote_identifier(c)}" for c in spec.primary_key)
            queries.append(
                f"select t.__row as row, {quote_literal(spec.primary_key[0])} as col, "
                f"{key_label} || ' is already in the store; loads append, so reload a corrected table with --replace' as reason "
                f"from {typed} t where exists (select 1 from {quote_identifier(source.table)} s where {same})"
            )
        if RESULT_COLUMNS <= set(spec.schema.names):
            advice = " ".join(
                f"when {quote_literal(code)} then {quote_literal(units.accepted_units(code))}" for code in units.NORMALISED
            )
            queries.append(
                f"select __row as row, 'value_unit' as col, "
                f"coalesce('unit ''' || value_unit || '''', 'a missing unit') || ' cannot be converted for LOINC ' || code "
                f"|| '; ' || case code {advice} end as reason from {typed} where not __unit_ok"
            )
        return queries

    def accepted(self, table: str) -> str:
        """SQL selecting the canonical columns of the rows of `table` that have no problem."""
        source = self.sources[table]
        columns = ", ".join(quote_identifier(n) for n in TABLES[table].schema.names)
        return f"select {columns} from {source.typed} where __row not in (select row from {PROBLEMS} where tbl = {quote_literal(table)})"

    def _keeps_stored(self, table: str) -> bool:
        """Whether the stored rows of `table` stay after this load (and so may be referred to)."""
        return table in self.stored and not (self.replace and table in self.sources)

    def _valid_keys(self, table: str, column: str) -> str:
        """SQL of the values of `table`.`column` that rows may refer to: accepted new rows and kept stored rows."""
        parts = []
        if table in self.sources:
            parts.append(f"select {quote_identifier(column)} as k from ({self.accepted(table)})")
        if self._keeps_stored(table):
            parts.append(f"select {quote_identifier(column)} as k from {quote_identifier(table)}")
        return " union all ".join(parts) or "select cast(null as varchar) as k where false"

    def _foreign_key_check(self, source: SourceFile, fk: ForeignKey) -> str:
        """Unknown references, and references to rejected rows (rows already flagged for it are skipped)."""
        column, target = quote_identifier(fk.column), quote_identifier(fk.target_column)
        where = "the store" if fk.table not in self.sources else f"{self.sources[fk.table].name} or the store"
        unknown = quote_literal(f"unknown {fk.target_column}: not in {where}")
        if fk.table in self.sources:
            parent = self.sources[fk.table]
            rejected = (
                f"select {target} as k, min(__row) as r from {parent.typed} "
                f"where __row in (select row from {PROBLEMS} where tbl = {quote_literal(fk.table)}) group by {target}"
            )
            reason = f"case when rej.r is null then {unknown} else {quote_literal(f'refers to {parent.name} row ')} || rej.r || ', which was rejected' end"
        else:
            rejected, reason = "select cast(null as varchar) as k, cast(null as bigint) as r where false", unknown
        return (
            f"select c.__row as row, {quote_literal(fk.column)} as col, {reason} as reason "
            f"from {source.typed} c left join ({rejected}) rej on c.{column} = rej.k "
            f"where c.{column} is not null and c.{column} not in ({self._valid_keys(fk.table, fk.target_column)}) "
            f"and c.__row not in (select row from {PROBLEMS} where tbl = {quote_literal(source.table)} and col = {quote_literal(fk.column)})"
        )

    def _dated_checks(self, source: SourceFile) -> list[str]:
        """Care dated before the patient's birth or after their death."""
        return self._outside_life(source.table, source.typed, "c.__row")

    def _outside_life(self, table: str, rows: str, row: str) -> list[str]:
        """Queries of the rows of `rows` (a `table`) dated outside their patient's life, as the load leaves patients."""
        parts = []
        if "patients" in self.sources:
            parts.append(f"select patient_id, birth_date, death_date from ({self.accepted('patients')})")
        if self._keeps_stored("patients"):
            parts.append("select patient_id, birth_date, death_date from patients")
        if not parts:
            return []
        patients = " union all ".join(parts)
        queries = []
        for name in TABLES[table].patient_dated:
            day = f"cast(c.{quote_identifier(name)} as date)"
            for bound, op, words in (("birth_date", "<", "before the patient's birth date"), ("death_date", ">", "after the patient's death date")):
                queries.append(
                    f"select {row} as row, {quote_literal(name)} as col, {quote_literal(words)} as reason "
                    f"from {rows} c join ({patients}) p using (patient_id) where {day} {op} p.{bound}"
                )
        return queries

    # -- what the load reports ---------------------------------------------------------------

    def kept_reference_problems(self) -> list[Problem]:
        """Stored tables this load leaves alone whose rows a --replace would leave pointing at nothing,
        or dated outside a patient's life as the replaced patients give it."""
        problems = []
        for name, spec in TABLES.items():
            if name in self.sources or name not in self.stored or not self.replace:
                continue
            if "patients" in self.sources:
                for query in self._outside_life(name, quote_identifier(name), "null"):
                    outside = self.con.execute(f"select col, reason, count(*) from ({query}) group by all").fetchall()
                    problems += [
                        Problem(f"{name} (in the store)", None, col, f"{n} stored rows would be {reason} in the new patients file")
                        for col, reason, n in outside
                    ]
            for fk in spec.foreign_keys:
                if fk.table not in self.sources:
                    continue
                column = quote_identifier(fk.column)
                dangling = self.con.execute(
                    f"select count(*) from {quote_identifier(name)} where {column} is not null "
                    f"and {column} not in ({self._valid_keys(fk.table, fk.target_column)})"
                ).fetchall()[0][0]
                if dangling:
                    problems.append(
                        Problem(
                            f"{name} (in the store)",
                            None,
                            fk.column,
                            f"{dangling} stored rows refer to {fk.target_column} values the new {self.sources[fk.table].name} "
                            f"does not hold; load {name} in the same folder",
                        )
                    )
        return problems

    def problem_count(self) -> int:
        return int(self.con.execute(f"select count(*) from {PROBLEMS}").fetchall()[0][0])

    def file_order(self, column: str) -> str:
        """SQL ordering file names (in `column`) in load order."""
        whens = " ".join(f"when {quote_literal(s.name)} then {i}" for i, s in enumerate(self.sources.values()))
        return f"case {column} {whens} end"

    def problems(self, limit: int) -> list[Problem]:
        """The first `limit` problems, in load order, then by row and column."""
        rows = self.con.sql(
            f"select file, row, col, reason from {PROBLEMS} order by {self.file_order('file')}, row, col, reason limit {limit}"
        ).fetchall()
        return [Problem(file, int(row), col, reason) for file, row, col, reason in rows]

    def rejected_rows(self) -> dict[str, int]:
        """Rows rejected per table (a row with several problems counts once)."""
        rows = self.con.sql(f"select tbl, count(distinct row) from {PROBLEMS} group by tbl").fetchall()
        counts = dict.fromkeys(self.sources, 0)
        counts.update({tbl: int(n) for tbl, n in rows})
        return counts

    def quarantine_query(self) -> str:
        """SQL of the rejected rows as written, with their file, row and reasons, for the quarantine file."""
        parts = ["select cast(null as varchar) as source_file, cast(null as bigint) as row, cast(null as varchar) as reasons where false"]
        for table, source in self.sources.items():
            columns = ", ".join(f"cast(r.{quote_identifier(c)} as varchar) as {quote_identifier(c)}" for c in self.columns[table])
            reasons = (
                f"select row, string_agg(col || ': ' || reason, '; ' order by col, reason) as reasons "
                f"from {PROBLEMS} where tbl = {quote_literal(table)} group by row"
            )
            parts.append(
                f"select {quote_literal(source.name)} as source_file, p.row, p.reasons, {columns} "
                f"from {source.raw} r join ({reasons}) p on r.rowid + 1 = p.row"
            )
        return " union all by name ".join(f"({p})" for p in parts)
