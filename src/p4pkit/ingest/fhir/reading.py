"""The state of one FHIR read: canonical columns being filled, references waiting to be resolved,
and the problems found on the way.

Resources are mapped one at a time into column lists (no per-resource DataFrames). References
are resolved only after every input has been read, so their order in files does not matter:
`Patient/123`, absolute URLs, `urn:uuid:` fullUrls of Bundle entries and conditional references
(`Practitioner?identifier=system|value`) all resolve to canonical ids. A reference that resolves to
nothing in the input (nor, when loading, in the store) is a referential-integrity problem.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from p4pkit.errors import Problem
from p4pkit.ingest.fhir.shapes import SHAPES, binding_problems, misfits
from p4pkit.ingest.fhir.source import Located
from p4pkit.ingest.fhir.values import BadValue, Ref
from p4pkit.model.schemas import TABLES, conform

# Resource type a reference targets → canonical table and key column it resolves into.
TARGET_TABLES = {
    "Patient": ("patients", "patient_id"),
    "Encounter": ("encounters", "encounter_id"),
    "Practitioner": ("clinicians", "clinician_id"),
    "Organization": ("organizations", "organization_id"),
}

# Answers "which of these ids does the store already hold?" for a canonical table (load_fhir).
KnownIds = Callable[[str, set[str]], set[str]]


class Columns:
    """A canonical table under construction: one Python list per column.

    A row appends only the values it has; the columns it leaves out catch up with nulls when a
    later row fills them or at `pad()`, so a row costs what it holds, not the width of the table.
    """

    def __init__(self, table: str):
        self.table = table
        self.data: dict[str, list] = {name: [] for name in TABLES[table].schema.names}
        self.names = frozenset(self.data)
        self.where: list[tuple[str, int | None, str]] = []

    def add(self, where: tuple[str, int | None, str], **values: object) -> int:
        """Append a row (columns not named are null); returns its index."""
        if not self.names.issuperset(values):
            raise KeyError(f"{self.table}: not canonical columns {sorted(set(values) - self.names)}")
        index = len(self.where)
        for name, value in values.items():
            if value is not None:
                column = self.data[name]
                if len(column) < index:
                    column.extend([None] * (index - len(column)))
                column.append(value)
        self.where.append(where)
        return index

    def pad(self) -> Columns:
        """Bring every column to the full number of rows (nulls where rows left it out)."""
        for column in self.data.values():
            column.extend([None] * (len(self.where) - len(column)))
        return self

    def copy_row(self, index: int, **changes: object) -> int:
        """Append a copy of row `index` with some values changed; returns the new index."""
        self.pad()
        values = {name: column[index] for name, column in self.data.items()}
        values.update(changes)
        return self.add(self.where[index], **values)


@dataclass
class Resource:
    """The resource being mapped and where it came from; helpers record problems at FHIR paths.

    `failed` holds the paths (relative to the resource) of every problem recorded and of every read
    that failed, so that a value which was given but could not be read is not reported a second
    time as missing.
    """

    located: Located
    reading: Reading
    failed: set[str] = field(default_factory=set)

    @property
    def data(self) -> dict:
        return self.located.resource

    @property
    def type(self) -> str:
        return self.located.resource["resourceType"]

    @property
    def id(self) -> str:
        return str(self.located.resource.get("id") or "")

    def where(self, path: str) -> tuple[str, int | None, str]:
        # Interned: every row keeps its location, and the same few paths recur in every row.
        return self.located.file, self.located.row, sys.intern(f"{self.type}.{path}" if path else self.type)

    def problem(self, path: str, reason: str) -> None:
        """Record a problem at `path` (relative to the resource; empty for the whole resource)."""
        file, row, column = self.where(path)
        self.reading.problems.append(Problem(file, row, column, reason))
        self.failed.add(path)

    def read(self, path: str, reader: Callable, *args: object) -> object:
        """`reader(*args)`, or None with a problem when the value is unreadable: at `path`, or
        below it where the reader says (`BadValue.at`, e.g. `period` → `period.start`)."""
        try:
            return reader(*args)
        except BadValue as error:
            self.failed.add(path)
            self.problem(f"{path}.{error.at}" if error.at else path, str(error))
            return None

    def require(self, path: str, value: object, how: str, *read_from: str) -> bool:
        """False when a required value is missing, with a problem saying how to fix it, unless it
        is missing because reading it (at `path` or the other paths it is `read_from`) failed,
        which is already reported."""
        if value is None or value == "":
            if not any(self._failed_at(p) for p in (path, *read_from)):
                self.problem(path, f"missing; {how}")
            return False
        return True

    def _failed_at(self, path: str) -> bool:
        """Whether a problem was recorded at `path`, inside it or at an element that contains it."""
        return any(
            f == path or f.startswith((path + ".", path + "[")) or path.startswith((f + ".", f + "["))
            for f in self.failed
        )


@dataclass
class Reading:
    """Everything gathered from the inputs so far."""

    tables: dict[str, Columns] = field(default_factory=lambda: {name: Columns(name) for name in TABLES})
    problems: list[Problem] = field(default_factory=list)
    # (resource type, id) of every mapped resource, and first place it was seen.
    seen: dict[tuple[str, str], tuple[str, int | None]] = field(default_factory=dict)
    full_urls: dict[str, tuple[str, str]] = field(default_factory=dict)
    identifiers: dict[tuple[str, str], str] = field(default_factory=dict)
    medications: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    # events row index of each Condition, and (encounter id, condition ref) of Encounter.diagnosis.
    conditions: dict[str, int] = field(default_factory=dict)
    diagnoses: list[tuple[str, Ref]] = field(default_factory=list)
    payors: set[Ref] = field(default_factory=set)

    def register(self, res: Resource) -> bool:
        """Index a resource's id, fullUrl and identifiers; False (with a problem) if it repeats."""
        if not res.id:
            res.problem("id", "missing; every resource needs an id so others can reference it")
            return False
        key = (res.type, res.id)
        if key in self.seen:
            file, row = self.seen[key]
            res.problem("id", f"the same {res.type} id appears twice, first in {file}" + (f" row {row}" if row else "") + "; give each resource its own id")
            return False
        self.seen[key] = (res.located.file, res.located.row)
        if res.located.full_url:
            self.full_urls[res.located.full_url] = key
        for ident in res.data.get("identifier", ()):
            if ident.get("system") and ident.get("value"):
                self.identifiers[(res.type, f"{ident['system']}|{ident['value']}")] = res.id
        return True

    def target(self, ref: Ref) -> tuple[str, str] | None:
        """The (resource type, id) a reference names, or None when it cannot be parsed."""
        text = ref.text
        if text in self.full_urls:
            return self.full_urls[text]
        if "?" in text:
            rtype, query = text.split("?", 1)
            rtype = rtype.rstrip("/").split("/")[-1]
            for part in query.split("&"):
                if part.startswith("identifier="):
                    found = self.identifiers.get((rtype, part[len("identifier="):]))
                    return (rtype, found) if found else (rtype, part)
            return None
        parts = text.rstrip("/").split("/")
        if "_history" in parts:
            parts = parts[: parts.index("_history")]
        if len(parts) < 2:
            return None
        return parts[-2], parts[-1]

    def resolve(self, known: KnownIds | None) -> None:
        """Turn every reference in a foreign-key column into an id, or a problem. Each distinct
        reference text is parsed once (a patient's reference recurs in all their resources)."""
        columns = [self.tables[name].pad().data[fk.column] for name in self.tables for fk in TABLES[name].foreign_keys]
        hits: dict[str, tuple[str, str] | None] = {}
        pending: dict[str, set[str]] = defaultdict(set)
        for values in columns:
            for value in values:
                if value is not None and value.text not in hits:
                    hit = hits[value.text] = self.target(value)
                    if hit and hit[0] in TARGET_TABLES and hit not in self.seen:
                        pending[hit[0]].add(hit[1])
        in_store: dict[str, set[str]] = defaultdict(set)
        if known:
            for rtype, ids in pending.items():
                in_store[rtype] = known(TARGET_TABLES[rtype][0], ids)
        for values in columns:
            for i, value in enumerate(values):
                if value is not None:
                    values[i] = self._checked(value, hits[value.text], in_store)

    def _checked(self, ref: Ref, hit: tuple[str, str] | None, in_store: dict[str, set[str]]) -> str | None:
        file, row, path = ref.where
        if hit is None:
            self.problems.append(Problem(file, row, path, f"cannot read this reference; write it as {ref.target}/<id>"))
        elif hit[0] != ref.target:
            self.problems.append(Problem(file, row, path, f"this reference should point at a {ref.target}"))
        elif hit in self.seen or hit[1] in in_store[hit[0]]:
            return hit[1]
        else:
            where = "is in neither the input nor the store" if in_store else "is not in the input"
            self.problems.append(Problem(file, row, path, f"refers to a {ref.target} that {where}; include that resource"))
        return None

    def link_diagnoses(self, known: KnownIds | None) -> None:
        """Give each Condition listed in Encounter.diagnosis the encounter it was diagnosed in.

        A condition diagnosed in several encounters becomes one events row per encounter
        (`Condition/<id>`, then `Condition/<id>#2`, ...), the same code and dates each time, so a
        measure can ask "an encounter with this diagnosis" by joining on encounter_id, as with
        claims diagnoses. A Condition that is only in the store is accepted but not relinked.
        """
        events = self.tables["events"].pad()
        copies: dict[str, int] = defaultdict(int)
        elsewhere: list[tuple[str, Ref]] = []
        for encounter_id, ref in self.diagnoses:
            hit = self.target(ref)
            if hit is None or hit[0] != "Condition":
                self.problems.append(Problem(*ref.where, "a diagnosis should point at a Condition"))
                continue
            if hit not in self.seen:
                elsewhere.append((f"Condition/{hit[1]}", ref))
            if hit[1] not in self.conditions:
                continue
            index = self.conditions[hit[1]]
            linked = Ref("Encounter", f"Encounter/{encounter_id}", ref.where)
            current = events.data["encounter_id"][index]
            if current is None:
                events.data["encounter_id"][index] = linked
            elif current.text != linked.text:
                copies[hit[1]] += 1
                events.copy_row(index, event_id=f"Condition/{hit[1]}#{copies[hit[1]] + 1}", encounter_id=linked)
        stored = known("events", {event_id for event_id, _ in elsewhere}) if known and elsewhere else set()
        for event_id, ref in elsewhere:
            if event_id not in stored:
                self.problems.append(Problem(*ref.where, "refers to a Condition that is not in the input; include that resource"))

    def fill_medications(self) -> None:
        """Give medication events that name a Medication resource that medication's code."""
        events = self.tables["events"].pad()
        codes = events.data["code"]
        for i, value in enumerate(codes):
            if isinstance(value, Ref):
                hit = self.target(value)
                code = self.medications.get(hit[1]) if hit and hit[0] == "Medication" else None
                file, row, path = value.where
                if hit is None or hit[0] != "Medication" or hit[1] not in self.medications:
                    self.problems.append(Problem(file, row, path, "names no Medication in the input; include that Medication"))
                elif code is None:
                    self.problems.append(Problem(file, row, path, "the Medication it names has no code with system and code"))
                events.data["code_system"][i], codes[i] = code if code else (None, None)

    def to_tables(self) -> dict[str, pa.Table]:
        return {name: conform(name, columns.pad().data) for name, columns in self.tables.items()}


# What a JSON value of an unforeseen shape makes Python raise inside a mapper.
SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError, ArithmeticError)


def map_all(located: Iterable[Located | Problem], mappers: dict[str, Callable[[Resource], None]], reading: Reading) -> None:
    """Map every resource of a supported type; other resource types are ignored. Problems the
    source found in place of a resource are kept with the others."""
    for item in located:
        if isinstance(item, Problem):
            reading.problems.append(item)
            continue
        res = Resource(item, reading)
        mapper = mappers.get(res.type)
        if mapper is None:
            continue
        try:
            _map_one(res, mapper)
        except SHAPE_ERRORS as error:
            # A backstop: `shapes.SHAPES` covers what the mappers read, so this means an element it
            # misses. The exception's text is not shown (it may quote the value).
            res.problem(
                "",
                f"this {res.type} could not be read: some element does not have the JSON shape FHIR R4 gives it "
                f"(p4pkit met a {type(error).__name__}); check the resource against https://hl7.org/fhir/R4/{res.type.lower()}.html",
            )


def _map_one(res: Resource, mapper: Callable[[Resource], None]) -> None:
    """Check the elements the mapper reads (JSON types, then required codes), register the
    resource and map it. A resource whose shape is wrong is still registered when its id and
    identifiers can be read (so references to it do not become problems too), but not mapped."""
    misfit = misfits(res.data, SHAPES[res.type])
    if misfit:
        for path, reason in misfit:
            res.problem(path, reason)
        if not any(path == "id" or path.startswith("identifier") for path, _ in misfit):
            res.reading.register(res)
        return
    if not res.reading.register(res):
        return
    for path, reason in binding_problems(res.type, res.data):
        res.problem(path, reason)
    mapper(res)
