"""The bots file, from the parser's own field sets."""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botgateway.service import bots as bots_module
from botgateway.service.errors import ConfigError

from .errors import DriftError
from .markdown import cell, code, literal, table


class _RecordingDict(dict[str, Any]):
    """A mapping for the parser that records each absent field it asks for with a default."""

    def __init__(self, data: Mapping[str, Any], reads: dict[str, Any], prefix: str) -> None:
        super().__init__(data)
        self._reads = reads
        self._prefix = prefix

    def get(self, key: str, default: Any = None, /) -> Any:
        if key not in self:
            self._reads.setdefault(self._prefix + key, default)
        return super().get(key, default)


SAMPLE_BOT: dict[str, Any] = {
    "slug": "sample",
    "token": "1:sample",
    "handler": {"type": "forward", "url": "http://backend.invalid/updates"},
}
"""The smallest bot the parser accepts: required fields are those it refuses to go without."""


def _parse_sample(bot: Mapping[str, Any], reads: dict[str, Any] | None = None) -> None:
    reads = {} if reads is None else reads
    entry = dict(bot)
    if isinstance(entry.get("handler"), Mapping):
        entry["handler"] = _RecordingDict(entry["handler"], reads, "handler.")
    bots_module.parse_bots({"bots": [_RecordingDict(entry, reads, "")]}, {})


def _without(bot: Mapping[str, Any], path: str) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    copy = dict(bot)
    if rest:
        copy[head] = _without(copy[head], rest)
    else:
        del copy[head]
    return copy


def _paths(node: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in node.items():
        yield prefix + key
        if isinstance(value, Mapping):
            yield from _paths(value, f"{prefix}{key}.")


@dataclass(frozen=True)
class BotField:
    path: str
    required: bool
    default: Any
    has_default: bool
    alternatives: tuple[str, ...] = field(default=())
    forward_only: bool = False


def bot_fields() -> list[BotField]:
    """The parser's fields; defaults recorded while it parses SAMPLE_BOT; a field is required
    when SAMPLE_BOT without it is refused."""
    known = list(bots_module._BOT_FIELDS) + [
        "handler." + f for f in sorted(bots_module._FORWARD_FIELDS)
    ]
    forward_only = {"handler." + f for f in bots_module._FORWARD_FIELDS} - {"handler.type"}
    reads: dict[str, Any] = {}
    _parse_sample(SAMPLE_BOT, reads)
    required: set[str] = set()
    for path in _paths(SAMPLE_BOT):
        try:
            _parse_sample(_without(SAMPLE_BOT, path))
        except ConfigError:
            required.add(path)
    # value / File / Env triples: exactly one source
    groups = {
        name: (name, f"{name}File", f"{name}Env")
        for name in known
        if f"{name}File" in known and f"{name}Env" in known
    }
    result = []
    for path in known:
        default = reads.get(path)
        base = next((g for g, members in groups.items() if path in members), None)
        result.append(
            BotField(
                path=path,
                required=path in required or (base is not None and base in required),
                default=default,
                has_default=default is not None,
                alternatives=groups.get(base, ()) if base is not None else (),
                forward_only=path in forward_only,
            )
        )
    return result


BOT_DOCS: dict[str, str] = {
    "slug": f"The bot's path segment, `POST /webhook/{{slug}}`: `{bots_module.SLUG.pattern}`, "
    "unique in the file.",
    "token": f"The bot token from @BotFather (`{bots_module.TOKEN.pattern}`).",
    "tokenFile": "A file holding the token (relative to the bots file); e.g. a mounted Secret.",
    "tokenEnv": "An environment variable holding the token.",
    "webhookSecret": "The secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token`: "
    f"`{bots_module.WEBHOOK_SECRET.pattern}`. Without one, requests are not authenticated.",
    "webhookSecretFile": "A file holding the webhook secret (relative to the bots file).",
    "webhookSecretEnv": "An environment variable holding the webhook secret.",
    "chatOrdering": "Handle one chat's updates one at a time, in `update_id` order.",
    "handler": "What the worker does with each update.",
    "handler.type": "One of "
    + ", ".join(f"`{h}`" for h in sorted(bots_module.BUILTIN_HANDLERS))
    + ", or a plugin's name (a plugin reads any other fields of `handler:`).",
    "handler.url": "Where each update is POSTed (http or https).",
    "handler.timeoutSeconds": "Request timeout, in (0, 3600] seconds.",
}


def check_bot_docs(fields: Sequence[BotField], docs: Mapping[str, str] = BOT_DOCS) -> None:
    read = {f.path for f in fields}
    problems = [
        f"bots-file field {p} has no description: add it to BOT_DOCS in "
        "src/botgateway/reference/bots_file.py"
        for p in sorted(read - set(docs))
    ]
    problems += [
        f"bots-file field {p} is described but the parser no longer knows it: remove it from "
        "BOT_DOCS in src/botgateway/reference/bots_file.py"
        for p in sorted(set(docs) - read)
    ]
    if problems:
        raise DriftError("\n".join(problems))


def render_bots_file() -> str:
    fields = bot_fields()
    check_bot_docs(fields)
    order = {p: i for i, p in enumerate(BOT_DOCS)}
    rows = []
    for f in sorted(fields, key=lambda f: order[f.path]):
        if f.alternatives:
            others = ", ".join(code(a) for a in f.alternatives if a != f.path)
            need = "exactly one of this, " if f.required else "at most one of this, "
            notes = need + others
        else:
            notes = "**required**" if f.required else "optional"
        if f.forward_only:
            notes = f"`forward` only; {notes}"
        default = code(literal(f.default)) if f.has_default else ""
        rows.append([code(f.path), default, notes, cell(BOT_DOCS[f.path])])
    return (
        "Fields of each entry of `bots:` (the only top-level key), from the parser "
        "(`src/botgateway/service/bots.py`):\n\n"
        + table(["field", "default", "presence", "meaning"], rows)
    )
