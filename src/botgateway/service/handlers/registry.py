"""Handler types: the built-ins, plus third-party ones from the entry-point group
`botgateway.handlers` (name = the bot file's `handler.type`, value = a `HandlerFactory`)."""

import logging
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points

from botgateway.queue import Failed, Job, Outcome

from ..bots import BotConfig
from ..errors import ConfigError
from . import discard, forward, telegram_echo
from .base import HandlerContext, HandlerFactory, JobHandler

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "botgateway.handlers"
BUILTINS: Mapping[str, HandlerFactory] = {
    "forward": forward.create,
    "telegram-echo": telegram_echo.create,
    "discard": discard.create,
}
ContextMaker = Callable[[BotConfig], HandlerContext]


def plugin_entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTINS:
            log.warning(
                "a plugin may not replace a built-in handler; ignored",
                extra={"handler": ep.name, "plugin": ep.value},
            )
            continue
        found.setdefault(ep.name, ep)
    return found


def available_handler_types() -> frozenset[str]:
    return frozenset(BUILTINS) | frozenset(plugin_entry_points())


def load_factory(kind: str) -> HandlerFactory:
    if kind in BUILTINS:
        return BUILTINS[kind]
    ep = plugin_entry_points().get(kind)
    if ep is None:
        raise KeyError(kind)
    factory = ep.load()
    if not callable(factory):
        raise TypeError(f"entry point {ep.value} is not callable")
    return factory  # type: ignore[no-any-return]


def build_handler(context: HandlerContext) -> JobHandler:
    """The bot's handler; a plugin that fails to load or to build is a configuration error."""
    bot = context.bot
    kind = bot.handler.type
    try:
        factory = load_factory(kind)
    except KeyError:
        raise ConfigError(
            f"bot {bot.slug!r}: field 'handler.type': unknown handler {kind!r}"
        ) from None
    except Exception as exc:
        raise ConfigError(
            f"bot {bot.slug!r}: field 'handler.type': the {kind!r} plugin could not be loaded "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    # Apart from the lookup: a KeyError raised inside a plugin is the plugin refusing its
    # settings, not an unknown handler type.
    try:
        return factory(context)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"bot {bot.slug!r}: field 'handler': the {kind!r} handler refused its settings "
            f"({type(exc).__name__}: {exc})"
        ) from exc


class Dispatcher:
    """The worker's one handler: routes each job to its bot's handler."""

    def __init__(self, handlers: Mapping[str, JobHandler]) -> None:
        self._handlers = dict(handlers)

    async def __call__(self, job: Job) -> Outcome:
        handler = self._handlers.get(job.bot_slug)
        if handler is None:
            return Failed(f"bot {job.bot_slug!r} is not configured on this worker")
        return await handler(job)

    @classmethod
    def for_bots(cls, bots: tuple[BotConfig, ...], make_context: ContextMaker) -> "Dispatcher":
        return cls({bot.slug: build_handler(make_context(bot)) for bot in bots})
