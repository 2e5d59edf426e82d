"""The telegram package's one exception: every Bot API failure, whoever made the call."""


class TelegramError(Exception):
    """A Bot API call failed. `retry_after` is Telegram's (or our limiter's) wait, if any."""

    def __init__(
        self,
        method: str,
        description: str,
        *,
        error_code: int | None = None,
        retry_after: float | None = None,
        transient: bool = True,
        held_back: bool = False,
    ) -> None:
        self.method = method
        self.description = description
        self.error_code = error_code
        self.retry_after = retry_after
        self.transient = transient
        self.held_back = held_back
        """Our own limiter held the call back; nothing was sent and nothing failed."""
        code = f" {error_code}" if error_code is not None else ""
        super().__init__(f"Telegram {method}{code}: {description}")
