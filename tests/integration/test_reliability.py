"""The bounded reliability run (`make reliability` runs it longer): real webhook and worker
processes under steady load while workers are SIGKILLed at random and PostgreSQL restarts once.
No update answered 200 may be lost; duplicates stay within the bound that kills allow; the logs
never show the bot token or the webhook secret."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.run import Scenario, run_scenario
from tests.support.postgres import TestPostgres

pytestmark = pytest.mark.integration

SCENARIO = Scenario(
    duration_s=25.0,
    rate=80.0,
    workers=3,
    concurrency=8,
    stuck_timeout_s=5.0,
    kill_every_s=(2.0, 5.0),
    drain_timeout_s=90.0,
)


@pytest.fixture
def restartable(postgres: TestPostgres) -> Iterator[TestPostgres]:
    if not postgres.can_restart:
        pytest.skip("the reliability run restarts the embedded PostgreSQL: TEST_DATABASE_URL set")
    yield postgres
    postgres.start()


async def test_no_update_is_lost_whatever_dies(restartable: TestPostgres, tmp_path: Path) -> None:
    database_url = await restartable.create_database(migrated=False)
    try:
        outcome = await run_scenario(
            SCENARIO, restartable, database_url, tmp_path, log_dir=tmp_path / "logs"
        )
    finally:
        await restartable.drop_database(database_url)
    figures = outcome.figures
    table = figures.table()
    print(f"\n{table}\nseed {SCENARIO.seed}; {outcome.janitor}")
    context = f"\n{table}\nseed {SCENARIO.seed}, logs in {tmp_path / 'logs'}"

    # The run proves something only if things died while updates flowed.
    assert figures.kills_mid_load >= 1, context
    assert figures.jobs_held_at_kills >= 1, f"no kill hit a worker holding jobs{context}"
    assert figures.database_outages_mid_load == 1, context
    assert figures.webhook_kills == 1, context
    assert figures.connection_errors >= 1, f"Telegram never saw the webhook die{context}"
    assert figures.answers_503 >= 1, f"the outage was never seen by the webhook{context}"

    assert figures.lost == 0, context
    assert figures.accepted == figures.sent, context
    assert figures.other_answers == 0, context
    assert figures.unexpected == 0, context
    assert (figures.pending, figures.running, figures.dead) == (0, 0, 0), context
    assert figures.extra_deliveries <= figures.bound, context
    assert (figures.token_lines, figures.secret_lines) == (0, 0), context
    assert figures.non_json_lines == 0, context
    assert figures.problems() == [], context
    assert set(outcome.exit_codes.values()) == {0}, outcome.exit_codes
