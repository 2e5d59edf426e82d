"""Queue maintenance: recover jobs whose worker died, purge old done rows, one janitor at a time."""

from .loop import log_round, run_loop
from .maintenance import JanitorResult, run_once

__all__ = ["JanitorResult", "log_round", "run_loop", "run_once"]
