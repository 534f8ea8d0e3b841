"""The idle outbox sender writes nothing and is woken by the commit that queues a row:
in its own process, and on PostgreSQL from another process (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.emulator import Limits
from bot.sender import OutboxSender, SenderLimits
from bot.wakeup import OutboxWakeup
from models.db import make_engine, make_sessionmaker
from services import outbox
from services.clock import ManualClock
from tests.test_outbox import make_bot
from tests.test_per_update import SqlLog

SLOW_POLL = SenderLimits(max_per_second=200, per_chat_seconds=0.0, poll_seconds=0.05,
                         idle_poll_seconds=60.0)


async def queue_one(engine: AsyncEngine, clock: ManualClock, text: str) -> None:
    """As another replica: its own engine and sessionmaker, with the wake-up every bot
    process has (build_app), whose commit sends the NOTIFY."""
    sm = make_sessionmaker(engine)
    OutboxWakeup(sm)
    async with sm() as session:
        outbox.enqueue(session, [5], kind="info", text=text, now=clock.now())
        await session.commit()


async def delivered(api: Any, text: str, within: float) -> None:
    async with asyncio.timeout(within):
        while text not in [x for _, _, x in api.delivered]:
            await asyncio.sleep(0.02)


async def test_idle_sender_writes_nothing_and_wakes_on_commit(
        engine: AsyncEngine, clock: ManualClock, api: Any) -> None:
    sm = make_sessionmaker(engine)
    bot = make_bot(api)
    wakeup = OutboxWakeup(sm)
    sender = OutboxSender(bot, sm, clock, SLOW_POLL, wakeup=wakeup)
    sender.start()
    try:
        await asyncio.sleep(1.0)  # its start-up (recovery, clearing an old halt) is done
        with SqlLog(engine) as log:
            await asyncio.sleep(1.0)
        assert log.writes() == []  # idle: at most a look, never an UPDATE
        # Queued in this process: the commit wakes the sender long before its 60 s poll.
        async with sm() as session:
            outbox.enqueue(session, [5], kind="info", text="same-process", now=clock.now())
            await session.commit()
        await delivered(api, "same-process", within=3)
        if engine.dialect.name == "postgresql":
            # Another replica (its own engine and sessionmaker) queues: NOTIFY wakes us.
            other = make_engine(engine.url.render_as_string(hide_password=False))
            try:
                await queue_one(other, clock, "other-replica")
            finally:
                await other.dispose()
            await delivered(api, "other-replica", within=3)
    finally:
        await sender.stop()
        wakeup.close()
        await bot.session.close()


async def test_a_rolled_back_queue_wakes_nobody(engine: AsyncEngine, clock: ManualClock) -> None:
    sm = make_sessionmaker(engine)
    wakeup = OutboxWakeup(sm)
    try:
        async with sm() as session:
            outbox.enqueue(session, [5], kind="info", text="never", now=clock.now())
            await session.rollback()
            await session.commit()
        assert not wakeup.event.is_set()
        async with sm() as session:
            outbox.enqueue(session, [5], kind="info", text="yes", now=clock.now())
            await session.commit()
        assert wakeup.event.is_set()
    finally:
        wakeup.close()


async def test_two_senders_share_the_chat_pace_through_redis(
        engine: AsyncEngine, clock: ManualClock, api: Any) -> None:
    """Two replicas' senders, each holding rows for one chat: with the Redis pacer they
    never send to it closer than the per-chat interval (the peer counts 429s)."""
    from redis.asyncio import Redis

    from bot.pacing import RedisPacer
    from tests.conftest import external_url

    redis = Redis.from_url(external_url("TEST_REDIS_URL"))
    await redis.delete("minyi-test:chat:5")
    sm = make_sessionmaker(engine)
    async with sm() as session:
        for i in range(12):
            outbox.enqueue(session, [5], kind="info", text=f"m{i}", now=clock.now())
        await session.commit()
    api.enforce_limits = True  # one message per 0.15 s per chat, else 429
    api.limits = Limits(per_second=1000, chat_burst=1, chat_per_second=1 / 0.15)
    limits = SenderLimits(max_per_second=5, per_chat_seconds=0.3, poll_seconds=0.02)
    bots = [make_bot(api), make_bot(api)]
    senders = [OutboxSender(b, sm, clock, limits,  # 0.3 s apart: a margin for latency
                            pacer=RedisPacer(redis, 0.3, 100, prefix="minyi-test"))
               for b in bots]
    for sender in senders:  # each replica has claimed six of the chat's messages
        async with sm() as session:
            sender.in_hand = await outbox.claim(session, clock.now(), 6)
    try:
        await asyncio.gather(*(s.drain() for s in senders))
    finally:
        for b in bots:
            await b.session.close()
        await redis.aclose()
    assert [s.sent for s in senders] == [6, 6]
    assert api.too_many == 0 and len(api.delivered) == 12


async def test_claim_takes_at_most_its_limit(engine: AsyncEngine, clock: ManualClock) -> None:
    """(PostgreSQL ran `IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` twice: 12 of 12.)"""
    sm = make_sessionmaker(engine)
    async with sm() as session:
        outbox.enqueue(session, range(1, 13), kind="info", text="x", now=clock.now())
        await session.commit()
    async with sm() as session:
        first = await outbox.claim(session, clock.now(), 6)
    async with sm() as session:
        second = await outbox.claim(session, clock.now(), 10)
    assert len(first) == 6 and len(second) == 6
    assert not {r.id for r in first} & {r.id for r in second}
