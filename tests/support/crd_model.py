"""What the API server would say about a value under a CRD schema, without an API server: the
structural checks (strict unknown fields, as `kubectl apply` asks for them), the OpenAPI limits
the CRD uses, and its CEL rules evaluated by cel-python. The cluster tier checks the same cases
against a real kube-apiserver; this model lets the property tests run thousands in a second."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import celpy

Schema = dict[str, Any]


def _lower_ascii(text: Any) -> Any:
    return celpy.celtypes.StringType("".join(c.lower() if c.isascii() else c for c in str(text)))


@cache
def _program(rule: str) -> Any:
    """`rule` compiled, with the Kubernetes string functions the CRD uses (cel-python lacks
    them)."""
    env = celpy.Environment()
    return env.program(env.compile(rule), functions={"lowerAscii": _lower_ascii})


def refusals(schema: Schema, value: Any, path: str = "") -> list[str]:
    """Every refusal for `value` at `path`; empty when the API server would accept it."""
    errors = _structural(schema, value, path)
    if errors:
        return errors
    for rule in schema.get("x-kubernetes-validations", []):
        if not bool(_program(rule["rule"]).evaluate({"self": celpy.json_to_cel(value)})):
            errors.append(f"{path}{rule.get('fieldPath', '')}: {rule['message']}")
    return errors


def _structural(schema: Schema, value: Any, path: str) -> list[str]:
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    }
    if kind is not None and not checks[kind](value):
        return [f"{path}: must be of type {kind}"]
    if kind == "object":
        return _object(schema, value, path)
    if kind == "array":
        errors = _limits(schema, len(value), "minItems", "maxItems", path)
        if schema.get("x-kubernetes-list-type") == "map":
            keys = [
                tuple(v.get(k) for k in schema["x-kubernetes-list-map-keys"])
                for v in value
                if isinstance(v, dict)
            ]
            errors += [f"{path}[{i}]: Duplicate value" for i, k in enumerate(keys) if k in keys[:i]]
        return errors + [
            e for i, v in enumerate(value) for e in refusals(schema["items"], v, f"{path}[{i}]")
        ]
    if kind == "string":
        errors = _limits(schema, len(value), "minLength", "maxLength", path)
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: should match {schema['pattern']}")
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{path}: not one of {schema['enum']}")
        return errors
    if kind in ("number", "integer"):
        errors = _limits(schema, value, "minimum", "maximum", path)
        if schema.get("exclusiveMinimum") and value == schema.get("minimum"):
            errors.append(f"{path}: should be greater than {schema['minimum']}")
        return errors
    return []


def _object(schema: Schema, value: dict[str, Any], path: str) -> list[str]:
    properties: dict[str, Schema] = schema.get("properties", {})
    errors: list[str] = []
    open_ended = (
        schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in schema
    )
    if not open_ended:
        errors += [
            f'unknown field "{path}.{k}"'.replace('"."', '"') for k in value if k not in properties
        ]
    errors += [f"{path}.{r}: Required value" for r in schema.get("required", []) if r not in value]
    for key, item in value.items():
        if key in properties:
            errors += refusals(properties[key], item, f"{path}.{key}")
        elif isinstance(schema.get("additionalProperties"), dict):
            errors += refusals(schema["additionalProperties"], item, f"{path}.{key}")
    return errors


def _limits(schema: Schema, size: float, low: str, high: str, path: str) -> list[str]:
    errors = []
    if low in schema and size < schema[low]:
        errors.append(f"{path}: below {low} {schema[low]}")
    if high in schema and size > schema[high]:
        errors.append(f"{path}: above {high} {schema[high]}")
    return errors
