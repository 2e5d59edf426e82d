"""The one error of the reference generator."""


class DriftError(Exception):
    """The code and the descriptions kept here disagree; the message says how to fix it."""
