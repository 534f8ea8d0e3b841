"""The outbox sender against a Bot API peer that misbehaves on a schedule."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

import sqlalchemy as sa
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.emulator import Emulator
from bot.sender import OutboxSender, SenderLimits
from models import OutboxMessage, OutboxState, Person
from models.db import make_sessionmaker
from services import outbox, people
from services.clock import ManualClock
from services.texts import t
from tests.conftest import Org

TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz"
FAST = SenderLimits(max_per_second=200, per_chat_seconds=0.0, poll_seconds=0.05)


def make_bot(api: Emulator, timeout: float = 5.0) -> Bot:
    return Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base),
                                             timeout=timeout),
               default=DefaultBotProperties(parse_mode=ParseMode.HTML))


async def queue(sm: async_sessionmaker, clock: ManualClock,  # type: ignore[type-arg]
                rows: list[tuple[int, str, list[str], int]]) -> None:
    async with sm() as session:
        for chat, text, photos, prio in rows:
            outbox.enqueue(session, [chat], kind="info", text=text, now=clock.now(),
                           photos=photos, priority=prio)
        await session.commit()


async def states(sm: async_sessionmaker) -> Counter[str]:  # type: ignore[type-arg]
    async with sm() as session:
        return Counter(s.value for s in await session.scalars(sa.select(OutboxMessage.state)))


async def drain_until_done(sender: OutboxSender, sm: async_sessionmaker,  # type: ignore[type-arg]
                           clock: ManualClock, rounds: int = 30) -> None:
    """Drain; move the clock past every backoff; repeat until nothing is pending."""
    for _ in range(rounds):
        await sender.drain()
        if (await states(sm))["pending"] == 0:
            return
        clock.advance(dt.timedelta(minutes=10))
    raise AssertionError("outbox never drained")


async def test_storm_every_message_once_or_failed_with_reason(
        engine: AsyncEngine, org: Org, clock: ManualClock, api: Emulator) -> None:
    sm = make_sessionmaker(engine)
    dispatcher = await org.person("staff-dispatch-1")
    blocked, missing = 777001, 777002
    rows = [(700000 + i % 12, f"msg-{i}", ["PH1"] if i % 7 == 0 else [], i % 3 * 4)
            for i in range(60)]
    rows += [(blocked, "to-blocked-1", [], 5), (blocked, "to-blocked-2", [], 5),
             (missing, "to-missing", [], 5), (700001, "album", ["A1", "A2"], 5)]
    async with sm() as session:
        session.add(Person(tg_user_id=blocked, name="屏蔽者", created_at=clock.now()))
        await session.commit()
    await queue(sm, clock, rows)
    # The injected timeout (3 s, never delivered) must stand well clear of the client's
    # 2 s limit: a loaded machine can be slow on a normal call, and a call the peer did
    # deliver but the client gave up on is sent again (at-least-once), not a fault here.
    api.faults.schedule = {3: ("429", 1), 5: ("500",), 8: ("timeout", 3), 10: ("502",),
                  11: ("500",), 20: ("latency", 0.3)}
    api.blocked, api.missing = {blocked}, {missing}
    bot = make_bot(api, timeout=2.0)
    try:
        await drain_until_done(OutboxSender(bot, sm, clock, FAST), sm, clock)
    finally:
        await bot.session.close()
    texts = Counter(text for _, _, text in api.delivered)
    for _, text, _, _ in rows:
        if "blocked" in text or "missing" in text:
            assert texts[text] == 0
        else:
            assert texts[text] == 1, text
    async with sm() as session:
        by_text = {r.text: r for r in await session.scalars(sa.select(OutboxMessage))}
        assert by_text["to-blocked-1"].state == OutboxState.BLOCKED
        assert "403" in by_text["to-blocked-1"].last_error
        assert by_text["to-missing"].state == OutboxState.BLOCKED
        assert "chat not found" in by_text["to-missing"].last_error
        assert by_text["msg-2"].state == OutboxState.SENT and by_text["msg-2"].tg_message_id
        person = await session.scalar(sa.select(Person).where(Person.tg_user_id == blocked))
        assert person is not None and person.unreachable_at is not None
        told = list(await session.scalars(sa.select(OutboxMessage).where(
            OutboxMessage.kind == "unreachable",
            OutboxMessage.chat_id == dispatcher.tg_user_id)))
    # Told once about the blocked person (two messages failed), once about nobody else
    # (the missing chat has no person record).
    assert len(told) == 1 and "屏蔽者" in told[0].text
    assert told[0].text == t("ob_unreachable", name="屏蔽者",
                             reason="403 Forbidden: bot was blocked by the user")
    album = [(m, c) for m, c, txt in api.delivered if c == 700001 and m == "sendMediaGroup"]
    assert len(album) == 1
    assert (await states(sm))["sending"] == 0


async def test_server_errors_give_up_after_max_attempts(
        engine: AsyncEngine, clock: ManualClock, api: Emulator) -> None:
    sm = make_sessionmaker(engine)
    await queue(sm, clock, [(1, "never", [], 5)])
    api.faults.methods.add("sendMessage")
    bot = make_bot(api)
    try:
        await drain_until_done(OutboxSender(bot, sm, clock, SenderLimits(
            max_per_second=100, max_attempts=3, poll_seconds=0.05)), sm, clock)
    finally:
        await bot.session.close()
    async with sm() as session:
        row = await session.scalar(sa.select(OutboxMessage))
    assert row is not None and row.state == OutboxState.FAILED and row.attempts == 3
    assert "Internal Server Error" in row.last_error


async def test_priority_and_per_chat_pacing(engine: AsyncEngine, clock: ManualClock,
                                            api: Emulator) -> None:
    sm = make_sessionmaker(engine)
    await queue(sm, clock, [(1, "info-1", [], 5), (2, "info-2", [], 9),
                            (3, "urgent", [], 0), (1, "info-1b", [], 5)])
    api.enforce_limits = True  # ~30/s per bot, one per 0.9 s per chat
    bot = make_bot(api)
    try:
        await OutboxSender(bot, sm, clock, SenderLimits(max_per_second=50,
                                                        per_chat_seconds=1.0)).drain()
    finally:
        await bot.session.close()
    order = [text for _, _, text in api.delivered]
    assert order[0] == "urgent" and order.index("info-1") < order.index("info-2")
    assert sorted(order) == ["info-1", "info-1b", "info-2", "urgent"]
    assert api.too_many == 0  # the second message to chat 1 waited its second


async def test_a_dead_senders_claims_are_recovered(engine: AsyncEngine, clock: ManualClock,
                                                  api: Emulator) -> None:
    sm = make_sessionmaker(engine)
    await queue(sm, clock, [(1, "claimed-then-crash", [], 5)])
    async with sm() as session:
        [row] = await outbox.claim(session, clock.now(), 10)  # a sender took it and died
    assert row.state == OutboxState.SENDING
    bot = make_bot(api)
    sender = OutboxSender(bot, sm, clock, FAST)
    try:
        await sender.drain()
        assert api.delivered == []  # still within its lease
        clock.advance(dt.timedelta(seconds=FAST.lease_seconds + 1))
        await sender._recover()
        await sender.drain()
    finally:
        await bot.session.close()
    assert [text for _, _, text in api.delivered] == ["claimed-then-crash"]


async def test_two_senders_never_double_send(engine: AsyncEngine, clock: ManualClock,
                                             api: Emulator) -> None:
    sm = make_sessionmaker(engine)
    await queue(sm, clock, [(800000 + i % 40, f"m{i}", [], i % 2) for i in range(300)])
    api.faults.schedule = {n: ("latency", 0.01) for n in range(1, 300, 7)}
    bots = [make_bot(api), make_bot(api)]
    senders = [OutboxSender(b, sm, clock, SenderLimits(max_per_second=100,
                                                       per_chat_seconds=0.0))
               for b in bots]
    try:
        await asyncio.gather(*(s.drain() for s in senders))
    finally:
        for b in bots:
            await b.session.close()
    texts = Counter(text for _, _, text in api.delivered)
    assert len(texts) == 300 and set(texts.values()) == {1}
    assert all(s.sent > 0 for s in senders)  # both took part
    assert (await states(sm)) == Counter({"sent": 300})


async def test_started_sender_drains_and_stops_cleanly(engine: AsyncEngine, clock: ManualClock,
                                                       api: Emulator) -> None:
    sm = make_sessionmaker(engine)
    bot = make_bot(api)
    sender = OutboxSender(bot, sm, clock, FAST)
    sender.start()
    try:
        await queue(sm, clock, [(5, "while-running", [], 5)])
        async with asyncio.timeout(10):
            while not api.delivered:
                await asyncio.sleep(0.02)
    finally:
        await sender.stop()
        await bot.session.close()
    assert await states(sm) == Counter({"sent": 1})


async def test_someone_unreachable_who_writes_again_is_reachable(session: AsyncSession,
                                                                  clock: ManualClock) -> None:
    person = await people.seen(session, 4242, "张三", clock)
    person.unreachable_at, person.unreachable_reason = clock.now(), "bot was blocked"
    await session.commit()
    again = await people.seen(session, 4242, "张三", clock)  # what every update does
    assert again.id == person.id
    assert again.unreachable_at is None and again.unreachable_reason == ""
