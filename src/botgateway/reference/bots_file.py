"""The bots file, from the contract's own declarations (`botgateway.contract`): each bot field's
description, the handler types and their options; defaults are recorded while the parser reads
a sample bot, and a field is required when the sample without it is refused."""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botgateway.contract import BUILTIN, PLUGIN_OPTIONS, ContractError
from botgateway.contract import bots_file as contract
from botgateway.contract.handlers import all_options, is_required, options_of
from botgateway.contract.limits import TOKEN, WEBHOOK_SECRET

from .errors import DriftError
from .markdown import cell, code, literal, table


class _RecordingDict(dict[str, Any]):
    """A mapping for the parser that records each absent field it asks for with a default."""

    def __init__(self, data: Mapping[str, Any], reads: dict[str, Any]) -> None:
        super().__init__(data)
        self._reads = reads

    def get(self, key: str, default: Any = None, /) -> Any:
        if key not in self:
            self._reads.setdefault(key, default)
        return super().get(key, default)


SAMPLE_BOT: dict[str, Any] = {"slug": "sample", "token": "1:sample", "handler": {"type": "discard"}}
"""The smallest bot the parser accepts: required fields are those it refuses to go without."""


@dataclass(frozen=True)
class BotField:
    path: str
    required: bool
    default: Any
    has_default: bool
    alternatives: tuple[str, ...] = field(default=())
    only_for: tuple[str, ...] = field(default=())
    """The handler types that take this option (empty: every bot, or every handler)."""


def _bot_level() -> Iterator[BotField]:
    reads: dict[str, Any] = {}
    contract.parse_bot(0, _RecordingDict(SAMPLE_BOT, reads))
    groups = {
        name: tuple(name + s for s in contract.SUFFIXES.values())
        for name in contract.BOT_FIELDS
        if name + "File" in contract.BOT_FIELDS
    }
    for path in contract.BOT_FIELDS:
        base = next((g for g, members in groups.items() if path in members), path)
        try:
            contract.parse_bot(0, {k: v for k, v in SAMPLE_BOT.items() if k != base})
            required = False
        except ContractError:
            required = True
        default = reads.get(path)
        yield BotField(
            path,
            required,
            default,
            default is not None,
            alternatives=groups.get(base, ()),
        )


def bot_fields() -> list[BotField]:
    fields = list(_bot_level())
    fields.append(BotField("handler.type", True, None, False))
    for key, (_, types) in all_options().items():
        declared = [f for name in types for f, o in options_of(BUILTIN[name]) if o.key == key]
        default = declared[0].default if not is_required(declared[0]) else None
        only = () if set(types) == set(BUILTIN) else types
        fields.append(
            BotField(
                f"handler.{key}", is_required(declared[0]), default, default is not None, (), only
            )
        )
    fields.append(BotField(f"handler.{PLUGIN_OPTIONS}", False, None, False))
    return fields


def bot_docs() -> dict[str, str]:
    """Each field's description, from the contract's declarations."""
    docs = dict(contract.BOT_FIELDS)
    docs["token"] = docs["token"].rstrip(".") + f" (`{TOKEN.pattern}`)."
    docs["webhookSecret"] += f" It must match `{WEBHOOK_SECRET.pattern}`."
    docs["handler.type"] = (
        "One of "
        + ", ".join(f"`{h}`" for h in BUILTIN)
        + ", or a plugin's name. Fields a handler type does not take are refused."
    )
    for key, (opt, _) in all_options().items():
        docs[f"handler.{key}"] = opt.description
    docs[f"handler.{PLUGIN_OPTIONS}"] = (
        "A plugin handler's own settings, passed to the plugin as written "
        "(refused on built-in types)."
    )
    return docs


def check_bot_docs(fields: Sequence[BotField], docs: Mapping[str, str] | None = None) -> None:
    docs = bot_docs() if docs is None else docs
    read = {f.path for f in fields}
    where = "src/botgateway/contract/ (BOT_FIELDS or the handler option)"
    problems = [
        f"bots-file field {p} has no description: add it in {where}"
        for p in sorted(read - set(docs))
    ]
    problems += [
        f"bots-file field {p} is described but the parser no longer knows it: "
        f"remove it from {where}"
        for p in sorted(set(docs) - read)
    ]
    if problems:
        raise DriftError("\n".join(problems))


def render_bots_file() -> str:
    fields = bot_fields()
    docs = bot_docs()
    check_bot_docs(fields, docs)
    rows = []
    for f in fields:
        if f.alternatives:
            others = ", ".join(code(a) for a in f.alternatives if a != f.path)
            need = "exactly one of this, " if f.required else "at most one of this, "
            notes = need + others
        else:
            notes = "**required**" if f.required else "optional"
        if f.only_for:
            notes = f"{', '.join(code(t) for t in f.only_for)} only; {notes}"
        default = code(literal(f.default)) if f.has_default else ""
        rows.append([code(f.path), default, notes, cell(docs[f.path])])
    return (
        "Fields of each entry of `bots:` (the only top-level key), from the contract "
        "(`src/botgateway/contract/`), which both the gateway's parser and the operator use:\n\n"
        + table(["field", "default", "presence", "meaning"], rows)
    )
