"""Logging for every command, set up once by the CLI from LOG_FORMAT and LOG_LEVEL: plain text
for people, JSON lines in containers (kopf's records included), and a filter that blanks every
token and webhook secret wherever it would appear."""

import json
import logging
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from botgateway.contract.environment import LOG_FORMAT, LOG_LEVEL

_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)
REDACTED = "***"


def _extras(record: logging.LogRecord) -> list[tuple[str, object]]:
    """The record's `extra=` fields, in the order they were given."""
    return [
        (k, v) for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")
    ]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and every `extra=` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The usual line, followed by the `extra=` fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{k}={v}" for k, v in _extras(record)]
        return f"{line} {' '.join(extras)}" if extras else line


class RedactSecrets(logging.Filter):
    """Replaces each known secret in the message and the extra fields with `***`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg = self.redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def configure_logging(fmt: str, level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactSecrets(secrets))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def configure_from_env(env: Mapping[str, str]) -> str:
    """The CLI's one logging setup, before any command runs; returns the format."""
    fmt: str = LOG_FORMAT.read(env)
    configure_logging(fmt, LOG_LEVEL.read(env))
    return fmt


def json_logs() -> bool:
    """Whether the root logger writes JSON lines (so a command reports through it, not print)."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)


def redact_secrets(secrets: Iterable[str]) -> None:
    """Blank these secrets in every line from now on (the bots file is read after the setup)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets(secrets))
