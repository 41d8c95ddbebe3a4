"""Read a program file (YAML) into a validated `Program`, with errors that point at the line.

PyYAML's composer keeps the position of every node, so each validation error can name the file, the
field path (e.g. `measures[2].weight`) and the line to fix. Duplicate keys, which plain YAML
loading would silently resolve to the last value, are errors too: like misspelt keys, they must
not pass unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import yaml
from pydantic import ValidationError

from p4pkit.errors import Problem, UserError
from p4pkit.programs.schema import AttributionRule, FieldProblems, Program, Scoring


def load_program(path: str | Path) -> Program:
    """Load and validate a program file; raise `UserError` listing every problem with its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot read program file {path}: {error.strerror}") from None
    return parse_program(text, str(path))


def parse_program(text: str, file: str) -> Program:
    """Validate program-file YAML text; `file` names it in error messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else None
        raise UserError(
            f"{file} is not valid YAML", [LineProblem(file, line, None, str(error.problem))], _HINT
        ) from None
    duplicates = list(_duplicate_keys(root, file, ""))
    if duplicates:
        raise UserError(f"{file} repeats keys", duplicates, _HINT)
    if not isinstance(data, dict):
        raise UserError(f"{file} must be a mapping of program fields", [LineProblem(file, 1, None, "not a mapping")], _HINT)
    try:
        return Program.model_validate(data)
    except ValidationError as error:
        problems = [problem for e in error.errors() for problem in _problems(file, root, e)]
        raise UserError(f"{file} is not a valid program file", problems, _HINT) from None


_HINT = "docs/programs/program-files.md describes every field."


@dataclass(frozen=True)
class LineProblem(Problem):
    """A problem in a YAML file: `row` holds the line number and `column` the field path."""

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", line {self.row}"
        if self.column is not None:
            where += f", field '{self.column}'"
        return f"{where}: {self.reason}"


def _problems(file: str, root: yaml.Node, error: dict) -> list[Problem]:
    """The problems of one Pydantic error: one, or one per field a cross-field check names."""
    found = (error.get("ctx") or {}).get("error")
    if isinstance(found, FieldProblems):
        loc = tuple(error["loc"])
        return [_at(file, root, loc + where, message) for where, message in found.problems]
    return [_problem(file, root, error)]


def _at(file: str, root: yaml.Node, loc: tuple, message: str) -> Problem:
    line, path = _locate(root, loc)
    return LineProblem(file, line, path or "(top level)", message)


def _problem(file: str, root: yaml.Node, error: dict) -> Problem:
    loc = tuple(error["loc"])
    if error["type"] == "union_tag_invalid":
        loc += (error["ctx"]["discriminator"].strip("'"),)
    line, path = _locate(root, loc)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (misspelt? see docs/programs/program-files.md for the allowed keys)"
    return LineProblem(file, line, path or "(top level)", message)


def _locate(root: yaml.Node, loc: tuple) -> tuple[int, str]:
    """The line of the deepest YAML node along a Pydantic error location, and the field path.

    Location parts that are not in the document (a discriminated union's tag, a missing key) do
    not move the line, so it is the nearest enclosing one; union tags are left out of the path.
    """
    node, line, path = root, root.start_mark.line + 1, ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            if isinstance(node, yaml.SequenceNode) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            continue
        found = None
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == part), None)
        if found is None and part in _UNION_TAGS:
            continue
        path += f".{part}" if path else str(part)
        if found is not None:
            key, node = found
            line = key.start_mark.line + 1
    return line, path


def _discriminator_values() -> frozenset[str]:
    """Tags Pydantic inserts into error locations of discriminated unions (they are not keys)."""
    tags: set[str] = set()
    for union, field in ((AttributionRule, "rule"), (Scoring, "model")):
        for member in get_args(get_args(union)[0]):
            tags.update(get_args(member.model_fields[field].annotation))
    return frozenset(tags)


_UNION_TAGS = _discriminator_values()


def _duplicate_keys(node: yaml.Node, file: str, path: str):
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            child = f"{path}.{key.value}" if path else str(key.value)
            if key.value in seen:
                yield LineProblem(file, key.start_mark.line + 1, child, "key given twice; keep one")
            seen.add(key.value)
            yield from _duplicate_keys(value, file, child)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, file, f"{path}[{i}]")
