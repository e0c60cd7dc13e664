"""The layout's rules: the import contracts (pyproject's import-linter), the file names every
``app/*/`` folder shares, and the size of a module."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from blinker import Signal
from flask import Blueprint
from flask.cli import AppGroup
from marshmallow import Schema

from app.core.db import Base

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
FOLDERS = sorted(path for path in APP.iterdir() if path.is_dir() and path.name != "__pycache__")
# core is the plumbing the domains' files build on (the base Schema, the deferred sending of
# signals, the permission check): the domain rules below do not apply to it.
DOMAINS = [folder for folder in FOLDERS if folder.name != "core"]

MAX_LINES = 500
# Modules allowed over MAX_LINES, each with the reason: generated code and data only (none yet).
OVER_MAX_LINES: dict[str, str] = {}

FRAMEWORKS = ("flask", "flask_smorest", "werkzeug", "marshmallow", "sqlalchemy")
WEB = ("flask", "flask_smorest", "werkzeug", "marshmallow")
WRITES = (
    "transaction(",
    ".commit(",
    ".flush(",
    "session.add(",
    "session.delete(",
    "sa.insert(",
    "sa.update(",
    "sa.delete(",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _files(folder: Path, name: str) -> list[Path]:
    """The module ``name.py`` of a folder, or every module of its package ``name/``."""
    if (folder / f"{name}.py").exists():
        return [folder / f"{name}.py"]
    if (folder / name / "__init__.py").exists():
        return sorted((folder / name).rglob("*.py"))
    return []


def _imports(path: Path) -> set[str]:
    """The modules a file imports, and for ``from x import y`` also ``x.y``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _imports_any(path: Path, packages: tuple[str, ...]) -> bool:
    return any(name.split(".")[0] in packages for name in _imports(path))


def _defined_here(path: Path) -> dict[str, object]:
    """The public objects a module defines itself, not the names it imports."""
    module = importlib.import_module(_module_name(path))
    imported = {name.rpartition(".")[2] for name in _imports(path)}
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and name not in imported
        and not inspect.ismodule(value)
        and not (_is_code(value) and value.__module__ != module.__name__)
    }


def _is_code(value: object) -> bool:
    return inspect.isfunction(value) or inspect.isclass(value)


def _use_cases(path: Path) -> list[str]:
    """Public functions that take the session first: the shape of a use case."""
    return [
        name
        for name, value in _defined_here(path).items()
        if inspect.isfunction(value)
        and list(inspect.signature(value).parameters)[:1] == ["session"]
    ]


def _folder_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


# -- import contracts -----------------------------------------------------------------------


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.split("Contracts:")[-1].split("kept")[0]


# -- file names -----------------------------------------------------------------------------


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: folder.name)
def test_every_app_folder_is_a_package(folder):
    assert (folder / "__init__.py").exists()


def test_every_table_is_declared_in_its_domains_models():
    for path in _folder_files(APP):
        importlib.import_module(_module_name(path))
    mapped = {mapper.local_table.name: mapper.class_ for mapper in Base.registry.mappers}
    assert set(Base.metadata.tables) == set(mapped), "a table without a mapped class"
    for table, cls in mapped.items():
        domain, _, rest = cls.__module__.removeprefix("app.").partition(".")
        assert rest.split(".")[0] == "models", f"{table} is declared in {cls.__module__}"
        assert _files(APP / domain, "models"), domain


@pytest.mark.parametrize("folder", DOMAINS, ids=lambda folder: folder.name)
def test_a_folder_with_http_routes_has_routes_and_schemas(folder):
    blueprints = [
        path
        for path in _folder_files(folder)
        if any(isinstance(value, Blueprint) for value in _defined_here(path).values())
    ]
    if blueprints:
        assert _files(folder, "routes"), f"{folder.name} serves HTTP from {blueprints}"
        assert _files(folder, "schemas"), f"{folder.name} serves HTTP without schemas"


@pytest.mark.parametrize("folder", DOMAINS, ids=lambda folder: folder.name)
def test_a_folder_with_use_cases_has_services(folder):
    if any(_use_cases(path) for path in _folder_files(folder)):
        assert _files(folder, "services"), f"{folder.name} has use cases but no services"


def _declares_tables(files: list[Path]) -> bool:
    return any(
        inspect.isclass(value) and issubclass(value, Base) and hasattr(value, "__table__")
        for path in files
        for value in _defined_here(path).values()
    )


def _holds_use_cases(files: list[Path]) -> bool:
    web = [path for path in files if _imports_any(path, WEB)]
    return not web and any(_use_cases(path) for path in files)


def _declares_schemas(files: list[Path]) -> bool:
    return any(
        inspect.isclass(value) and issubclass(value, Schema)
        for path in files
        for value in _defined_here(path).values()
    )


def _serves_blueprints(files: list[Path]) -> bool:
    module = importlib.import_module(_module_name(files[0]))
    blueprints = getattr(module, "blueprints", (getattr(module, "blp", None),))
    return all(isinstance(blueprint, Blueprint) for blueprint in blueprints)


def _offers_a_command_group(files: list[Path]) -> bool:
    return isinstance(
        getattr(importlib.import_module(_module_name(files[0])), "group", None), AppGroup
    )


def _only_reads(files: list[Path]) -> bool:
    return not any(write in path.read_text() for path in files for write in WRITES)


def _is_pure(files: list[Path]) -> bool:
    return not any(
        _imports_any(path, FRAMEWORKS) or "app.extensions" in _imports(path) for path in files
    )


def _declares_only_signals(files: list[Path]) -> bool:
    declared = [value for path in files for value in _defined_here(path).values()]
    return bool(declared) and all(isinstance(value, Signal) for value in declared)


def _subscribes_to_signals(files: list[Path]) -> bool:
    return any(
        ".connect(" in path.read_text() and any(name.endswith(".events") for name in _imports(path))
        for path in files
    )


def _enrols_in_the_feed(files: list[Path]) -> bool:
    module = importlib.import_module(_module_name(files[0]))
    imports_feed = any(name.startswith("app.feed") for name in _imports(files[0]))
    return imports_feed and inspect.isfunction(getattr(module, "register", None))


# What each common file name (a module, or a package of modules) means in every folder but core.
MEANINGS: dict[str, tuple[str, Callable[[list[Path]], bool]]] = {
    "models": ("declares the folder's tables", _declares_tables),
    "services": ("use cases (session first), no web framework", _holds_use_cases),
    "schemas": ("marshmallow shapes of the API", _declares_schemas),
    "routes": ("the HTTP routes: `blp`, or several in `blueprints`", _serves_blueprints),
    "cli": ("the folder's commands: `group`", _offers_a_command_group),
    "queries": ("read-side selects: no writes", _only_reads),
    "workflow": ("a state machine with no framework", _is_pure),
    "events": ("the folder's signals, nothing else", _declares_only_signals),
    "subscribers": ("reactions to signals from events modules", _subscribes_to_signals),
    "feed": ("the folder's enrolment in app.feed: `register`", _enrols_in_the_feed),
}
COMMON_FILES = [(folder, name) for folder in DOMAINS for name in MEANINGS if _files(folder, name)]


@pytest.mark.parametrize(
    ("folder", "name"), COMMON_FILES, ids=[f"{folder.name}/{name}" for folder, name in COMMON_FILES]
)
def test_a_common_file_name_means_the_same_in_every_folder(folder, name):
    meaning, holds = MEANINGS[name]
    assert holds(_files(folder, name)), f"app/{folder.name}/{name} should be: {meaning}"


# -- sizes ----------------------------------------------------------------------------------


def test_no_module_is_over_max_lines():
    over = {
        str(path.relative_to(ROOT)): lines
        for package in ("app", "sync", "media")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
        and str(path.relative_to(ROOT)) not in OVER_MAX_LINES
    }
    assert not over, f"modules over {MAX_LINES} lines: {over}"
