"""The Telegram Bot API client shared by the gateway and the operator (as they share `queue`):
rate limits, 429 handling and error mapping in one place. It imports no sibling."""

from .client import DEFAULT_TIMEOUT, SENDING_METHODS, TelegramClient
from .errors import TelegramError
from .ratelimit import SendLater, SendLimiter, SendNow

__all__ = [
    "DEFAULT_TIMEOUT",
    "SENDING_METHODS",
    "SendLater",
    "SendLimiter",
    "SendNow",
    "TelegramClient",
    "TelegramError",
]
