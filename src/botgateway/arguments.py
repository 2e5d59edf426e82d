"""Argument types for the CLI: a bad value is refused by argparse (its usage line, the reason,
exit 2) before any command runs, instead of reaching the database as a raw error."""

import argparse
from collections.abc import Callable

BIGINT_MAX = 2**63 - 1  # job ids are bigserial


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse `type`: an integer from `low` to `high`, or a message saying so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected a whole number from {low} to {high}, got {text!r}"
            )
        return value

    parse.__name__ = "whole number"  # argparse names the type in some messages
    return parse


port = whole_number(0, 65535)
"""0 asks the system for a free port."""

job_id = whole_number(1, BIGINT_MAX)

LIST_LIMIT_MAX = 1_000_000
"""Enough to export a busy day's jobs with --json; more belongs in SQL, not in one answer."""
list_limit = whole_number(1, LIST_LIMIT_MAX)
