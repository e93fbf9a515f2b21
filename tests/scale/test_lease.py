"""The scheduler lease on SQLite and PostgreSQL: acquire, renew, expire, takeover, release."""

from __future__ import annotations

import asyncio

from aiogram import Bot
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import check_panel_currency, create_dispatcher
from bot.config import load_settings
from bot.coordination import LEASE_JOB_ID, LeaderLease
from bot.panel import PanelClient
from sandbox.panel_simulator import SimulatorHandle
from storage.repositories.coordination import LeaseRepository
from tests.conftest import SIM_KEY

SECONDS = 0.8


def lease(session_factory: async_sessionmaker[AsyncSession], holder: str, **kw: float) -> LeaderLease:
    return LeaderLease(session_factory, holder=holder, seconds=kw.get("seconds", SECONDS))


async def holder(session_factory: async_sessionmaker[AsyncSession]) -> str | None:
    async with session_factory() as session:
        return await LeaseRepository(session).current_holder("scheduler")


async def test_first_comer_acquires_and_others_wait(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    a, b = lease(session_factory, "a"), lease(session_factory, "b")
    assert not a.is_leader
    assert await a.tick() is True
    assert a.is_leader and a.term == 1
    assert await b.tick() is False
    assert not b.is_leader
    assert await holder(session_factory) == "a"


async def test_a_process_owning_the_database_takes_over_a_dead_predecessors_lease_at_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """SQLite after a crash: the new process is the leader at start-up, not LEASE_SECONDS later."""
    crashed = LeaderLease(session_factory, holder="crashed", seconds=3600)
    assert await crashed.tick() is True  # and then it died, holding the lease for an hour
    restarted = LeaderLease(session_factory, holder="restarted", seconds=3600)
    assert await restarted.tick() is False
    assert await restarted.take_over() is True
    assert restarted.is_leader and restarted.term == 2
    assert await holder(session_factory) == "restarted"


async def test_renewal_keeps_the_term_and_extends_the_lease(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    a, b = lease(session_factory, "a"), lease(session_factory, "b")
    await a.tick()
    async with session_factory() as session:
        first = await LeaseRepository(session).get("scheduler")
    assert first is not None
    for _ in range(4):  # renewing for longer than one lease keeps it
        await asyncio.sleep(SECONDS / 3)
        assert await a.tick() is True
        assert await b.tick() is False
    async with session_factory() as session:
        renewed = await LeaseRepository(session).get("scheduler")
    assert renewed is not None
    assert renewed.holder == "a" and renewed.term == 1
    assert renewed.expires_at > first.expires_at
    assert renewed.acquired_at == first.acquired_at


async def test_expired_lease_is_taken_over_and_the_old_holder_steps_down(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    a, b = lease(session_factory, "a"), lease(session_factory, "b")
    await a.tick()
    # `a` stops renewing (it hangs, or lost the database): it stops acting as leader on its own
    # clock before the row expires, and only then may `b` take over.
    await asyncio.sleep(SECONDS * 0.8)
    assert not a.is_leader
    await asyncio.sleep(SECONDS * 0.5)  # now past the row's expiry too
    assert await b.tick() is True
    assert b.term == 2
    assert await holder(session_factory) == "b"
    assert await a.tick() is False  # back again: the lease is b's now
    assert not a.is_leader


async def test_release_hands_over_at_once(session_factory: async_sessionmaker[AsyncSession]) -> None:
    a, b = lease(session_factory, "a", seconds=30), lease(session_factory, "b", seconds=30)
    await a.tick()
    assert await b.tick() is False
    await a.release()
    assert not a.is_leader
    assert await holder(session_factory) is None
    assert await b.tick() is True
    assert b.term == 2
    await a.release()  # not the holder any more: no effect
    assert await holder(session_factory) == "b"


async def test_concurrent_candidates_elect_exactly_one(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    candidates = [lease(session_factory, f"node-{i}", seconds=30) for i in range(8)]
    results = await asyncio.gather(*(c.tick() for c in candidates))
    assert sum(results) == 1
    winner = candidates[results.index(True)]
    assert await holder(session_factory) == winner.holder
    # And again once the winner is gone and its lease released: again exactly one.
    await winner.release()
    rest = [c for c in candidates if c is not winner]
    results = await asyncio.gather(*(c.tick() for c in rest))
    assert sum(results) == 1


async def test_a_holder_that_cannot_reach_the_database_stops_before_expiry(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    a = lease(session_factory, "a")
    await a.tick()

    def broken() -> None:
        raise ConnectionError("database down")

    a.session_factory = broken  # type: ignore[assignment]
    assert await a.tick() is True  # a failed renewal is survived while the lease is young
    await asyncio.sleep(SECONDS * 0.8)
    assert await a.tick() is False  # never raises; no longer the leader
    assert not a.is_leader


async def test_jobs_run_only_on_the_leader(session_factory: async_sessionmaker[AsyncSession]) -> None:
    a, b = lease(session_factory, "a", seconds=30), lease(session_factory, "b", seconds=30)
    ran: list[str] = []

    async def job(name: str) -> str:
        ran.append(name)
        return name

    await a.tick()
    await b.tick()
    assert await a.only(job)("a") == "a"
    assert await b.only(job)("b") is None
    assert ran == ["a"]


async def test_every_scheduled_job_but_the_lease_tick_waits_for_the_lease(
    session_factory: async_sessionmaker[AsyncSession], sim: SimulatorHandle, panel: PanelClient
) -> None:
    """The composition root wraps each job it adds: an instance without the lease does nothing."""
    settings = load_settings(
        _env_file=None,
        bot_token="123:TEST",
        panel_api_url=sim.url,
        panel_api_key=SIM_KEY,
        admin_ids="1",
        database_url="sqlite+aiosqlite://",
        crypto_pay_token="1:CRYPTO",
    )
    bot = Bot(settings.bot_token.get_secret_value())
    try:
        dispatcher = create_dispatcher(settings, bot=bot, session_factory=session_factory, panel=panel)
        scheduler: AsyncIOScheduler = dispatcher.workflow_data["scheduler"]
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert {"order_tracking", "notifier", "catalog", "topup_expire", "cryptopay_poll"} <= set(jobs)
        assert jobs.pop(LEASE_JOB_ID).func == dispatcher.workflow_data["leader"].tick
        # Every instance sells, so every instance checks the panel's currency (bot/app.py): not leased.
        assert jobs.pop("panel_currency").func is check_panel_currency
        for job in jobs.values():
            assert await job.func(*job.args, **job.kwargs) is None, job.id
        assert sim.state.requests == []  # not even the panel was asked
    finally:
        await bot.session.close()
