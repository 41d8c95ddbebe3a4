"""Validation of a load: each file staged in one scan, then the checks across rows and tables, set-based.

Each file is parsed once into its staged table (`rows.py`), which already lists every row's own
problems. What needs other rows is then one set-based query per rule over the staged tables, all
inserted into a temporary problems table: primary keys repeated in the file or already stored,
references (against the accepted rows of this load plus the store) and dates of care inside the
patient's life. Nothing loops over rows in Python.

Tables are checked in foreign-key order, so when a child row points at a parent row that was
rejected, the child is rejected with that reason rather than as an unknown reference.
"""

from __future__ import annotations

import duckdb

from p4pkit.errors import Problem
from p4pkit.ingest.files import SourceFile, quote_identifier, quote_literal, rows_sql, unreadable
from p4pkit.ingest.rows import PROBLEM, RowChecks
from p4pkit.model.schemas import TABLES, ForeignKey
from p4pkit.progress import Progress
from p4pkit.store import Store

PROBLEMS = "__p4p_problems"
# Care must fall inside the patient's life: (bound column, the comparison that breaks it, reason).
LIFE = (("birth_date", "<", "before the patient's birth date"), ("death_date", ">", "after the patient's death date"))


class Validation:
    """The checks of one load: files in, staged tables and a temporary problems table out."""

    def __init__(self, store: Store, sources: list[SourceFile], columns: dict[str, dict[str, str]], replace: bool):
        self.con = store.connection
        self.sources = {s.table: s for s in sources}
        self.columns = columns
        self.replace = replace
        listed = self.con.execute("select table_name from duckdb_tables() where schema_name = 'main' and not temporary").fetchall()
        self.stored = {name for (name,) in listed if name in TABLES}

    # -- running ---------------------------------------------------------------------------------

    def run(self, on_progress: Progress, total: int) -> None:
        """Stage every file and record every problem, parents before children; `on_progress(step,
        done, total)` before each file, `total` being the caller's count of steps (the load's
        includes storing the rows)."""
        self.con.execute(f"create or replace temp table {PROBLEMS} (tbl varchar, file varchar, row bigint, col varchar, reason varchar)")
        for done, source in enumerate(self.sources.values()):
            on_progress(f"checking {source.name}", done, total)
            self._stage(source)
            foreign_keys = TABLES[source.table].foreign_keys
            # Parents are complete by now, so one statement checks everything but self-references.
            outward = [self._foreign_key_check(source, fk) for fk in foreign_keys if fk.table != source.table]
            self._insert(source, [self._own_problems(source), *self._key_checks(source), *outward, *self._dated_checks(source)])
            for fk in foreign_keys:
                # A rejected row rejects the rows pointing at it, and so on down the tree.
                while fk.table == source.table and self._insert(source, [self._foreign_key_check(source, fk)]):
                    pass

    def _stage(self, source: SourceFile) -> None:
        """Parse the file into its staged table (one scan; `rows.py`)."""
        query = RowChecks(source, self.columns[source.table]).query()
        try:
            self.con.execute(f"create table {source.staged} as {query}")
        except (duckdb.InvalidInputException, duckdb.IOException) as error:
            # Only the reading of the file fails so (a CSV line it cannot parse, a damaged file).
            raise unreadable(source, error) from None

    def _insert(self, source: SourceFile, queries: list[str]) -> int:
        if not queries:
            return 0
        union = " union all ".join(queries)
        rows = self.con.execute(
            f"insert into {PROBLEMS} select {quote_literal(source.table)}, {quote_literal(source.name)}, row, col, reason from ({union})"
        ).fetchall()
        return int(rows[0][0])

    def _own_problems(self, source: SourceFile) -> str:
        """The problems the staging scan found in each row by itself."""
        return (
            f"select __row as row, problem.col as col, problem.reason as reason "
            f"from (select __row, unnest(__problems) as problem from {source.staged} where __problems is not null)"
        )

    # -- checks across rows ----------------------------------------------------------------------

    def _key_checks(self, source: SourceFile) -> list[str]:
        """Primary keys repeated in the file, and (when appending) keys already stored."""
        spec = TABLES[source.table]
        staged = source.staged
        key = ", ".join(quote_identifier(c) for c in spec.primary_key)
        key_label = quote_literal(f"primary key ({', '.join(spec.primary_key)})")
        not_null = " and ".join(f"{quote_identifier(c)} is not null" for c in spec.primary_key)
        queries = [
            f"select t.__row as row, {quote_literal(spec.primary_key[0])} as col, "
            f"{key_label} || ' repeated at rows ' || array_to_string(d.rows, ', ') || case when d.n > 5 then ', ...' else '' end as reason "
            f"from {staged} t join (select {key}, list(__row order by __row)[1:5] as rows, count(*) as n from {staged} "
            f"where {not_null} group by {key} having count(*) > 1) d using ({key})"
        ]
        if source.table in self.stored and not self.replace:
            same = " and ".join(f"s.{quote_identifier(c)} = t.{quote_identifier(c)}" for c in spec.primary_key)
            queries.append(
                f"select t.__row as row, {quote_literal(spec.primary_key[0])} as col, "
                f"{key_label} || ' is already in the store; loads append, so reload a corrected table with --replace' as reason "
                f"from {staged} t where exists (select 1 from {quote_identifier(source.table)} s where {same})"
            )
        return queries

    def _rejected(self, table: str) -> str:
        """SQL of the rows of this load's `table` that have a problem."""
        return f"select row from {PROBLEMS} where tbl = {quote_literal(table)}"

    def accepted(self, table: str) -> str:
        """SQL selecting the canonical columns of the rows of `table` that have no problem."""
        columns = ", ".join(f"s.{quote_identifier(n)}" for n in TABLES[table].schema.names)
        return f"select {columns} from {self.sources[table].staged} s anti join ({self._rejected(table)}) r on r.row = s.__row"

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
        """Unknown references, and references to rejected rows (for a self-reference, rows already
        flagged for it are skipped, so that repeating the check reaches a fixed point)."""
        column, target = quote_identifier(fk.column), quote_identifier(fk.target_column)
        where = "the store" if fk.table not in self.sources else f"{self.sources[fk.table].name} or the store"
        unknown = quote_literal(f"unknown {fk.target_column}: not in {where}")
        if fk.table in self.sources:
            parent = self.sources[fk.table]
            rejected = f"select {target} as k, min(__row) as r from {parent.staged} where __row in ({self._rejected(fk.table)}) group by {target}"
            reason = f"case when rej.r is null then {unknown} else {quote_literal(f'refers to {parent.name} row ')} || rej.r || ', which was rejected' end"
        else:
            rejected, reason = "select cast(null as varchar) as k, cast(null as bigint) as r where false", unknown
        flagged = (
            f"and c.__row not in ({self._rejected(source.table)} and col = {quote_literal(fk.column)})" if fk.table == source.table else ""
        )
        return (
            f"select c.__row as row, {quote_literal(fk.column)} as col, {reason} as reason "
            f"from {source.staged} c anti join ({self._valid_keys(fk.table, fk.target_column)}) v on v.k = c.{column} "
            f"left join ({rejected}) rej on c.{column} = rej.k where c.{column} is not null {flagged}"
        )

    def _dated_checks(self, source: SourceFile) -> list[str]:
        """Care dated before the patient's birth or after their death."""
        return self._outside_life(source.table, source.staged, "c.__row")

    def _outside_life(self, table: str, rows: str, row: str) -> list[str]:
        """A query of the rows of `rows` (a `table`) dated outside their patient's life, as the load
        leaves patients: one join with the patients for all the dated columns of the table."""
        dated = TABLES[table].patient_dated
        parts = []
        if "patients" in self.sources:
            parts.append(f"select patient_id, birth_date, death_date from ({self.accepted('patients')})")
        if self._keeps_stored("patients"):
            parts.append("select patient_id, birth_date, death_date from patients")
        if not parts or not dated:
            return []
        checks = []
        for name in dated:
            day = f"cast(c.{quote_identifier(name)} as date)"
            for bound, op, words in LIFE:
                problem = f"[{{'col': {quote_literal(name)}, 'reason': {quote_literal(words)}}}::{PROBLEM}]"
                checks.append((f"{day} {op} p.{bound}", problem))
        found = " or ".join(condition for condition, _ in checks)
        lists = ", ".join(f"case when {condition} then {problem} end" for condition, problem in checks)
        return [
            f"select row, problem.col as col, problem.reason as reason from (select {row} as row, unnest(list_concat({lists})) as problem "
            f"from {rows} c join ({' union all '.join(parts)}) p using (patient_id) where {found})"
        ]

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
                    counted = self.con.execute(f"select col, reason, count(*) from ({query}) group by all").fetchall()
                    outside = {(col, reason): n for col, reason, n in counted}
                    problems += [
                        Problem(f"{name} (in the store)", None, col, f"{outside[col, words]} stored rows would be {words} in the new patients file")
                        for col in spec.patient_dated
                        for _, _, words in LIFE
                        if (col, words) in outside
                    ]
            for fk in spec.foreign_keys:
                if fk.table not in self.sources:
                    continue
                column = quote_identifier(fk.column)
                dangling = self.con.execute(
                    f"select count(*) from {quote_identifier(name)} c anti join ({self._valid_keys(fk.table, fk.target_column)}) v "
                    f"on v.k = c.{column} where c.{column} is not null"
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
        """SQL of the rejected rows as written, with their file, row and reasons, for the quarantine file.

        The values as written are read from the file again, for the rejected rows only: a load
        without problems never pays for keeping them.
        """
        parts = ["select cast(null as varchar) as source_file, cast(null as bigint) as row, cast(null as varchar) as reasons where false"]
        for table, source in self.sources.items():
            columns = ", ".join(f"cast(r.{quote_identifier(c)} as varchar) as {quote_identifier(c)}" for c in self.columns[table])
            reasons = (
                f"select row, string_agg(col || ': ' || reason, '; ' order by col, reason) as reasons "
                f"from {PROBLEMS} where tbl = {quote_literal(table)} group by row"
            )
            parts.append(
                f"select {quote_literal(source.name)} as source_file, p.row, p.reasons, {columns} "
                f"from ({rows_sql(source, self.columns[table])}) r join ({reasons}) p on r.__row = p.row"
            )
        return " union all by name ".join(f"({p})" for p in parts)
