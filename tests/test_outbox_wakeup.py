"""The idle outbox sender writes nothing and is woken by the commit that queues a row:
in its own process, and on PostgreSQL from another process (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

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
    async with make_sessionmaker(engine)() as session:
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
