"""Environment variables: what the code reads, and with which default."""

import ast
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botgateway.operator import settings as operator_settings
from botgateway.operator.settings import OperatorSettings, OperatorSettingsError
from botgateway.operator.telegram import DEFAULT_API_BASE as OPERATOR_API_BASE
from botgateway.queue import QueueSettings, SettingsError
from botgateway.service import dev as dev_module
from botgateway.service.errors import ServiceError
from botgateway.service.settings import ServiceSettings

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


_SettingsErrors = (SettingsError, OperatorSettingsError)
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
        except _SettingsErrors as exc:
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


COMPONENTS = ("all", "queue", "service", "operator")


def _component_of(module: str) -> str:
    """A module under a component's folder belongs to it; anything else (the CLI) to `all`."""
    folder = module.split("/", 1)[0]
    return folder if folder in COMPONENTS[1:] else "all"


@dataclass(frozen=True)
class EnvVar:
    component: str
    name: str
    default: str | None
    required: bool = False
    modules: tuple[str, ...] = ()


def derive_env(
    recordings: Mapping[str, Recorded] | None = None, scanned: Sequence[EnvRead] | None = None
) -> list[EnvVar]:
    """Every variable the code reads, grouped by component. A settings class's reads belong to
    its component (the queue's to `queue` alone, though the service reads them through it);
    other literal reads belong to the folder of the module that makes them, or to `all` when
    the CLI itself reads them."""
    if recordings is None:
        recordings = {
            "queue": record(QueueSettings.from_env),
            "service": record(ServiceSettings.from_env),
            "operator": record(OperatorSettings.from_env),
        }
    if scanned is None:
        scanned = scan_package()
    queue_names = set(recordings["queue"].reads) if "queue" in recordings else set()
    found: dict[tuple[str, str], EnvVar] = {}
    for component, recorded in recordings.items():
        for name, default in recorded.reads.items():
            if component != "queue" and name in queue_names:
                continue  # the service reads these through the queue's settings
            found[(component, name)] = EnvVar(
                component, name, default, required=name in recorded.required
            )
    recorded_names = {n for r in recordings.values() for n in r.reads}
    by_name: dict[str, list[EnvRead]] = {}
    for read in scanned:
        if read.name not in recorded_names:
            by_name.setdefault(read.name, []).append(read)
    for name, reads in by_name.items():
        components = {_component_of(r.module) for r in reads}
        if "all" in components:
            components = {"all"}
        defaults = [r.default for r in reads if r.default is not None]
        for component in components:
            found[(component, name)] = EnvVar(
                component,
                name,
                defaults[0] if defaults else None,
                modules=tuple(sorted({r.module for r in reads})),
            )
    order = {c: i for i, c in enumerate(COMPONENTS)}
    return sorted(found.values(), key=lambda v: (order.get(v.component, 99),))


@dataclass(frozen=True)
class EnvDoc:
    meaning: str
    fallback: str | None = None
    """The effective default when the code reads an empty default and falls back to a constant
    (imported here, so it still comes from the code)."""


COMPONENT_TITLES = {
    "all": "Every command",
    "queue": "Queue: every command that touches the database "
    "(`serve`, `dev`, `migrate`, `janitor`, `jobs`)",
    "service": "Service: `botgateway serve` and `botgateway dev`",
    "operator": "Operator: `botgateway operator`",
}

ENV_DOCS: dict[tuple[str, str], EnvDoc] = {
    ("all", "LOG_LEVEL"): EnvDoc(
        "`DEBUG`, `INFO`, `WARNING` or `ERROR`. Each finished job is logged at `DEBUG` "
        "(failures at `WARNING`); `botgateway dev` logs every job at `INFO`."
    ),
    ("queue", "DATABASE_URL"): EnvDoc(
        "PostgreSQL URL, e.g. `postgresql://gw:secret@db:5432/gateway`."
    ),
    ("queue", "QUEUE_DONE_RETENTION"): EnvDoc(
        "How long `done` rows are kept before the janitor deletes them."
    ),
    ("queue", "QUEUE_STUCK_TIMEOUT"): EnvDoc(
        "How long a running job may go without a heartbeat before it counts as stuck "
        "(also the lease length; workers heartbeat every quarter of it, at most every minute)."
    ),
    ("queue", "QUEUE_JANITOR_INTERVAL"): EnvDoc(
        "Period of the in-process janitor loop (`serve`, `dev`, `janitor` without `--once`)."
    ),
    ("queue", "QUEUE_MAX_ATTEMPTS"): EnvDoc("Attempts before a job is `dead`."),
    ("queue", "QUEUE_BACKOFF"): EnvDoc(
        "Delays between attempts, comma-separated; the last one repeats. ±10% jitter is added."
    ),
    ("service", "BOTGATEWAY_CONFIG"): EnvDoc(
        "Path of the bots file (below). `dev` serves its demo bot when unset."
    ),
    ("service", "TELEGRAM_API_BASE"): EnvDoc(
        "Bot API base URL for `telegram-echo` and plugins (tests point it at a local fake)."
    ),
    ("service", "WORKER_CONCURRENCY"): EnvDoc("Jobs handled at once per process."),
    ("service", "WORKER_SHUTDOWN_GRACE"): EnvDoc(
        "How long running jobs may finish after SIGTERM before they are handed back."
    ),
    ("service", "BOTGATEWAY_MAX_BODY_BYTES"): EnvDoc(
        "Webhook body limit in bytes (413 above it); at least 1024."
    ),
    ("service", "BOTGATEWAY_BODY_TIMEOUT"): EnvDoc(
        "How long a webhook body may take to arrive after its headers (408 after it)."
    ),
    ("service", "DATABASE_POOL_SIZE"): EnvDoc("PostgreSQL connections per process; at least 2."),
    ("service", "LOG_FORMAT"): EnvDoc("`text`, or `json` for one JSON object per line."),
    ("service", "BOTGATEWAY_DEV_DIR"): EnvDoc(
        "`dev` only: where the embedded PostgreSQL keeps its data (`--data-dir` wins).",
        fallback=dev_module.DEFAULT_DATA_DIR,
    ),
    ("operator", "BOTGATEWAY_NAMESPACES"): EnvDoc(
        "Namespaces to watch, comma-separated, when no `--namespace` is given "
        "(or `--all-namespaces`)."
    ),
    ("operator", "BOTGATEWAY_IMAGE"): EnvDoc(
        "Gateway image for BotGateways that name none; keep it equal to the operator's image.",
        fallback=operator_settings.DEFAULT_IMAGE,
    ),
    ("operator", "TELEGRAM_API_BASE"): EnvDoc(
        "Where the operator calls `setWebhook`, `getWebhookInfo` and `deleteWebhook`.",
        fallback=OPERATOR_API_BASE,
    ),
    ("operator", "BOTGATEWAY_OPERATOR_INTERVAL"): EnvDoc(
        "How often each BotGateway is re-synced: Secrets, children, queue depth and "
        "scaling, `getWebhookInfo`."
    ),
    ("operator", "BOTGATEWAY_RETRY_DELAY"): EnvDoc(
        "Wait before a retry after a missing Secret or an unreachable Bot API."
    ),
    ("operator", "LOG_FORMAT"): EnvDoc("`text`, or `json` (one object per line) in containers."),
    ("operator", "BOTGATEWAY_LIVENESS"): EnvDoc(
        "Default of `--liveness`: the operator's liveness endpoint (`''` disables it)."
    ),
    ("operator", "BOTGATEWAY_COUNT_REQUESTS"): EnvDoc(
        "`1`: count the operator's Kubernetes API requests and log them at exit (benchmarks)."
    ),
}


def check_env_docs(
    variables: Sequence[EnvVar], docs: Mapping[tuple[str, str], EnvDoc] = ENV_DOCS
) -> None:
    read = {(v.component, v.name): v for v in variables}
    problems = [
        f"{name} is read by the {component} code but has no description: add it to "
        "ENV_DOCS in src/botgateway/reference/environment.py"
        for (component, name) in read
        if (component, name) not in docs
    ]
    problems += [
        f"{name} is described for the {component} but no longer read there: remove it from "
        "ENV_DOCS in src/botgateway/reference/environment.py"
        for (component, name) in docs
        if (component, name) not in read
    ]
    problems += [
        f"{name} ({component}) has a default in the code ({read[key].default!r}): drop the "
        "fallback from ENV_DOCS"
        for key, doc in docs.items()
        if key in read and doc.fallback is not None and read[key].default
        for component, name in [key]
    ]
    if problems:
        raise DriftError("\n".join(problems))


def environment_variables() -> list[EnvVar]:
    variables = derive_env()
    check_env_docs(variables)
    return variables


def render_environment() -> str:
    variables = environment_variables()
    parts: list[str] = []
    for component in COMPONENTS:
        rows = []
        for v in variables:
            if v.component != component:
                continue
            doc = ENV_DOCS[(v.component, v.name)]
            if v.required:
                default = "(required)"
            elif v.default:
                default = code(v.default)
            elif doc.fallback:
                default = code(doc.fallback)
            else:
                default = "(unset)"
            rows.append([code(v.name), default, cell(doc.meaning)])
        if rows:
            parts.append(f"**{COMPONENT_TITLES[component]}**")
            parts.append(table(["variable", "default", "meaning"], rows))
    return "\n\n".join(parts)
