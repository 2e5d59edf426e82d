"""Markdown helpers for the generated tables."""

import json
import re
from collections.abc import Sequence
from typing import Any

_PLACEHOLDER_WORD = re.compile(r"[\w./-]*<[\w-]+>[\w./-]*")


def cell(text: str) -> str:
    """Table-safe prose: no pipes, no line breaks, and a word like `<name>-config` in backticks
    (as bare text it would be taken for an HTML tag and vanish)."""
    text = text.replace("|", "\\|").replace("\n", " ")
    return _PLACEHOLDER_WORD.sub(lambda m: f"`{m[0]}`", text)


def code(text: str) -> str:
    """Inline code that survives a table cell (a pipe inside backticks still splits cells)."""
    return "`" + text.replace("|", "\\|") + "`"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def literal(value: Any) -> str:
    """A default as a reader would write it in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(", ", ": "))
