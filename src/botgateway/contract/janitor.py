"""A janitor round's result: the janitor makes it, the gateway's metrics and logs read it."""

from dataclasses import dataclass

RUNNER_ONCE = "once"
"""`botgateway janitor --once`: the CronJob's runs (or one by hand)."""
RUNNER_LOOP = "loop"
"""The in-process loop of `serve`/`dev` (and `botgateway janitor` without --once)."""


@dataclass(frozen=True)
class JanitorResult:
    ran: bool
    """False when another janitor held the lock and this round did nothing."""
    purged: int = 0
    recovered: int = 0
    dead_lettered: int = 0
    unparked: int = 0
    """Jobs parked behind their chat with nothing left to unpark them, made due (a safety net:
    0 unless something other than this package finished jobs)."""
    purge_batches: int = 0
    purge_longest_batch_s: float = 0.0
    """The longest purge statement, round trip included: an upper bound on how long the purge
    held any row lock (each batch is its own transaction)."""
    purge_seconds: float = 0.0
    """The whole purge, pauses included."""
    seconds: float = 0.0
    """The whole round, recovery and purge."""

    def summary(self) -> str:
        if not self.ran:
            return "janitor: another janitor holds the lock; nothing done"
        batches = f"{self.purge_batches} batch(es)"
        if self.purge_batches:
            batches += f" (longest {self.purge_longest_batch_s * 1000:.0f} ms)"
        unparked = f", unparked {self.unparked}" if self.unparked else ""
        return (
            f"janitor: purged {self.purged} done job(s) in {batches}, "
            f"recovered {self.recovered} stuck job(s), dead-lettered {self.dead_lettered}"
            f"{unparked}"
        )
