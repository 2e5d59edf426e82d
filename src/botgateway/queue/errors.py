"""The queue package's exceptions: one root type, driver errors translated at the store edge."""


class QueueError(Exception):
    """Root of every error the queue package raises."""


class SettingsError(QueueError):
    """An environment variable holds a value we cannot use; the message names it."""

    def __init__(self, variable: str, value: str, expected: str) -> None:
        self.variable = variable
        self.value = value
        self.expected = expected
        super().__init__(f"{variable}={value!r} is invalid: expected {expected}")


class DatabaseUnavailable(QueueError):
    """The database cannot be reached or refused the connection."""


class MigrationError(QueueError):
    """A migration file is malformed or failed to apply."""


class SchemaMissing(QueueError):
    """The queue's tables do not exist: `botgateway migrate` has not run on this database yet."""


class LeaseLost(QueueError):
    """A lease lapsed while its holder worked and another holder took it over."""
