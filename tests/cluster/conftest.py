"""The `cluster` tier: a real etcd + kube-apiserver + kube-controller-manager per test session.

Binaries come from `.cache/tools/` (see `scripts/cluster-tools.sh`, `make cluster-tools`).
Where Go is installed, the script is run first: it links cached builds in about a second and
builds only what is missing, so a fresh clone (CI) works. Without Go and without binaries, the
tier is skipped with a one-line reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.support` without relying on rootdir/pythonpath settings
    sys.path.insert(0, str(ROOT))

from tests.support.cluster import ControlPlane, ControlPlaneTools  # noqa: E402

TOOLS_DIR = ROOT / ".cache" / "tools"
SCRIPT = ROOT / "scripts" / "cluster-tools.sh"
# What the tier needs; helm and kind are for other tiers and are built by `make cluster-tools`.
NEEDED = ("etcd", "kube-apiserver", "kube-controller-manager")


def _ensure_tools() -> ControlPlaneTools:
    build_error = ""
    if shutil.which("go") is not None:
        # Idempotent: links what is cached, builds what is not (long only the first time).
        # kubectl comes from the machine when it has one, else from the same route.
        wanted = [*NEEDED, *(() if shutil.which("kubectl") else ("kubectl",))]
        result = subprocess.run(
            ["bash", str(SCRIPT), *wanted],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            build_error = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
    tools = ControlPlaneTools.from_dir(TOOLS_DIR)
    missing = tools.missing()
    if missing and build_error:
        pytest.fail(f"{SCRIPT.name} failed:\n{build_error}", pytrace=False)
    if missing:
        pytest.skip(
            f"cluster tier: no Go and no {', '.join(missing)} in .cache/tools "
            "(run `make cluster-tools` on a machine with Go)"
        )
    if build_error:
        # etcd and kube-apiserver are there: run without the controller-manager (its tests skip).
        warnings.warn(f"{SCRIPT.name} failed:\n{build_error}", stacklevel=1)
    return tools


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """A running control plane shared by the session; stopped and removed at the end.

    Set BOTGATEWAY_KEEP_CLUSTER_DIR=1 to keep its directory (logs, kubeconfigs, certificates).
    """
    tools = _ensure_tools()
    plane = ControlPlane(tools, keep_dir=os.environ.get("BOTGATEWAY_KEEP_CLUSTER_DIR") == "1")
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()
