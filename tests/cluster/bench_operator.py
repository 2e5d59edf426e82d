"""Operator figures for the benchmarks: `reconcile_50_seconds` (50 BotGateways created at once
until all are Ready, on the real API server) and `api_requests_per_reconcile` (the operator's own
requests through its Kubernetes client, per BotGateway; kopf's watch and its status/annotation
patches come on top). Written to `.cache/bench/operator.json` for `make bench` to show.

Run by `make bench`, not by `make test`: the file name keeps it out of pytest's collection."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.test_operator import (
    NS,
    OPERATOR_NS,
    OPERATOR_SA,
    OperatorProcess,
    condition,
    deployed,
    fake_api,
    gateway_db,
    gateway_pods_ready,
)
from tests.support.cluster import ControlPlane, wait_until
from tests.support.fake_telegram_api import FakeTelegramApi

pytestmark = pytest.mark.cluster

__all__ = ["deployed", "fake_api", "gateway_db"]  # module fixtures, shared by import

ROOT = Path(__file__).resolve().parents[2]
COUNT = 50
OUT = ROOT / ".cache" / "bench" / "operator.json"


def _gateways(run: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for i in range(COUNT):
        name = f"bench-{run}-{i}"
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": NS},
                "stringData": {"token": f"{7000 + i}:BENCH-{run}-{i}", "webhookSecret": f"s-{i}"},
            }
        )
        docs.append(
            {
                "apiVersion": "botgateway.dev/v1alpha1",
                "kind": "BotGateway",
                "metadata": {"name": name, "namespace": NS},
                "spec": {
                    "database": {"secretRef": {"name": "gateway-db"}},
                    "bots": [
                        {
                            "slug": "main",
                            "tokenSecretRef": {"name": name},
                            "webhookSecretRef": {"name": name, "key": "webhookSecret"},
                            "handler": {"type": "discard"},
                        }
                    ],
                    "ingress": {"host": f"{name}.example.com"},
                },
            }
        )
    return docs


def test_reconcile_50_botgateways(
    deployed: ControlPlane,
    fake_api: FakeTelegramApi,
    gateway_db: str,
    tmp_path: Path,
) -> None:
    cp = deployed
    cp.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "gateway-db", "namespace": NS},
            "stringData": {"DATABASE_URL": gateway_db},
        }
    )
    kubeconfig = cp.service_account_kubeconfig(OPERATOR_NS, OPERATOR_SA)
    # A long interval: only the creation handlers run while we measure.
    operator = OperatorProcess(
        kubeconfig,
        fake_api.base_url,
        tmp_path,
        env={"BOTGATEWAY_OPERATOR_INTERVAL": "1h", "BOTGATEWAY_COUNT_REQUESTS": "1"},
    )
    operator.start()
    run = str(int(time.time()))
    names = [f"bench-{run}-{i}" for i in range(COUNT)]
    try:
        start = time.monotonic()
        cp.apply(_gateways(run))

        def all_ready() -> bool:
            gateway_pods_ready(cp, None)
            items = cp.kubectl_json("get", "botgateways", "-n", NS)["items"]
            ready = {
                o["metadata"]["name"]
                for o in items
                if condition(o, "Ready").get("status") == "True"
                and o["status"].get("observedGeneration") == o["metadata"]["generation"]
            }
            return ready >= set(names)

        wait_until(all_ready, timeout=300, interval=0.5, message=f"{COUNT} BotGateways Ready")
        elapsed = time.monotonic() - start
    finally:
        operator.stop()
    match = re.search(r"kubernetes api requests: (\d+)", operator.log.read_text())
    assert match, operator.tail()
    requests = int(match.group(1))
    figures = {
        "reconcile_50_seconds": round(elapsed, 2),
        "api_requests_per_reconcile": round(requests / COUNT, 1),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2) + "\n")
    print(figures)
    for i in range(COUNT):
        assert len(fake_api.calls("setWebhook", f"{7000 + i}:BENCH-{run}-{i}")) == 1

    # Leave the namespace as we found it; the finalizers need an operator.
    operator.start()
    try:
        cp.kubectl("delete", "botgateways", "-n", NS, *names, "--timeout=120s", timeout=180)
    finally:
        operator.stop()
