"""The most PostgreSQL connections a BotGateway can open, against what the server allows: a pure
function of the spec and the server's limits, shown in status.connections and as the
ConnectionBudget condition.

At maxReplicas, during a rollout (maxSurge 1) there is one pod more. Each gateway pod opens up
to its pool (DATABASE_POOL_SIZE; the in-process janitor loop shares it) plus one LISTEN
connection; its migrate init container (at most MIGRATE_POOL connections) has finished before
the gateway starts, so a pod never holds more than the larger of the two. The janitor CronJob
runs one pod at a time (concurrencyPolicy Forbid) with JANITOR_POOL_SIZE; the operator reads the
queue over one short-lived connection.

Behind a pooler those connections reach the pooler, which multiplexes them onto its own server
pool: only connections that bypass it (LISTEN on a direct URL) count against the server.
"""

from dataclasses import dataclass
from typing import Any, cast

from botgateway.contract.environment import DATABASE_POOL_SIZE, DATABASE_POOLER, JANITOR_POOL_SIZE
from botgateway.queue import COMMAND_POOL_SIZE, ConnectionLimits, Pooler

from . import conditions as cond
from .conditions import Condition
from .spec import BotGatewaySpec

SURGE = 1
"""The Deployment's rollingUpdate.maxSurge (builders/workload.py)."""
MIGRATE_POOL = COMMAND_POOL_SIZE
"""The pool of each pod's `botgateway migrate` init container."""
OPERATOR_CONNECTIONS = 1


@dataclass(frozen=True)
class ConnectionBudget:
    pods: int
    """maxReplicas plus the rollout's surge pod."""
    pool: int
    listen: int
    """LISTEN connections per pod: 0 behind a transaction pooler without a direct URL (workers
    poll)."""
    janitor: int
    pooler: str
    direct: bool = False
    """LISTEN bypasses the pooler (database.directSecretRef)."""

    @property
    def per_pod(self) -> int:
        return max(self.pool + self.listen, MIGRATE_POOL)

    @property
    def total(self) -> int:
        return self.pods * self.per_pod + self.janitor + OPERATOR_CONNECTIONS

    @property
    def to_server(self) -> int:
        """What reaches PostgreSQL itself: all of it without a pooler, else the LISTEN
        connections that bypass it."""
        if self.pooler == "none":
            return self.total
        return self.pods * self.listen if self.direct else 0

    def formula(self) -> str:
        listen = f" + {self.listen} LISTEN" if self.listen else ""
        return (
            f"{self.pods} pods (maxReplicas + {SURGE} during a rollout) x ({self.pool} pool"
            f"{listen}) + {self.janitor} janitor + {OPERATOR_CONNECTIONS} operator"
        )


def pooler_of(spec: BotGatewaySpec) -> Pooler:
    """What the BotGateway says stands in front of its database (database.pooler)."""
    return cast(Pooler, spec.env.get(DATABASE_POOLER.name, DATABASE_POOLER.default))


def connection_budget(spec: BotGatewaySpec) -> ConnectionBudget:
    env = spec.env
    pooler = pooler_of(spec)
    janitor = int(env.get(JANITOR_POOL_SIZE.name, JANITOR_POOL_SIZE.default or "0"))
    return ConnectionBudget(
        pods=spec.scaling.max_replicas + SURGE,
        pool=int(env.get(DATABASE_POOL_SIZE.name, DATABASE_POOL_SIZE.default or "0")),
        listen=0 if pooler == "transaction" and spec.direct_database is None else 1,
        janitor=janitor if spec.janitor.enabled else 0,
        pooler=pooler,
        direct=spec.direct_database is not None,
    )


def replicas_that_fit(budget: ConnectionBudget, available: int) -> int:
    """The highest maxReplicas whose budget fits `available` (0: not even one)."""
    room = available - budget.janitor - OPERATOR_CONNECTIONS
    return max(room // budget.per_pod - SURGE, 0)


def budget_status(
    budget: ConnectionBudget, limits: ConnectionLimits | None
) -> tuple[dict[str, Any], Condition]:
    """status.connections and the ConnectionBudget condition."""
    fields: dict[str, Any] = {
        "max": budget.total,
        "perPod": budget.per_pod,
        "pods": budget.pods,
        "pooler": budget.pooler,
    }
    equation = f"{budget.formula()} = {budget.total}"
    if limits is not None:
        fields["available"] = limits.available
    if budget.pooler != "none":
        message = (
            f"{equation}, to the {budget.pooler} pooler, which bounds what reaches PostgreSQL "
            "with its own server pool"
        )
        if budget.direct:
            message += f"; {budget.to_server} LISTEN connections bypass it"
        if limits is None or budget.to_server <= limits.available:
            return fields, Condition.true(cond.CONNECTION_BUDGET, "BehindPooler", message)
        message += f", more than the {limits.available} the server has"
        return fields, Condition.false(cond.CONNECTION_BUDGET, "OverLimit", message)
    if limits is None:
        message = f"{equation}; the server's max_connections could not be read"
        return fields, Condition.unknown(cond.CONNECTION_BUDGET, "LimitsUnknown", message)
    server = (
        f"{limits.available} available (max_connections {limits.max_connections} - "
        f"{limits.reserved} reserved)"
    )
    if budget.to_server <= limits.available:
        message = f"{equation} of {server}"
        return fields, Condition.true(cond.CONNECTION_BUDGET, "WithinLimit", message)
    fit = replicas_that_fit(budget, limits.available)
    lower = (
        f"lower scaling.maxReplicas to {fit} or database.poolSize"
        if fit >= 1
        else "lower database.poolSize (not even one replica fits)"
    )
    message = (
        f"{equation} exceeds {server}: at maxReplicas, connections would be refused; "
        f"{lower}, raise max_connections, or put a pooler in front (database.pooler)"
    )
    return fields, Condition.false(cond.CONNECTION_BUDGET, "OverLimit", message)
