"""Desired replicas from queue depth: a pure decision of (due jobs, policy, history, now).

Due jobs are pending jobs whose next_retry_at has come; those waiting out a back-off are left
out, since no pod could work on them yet.

Scaling up follows the queue at once; scaling down waits for the stabilisation window, like the
HorizontalPodAutoscaler: the replicas applied are the highest recommendation made within the
window, so a short lull does not shed pods that the next burst needs again.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .spec import Scaling


@dataclass(frozen=True)
class Recommendation:
    at: datetime
    replicas: int


@dataclass(frozen=True)
class ScalingDecision:
    replicas: int
    recommended: int
    history: tuple[Recommendation, ...]
    reason: str


def recommended_replicas(due: int, scaling: Scaling) -> int:
    """ceil(due / pendingJobsPerReplica), clamped to [minReplicas, maxReplicas]."""
    if scaling.replicas is not None:
        return scaling.replicas
    return scaling.clamp(math.ceil(max(due, 0) / scaling.pending_jobs_per_replica))


def decide_replicas(
    due: int,
    scaling: Scaling,
    *,
    current: int | None,
    history: Sequence[Recommendation],
    now: datetime,
) -> ScalingDecision:
    """The replicas to apply now, and the recommendations worth keeping for later decisions.

    With no history (a new gateway, or an operator that lost its state) the current replica
    count counts as a recommendation made now, so a restart never scales down at once.
    """
    recommended = recommended_replicas(due, scaling)
    if scaling.replicas is not None:
        return ScalingDecision(recommended, recommended, (), "fixed replicas")
    window = timedelta(seconds=scaling.scale_down_stabilization_seconds)
    kept = [r for r in history if r.at > now - window]
    if not history and current is not None:
        kept = [Recommendation(now, scaling.clamp(current))]
    kept.append(Recommendation(now, recommended))
    # Only a recommendation that no later one equals or exceeds can ever be the maximum.
    pruned: list[Recommendation] = []
    for rec in kept:
        while pruned and pruned[-1].replicas <= rec.replicas:
            pruned.pop()
        pruned.append(rec)
    replicas = pruned[0].replicas
    if replicas > recommended:
        held_until = pruned[0].at + window
        reason = (
            f"{due} due jobs recommend {recommended}; holding {replicas} "
            f"(scale-down stabilisation until {held_until.isoformat(timespec='seconds')})"
        )
    else:
        reason = f"{due} due jobs / {scaling.pending_jobs_per_replica} per replica"
    return ScalingDecision(replicas, recommended, tuple(pruned), reason)
