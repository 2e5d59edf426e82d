"""The operator package's exceptions: one root type; API and HTTP errors translated at the edge."""


class OperatorError(Exception):
    """Root of every error the operator package raises."""


class SpecError(OperatorError):
    """A BotGateway spec the API server accepted but the operator cannot act on."""


class MissingSecret(OperatorError):
    """A Secret (or a key in it) that the spec references does not exist yet."""

    def __init__(self, namespace: str, name: str, key: str | None = None) -> None:
        self.namespace = namespace
        self.name = name
        self.key = key
        where = f"Secret {namespace}/{name}"
        super().__init__(f"{where} has no key {key!r}" if key else f"{where} does not exist")


class KubeError(OperatorError):
    """The Kubernetes API refused or failed a request (not a missing Secret)."""


class TelegramError(OperatorError):
    """The Bot API answered with an error, or could not be reached. Never carries the token."""

    def __init__(self, method: str, description: str, *, retry_after: float | None = None) -> None:
        self.method = method
        self.description = description
        self.retry_after = retry_after
        super().__init__(f"{method}: {description}")
