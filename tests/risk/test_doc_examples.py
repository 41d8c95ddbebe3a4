"""The code in docs/risk.md, docs/spark.md and docs/validity.md runs as written, as far as it can be
checked without Spark: every Python example's imports resolve, it uses no name it does not define
or import, and its calls of imported functions and classes bind to their signatures; every `p4p`
command line names a real command and real options; every dotted p4pkit name the text cites
(`risk.hcc.raw_scores`, `Store.export_parquet`, ...) exists. Nothing here starts Spark."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import re
import shlex
from pathlib import Path

import pytest
import typer

from p4pkit.cli import app
from p4pkit.store import Store

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ("risk.md", "spark.md", "validity.md")
# How the docs abbreviate p4pkit's modules in running text.
PREFIXES = {"p4pkit.": "p4pkit.", "risk.": "p4pkit.risk.", "engine.": "p4pkit.engine.", "shrinkage.": "p4pkit.risk.shrinkage.",
            "validate.": "p4pkit.evaluation.validate."}


def _blocks(page: str, language: str) -> list[str]:
    """The bodies of the page's fenced blocks tagged `language` ("" for untagged ones)."""
    blocks, body, tag = [], None, ""
    for line in (DOCS / page).read_text().splitlines():
        if line.startswith("```"):
            if body is None:
                body, tag = [], line[3:].strip()
            else:
                if tag == language:
                    blocks.append("\n".join(body))
                body = None
        elif body is not None:
            body.append(line)
    return blocks


def _resolve(dotted: str) -> object:
    """The object a dotted name names: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(dotted)


def _check_python(source: str) -> list[str]:
    """Problems in one example: imports that do not resolve, names used but never defined, and calls
    of imported callables whose arguments do not bind."""
    tree = ast.parse(source)
    problems, imported, defined = [], {}, set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                try:
                    imported[alias.asname or alias.name] = getattr(importlib.import_module(node.module), alias.name)
                except (ImportError, AttributeError) as error:
                    problems.append(f"from {node.module} import {alias.name}: {error}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                imported[alias.asname or alias.name.split(".")[0]] = importlib.import_module(alias.name.split(".")[0])
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in defined | set(imported):
            problems.append(f"line {node.lineno}: {node.id} is used but never imported or defined")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in imported:
            target = imported[node.func.id]
            try:
                inspect.signature(target).bind(*node.args, **{k.arg: k.value for k in node.keywords if k.arg})
            except (TypeError, ValueError) as error:
                problems.append(f"line {node.lineno}: {node.func.id}(...) does not bind: {error}")
    return problems


@pytest.mark.parametrize("page", PAGES)
def test_python_examples_resolve(page):
    problems = [f"{page}, example {i + 1}: {p}" for i, block in enumerate(_blocks(page, "python")) for p in _check_python(block)]
    assert not problems, "\n".join(problems)


def _options(command) -> set[str]:
    return {name for parameter in command.params for name in getattr(parameter, "opts", [])}


@pytest.mark.parametrize("page", PAGES)
def test_p4p_command_lines_name_real_commands_and_options(page):
    group = typer.main.get_command(app)
    text = (DOCS / page).read_text()
    lines = [line for block in _blocks(page, "") for line in block.splitlines()]
    lines += re.findall(r"`(p4p [^`]*)`", text)
    problems, checked = [], 0
    for line in lines:
        line = line.split("#")[0].replace("[", "").replace("]", "").replace("...", "")
        if not line.strip().startswith("p4p "):
            continue
        words, checked = shlex.split(line)[1:], checked + 1
        command = group
        while words and hasattr(command, "commands") and words[0] in command.commands:
            command = command.commands[words.pop(0)]
        if hasattr(command, "commands"):
            problems.append(f"{line.strip()}: no such command")
            continue
        unknown = [w for w in words if w.startswith("--") and w.split("=")[0] not in _options(command)]
        if unknown:
            problems.append(f"{line.strip()}: {command.name} has no option {', '.join(unknown)}")
    assert not problems, "\n".join(problems)
    assert checked or page == "risk.md", f"{page}: no p4p command line found: the parsing is wrong"


@pytest.mark.parametrize("page", PAGES)
def test_dotted_names_cited_in_the_text_exist(page):
    text = (DOCS / page).read_text()
    cited = re.findall(r"`((?:" + "|".join(re.escape(p) for p in PREFIXES) + r"|Store\.)[A-Za-z_][\w.]*)", text)
    problems = []
    for name in cited:
        if name.startswith("Store."):
            if not hasattr(Store, name.removeprefix("Store.")):
                problems.append(name)
            continue
        prefix = next(p for p in PREFIXES if name.startswith(p))
        try:
            _resolve(PREFIXES[prefix] + name.removeprefix(prefix))
        except (ImportError, AttributeError):
            problems.append(name)
    assert not problems, f"{page} cites names that do not exist: {problems}"


@pytest.mark.parametrize("page", PAGES)
def test_source_files_cited_exist(page):
    root = DOCS.parent
    cited = re.findall(r"`([\w/.-]+\.py)`", (DOCS / page).read_text())
    missing = [path for path in cited if not ((root / "src" / "p4pkit" / path).exists() or (root / path).exists())]
    assert not missing, f"{page} cites files that do not exist: {missing}"


def test_the_validity_report_call_in_the_docs_binds():
    call = re.search(r"`(p4pkit\.evaluation\.validate\.validity_report\(.*?\))`", (DOCS / "validity.md").read_text()).group(1)
    node = ast.parse(call).body[0].value
    inspect.signature(_resolve("p4pkit.evaluation.validate.validity_report")).bind(
        *node.args, **{k.arg: k.value for k in node.keywords})
