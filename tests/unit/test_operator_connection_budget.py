"""The connection budget: the most connections a BotGateway can open at maxReplicas, against
the server's max_connections less its reserved ones."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from botgateway.operator.connection_budget import (
    budget_status,
    connection_budget,
    replicas_that_fit,
)
from botgateway.operator.spec import parse_spec
from botgateway.queue import ConnectionLimits

pytestmark = pytest.mark.unit

DEFAULT_SERVER = ConnectionLimits(max_connections=100, reserved=3)


def gateway(**fields: Any) -> Any:
    database = {"secretRef": {"name": "db"}, **fields.pop("database", {})}
    body = {
        "database": database,
        "bots": [{"slug": "a", "tokenSecretRef": {"name": "t"}, "handler": {"type": "discard"}}],
        **fields,
    }
    return parse_spec("support", "bots", body)


def test_ten_replicas_with_default_pools_need_more_than_a_default_server_allows() -> None:
    """Issue 14's arithmetic: 10 replicas of 10 + LISTEN, plus rollout, janitor, operator."""
    budget = connection_budget(gateway(scaling={"minReplicas": 1, "maxReplicas": 10}))
    assert (budget.pods, budget.per_pod, budget.janitor) == (11, 11, 2)
    assert budget.total == 11 * 11 + 2 + 1 == 124
    fields, condition = budget_status(budget, DEFAULT_SERVER)
    assert fields == {"max": 124, "available": 97, "perPod": 11, "pods": 11, "pooler": "none"}
    assert (condition.type, condition.status, condition.reason) == (
        "ConnectionBudget",
        "False",
        "OverLimit",
    )
    assert "= 124 exceeds 97 available (max_connections 100 - 3 reserved)" in condition.message
    assert "lower scaling.maxReplicas to 7" in condition.message


def test_what_the_message_suggests_fits_exactly() -> None:
    spec = gateway(scaling={"minReplicas": 1, "maxReplicas": 7})
    budget = connection_budget(spec)
    assert budget.total <= DEFAULT_SERVER.available
    assert replicas_that_fit(budget, DEFAULT_SERVER.available) == 7
    bigger = connection_budget(gateway(scaling={"minReplicas": 1, "maxReplicas": 8}))
    assert bigger.total > DEFAULT_SERVER.available


def test_pool_sizes_are_spec_fields() -> None:
    spec = gateway(database={"poolSize": 4}, janitor={"poolSize": 1}, scaling={"replicas": 2})
    budget = connection_budget(spec)
    assert budget.total == 3 * (4 + 1) + 1 + 1
    _, condition = budget_status(budget, DEFAULT_SERVER)
    assert (condition.status, condition.reason) == ("True", "WithinLimit")
    assert condition.message == (
        "3 pods (maxReplicas + 1 during a rollout) x (4 pool + 1 LISTEN) + 1 janitor "
        "+ 1 operator = 17 of 97 available (max_connections 100 - 3 reserved)"
    )


def test_a_disabled_janitor_opens_nothing() -> None:
    assert connection_budget(gateway(janitor={"enabled": False})).janitor == 0


def test_a_pod_never_holds_less_than_its_migrate_init_container() -> None:
    budget = connection_budget(gateway(database={"poolSize": 2, "pooler": "transaction"}))
    assert (budget.pool, budget.listen, budget.per_pod) == (2, 0, 2)


def test_behind_a_pooler_the_connections_go_to_the_pooler_not_the_server() -> None:
    spec = gateway(
        database={"pooler": "transaction"}, scaling={"minReplicas": 1, "maxReplicas": 50}
    )
    budget = connection_budget(spec)
    assert budget.listen == 0  # workers poll: a transaction pooler holds no LISTEN session
    fields, condition = budget_status(budget, DEFAULT_SERVER)
    assert fields["max"] == 51 * 10 + 2 + 1
    assert fields["available"] == 97
    assert (condition.status, condition.reason) == ("True", "BehindPooler")
    assert "to the transaction pooler" in condition.message


def test_unknown_server_limits_say_so() -> None:
    fields, condition = budget_status(connection_budget(gateway()), None)
    assert "available" not in fields
    assert (condition.status, condition.reason) == ("Unknown", "LimitsUnknown")


def test_not_even_one_replica_fits_a_tiny_server() -> None:
    _, condition = budget_status(connection_budget(gateway()), ConnectionLimits(10, 3))
    assert "not even one replica fits" in condition.message


def test_a_direct_url_behind_a_transaction_pooler_listens_and_counts_on_the_server() -> None:
    database = {"pooler": "transaction", "directSecretRef": {"name": "db-direct"}}
    spec = gateway(database=database, scaling={"minReplicas": 1, "maxReplicas": 200})
    budget = connection_budget(spec)
    assert (budget.listen, budget.to_server) == (1, 201)
    _, condition = budget_status(budget, DEFAULT_SERVER)
    assert (condition.status, condition.reason) == ("False", "OverLimit")
    assert "201 LISTEN connections bypass it, more than the 97 the server has" in (
        condition.message
    )


def test_the_shipped_example_fits_a_default_postgresql() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "botgateway.yaml"
    [manifest] = [d for d in yaml.safe_load_all(example.read_text()) if d]
    spec = parse_spec("support", "bots", manifest["spec"])
    assert spec.scaling.max_replicas == 10
    _, condition = budget_status(connection_budget(spec), DEFAULT_SERVER)
    assert (condition.status, condition.reason) == ("True", "WithinLimit"), condition.message
