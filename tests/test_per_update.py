"""What one update costs and who may go first: statements and transactions per update,
flood control counted on arrival, and what several replicas share through Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Config, FloodConfig, RedisConfig
from models import Ticket
from services.texts import t
from tests.bot_double import Chatter, Harness
from tests.conftest import external_url

LAMP = "泗河社区小区路灯坏了好几天，晚上出行很不方便，请尽快维修"


class SqlLog:
    """The statements and transactions an engine runs while it is open."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.sync_engine
        self.statements: list[str] = []
        self.begins = 0

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(" ".join(statement.split()[:3]).upper())

    def _begin(self, _conn: Any) -> None:
        self.begins += 1

    def __enter__(self) -> SqlLog:
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "begin", self._begin)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "begin", self._begin)

    def writes(self) -> list[str]:
        return [s for s in self.statements if not s.startswith("SELECT")]


async def test_one_transaction_per_update_and_no_repeated_work(harness: Harness,
                                                               engine: AsyncEngine) -> None:
    u = harness.user(6001)
    await u.say("/start")  # first contact: the resident is created
    await u.press(t("btn_consent"))  # (an answer commits what precedes it: see the next test)
    with SqlLog(engine) as log:
        await u.say("/start")
    # The state with its data, then the person with their roles: one query each, in the
    # update's own transaction; state.clear() on an empty state writes nothing.
    assert log.statements[:2] == ["SELECT FSM_STATES.STATE, FSM_STATES.DATA",
                                  "SELECT PEOPLE.ID, PEOPLE.CODE,"]
    assert not [s for s in log.statements[2:] if "FSM_STATES" in s or "PEOPLE" in s
                or "MEMBERSHIPS" in s]
    assert log.writes() == [] and log.begins == 1
    with SqlLog(engine) as log:
        await u.say(t("btn_report"))  # state and data change: one upsert
    assert log.writes() == ["INSERT INTO FSM_STATES"] and log.begins == 1
    with SqlLog(engine) as log:
        await u.say("/cancel")  # state.clear(): one write, not two
    assert log.writes() == ["INSERT INTO FSM_STATES"] and log.begins == 1


async def test_first_contact_is_one_transaction_and_the_county_name_is_kept(
        harness: Harness, engine: AsyncEngine) -> None:
    u = harness.user(6011)
    with SqlLog(engine) as log:
        await u.say("/start")  # the resident created, the notice and the greeting
    assert u.last.text == t("start", county="泗水县", days=3)
    assert log.begins == 1  # the greeting was built before the notice was shown
    with SqlLog(engine) as log:
        await u.say("/start")
    assert u.last.text == t("start", county="泗水县", days=3)
    assert not [s for s in log.statements if "PLACES" in s]  # kept (services.places)


def slow_answers(harness: Harness, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Every Bot API call takes `seconds` (Telegram pacing one chat at about 1/s)."""
    original = harness.recorder.make_request

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(seconds)
        return await original(*args, **kwargs)

    monkeypatch.setattr(harness.recorder, "make_request", slow)


async def test_an_answer_is_sent_only_after_what_it_reports_is_committed(
        harness: Harness, engine: AsyncEngine) -> None:
    """The step's state is committed before the next prompt is shown: a crash right after
    the user sees it cannot take the conversation back a step."""
    u = harness.user(6007)
    await u.say("/start")
    committed: list[str | None] = []

    async def record_state(*_: Any, **__: Any) -> Any:
        async with harness.sessionmaker() as s:
            committed.append(await s.scalar(sa.text(
                "SELECT state FROM fsm_states WHERE key LIKE '%:6007:6007%'")))
        return await original(*_, **__)

    original = harness.recorder.make_request
    harness.recorder.make_request = record_state  # type: ignore[method-assign]
    await u.say(t("btn_report"))
    assert committed and set(committed) == {"Report:text"}  # seen from another connection


async def test_flood_is_counted_on_arrival_not_after_the_users_lock(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """25 messages at once, each answer slow: counted when they wait for the lock, the
    burst is cut at the limit (counted after the lock, all 25 would be answered)."""
    harness.restart(Config(flood=FloodConfig(limit=5, window_seconds=0.3)))
    slow_answers(harness, monkeypatch, 0.1)
    u = harness.user(6002)
    await asyncio.gather(*(u.say("/help") for _ in range(25)))
    texts = [s.text for s in u.inbox]
    assert texts.count(t("help")) == 5 and texts.count(t("flood")) == 1


def two_replicas(harness: Harness, config: Config, user_id: int) -> tuple[Chatter, Chatter]:
    """One user talking to two dispatchers (two replicas) over one database and Redis."""
    harness.restart(config)
    a, b = harness.user(user_id), harness.user(user_id)
    b.dp = harness._make()
    return a, b


async def redis_config(harness: Harness, user_id: int, **flood: Any) -> Config:
    from redis.asyncio import Redis

    url = external_url("TEST_REDIS_URL")
    redis = Redis.from_url(url)
    await redis.delete(*[k async for k in redis.scan_iter(f"*{user_id}*")] or ["-"])
    await redis.aclose()
    return Config(redis=RedisConfig(url=url), flood=FloodConfig(**flood))


async def test_flood_is_shared_by_replicas_through_redis(harness: Harness) -> None:
    config = await redis_config(harness, 6004, limit=4, window_seconds=30)
    a, b = two_replicas(harness, config, 6004)
    try:
        for _ in range(5):
            await a.say("/help")
            await b.say("/help")
        texts = [s.text for s in a.inbox]  # one chat: both replicas answer into it
        assert texts.count(t("help")) == 4 and texts.count(t("flood")) == 1
    finally:
        await a.dp.storage.close()
        await b.dp.storage.close()


async def test_double_tap_on_two_replicas_makes_one_ticket(harness: Harness) -> None:
    """The user's lock is in Redis: the second tap, on the other replica, waits for the
    first to commit and then sees the draft gone."""
    config = await redis_config(harness, 6005, limit=1000)
    a, b = two_replicas(harness, config, 6005)
    try:
        await a.say(t("btn_report"))
        await b.say(LAMP)
        await a.say("泗河社区")
        await b.say(t("btn_no_phone"))
        confirm = a.last_with_buttons()
        [data] = [d for label, d in confirm.buttons if label == t("btn_confirm")]
        await asyncio.gather(a.press_data(data, confirm), b.press_data(data, confirm))
        async with harness.sessionmaker() as s:
            assert await s.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
    finally:
        await a.dp.storage.close()
        await b.dp.storage.close()


async def test_redis_state_is_read_once_per_update(harness: Harness) -> None:
    """With Redis the state and the draft are read in one MGET per update, however often
    the handlers read them (bot.fsm_storage.redis_storage), and what stays is correct."""
    config = await redis_config(harness, 6006, limit=1000)
    harness.restart(config)
    u = harness.user(6006)
    redis = harness.dp.storage.redis  # type: ignore[attr-defined]
    commands: list[str] = []
    execute = redis.execute_command

    async def counted(*args: Any, **kwargs: Any) -> Any:
        commands.append(str(args[0]).upper())
        return await execute(*args, **kwargs)

    redis.execute_command = counted
    try:
        await u.say(t("btn_report"))
        commands.clear()
        await u.say(LAMP)  # the description: the draft is read and changed several times
        fsm = [c for c in commands if c in ("GET", "MGET", "SET", "DEL")]
        assert fsm.count("MGET") == 1 and "GET" not in fsm, commands
        await u.say("泗河社区")
        await u.say(t("btn_no_phone"))
        assert LAMP in u.last.text  # the summary shows the kept description
        commands.clear()
        await u.say("/cancel")
        await u.say("/cancel")  # nothing left to clear: nothing deleted
        assert [c for c in commands if c in ("GET", "MGET", "SET", "DEL")].count("DEL") <= 2
    finally:
        await harness.dp.storage.close()


async def test_monthly_report_runs_once_with_two_replicas(
        engine: AsyncEngine, org: Any, ctx: Any, clock: Any) -> None:
    """Two replicas' schedulers fire the monthly report at the same moment: one sends it."""
    import datetime as dt

    from bot.scheduler import Scheduler
    from models import OutboxMessage
    from models.db import make_sessionmaker
    from tests.conftest import TZ

    sm = make_sessionmaker(engine)
    clock.set(dt.datetime(2026, 12, 1, 8, 30, tzinfo=TZ))  # first working day of December
    replicas = [Scheduler(ctx, sm), Scheduler(ctx, sm)]
    for replica in replicas:
        replica.add_default_sweeps()  # as build_app does (not started: called directly)
    await asyncio.gather(*(r.monthly() for r in replicas))
    await asyncio.gather(*(r.digest() for r in replicas))
    async with sm() as s:
        chats = list(await s.scalars(sa.select(OutboxMessage.chat_id).where(
            OutboxMessage.kind == "monthly_report")))
    assert chats and len(chats) == len(set(chats))


async def test_the_bot_answers_while_the_router_is_still_loading(harness: Harness) -> None:
    """Start-up does not wait for jieba: /start is answered before the routing table is
    ready, and a submission waits for it."""
    import concurrent.futures

    from bot.app import DeferredRequestRouter, make_request_router

    building: concurrent.futures.Future[Any] = concurrent.futures.Future()
    deferred = Harness(harness.config, harness.sessionmaker, harness.ctx,
                       DeferredRequestRouter(building))
    u = deferred.user(6006)
    await u.say("/start")
    await u.say(t("btn_report"))
    await u.say(LAMP)
    await u.say("泗河社区")
    await u.say(t("btn_no_phone"))
    press = asyncio.create_task(u.press(t("btn_confirm")))
    await asyncio.sleep(0.2)
    assert not press.done()  # routing waits for the table
    building.set_result(await make_request_router(harness.config, harness.sessionmaker))
    await press
    assert "提交成功" in u.last.text


async def test_answer_types_are_built_once_not_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiogram parses each answer as the pydantic generic `Response[T]`; pydantic caches it
    weakly and a garbage collection freed it, so every getUpdates built it again (5 % of
    the bot's CPU in the e2e benchmark). The bot's session keeps the ones it uses."""
    import gc

    import pydantic.main
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.emulator import Emulator
    from bot.retry import session_middlewares

    built: list[Any] = []
    real = pydantic.main._generics.create_generic_submodel

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(pydantic.main._generics, "create_generic_submodel", counting)
    emu = Emulator()
    await emu.start(port=0)
    session = AiohttpSession(api=TelegramAPIServer.from_base(emu.base))
    for middleware in session_middlewares():
        session.middleware(middleware)
    bot = Bot("123456:TEST-token_abcdefghijklmnopqrstuvwxyz", session=session)
    try:
        for _ in range(4):
            await bot.get_updates(timeout=0)
            gc.collect()
    finally:
        await session.close()
        await emu.stop()
    assert len(built) <= 1, built


async def test_a_postgresql_connection_dropped_while_idle_is_replaced_before_use() -> None:
    """models.db.ping_if_idle: no ping per checkout (three round trips with asyncpg), but a
    connection idle longer than the threshold is checked first (0 s here: every one)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from models.db import ping_if_idle
    from tests.conftest import pg_url

    url = pg_url()
    engine, killer = create_async_engine(url), create_async_engine(url)
    ping_if_idle(engine, 0.0)
    try:
        async with engine.connect() as conn:
            pid = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
        async with killer.connect() as conn:
            assert await conn.scalar(sa.text("SELECT pg_terminate_backend(:pid)"),
                                     {"pid": pid})
        await asyncio.sleep(0.2)
        async with engine.connect() as conn:  # the pooled one is dead: replaced, no error
            assert await conn.scalar(sa.text("SELECT pg_backend_pid()")) != pid
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_filters_run_on_the_loop_not_in_threads(harness: Harness,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """aiogram runs a synchronous filter (F..., a State) in a thread; ours are inlined
    (bot/inline_filters.py), so a conversation hands nothing to a thread."""
    import aiogram.dispatcher.event.handler as aiogram_handler

    hops: list[Any] = []

    async def to_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(fn)
        return fn(*args, **kwargs)

    monkeypatch.setattr(aiogram_handler.asyncio, "to_thread", to_thread)
    u = harness.user(6021)
    await u.say("/start")
    await u.press(t("btn_consent"))
    await u.say(t("btn_report"))
    await u.say(LAMP)
    assert "镇街" in u.last.text or "地点" in u.last.text
    await u.say("/cancel")
    assert hops == []


async def test_the_users_lock_is_a_lease_renewed_while_the_update_runs() -> None:
    """bot.isolation: a live holder keeps the lock however long its update takes; the lock
    never has more than one lease left in Redis, so a replica that dies holding it holds
    the user up for one lease at most (aiogram's lock stayed 60 s)."""
    from aiogram.fsm.storage.base import StorageKey
    from redis.asyncio import Redis

    from bot.isolation import LeasedRedisIsolation

    redis = Redis.from_url(external_url("TEST_REDIS_URL"))
    key = StorageKey(bot_id=1, chat_id=6101, user_id=6101)
    lease = 0.6
    holder, other = LeasedRedisIsolation(redis, lease=lease), LeasedRedisIsolation(redis)
    name = holder.key_builder.build(key, "lock")
    await redis.delete(name)
    try:
        async with holder.lock(key):
            for _ in range(6):  # 1.8 s: three leases
                await asyncio.sleep(lease / 2)
                ttl = await redis.pttl(name)
                assert 0 < ttl <= lease * 1000, ttl  # renewed, never longer than a lease
            with pytest.raises(TimeoutError):  # another replica still waits
                async with asyncio.timeout(0.3), other.lock(key):
                    pass
        async with asyncio.timeout(1), other.lock(key):  # released: free at once
            pass
        # A holder that died: its last lease runs out, and the next one gets in.
        await redis.set(name, "dead-replica", px=int(lease * 1000))
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(5), other.lock(key):
            waited = asyncio.get_running_loop().time() - started
        assert 0.3 < waited < lease + 0.5, waited
    finally:
        await redis.delete(name)
        await redis.aclose()


async def test_the_bots_lock_in_redis_is_the_lease(harness: Harness,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The app takes the user's lock through bot.isolation: seen from inside an update,
    the lock in Redis expires within the lease (not aiogram's 60 s)."""
    from bot.isolation import LEASE_SECONDS

    config = await redis_config(harness, 6102, limit=1000)
    harness.restart(config)
    u = harness.user(6102)
    redis = harness.dp.storage.redis  # type: ignore[attr-defined]
    seen: list[int] = []
    original = harness.recorder.make_request

    async def answer(*args: Any, **kwargs: Any) -> Any:
        seen.extend([await redis.pttl(k) async for k in redis.scan_iter("fsm:6102:6102:lock")])
        return await original(*args, **kwargs)

    monkeypatch.setattr(harness.recorder, "make_request", answer)
    try:
        await u.say("/help")
        assert seen and all(0 < ttl <= LEASE_SECONDS * 1000 for ttl in seen), seen
        assert not [k async for k in redis.scan_iter("fsm:6102:6102:lock")]  # released
    finally:
        await harness.dp.storage.close()
