"""The Redis job queue with real worker processes (`kith worker`): coalescing across workers, acknowledgement.

Run when REDIS_URL is set (CI sets it); skipped otherwise.
"""

from __future__ import annotations

import asyncio

from tests.jobs.conftest import add_contacts, refresh_record, view_names, wait_until

from kith.readmodels.models import CONTACT_CARDS
from kith.tasks import jobs

CARDS = CONTACT_CARDS.hash_slices()[1].relation  # the slice of the tenant add_contacts makes first


async def _results(tasks, timeout: float = 30):
    return await asyncio.gather(*(t.wait_result(timeout=timeout) for t in tasks))


async def test_two_workers_never_refresh_a_view_at_once_and_coalesce_requests(jobs_db, gate, redis_jobs, workers):
    await add_contacts(jobs_db, ["Ada Lovelace"])
    workers.start("compute", jobs_db, concurrency=2)
    workers.start("compute", jobs_db, concurrency=2)
    await gate.close()
    first = await jobs.refresh.kiq(CARDS)
    await gate.wait_entered(1)

    await add_contacts(jobs_db, ["Grace Hopper"])
    during = [await jobs.refresh.kiq(CARDS) for _ in range(20)]
    results = await _results(during)
    assert all(not r.is_err for r in results), workers.logs()
    assert [r.return_value["refreshes"] for r in results] == [0] * 20  # all served by the pass running
    assert await gate.running_refreshes() == 1

    await gate.open()
    (result,) = await _results([first])
    assert not result.is_err, workers.logs()
    assert result.return_value == {"view": CARDS, "refreshes": 2}
    assert await gate.entered() == 2
    assert await gate.max_others() == 0
    assert {"Ada Lovelace", "Grace Hopper"} <= await view_names(jobs_db)


async def test_a_task_of_a_killed_worker_is_not_lost(jobs_db, gate, redis_jobs, workers):
    await add_contacts(jobs_db, ["Ada Lovelace"])
    before = await refresh_record(jobs_db)
    doomed = workers.start("compute", jobs_db, KITH_REDELIVER_AFTER="2")
    await gate.close()
    task = await jobs.refresh.kiq(CARDS)
    await gate.wait_entered(1)  # the worker is inside the refresh

    workers.kill(doomed)  # kill -9, manager and child: no acknowledgement, no goodbye
    # The server notices the dead client (client_connection_check_interval) and rolls the refresh back.
    await wait_until(lambda: _none_running(gate), 15, "the dead worker's refresh to be rolled back")
    assert await gate.committed_passes() == 0
    assert (await refresh_record(jobs_db))["as_of"] == before["as_of"]

    await gate.open()
    workers.start("compute", jobs_db, KITH_REDELIVER_AFTER="2")
    (result,) = await _results([task], timeout=30)
    assert not result.is_err, workers.logs()
    assert result.return_value == {"view": CARDS, "refreshes": 1}
    assert "took over message" in workers.logs()
    assert "Ada Lovelace" in await view_names(jobs_db)
    assert (await refresh_record(jobs_db))["as_of"] > before["as_of"]


async def test_a_long_task_is_not_handed_to_a_second_worker(jobs_db, gate, redis_jobs, workers):
    # Redelivery after 1 s of silence, a task of ~4 s: the running worker keeps its claim.
    workers.start("compute", jobs_db, KITH_REDELIVER_AFTER="1")
    workers.start("compute", jobs_db, KITH_REDELIVER_AFTER="1")
    await add_contacts(jobs_db, [])  # a tenant in the slice: its refresh reads the (gated) rows of each
    await gate.close()
    task = await jobs.refresh.kiq(CARDS)
    await gate.wait_entered(1)
    await asyncio.sleep(4)
    await gate.open()
    (result,) = await _results([task])
    assert result.return_value["refreshes"] == 1
    await asyncio.sleep(1.5)
    assert await gate.entered() == 1
    assert "took over message" not in workers.logs()


async def _none_running(gate) -> bool:
    return await gate.running_refreshes() == 0
