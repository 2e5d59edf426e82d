"""The BotGateway resource, walked from the CRD's OpenAPI schema."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botgateway.operator.crd import crd

from .errors import DriftError
from .markdown import cell, code, literal, table


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
        found.append("one of " + ", ".join(code(str(v)) for v in node["enum"]))
    if "pattern" in node:
        found.append("pattern " + code(node["pattern"]))
    low, high = node.get("minLength"), node.get("maxLength")
    if low is not None and high is not None:
        found.append(f"{low}-{high} characters")
    elif high is not None:
        found.append(f"at most {high} characters")
    elif low is not None:
        found.append(f"at least {low} characters")
    if "minimum" in node:
        found.append(f"{'>' if node.get('exclusiveMinimum') else '≥'} {literal(node['minimum'])}")
    if "maximum" in node:
        found.append(f"{'<' if node.get('exclusiveMaximum') else '≤'} {literal(node['maximum'])}")
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
        where = path + str(rule.get("fieldPath", ""))  # the field the API server names
        found.append(CelRule(where or "(the resource)", str(rule["message"]), str(rule["rule"])))
    if node.get("type") == "array":
        found += cel_rules(node.get("items"), path + "[]")
    for name, child in node.get("properties", {}).items():
        found += cel_rules(child, f"{path}.{name}" if path else name)
    return found


def _field_rows(fields: Sequence[SchemaField]) -> list[list[str]]:
    rows = []
    for f in fields:
        notes = (["**required**"] if f.required else []) + list(f.constraints)
        default = code(literal(f.default)) if f.has_default else ""
        rows.append([code(f.path), code(f.type), default, "; ".join(notes), cell(f.description)])
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
        table(["field", "type", "default", "constraints", "description"], _field_rows(fields)),
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
    rows = [[code(f.path), code(f.type), cell(f.description)] for f in fields]
    return table(["field", "type", "description"], rows)
