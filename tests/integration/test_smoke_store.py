import pytest

from botgateway.queue import NewJob, Store

pytestmark = pytest.mark.integration


async def test_enqueue_claim_complete_round_trip(store: Store) -> None:
    assert await store.enqueue(NewJob("bot", "discard", 1, '{"update_id": 1}'))
    jobs = await store.claim("w1", 10, __import__("datetime").timedelta(seconds=30))
    assert [j.update_id for j in jobs] == [1]
    assert await store.complete_many("w1", [jobs[0].held]) == {jobs[0].id}
    assert (await store.stats()).count("done") == 1
