"""The README's reference sections, generated from the code so they cannot drift from it.

Each section is derived, not listed by hand: the BotGateway fields are walked from the CRD's
OpenAPI schema (`operator/crd.py`, which also feeds `kubectl explain`); the environment variables
are what each settings class actually reads (every `from_env` runs against a recording mapping)
plus what the commands read straight from `os.environ` (found in the source); the bots-file
fields are the parser's own field sets, with defaults recorded while it parses a sample bot and
required fields found by leaving each one out; the metrics are collected from a live registry.
Only one-line descriptions are kept here, and a variable or field read by the code without a
description, or a description of something no longer read, is an error.

    python -m botgateway.reference --write README.md   # `make docs`: rewrite the blocks
    python -m botgateway.reference --check README.md   # exit 1 when the README is stale

The README holds each section between `<!-- generated: NAME -->` and `<!-- end generated -->`.
"""

import argparse
import ast
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botgateway.operator import settings as operator_settings
from botgateway.operator.crd import crd
from botgateway.operator.settings import OperatorSettings, OperatorSettingsError
from botgateway.operator.telegram import DEFAULT_API_BASE as OPERATOR_API_BASE
from botgateway.queue import QueueSettings, SettingsError, Succeeded
from botgateway.queue.jobs import Job, QueueStats, StatusCount
from botgateway.service import bots as bots_module
from botgateway.service import dev as dev_module
from botgateway.service.errors import ConfigError, ServiceError
from botgateway.service.metrics import MaintenanceCounts, Metrics
from botgateway.service.settings import ServiceSettings

PACKAGE_DIR = Path(__file__).resolve().parent


class DriftError(Exception):
    """The code and the descriptions kept here disagree; the message says how to fix it."""


# --------------------------------------------------------------------------------------------
# Markdown helpers


_PLACEHOLDER_WORD = re.compile(r"[\w./-]*<[\w-]+>[\w./-]*")


def _cell(text: str) -> str:
    """Table-safe prose: no pipes, no line breaks, and a word like `<name>-config` in backticks
    (as bare text it would be taken for an HTML tag and vanish)."""
    text = text.replace("|", "\\|").replace("\n", " ")
    return _PLACEHOLDER_WORD.sub(lambda m: f"`{m[0]}`", text)


def _code(text: str) -> str:
    """Inline code that survives a table cell (a pipe inside backticks still splits cells)."""
    return "`" + text.replace("|", "\\|") + "`"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _literal(value: Any) -> str:
    """A default as a reader would write it in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(", ", ": "))


# --------------------------------------------------------------------------------------------
# (a) The BotGateway resource, walked from the CRD's OpenAPI schema


@dataclass(frozen=True)
class SchemaField:
    path: str
    type: str
    required: bool
    default: Any
    has_default: bool
    constraints: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class CelRule:
    path: str
    message: str
    rule: str


def crd_schema() -> dict[str, Any]:
    (version,) = crd()["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _type_name(node: Mapping[str, Any]) -> str:
    kind = str(node.get("type", "any"))
    if kind == "array":
        return "[]" + _type_name(node.get("items", {}))
    if kind == "object" and "additionalProperties" in node:
        return "map[string]" + _type_name(node["additionalProperties"])
    return kind


def _constraints(node: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    if "enum" in node:
        found.append("one of " + ", ".join(_code(str(v)) for v in node["enum"]))
    if "pattern" in node:
        found.append("pattern " + _code(node["pattern"]))
    low, high = node.get("minLength"), node.get("maxLength")
    if low is not None and high is not None:
        found.append(f"{low}-{high} characters")
    elif high is not None:
        found.append(f"at most {high} characters")
    elif low is not None:
        found.append(f"at least {low} characters")
    if "minimum" in node:
        found.append(f"{'>' if node.get('exclusiveMinimum') else '≥'} {_literal(node['minimum'])}")
    if "maximum" in node:
        found.append(f"{'<' if node.get('exclusiveMaximum') else '≤'} {_literal(node['maximum'])}")
    low, high = node.get("minItems"), node.get("maxItems")
    if low is not None and high is not None:
        found.append(f"{low}-{high} items")
    elif high is not None:
        found.append(f"at most {high} items")
    elif low is not None:
        found.append(f"at least {low} items")
    if node.get("x-kubernetes-preserve-unknown-fields"):
        found.append("more fields allowed")
    return found


def schema_fields(node: Mapping[str, Any], prefix: str = "") -> list[SchemaField]:
    """Every property under `node`, depth first; a field without a description is an error."""
    if node.get("type") == "array":
        return schema_fields(node.get("items", {}), prefix + "[]")
    fields: list[SchemaField] = []
    required = set(node.get("required", ()))
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        description = str(child.get("description", "")).strip()
        if not description:
            raise DriftError(
                f"CRD field {path} has no description: add one in src/botgateway/operator/crd.py"
            )
        fields.append(
            SchemaField(
                path=path,
                type=_type_name(child),
                required=name in required,
                default=child.get("default"),
                has_default="default" in child,
                constraints=tuple(_constraints(child)),
                description=description,
            )
        )
        fields += schema_fields(child, path)
    return fields


def cel_rules(node: Any, path: str = "") -> list[CelRule]:
    """Every `x-kubernetes-validations` rule, with where it sits."""
    found: list[CelRule] = []
    if not isinstance(node, Mapping):
        return found
    for rule in node.get("x-kubernetes-validations", ()):
        found.append(CelRule(path or "(the resource)", str(rule["message"]), str(rule["rule"])))
    if node.get("type") == "array":
        found += cel_rules(node.get("items"), path + "[]")
    for name, child in node.get("properties", {}).items():
        found += cel_rules(child, f"{path}.{name}" if path else name)
    return found


def _field_rows(fields: Sequence[SchemaField]) -> list[list[str]]:
    rows = []
    for f in fields:
        notes = (["**required**"] if f.required else []) + list(f.constraints)
        default = _code(_literal(f.default)) if f.has_default else ""
        rows.append([_code(f.path), _code(f.type), default, "; ".join(notes), _cell(f.description)])
    return rows


def render_crd_spec() -> str:
    schema = crd_schema()
    spec = schema["properties"]["spec"]
    fields = schema_fields(spec)
    rules = cel_rules(schema)
    lines = [
        f"Fields of `spec` ({len(fields)}), from the CRD's OpenAPI schema; "
        "`kubectl explain botgateway.spec` shows the same descriptions.",
        "",
        _table(["field", "type", "default", "constraints", "description"], _field_rows(fields)),
        "",
        "Rules the API server checks on top (CEL); a resource that breaks one is refused with "
        "the message shown:",
        "",
    ]
    lines += [f"- `{r.path}`: {r.message}" for r in rules]
    return "\n".join(lines)


def render_crd_status() -> str:
    status = crd_schema()["properties"]["status"]
    fields = schema_fields(status)
    rows = [[_code(f.path), _code(f.type), _cell(f.description)] for f in fields]
    return _table(["field", "type", "description"], rows)


# --------------------------------------------------------------------------------------------
# (b) Environment variables: what the code reads, and with which default


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
        reads = {name: default for name, default in env.reads.items()}
        return Recorded(reads, frozenset(required))


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
        if module == "reference.py":
            continue
        found += scan_env_reads(path.read_text("utf-8"), module)
    return found


COMPONENTS = ("all", "queue", "service", "operator")
_COMPONENT_OF_FOLDER = {"queue": "queue", "service": "service", "operator": "operator"}


def _component_of(module: str) -> str:
    return _COMPONENT_OF_FOLDER.get(module.split("/", 1)[0], "all")


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
        "ENV_DOCS in src/botgateway/reference.py"
        for (component, name) in read
        if (component, name) not in docs
    ]
    problems += [
        f"{name} is described for the {component} but no longer read there: remove it from "
        "ENV_DOCS in src/botgateway/reference.py"
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
                default = _code(v.default)
            elif doc.fallback:
                default = _code(doc.fallback)
            else:
                default = "(unset)"
            rows.append([_code(v.name), default, _cell(doc.meaning)])
        if rows:
            parts.append(f"**{COMPONENT_TITLES[component]}**")
            parts.append(_table(["variable", "default", "meaning"], rows))
    return "\n\n".join(parts)


# --------------------------------------------------------------------------------------------
# (c) The bots file, from the parser's own field sets


class _RecordingDict(dict[str, Any]):
    """A mapping for the parser that records each absent field it asks for with a default."""

    def __init__(self, data: Mapping[str, Any], reads: dict[str, Any], prefix: str) -> None:
        super().__init__(data)
        self._reads = reads
        self._prefix = prefix

    def get(self, key: str, default: Any = None, /) -> Any:
        if key not in self:
            self._reads.setdefault(self._prefix + key, default)
        return super().get(key, default)


SAMPLE_BOT: dict[str, Any] = {
    "slug": "sample",
    "token": "1:sample",
    "handler": {"type": "forward", "url": "http://backend.invalid/updates"},
}
"""The smallest bot the parser accepts: required fields are those it refuses to go without."""


def _parse_sample(bot: Mapping[str, Any], reads: dict[str, Any] | None = None) -> None:
    reads = {} if reads is None else reads
    entry = dict(bot)
    if isinstance(entry.get("handler"), Mapping):
        entry["handler"] = _RecordingDict(entry["handler"], reads, "handler.")
    bots_module.parse_bots({"bots": [_RecordingDict(entry, reads, "")]}, {})


def _without(bot: Mapping[str, Any], path: str) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    copy = dict(bot)
    if rest:
        copy[head] = _without(copy[head], rest)
    else:
        del copy[head]
    return copy


def _paths(node: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in node.items():
        yield prefix + key
        if isinstance(value, Mapping):
            yield from _paths(value, f"{prefix}{key}.")


@dataclass(frozen=True)
class BotField:
    path: str
    required: bool
    default: Any
    has_default: bool
    alternatives: tuple[str, ...] = field(default=())
    forward_only: bool = False


def bot_fields() -> list[BotField]:
    """The parser's fields; defaults recorded while it parses SAMPLE_BOT; a field is required
    when SAMPLE_BOT without it is refused."""
    known = list(bots_module._BOT_FIELDS) + [
        "handler." + f for f in sorted(bots_module._FORWARD_FIELDS)
    ]
    forward_only = {"handler." + f for f in bots_module._FORWARD_FIELDS} - {"handler.type"}
    reads: dict[str, Any] = {}
    _parse_sample(SAMPLE_BOT, reads)
    required: set[str] = set()
    for path in _paths(SAMPLE_BOT):
        try:
            _parse_sample(_without(SAMPLE_BOT, path))
        except ConfigError:
            required.add(path)
    # value / File / Env triples: exactly one source
    groups = {
        name: (name, f"{name}File", f"{name}Env")
        for name in known
        if f"{name}File" in known and f"{name}Env" in known
    }
    result = []
    for path in known:
        default = reads.get(path)
        base = next((g for g, members in groups.items() if path in members), None)
        result.append(
            BotField(
                path=path,
                required=path in required or (base is not None and base in required),
                default=default,
                has_default=default is not None,
                alternatives=groups.get(base, ()) if base is not None else (),
                forward_only=path in forward_only,
            )
        )
    return result


BOT_DOCS: dict[str, str] = {
    "slug": f"The bot's path segment, `POST /webhook/{{slug}}`: `{bots_module.SLUG.pattern}`, "
    "unique in the file.",
    "token": f"The bot token from @BotFather (`{bots_module.TOKEN.pattern}`).",
    "tokenFile": "A file holding the token (relative to the bots file); e.g. a mounted Secret.",
    "tokenEnv": "An environment variable holding the token.",
    "webhookSecret": "The secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token`: "
    f"`{bots_module.WEBHOOK_SECRET.pattern}`. Without one, requests are not authenticated.",
    "webhookSecretFile": "A file holding the webhook secret (relative to the bots file).",
    "webhookSecretEnv": "An environment variable holding the webhook secret.",
    "chatOrdering": "Handle one chat's updates one at a time, in `update_id` order.",
    "handler": "What the worker does with each update.",
    "handler.type": "One of "
    + ", ".join(f"`{h}`" for h in sorted(bots_module.BUILTIN_HANDLERS))
    + ", or a plugin's name (a plugin reads any other fields of `handler:`).",
    "handler.url": "Where each update is POSTed (http or https).",
    "handler.timeoutSeconds": "Request timeout, in (0, 3600] seconds.",
}


def check_bot_docs(fields: Sequence[BotField], docs: Mapping[str, str] = BOT_DOCS) -> None:
    read = {f.path for f in fields}
    problems = [
        f"bots-file field {p} has no description: add it to BOT_DOCS in src/botgateway/reference.py"
        for p in sorted(read - set(docs))
    ]
    problems += [
        f"bots-file field {p} is described but the parser no longer knows it: remove it from "
        "BOT_DOCS in src/botgateway/reference.py"
        for p in sorted(set(docs) - read)
    ]
    if problems:
        raise DriftError("\n".join(problems))


def render_bots_file() -> str:
    fields = bot_fields()
    check_bot_docs(fields)
    order = {p: i for i, p in enumerate(BOT_DOCS)}
    rows = []
    for f in sorted(fields, key=lambda f: order[f.path]):
        if f.alternatives:
            others = ", ".join(_code(a) for a in f.alternatives if a != f.path)
            need = "exactly one of this, " if f.required else "at most one of this, "
            notes = need + others
        else:
            notes = "**required**" if f.required else "optional"
        if f.forward_only:
            notes = f"`forward` only; {notes}"
        default = _code(_literal(f.default)) if f.has_default else ""
        rows.append([_code(f.path), default, notes, _cell(BOT_DOCS[f.path])])
    return (
        "Fields of each entry of `bots:` (the only top-level key), from the parser "
        "(`src/botgateway/service/bots.py`):\n\n"
        + _table(["field", "default", "presence", "meaning"], rows)
    )


# --------------------------------------------------------------------------------------------
# (d) Metrics, collected from a live registry


@dataclass(frozen=True)
class MetricDoc:
    name: str
    type: str
    labels: tuple[str, ...]
    help: str


def metric_docs() -> list[MetricDoc]:
    """Every metric of the service, with label names taken from samples of a used registry."""
    metrics = Metrics()
    now = datetime.now(UTC)
    job = Job(1, "bot", "discard", 1, "{}", 1, None, now)
    metrics.request("bot", 200)
    metrics.job_finished(job, Succeeded(), 0.01)
    metrics.ingest_batch.observe(1)
    metrics.janitor_round(MaintenanceCounts(ran=True))
    metrics.queue_read(QueueStats((StatusCount("bot", "pending", 1, 1.0),)))
    docs = []
    for family in metrics.registry.collect():
        labels: list[str] = []
        for sample in family.samples:
            for label in sample.labels:
                if label != "le" and label not in labels:
                    labels.append(label)
        name = family.name + ("_total" if family.type == "counter" else "")
        docs.append(MetricDoc(name, family.type, tuple(labels), family.documentation))
    return docs


def render_metrics() -> str:
    rows = [
        [
            _code(m.name + ("{" + ",".join(m.labels) + "}" if m.labels else "")),
            m.type,
            _cell(m.help),
        ]
        for m in metric_docs()
    ]
    return _table(["metric", "type", "meaning"], rows)


# --------------------------------------------------------------------------------------------
# The README's generated blocks


BLOCKS: dict[str, Callable[[], str]] = {
    "botgateway-crd": render_crd_spec,
    "botgateway-status": render_crd_status,
    "environment": render_environment,
    "bots-file": render_bots_file,
    "metrics": render_metrics,
}

_BLOCK = re.compile(
    r"^(?P<begin><!-- generated: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)"
    r"^(?P<end><!-- end generated -->)$",
    re.DOTALL | re.MULTILINE,
)
_BEGIN = re.compile(r"^<!-- generated: .* -->$", re.MULTILINE)
_END = re.compile(r"^<!-- end generated -->$", re.MULTILINE)


def update(text: str, blocks: Mapping[str, Callable[[], str]] = BLOCKS) -> str:
    """`text` with each generated block rewritten; every block must appear exactly once. Markers
    count only on lines of their own, so prose may quote them."""
    seen: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in blocks:
            raise DriftError(f"unknown generated block {name!r}; known: {', '.join(blocks)}")
        seen.append(name)
        return f"{match['begin']}{blocks[name]().rstrip()}\n{match['end']}"

    result = _BLOCK.sub(replace, text)
    missing = [n for n in blocks if n not in seen]
    doubled = sorted({n for n in seen if seen.count(n) > 1})
    if missing or doubled:
        raise DriftError(
            "generated blocks "
            + (f"missing: {', '.join(missing)}" if missing else "")
            + ("; " if missing and doubled else "")
            + (f"repeated: {', '.join(doubled)}" if doubled else "")
        )
    if len(_BEGIN.findall(result)) != len(_END.findall(result)):
        raise DriftError("a `<!-- generated: NAME -->` marker has no `<!-- end generated -->`")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m botgateway.reference",
        description="Render the README's reference sections from the code.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", metavar="FILE", help="rewrite the generated blocks of FILE")
    mode.add_argument("--check", metavar="FILE", help="exit 1 when FILE's blocks are stale")
    args = parser.parse_args(argv)
    try:
        if args.write or args.check:
            path = Path(args.write or args.check)
            text = path.read_text("utf-8")
            updated = update(text)
            if args.check:
                if updated != text:
                    print(f"{path} is out of date: run make docs", file=sys.stderr)
                    return 1
                return 0
            if updated != text:
                path.write_text(updated, "utf-8")
                print(f"{path}: generated blocks rewritten")
            else:
                print(f"{path}: generated blocks already up to date")
            return 0
        for name, render in BLOCKS.items():
            print(f"<!-- generated: {name} -->\n{render().rstrip()}\n<!-- end generated -->\n")
        return 0
    except DriftError as exc:
        print(f"botgateway.reference: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
