"""One catalogue of environment variables: the operator sets on a container only what that
container's command reads, and every default is written once."""

import ast
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from botgateway.contract.environment import BY_NAME, CATALOGUE, EnvVar
from botgateway.operator.builders import build_children
from botgateway.operator.crd import crd
from botgateway.operator.env_fields import ENV_FIELDS
from botgateway.operator.settings import OperatorSettings
from botgateway.operator.spec import Janitor, parse_spec
from botgateway.queue import QueueSettings
from botgateway.reference.environment import record
from botgateway.service.settings import ServiceSettings
from tests.unit.test_operator_builders import FULL, INPUTS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "botgateway"
EVERY_FIELD = {**FULL, "logLevel": "DEBUG"}


def containers(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every container (init containers too) anywhere in a manifest."""
    found: list[dict[str, Any]] = []
    for key, value in manifest.items():
        if key in ("containers", "initContainers"):
            found += value
        elif isinstance(value, Mapping):
            found += containers(value)
    return found


def test_every_container_gets_only_variables_its_command_reads() -> None:
    spec = parse_spec("support", "bots", EVERY_FIELD)
    seen: dict[str, set[str]] = {}
    for child in build_children(spec, INPUTS):
        for container in containers(child):
            command = container["args"][0]
            for entry in container.get("env", []):
                var = BY_NAME.get(entry["name"])
                assert var is not None, f"{entry['name']} is in no catalogue entry"
                assert command in var.commands, f"`botgateway {command}` never reads {var.name}"
                seen.setdefault(command, set()).add(var.name)
    assert seen.keys() == {"serve", "migrate", "janitor"}
    assert {"LOG_FORMAT", "LOG_LEVEL", "DATABASE_URL"} <= seen["migrate"] & seen["janitor"]
    assert "WORKER_CONCURRENCY" not in seen["janitor"]


def test_the_operators_own_deployment_sets_only_what_it_reads() -> None:
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "operator.yaml").read_text()) if d]
    [container] = [c for d in docs for c in containers(d) if c["args"][0] == "operator"]
    names = [entry["name"] for entry in container.get("env", [])]
    # the chart's template is not YAML until rendered: its env names are read as text
    template = (ROOT / "charts/botgateway/templates/operator.yaml").read_text()
    names += re.findall(r"- name: ([A-Z][A-Z0-9_]+)\s*$", template, re.MULTILINE)
    assert "LOG_FORMAT" in names
    for name in names:
        assert "operator" in BY_NAME[name].commands, name


LOADERS: dict[str, Callable[[Mapping[str, str]], object]] = {
    "serve": ServiceSettings.from_env,
    "janitor": QueueSettings.from_env,
    "operator": OperatorSettings.from_env,
}


@pytest.mark.parametrize("command", LOADERS)
def test_a_command_reads_only_variables_declared_for_it(command: str) -> None:
    for name in record(LOADERS[command]).reads:
        assert command in BY_NAME[name].commands, f"{command} reads {name}, not declared"


def test_settings_defaults_are_the_catalogues() -> None:
    url = "postgresql://u@h/db"
    queue = QueueSettings(database_url=url)
    assert QueueSettings.from_env({"DATABASE_URL": url}) == queue
    assert OperatorSettings.from_env({}) == OperatorSettings()
    assert ServiceSettings.from_env({"DATABASE_URL": url}, require_config=False) == ServiceSettings(
        queue=queue
    )


def _crd_property(path: tuple[str, ...]) -> dict[str, Any]:
    node = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for key in path:
        node = node["properties"][key]
    return node  # type: ignore[no-any-return]


@pytest.mark.parametrize("field", ENV_FIELDS, ids=lambda f: ".".join(f.path))
def test_a_crd_field_defaults_to_its_variables_default(field: Any) -> None:
    var: EnvVar[Any] = field.var
    prop = _crd_property(field.path)
    minimal = parse_spec("g", "bots", {"database": FULL["database"], "bots": FULL["bots"]})
    if field.defaulted:
        assert prop["default"] == var.kind.to_json(var.default)  # type: ignore[arg-type]
        assert minimal.env[var.name] == var.default
    else:
        assert "default" not in prop
        assert var.name not in minimal.env


def _string_constants(path: Path) -> set[str]:
    """String literals of a module, docstrings left out."""
    tree = ast.parse(path.read_text("utf-8"))
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


def test_every_default_is_written_once() -> None:
    defaults = {
        v.default
        for v in CATALOGUE
        if v.default  # words (`INFO`, `text`) and bare numbers are everywhere, and say nothing
        and not v.default.isdigit()
        and any(c.isdigit() or c in "/." for c in v.default)
    }
    defaults |= {Janitor.schedule}
    where: dict[str, list[str]] = {d: [] for d in defaults}
    for path in sorted(SRC.rglob("*.py")):
        for text in _string_constants(path) & defaults:
            where[text].append(str(path.relative_to(SRC)))
    assert {d: places for d, places in where.items() if len(places) != 1} == {}
