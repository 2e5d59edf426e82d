import pytest

from botgateway.queue.errors import MigrationError
from botgateway.queue.migrations import Migration, load_migrations, pending_migrations
from botgateway.queue.queries import parse_named_queries, queries

pytestmark = pytest.mark.unit


def test_named_queries_parse_into_sections() -> None:
    parsed = parse_named_queries("-- name: a\nSELECT 1;\n\n-- name: b\n-- why\nSELECT 2;\n")
    assert parsed == {"a": "SELECT 1;", "b": "-- why\nSELECT 2;"}


def test_duplicate_query_names_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        parse_named_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")


def test_shipped_queries_include_every_store_operation() -> None:
    expected = {
        "enqueue_many",
        "claim",
        "heartbeat",
        "complete_many",
        "retry",
        "dead_letter",
        "release",
        "stuck_candidates",
        "purge_done_batch",
        "stats",
        "requeue_dead",
        "job_detail",
    }
    assert expected <= set(queries())


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))


def test_pending_skips_applied_and_refuses_a_newer_database() -> None:
    ms = [Migration(1, "a", ""), Migration(2, "b", "")]
    assert [m.version for m in pending_migrations(ms, {1})] == [2]
    with pytest.raises(MigrationError, match="does not know"):
        pending_migrations(ms, {1, 2, 3})
