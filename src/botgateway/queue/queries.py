"""Named SQL queries, loaded once from `sql/queries.sql` (the procrastinate layout)."""

import re
from functools import cache
from importlib.resources import files

_NAME_LINE = re.compile(r"^-- name: ([a-z_]+)\s*$", re.MULTILINE)


def parse_named_queries(text: str) -> dict[str, str]:
    """Split a file of `-- name: x` sections into {name: sql}; duplicate names are an error."""
    parts = _NAME_LINE.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


@cache
def queries() -> dict[str, str]:
    return parse_named_queries(files(__package__).joinpath("sql/queries.sql").read_text("utf-8"))


def query(name: str) -> str:
    return queries()[name]
