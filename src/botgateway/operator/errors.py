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
