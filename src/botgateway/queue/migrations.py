"""Versioned schema migrations: `sql/migrations/NNNN_name.sql`, applied in version order."""

import re
from dataclasses import dataclass
from importlib.resources import files

from .errors import MigrationError

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    folder = files(__package__).joinpath("sql/migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def pending_migrations(all_migrations: list[Migration], applied: set[int]) -> list[Migration]:
    """What is left to apply, refusing a database that is ahead of this code."""
    known = {m.version for m in all_migrations}
    unknown = applied - known
    if unknown:
        raise MigrationError(
            f"the database has schema version(s) {sorted(unknown)} that this botgateway does not "
            "know: it is older than the one that migrated the database"
        )
    return [m for m in all_migrations if m.version not in applied]
