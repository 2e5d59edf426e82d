"""The committed CRD files are generated from botgateway.operator.crd and must agree with it."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from botgateway.operator.crd import crd, crd_yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COPIES = [
    ROOT / "deploy" / "crd.yaml",
    ROOT / "charts/botgateway/crds/botgateway.dev_botgateways.yaml",
]


@pytest.mark.parametrize("path", COPIES, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_crd_matches_the_python_source(path: Path) -> None:
    assert path.read_text() == crd_yaml(), (
        f"{path.relative_to(ROOT)} is stale: run "
        f"`botgateway operator --print-crd > {path.relative_to(ROOT)}`"
    )


def _rules(node: Any) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    if isinstance(node, dict):
        found += node.get("x-kubernetes-validations", [])
        for value in node.values():
            found += _rules(value)
    elif isinstance(node, list):
        for value in node:
            found += _rules(value)
    return found


def test_crd_shape() -> None:
    doc = crd()
    spec = doc["spec"]
    assert doc["metadata"]["name"] == "botgateways.botgateway.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["bgw"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[:3] == ["Ready", "Replicas", "Pending"]
    assert columns[-1] == "Age"
    assert yaml.safe_load(crd_yaml()) == doc


def test_every_cel_rule_has_a_readable_message() -> None:
    rules = _rules(crd())
    messages = {r["message"] for r in rules}
    assert len(rules) >= 8
    assert all(r["message"] and not r["message"].startswith("self") for r in rules)
    assert "bot slugs must be unique" in messages
    assert "minReplicas must be less than or equal to maxReplicas" in messages


def test_slug_rule_allows_dashes_anywhere_like_the_service() -> None:
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    slug = schema["properties"]["spec"]["properties"]["bots"]["items"]["properties"]["slug"]
    (rule,) = slug["x-kubernetes-validations"]
    assert rule["rule"] == "self.matches('^[a-z0-9-]{1,63}$')"
    assert slug["maxLength"] == 63
