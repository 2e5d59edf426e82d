"""Queue maintenance: recover jobs whose worker died, purge old done rows, one janitor at a time."""

from botgateway.contract.janitor import JanitorResult

from .loop import log_round, run_loop
from .maintenance import run_once
from .rescue import decide_recovery, rescue_stuck

__all__ = [
    "JanitorResult",
    "decide_recovery",
    "log_round",
    "rescue_stuck",
    "run_loop",
    "run_once",
]
