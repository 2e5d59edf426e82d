"""Environment variables: the catalogue (`botgateway.contract.environment`) as a table, checked
against what the code really reads: a variable read by name outside the catalogue, or declared
but read by no command, is an error."""

import ast
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botgateway.contract.environment import BY_NAME, CATALOGUE
from botgateway.queue import SettingsError
from botgateway.queue.environment import COMMANDS
from botgateway.service.errors import ServiceError

from .errors import DriftError
from .markdown import cell, code, table

PACKAGE_DIR = Path(__file__).resolve().parents[1]
"""The botgateway package, scanned for direct environment reads."""


class RecordingEnv(Mapping[str, str]):
    """A read-only environment that remembers every variable asked for and the default the
    caller offered (`None` for `env[name]`, which has none)."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values: dict[str, str] = dict(values or {})
        self.reads: dict[str, str | None] = {}

    def __getitem__(self, name: str) -> str:
        self.reads.setdefault(name, None)
        return self._values[name]

    def get(self, name: str, default: Any = None, /) -> Any:
        self.reads.setdefault(name, default)
        return self._values.get(name, default)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.reads.setdefault(name, None)
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


_PLACEHOLDERS = {
    "DATABASE_URL": "postgresql://reference:reference@reference.invalid/reference",
    "BOTGATEWAY_CONFIG": "/nonexistent/reference-bots.yaml",
}


@dataclass(frozen=True)
class Recorded:
    reads: dict[str, str | None]
    required: frozenset[str]


def record(from_env: Callable[[Mapping[str, str]], object]) -> Recorded:
    """Run a settings factory against recording environments: once per refusal of a missing
    variable (that variable is required), until it gets past the environment."""
    values: dict[str, str] = {}
    required: set[str] = set()
    while True:
        env = RecordingEnv(values)
        try:
            from_env(env)
        except SettingsError as exc:
            if exc.variable in required or exc.variable in values:
                raise
            required.add(exc.variable)
            values[exc.variable] = _PLACEHOLDERS.get(exc.variable, "x")
            continue
        except ServiceError:
            pass  # the placeholder bots file: every variable has been read by then
        return Recorded(dict(env.reads), frozenset(required))


@dataclass(frozen=True)
class EnvRead:
    """One literal `os.environ.get("NAME", default)` (or `env[...]`) in the source."""

    name: str
    module: str
    default: str | None


_ENV_RECEIVERS = {"environ", "env"}


def _is_env(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in _ENV_RECEIVERS
    if isinstance(node, ast.Attribute):
        return node.attr in _ENV_RECEIVERS
    return False


def _name_literal(node: ast.expr) -> str | None:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"[A-Z][A-Z0-9_]*", node.value)
    ):
        return node.value
    return None


def scan_env_reads(source: str, module: str) -> list[EnvRead]:
    """Environment variables a module reads by literal name: `<env>.get("X"[, default])`,
    `<env>["X"]` and `os.getenv("X"[, default])`, where `<env>` is `os.environ` or `env`."""
    found: list[EnvRead] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            getter = node.func.attr == "get" and _is_env(node.func.value)
            getenv = (
                node.func.attr == "getenv"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "os"
            )
            name = _name_literal(node.args[0])
            if (getter or getenv) and name:
                default = None
                if len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                    default = str(node.args[1].value)
                found.append(EnvRead(name, module, default))
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and _is_env(node.value)
            and (name := _name_literal(node.slice))
        ):
            found.append(EnvRead(name, module, None))
    return found


def scan_package(root: Path = PACKAGE_DIR) -> list[EnvRead]:
    found: list[EnvRead] = []
    for path in sorted(root.rglob("*.py")):
        module = path.relative_to(root).as_posix()
        if module.startswith("reference/"):
            continue
        found += scan_env_reads(path.read_text("utf-8"), module)
    return found


_DECLARING = {"contract/environment.py", "queue/environment.py"}


def scan_catalogue_reads(root: Path = PACKAGE_DIR) -> set[str]:
    """Catalogue variables the code reads: `<VARIABLE>.read(...)` or `.read_optional(...)`
    (its Python name is the variable's name)."""
    found: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        module = path.relative_to(root).as_posix()
        if module.startswith("reference/") or module in _DECLARING:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("read", "read_optional")
                and isinstance(node.value, ast.Name)
                and node.value.id in BY_NAME
            ):
                found.add(node.value.id)
    return found


def check_catalogue(literal: Sequence[EnvRead], read: set[str]) -> None:
    problems = [
        f"{r.name} is read by name in {r.module}: declare it in "
        "src/botgateway/contract/environment.py and read it through the declaration"
        for r in literal
    ]
    problems += [
        f"{v.name} is declared but no command reads it: remove it from the catalogue"
        for v in CATALOGUE
        if v.name not in read
    ]
    if problems:
        raise DriftError("\n".join(problems))


def render_environment() -> str:
    check_catalogue(scan_package(), scan_catalogue_reads())
    rows = []
    for v in CATALOGUE:
        default = "(required)" if v.required else code(v.default) if v.default else "(unset)"
        readers = [c for c in COMMANDS if c in v.commands]
        by = "every command" if len(readers) == len(COMMANDS) else ", ".join(readers)
        rows.append([code(v.name), default, by, cell(v.description)])
    return (
        "From the catalogue (`src/botgateway/contract/environment.py`), which every command's "
        "settings read through; a bad value is refused at start naming the variable.\n\n"
        + table(["variable", "default", "read by", "meaning"], rows)
    )
