"""The bots file (`BOTGATEWAY_CONFIG`) as typed values: `parse` checks its shape and every field,
`dump` writes it back. The gateway parses it; the operator builds one and dumps it, so the two
cannot disagree about a field. Reading the secrets a bot names (a file, a variable) is I/O and
stays with the gateway."""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ContractError
from .handlers import HandlerConfig, dump_handler, parse_handler
from .limits import SLUG, SLUG_RULE
from .secrets import SUFFIXES as SUFFIXES
from .secrets import SecretSource as SecretSource
from .secrets import read_source


@dataclass(frozen=True)
class BotEntry:
    slug: str
    token: SecretSource
    handler: HandlerConfig
    webhook_secret: SecretSource | None = None
    chat_ordering: bool = False


@dataclass(frozen=True)
class BotsFile:
    bots: tuple[BotEntry, ...]


BOT_FIELDS: Mapping[str, str] = {
    "slug": f"The bot's path segment, `POST /webhook/{{slug}}`: `{SLUG.pattern}`, unique in the "
    "file.",
    "token": "The bot token from @BotFather.",
    "tokenFile": "A file holding the token (relative to the bots file); e.g. a mounted Secret.",
    "tokenEnv": "An environment variable holding the token.",
    "webhookSecret": "The secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token`. Without "
    "one, requests are not authenticated.",
    "webhookSecretFile": "A file holding the webhook secret (relative to the bots file).",
    "webhookSecretEnv": "An environment variable holding the webhook secret.",
    "chatOrdering": "Handle one chat's updates one at a time, in `update_id` order.",
    "handler": "What the worker does with each update.",
}
"""Each bot's fields, with the README's description."""


class BotsFileError(ContractError):
    """A refused field of bot `index` (`slug` when it had a valid one)."""

    def __init__(self, index: int | None, slug: str | None, field: str, problem: str) -> None:
        self.index = index
        self.slug = slug
        super().__init__(field, problem)
        where = "" if index is None else f"bot {self.label}: "
        self.args = (f"{where}{problem}" if field == "" else f"{where}field {field!r}: {problem}",)

    @property
    def label(self) -> str:
        at = f"bots[{self.index}]"
        return f"{self.slug!r} ({at})" if self.slug else at


def parse(document: object, plugin_types: Collection[str] | None = None) -> BotsFile:
    """The whole file; `plugin_types` (when known) are the installed handler plugins."""
    if not isinstance(document, Mapping) or "bots" not in document:
        raise BotsFileError(None, None, "", "expected a mapping with a `bots:` list at the top")
    extra = sorted(str(k) for k in set(document) - {"bots"})
    if extra:
        raise BotsFileError(None, None, "", f"unknown top-level field(s) {', '.join(extra)}")
    entries = document["bots"]
    if not isinstance(entries, list) or not entries:
        raise BotsFileError(None, None, "", "`bots` must be a non-empty list")
    bots: list[BotEntry] = []
    # A set: a fleet's file lists thousands of bots, and a scan per bot took seconds.
    slugs: set[str] = set()
    for index, raw in enumerate(entries):
        bot = parse_bot(index, raw, plugin_types)
        if bot.slug in slugs:
            raise BotsFileError(index, bot.slug, "slug", "duplicate slug: slugs must be unique")
        slugs.add(bot.slug)
        bots.append(bot)
    return BotsFile(tuple(bots))


def parse_bot(index: int, raw: object, plugin_types: Collection[str] | None = None) -> BotEntry:
    if not isinstance(raw, Mapping):
        raise BotsFileError(index, None, "", "each bot must be a mapping")
    slug = raw.get("slug")
    if not isinstance(slug, str) or not SLUG.match(slug):
        problem = "missing; give " if slug is None else f"{slug!r} is not "
        raise BotsFileError(index, None, "slug", problem + SLUG_RULE)
    try:
        unknown = sorted(str(k) for k in set(raw) - set(BOT_FIELDS))
        if unknown:
            raise ContractError(unknown[0], "unknown field")
        token = read_source(raw, "token")
        if token is None:
            raise ContractError("token", "missing; give one of token, tokenFile or tokenEnv")
        ordering = raw.get("chatOrdering", False)
        if not isinstance(ordering, bool):
            raise ContractError("chatOrdering", "must be true or false")
        return BotEntry(
            slug=slug,
            token=token,
            handler=parse_handler(raw.get("handler"), plugin_types),
            webhook_secret=read_source(raw, "webhookSecret"),
            chat_ordering=ordering,
        )
    except ContractError as exc:
        raise BotsFileError(index, slug, exc.field, exc.problem) from None


def dump(bots_file: BotsFile) -> dict[str, Any]:
    """The document `parse` reads back as `bots_file`; fields at their default are left out."""
    return {"bots": [dump_bot(b) for b in bots_file.bots]}


def dump_bot(bot: BotEntry) -> dict[str, Any]:
    entry: dict[str, Any] = {"slug": bot.slug, bot.token.key("token"): bot.token.value}
    if bot.webhook_secret is not None:
        entry[bot.webhook_secret.key("webhookSecret")] = bot.webhook_secret.value
    if bot.chat_ordering:
        entry["chatOrdering"] = True
    entry["handler"] = dump_handler(bot.handler)
    return entry
