"""End to end on kind through the raw manifests: `kubectl apply -k` of deploy/ (adapted by
tests/e2e/manifests/deploy-overlay as a user would), a BotGateway, Telegram's side through the
Ingress, deletion, and `kubectl delete -k` leaving nothing behind.

The tests share one install and run in file order; the last ones delete what they made.
"""

from __future__ import annotations

import pytest

from tests.e2e import scenarios
from tests.e2e.harness import KindEnvironment, unavailable
from tests.e2e.installs import KustomizeInstall, apply_gateway

pytestmark = pytest.mark.e2e

# One skip for the whole module, so the summary has one line saying what is missing.
_UNAVAILABLE = unavailable()
if _UNAVAILABLE:
    pytest.skip(_UNAVAILABLE, allow_module_level=True)

# update_ids of this module, apart from test_chart.py's (both share one database and backend).
IDS = 100_000
INSTALL = KustomizeInstall()


@pytest.fixture(scope="module")
def installed(e2e: KindEnvironment) -> KindEnvironment:
    e2e.operator = (INSTALL.operator_namespace, INSTALL.operator_deployment)
    INSTALL.install(e2e)
    apply_gateway(e2e, secret="wrong")
    return e2e


class TestAfterTheManifestInstall(scenarios.ChecksAfterInstall):
    first_id = IDS


def test_deleting_the_botgateway_removes_everything_it_owned(installed: KindEnvironment) -> None:
    scenarios.check_deletion_removes_everything_owned(installed)


def test_kubectl_delete_k_leaves_nothing_behind(installed: KindEnvironment) -> None:
    assert INSTALL.uninstall(installed) == []
    installed.operator = None
