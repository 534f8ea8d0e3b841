"""App factory: everything is built here from a Config, nothing at import time."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import gc
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.calendar import make_calendar
from bot.config import Config
from bot.fsm_storage import SqlStorage, redis_storage
from bot.inline_filters import inline_sync_filters
from bot.middlewares import (
    CallbackMessage,
    CurrentPerson,
    DbSessionMiddleware,
    EventIsolation,
    FloodControl,
    FloodCounter,
    InFlight,
    LocalFlood,
    RedisFlood,
)
from bot.pacing import RedisPacer
from bot.private_chats import PrivateChatsOnly
from bot.retry import session_middlewares
from bot.scheduler import Scheduler
from bot.sender import OutboxSender, SenderLimits
from bot.wakeup import OutboxWakeup
from handlers import get_routers, menus
from models import Place, migrate
from models.db import make_engine, make_sessionmaker
from routing.classifier import KeywordClassifier
from routing.decide import Decision
from routing.table import parse_table
from routing.text import load_dictionary
from services.clock import Clock, SystemClock
from services.context import BookingRules, PrivacyTerms, ServiceContext
from services.intake import IntakeRules, RequestRouter
from services.texts import t
from services.tickets import Policy, Route

log = logging.getLogger(__name__)
DRAIN_SECONDS = 10.0  # at a stop, how long the updates in hand may take to finish


class StartupError(Exception):
    """The bot cannot start; the message says why in one line."""


@dataclass
class App:
    config: Config
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    ctx: ServiceContext
    bot: Bot
    dp: Dispatcher
    scheduler: Scheduler
    sender: OutboxSender


def make_context(config: Config, clock: Clock | None = None) -> ServiceContext:
    """Every service's rules, built from the config once; handlers and jobs read them from
    the context, never from the config."""
    return ServiceContext(
        clock=clock or SystemClock(),
        calendar=make_calendar(config),
        policy=Policy(working_days=config.deadlines.working_days,
                      max_unreachable=config.callbacks.max_unreachable,
                      reminders=tuple(config.deadlines.reminders),
                      callback_wait_days=config.callbacks.wait_days,
                      whistle_accept_hours=config.deadlines.whistle_accept_hours,
                      unit_days=dict(config.deadlines.unit_days),
                      category_days=dict(config.deadlines.category_days)),
        intake=IntakeRules(**config.intake.model_dump()),
        privacy=PrivacyTerms(retention_days=config.privacy.retention_days,
                             draft_hours=config.privacy.draft_hours),
        bookings=BookingRules(max_open=config.appointments.max_open),
        errands=config.errands.rules(),
        appraisal=config.stats.appraisal(),
    )


def make_storage(config: Config, sessionmaker: async_sessionmaker[AsyncSession],
                 clock: Clock | None = None) -> tuple[BaseStorage, BaseEventIsolation]:
    """Redis when configured (several replicas), else the SQL database: both survive a
    restart in the middle of a conversation. The isolation serialises one user's updates,
    so a double tap on 确认 is handled after the first tap finished."""
    if config.redis.url:
        ttl = config.privacy.draft_hours * 3600  # abandoned drafts expire (个人信息保护法)
        from bot.isolation import LeasedRedisIsolation  # redis is imported only if used

        redis = redis_storage(config.redis.url, ttl)
        return redis, LeasedRedisIsolation(redis.redis, redis.key_builder)
    return SqlStorage(sessionmaker, clock), SimpleEventIsolation()


def _build_request_router(config: Config, names: list[str]) -> RequestRouter:
    """The learned table under the catalogue (read from the database on first use and
    re-read when an import changes it); jieba's dictionary loaded here, once."""
    load_dictionary(names)
    return RequestRouter(
        KeywordClassifier(parse_table(config.routing.table_path.read_text("utf-8")),
                          min_confidence=config.routing.min_confidence),
        min_confidence=config.routing.min_confidence)


class DeferredRequestRouter(RequestRouter):
    """The request router while it is being built in a thread (jieba's dictionary takes
    seconds to load): the bot takes updates at once, and only routing waits for it."""

    def __init__(self, building: concurrent.futures.Future[RequestRouter]) -> None:
        self.building = building

    @property
    def ready(self) -> bool:
        return self.building.done()

    async def _built(self) -> RequestRouter:
        return await asyncio.wrap_future(self.building)

    async def refresh(self, session: AsyncSession) -> None:
        await (await self._built()).refresh(session)

    async def decide(self, session: AsyncSession, text: str,
                     place_id: int | None = None) -> Decision:
        return await (await self._built()).decide(session, text, place_id)

    async def route(self, session: AsyncSession, text: str, place_id: int | None = None,
                    chosen: str | None = None) -> Route:
        return await (await self._built()).route(session, text, place_id, chosen)


async def start_request_router(config: Config,
                               sessionmaker: async_sessionmaker[AsyncSession]
                               ) -> DeferredRequestRouter:
    """The keyword table with jieba's dictionary (domain terms + the org's place names),
    loaded once per process, not per message, in a thread of its own."""
    async with sessionmaker() as session:
        names = list(await session.scalars(sa.select(Place.name)))
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="routing-load")
    building = pool.submit(_build_request_router, config, names)
    building.add_done_callback(lambda _: freeze_long_lived())
    pool.shutdown(wait=False)
    return DeferredRequestRouter(building)


async def make_request_router(config: Config,
                              sessionmaker: async_sessionmaker[AsyncSession]) -> RequestRouter:
    """The request router, loaded, with the catalogue read (tests, CLI)."""
    deferred = await start_request_router(config, sessionmaker)
    router = await asyncio.wrap_future(deferred.building)
    async with sessionmaker() as session:
        await router.refresh(session)
    return router


def make_dispatcher(config: Config, sessionmaker: async_sessionmaker[AsyncSession],
                    ctx: ServiceContext, request_router: RequestRouter) -> Dispatcher:
    """Routers, middlewares and what handlers receive by name: `ctx`, carrying the request
    router (`ctx.router`)."""
    storage, isolation = make_storage(config, sessionmaker, ctx.clock)
    # aiogram's FSM middleware would take the user's lock and read the state before our
    # middlewares run; it is registered below instead, inside the update's session.
    dp = Dispatcher(storage=storage, disable_fsm=True,
                    ctx=dataclasses.replace(ctx, request_router=request_router))
    # What a stop waits for (_on_shutdown): outermost, before aiogram's own errors and
    # user-context middlewares, so an update counts until its error reply is sent too.
    dp["inflight"] = InFlight()
    aiogram_own = list(dp.update.outer_middleware)
    for middleware in aiogram_own:
        dp.update.outer_middleware.unregister(middleware)
    for middleware in (dp["inflight"], *aiogram_own):
        dp.update.outer_middleware(middleware)
    dp.update.outer_middleware(PrivateChatsOnly())  # groups never reach the rest
    dp.update.outer_middleware(FloodControl(make_flood_counter(config, storage)))
    dp.update.outer_middleware(EventIsolation(dp.fsm, isolation))
    dp.update.outer_middleware(DbSessionMiddleware(sessionmaker))
    dp.update.outer_middleware(dp.fsm)
    dp.update.outer_middleware(CurrentPerson())
    dp.callback_query.outer_middleware(CallbackMessage())
    dp.include_routers(*get_routers())
    inline_sync_filters(dp)  # aiogram would run each in a thread
    return dp


def make_flood_counter(config: Config, storage: BaseStorage) -> FloodCounter:
    """Shared by every replica through Redis when configured, else in this process."""
    redis = getattr(storage, "redis", None)
    if config.redis.url and redis is not None:
        return RedisFlood(redis, config.flood.limit, config.flood.window_seconds)
    return LocalFlood(config.flood.limit, config.flood.window_seconds)


def make_pacer(config: Config, dp: Dispatcher) -> RedisPacer | None:
    """Telegram's limits shared by the replicas' senders (Redis), else each paces itself."""
    redis = getattr(dp.storage, "redis", None)
    if not config.redis.url or redis is None:
        return None
    return RedisPacer(redis, config.outbox.per_chat_seconds, config.outbox.max_per_second)


def make_bot(config: Config) -> Bot:
    token = config.telegram.token.get_secret_value()
    if not token:
        raise StartupError(t("cli_no_token"))
    session = AiohttpSession(api=TelegramAPIServer.from_base(config.telegram.api_base))
    for middleware in session_middlewares():
        session.middleware(middleware)
    try:
        return Bot(token, session=session,
                   default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    except Exception as exc:  # aiogram's TokenValidationError
        raise StartupError(t("cli_bad_token")) from exc


async def ensure_schema(config: Config, engine: AsyncEngine) -> None:
    """SQLite upgrades itself (first start creates it); PostgreSQL must be migrated."""
    if engine.dialect.name == "sqlite":
        await migrate.upgrade(engine)
        return
    current, head = await migrate.current_revision(engine), migrate.head_revision()
    if current != head:
        raise StartupError(f"数据库结构不是最新版本（当前 {current}，应为 {head}）："
                           "请先运行 minyi db upgrade")


async def build_app(config: Config, clock: Clock | None = None) -> App:
    bot = make_bot(config)
    engine = make_engine(config.database.url, echo=config.database.echo)
    try:
        await ensure_schema(config, engine)
    except Exception:
        await engine.dispose()
        await bot.session.close()
        raise
    sessionmaker = make_sessionmaker(engine)
    ctx = make_context(config, clock)
    scheduler = Scheduler(ctx, sessionmaker)
    scheduler.add_default_sweeps(config.deadlines.sweep_seconds,
                                 config.deadlines.digest_time, config.stats.monthly_report,
                                 ctx.appraisal,
                                 retention=True)
    dp = make_dispatcher(config, sessionmaker, ctx,
                         await start_request_router(config, sessionmaker))
    sender = OutboxSender(bot, sessionmaker, ctx.clock, sender_limits(config),
                          wakeup=OutboxWakeup(sessionmaker), pacer=make_pacer(config, dp))
    app = App(config, engine, sessionmaker, ctx, bot, dp, scheduler, sender)

    async def on_startup() -> None:
        await _on_startup(app)

    async def on_shutdown() -> None:
        await _on_shutdown(app)

    dp.startup.register(on_startup)
    dp.shutdown.register(on_shutdown)
    return app


def sender_limits(config: Config) -> SenderLimits:
    return SenderLimits(**config.outbox.model_dump())


def freeze_long_lived() -> None:
    """What start-up built lives as long as the process (aiogram's models, jieba's
    dictionary of ≈ 350,000 words, the routing table): `gc.freeze` takes it out of the
    collector's generations, so a full collection walks only what updates create. Before,
    a 25 s load run had six full collections of ≈ 95 ms each, every update waiting.
    Collected first, so no garbage (an update's cycles in hand meanwhile) is frozen."""
    gc.collect()
    gc.freeze()


async def _on_startup(app: App) -> None:
    freeze_long_lived()
    app.scheduler.start()
    app.sender.start()
    try:
        # Everyone's "/" menu; staff get their own per chat (handlers/menus.py) at /start.
        await app.bot.set_my_commands(menus.resident_commands())
    except Exception as exc:  # optional: a failure must not stop the bot
        log.warning("setMyCommands failed: %s", exc)
    username = app.config.telegram.username
    if not username:
        try:
            username = (await app.bot.me()).username or ""
        except Exception as exc:
            log.warning("getMe failed: %s", exc)
    log.info("bot @%s started (%s mode)", username or "?", app.config.telegram.mode)


async def _on_shutdown(app: App) -> None:
    # Polling has stopped taking updates; those in hand finish before the sender, the
    # storage and then the HTTP session and the engine (close_app) go away.
    await app.dp["inflight"].drain(DRAIN_SECONDS)
    app.scheduler.shutdown()
    await app.sender.stop()
    await app.dp.storage.close()
    log.info("bot stopped")


async def close_app(app: App) -> None:
    await app.bot.session.close()
    await app.engine.dispose()
