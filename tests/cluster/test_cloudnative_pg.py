"""The CloudNativePG example (deploy/examples/cloudnative-pg/) against CloudNativePG's own CRDs,
applied server-side with strict field validation: a field CloudNativePG does not know, or a
value its schema refuses, fails here rather than in a user's cluster."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.cluster import ControlPlane, wait_until

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "examples" / "cloudnative-pg"
CNPG_MODULE = "github.com/cloudnative-pg/cloudnative-pg"
CNPG_VERSION = "v1.25.0"
"""The release whose CRDs the example is checked against (its Go module carries them)."""
NS = "cnpg-example"
BOTGATEWAY_CRD = "botgateways.botgateway.dev"


@pytest.fixture(scope="module")
def cnpg(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> ControlPlane:
    if shutil.which("go") is None:
        pytest.skip("no Go: CloudNativePG's CRDs come from its Go module")
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{CNPG_MODULE}@{CNPG_VERSION}"],
        cwd=tmp_path_factory.mktemp("cnpg"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"go mod download failed: {result.stdout}{result.stderr}"
    bases = Path(json.loads(result.stdout)["Dir"]) / "config" / "crd" / "bases"
    for kind in ("clusters", "poolers"):
        # Server-side: the Cluster CRD is too large for client-side apply's annotation.
        control_plane.kubectl(
            "apply", "--server-side", "-f", str(bases / f"postgresql.cnpg.io_{kind}.yaml")
        )
    control_plane.kubectl("apply", "-f", str(ROOT / "deploy" / "crd.yaml"))
    for name in ("clusters.postgresql.cnpg.io", "poolers.postgresql.cnpg.io", BOTGATEWAY_CRD):
        # Polled: `kubectl wait` fails outright while a new CRD has no conditions yet.
        wait_until(
            lambda name=name: _established(control_plane, name),
            timeout=60,
            message=f"CRD {name} established",
        )
    control_plane.kubectl("create", "namespace", NS)
    return control_plane


def test_the_example_is_accepted_as_written(cnpg: ControlPlane) -> None:
    applied = cnpg.kubectl(
        "apply", "--server-side", "--validate=strict", "-n", NS, "-k", str(EXAMPLE)
    ).stdout
    assert "cluster.postgresql.cnpg.io/bots-db serverside-applied" in applied, applied
    assert "pooler.postgresql.cnpg.io/bots-db-pooler-rw serverside-applied" in applied, applied

    cluster = cnpg.kubectl_json("get", "cluster.postgresql.cnpg.io", "bots-db", "-n", NS)
    # Nothing pruned: the zero-loss setting is stored as written.
    assert cluster["spec"]["postgresql"]["synchronous"] == {
        "method": "any",
        "number": 1,
        "dataDurability": "required",
    }
    pooler = cnpg.kubectl_json("get", "pooler.postgresql.cnpg.io", "bots-db-pooler-rw", "-n", NS)
    assert pooler["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert pooler["spec"]["type"] == "rw"


def test_a_misspelt_field_is_refused(cnpg: ControlPlane) -> None:
    text = (EXAMPLE / "database.yaml").read_text().replace("dataDurability", "dataDurabilty")
    result = cnpg.kubectl(
        "apply",
        "--server-side",
        "--validate=strict",
        "-n",
        NS,
        "-f",
        "-",
        input=text,
        check=False,
    )
    assert result.returncode != 0
    assert "dataDurabilty" in result.stderr


def _established(cp: ControlPlane, name: str) -> bool:
    conditions = cp.kubectl_json("get", "crd", name).get("status", {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)
