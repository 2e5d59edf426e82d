"""The service package's exceptions: one root type, so `botgateway serve` can end any of them in
one line instead of a traceback."""


class ServiceError(Exception):
    """Root of every error the service package raises on purpose."""


class ConfigError(ServiceError):
    """The bots file is missing or wrong; the message names the bot and the field."""


class ServiceStopping(ServiceError):
    """The service is shutting down and takes no more updates."""
