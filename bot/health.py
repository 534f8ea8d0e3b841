"""Health checks shared by `minyi doctor` and the webhook's /health endpoint."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import chinese_calendar
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.calendar import coverage_gaps
from bot.config import Config
from models import Membership, Place, PlaceKind, Role, Unit, migrate
from models.db import make_sessionmaker
from services import errands, outbox, privacy
from services.context import ServiceContext
from services.texts import WEEKDAYS, plain

OK, WARN, FAIL = "ok", "warn", "fail"
REDIS_TIMEOUT = 2.0  # seconds for the PING (connect and answer): /health must answer soon


def _check(name: str, status: str, detail: str) -> dict[str, str]:
    return {"name": name, "status": status, "detail": detail}


async def health_report(config: Config, engine: AsyncEngine, ctx: ServiceContext
                        ) -> dict[str, Any]:
    checks = [_check("config", OK, f"时区 {config.timezone}，时限 "
                     f"{config.deadlines.working_days} 个工作日，模式 {config.telegram.mode}")]
    if not config.telegram.token.get_secret_value():
        checks.append(_check("telegram.token", WARN, "未配置：minyi run 需要机器人令牌"))
    db_ok = True
    try:
        current = await migrate.current_revision(engine)
    except Exception as exc:
        db_ok = False
        checks.append(_check("database", FAIL, f"无法连接 {engine.url.render_as_string()}: "
                             f"{type(exc).__name__}: {exc}"))
    else:
        checks.append(_check("database", OK, f"{engine.dialect.name} 可连接"))
        head = migrate.head_revision()
        checks.append(_check("migrations", OK if current == head else FAIL,
                             f"当前 {current}，最新 {head}"
                             + ("" if current == head else "：请运行 minyi db upgrade")))
        db_ok = current == head
    if config.redis.url:
        checks.append(await _redis_check(config.redis.url))
    today = ctx.clock.now().astimezone(ctx.calendar.tz).date()
    gaps = coverage_gaps(ctx.calendar, today)
    if gaps:
        extra = sum(1 for d in ctx.calendar.extra_holidays | ctx.calendar.extra_workdays
                    if d.year in gaps)
        checks.append(_check(
            "calendar", WARN,
            f"chinese-calendar {chinese_calendar.__version__} 没有 {gaps} 年的法定节假日数据，"
            f"按周一至周五计算并使用配置中的 {extra} 个补充日期；"
            "请在 calendar.extra_holidays / extra_workdays 中补充或升级 chinese-calendar"))
    else:
        version = chinese_calendar.__version__
        checks.append(_check("calendar", OK, f"chinese-calendar {version} 覆盖 {today.year} 年"))
    if db_ok:
        checks.append(await _org_check(engine))
        checks.append(await _errands_check(engine))
        checks.append(await _outbox_check(engine, ctx))
        checks.append(await _privacy_check(config, engine, ctx))
    return {"ok": all(c["status"] != FAIL for c in checks), "checks": checks}


async def _redis_check(url: str) -> dict[str, str]:
    """Conversation state, the per-user lock and flood control live in Redis: a replica
    that cannot reach it fails every update, so /health must say so (503)."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    client = Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT,
                            socket_timeout=REDIS_TIMEOUT, retry=Retry(NoBackoff(), 0))
    try:
        async with asyncio.timeout(REDIS_TIMEOUT):
            await client.ping()
    except Exception as exc:
        return _check("redis", FAIL, plain("doctor_redis_fail", url=_without_password(url),
                                           error=f"{type(exc).__name__}: {exc}"))
    finally:
        await client.aclose()
    return _check("redis", OK, plain("doctor_redis_ok", url=_without_password(url)))


def _without_password(url: str) -> str:
    """redis://:***@host:6379/0, as the database's URL is shown (also ?password=)."""
    parts = urlsplit(url)
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[1]}"
    if "password=" in query:
        query = urlencode([(k, "***" if k == "password" else v) for k, v in parse_qsl(query)],
                          safe="*/")
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


async def _outbox_check(engine: AsyncEngine, ctx: ServiceContext) -> dict[str, str]:
    async with make_sessionmaker(engine)() as session:
        halt = await outbox.halted(session)
        pending = (await outbox.status(session, ctx.clock.now()))["counts"]["pending"]
    if halt is not None:
        return _check("outbox", FAIL, f"推送已停止：Telegram 拒绝了机器人令牌（{halt.key}，"
                      f"{halt.ran_at:%Y-%m-%d %H:%M} UTC），{pending} 条消息待发送；"
                      "请更新 telegram.token / MINYI_BOT_TOKEN 后重启")
    return _check("outbox", OK, f"{pending} 条消息待发送")


async def _org_check(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        grids = await conn.scalar(sa.select(sa.func.count()).select_from(Place)
                                  .where(Place.kind == PlaceKind.GRID))
        units = await conn.scalar(sa.select(sa.func.count()).select_from(Unit))
        dispatchers = await conn.scalar(sa.select(sa.func.count()).select_from(Membership)
                                        .where(Membership.role == Role.DISPATCHER))
    detail = f"{grids} 个网格，{units} 个承办单位，{dispatchers} 名派单员"
    if not units or not dispatchers:
        return _check("org", WARN, detail + "：请先运行 minyi org import FILE.toml")
    return _check("org", OK, detail)


async def _errands_check(engine: AsyncEngine) -> dict[str, str]:
    """红色代办: every 驿站 that takes errands has someone on each weekday's rota."""
    async with make_sessionmaker(engine)() as session:
        taking = len(await errands.venues(session))
        gaps = await errands.rota_gaps(session)
    if not gaps:
        return _check("errands", OK, plain("doctor_errands_ok", venues=taking))
    return _check("errands", WARN, plain("doctor_errands_gaps", venues=taking, gaps="；".join(
        plain("doctor_errands_gap", name=venue.name, code=venue.code,
              days="、".join(plain("weekday_short", day=WEEKDAYS[n]) for n in days))
        for venue, days in gaps)))


async def _privacy_check(config: Config, engine: AsyncEngine, ctx: ServiceContext
                         ) -> dict[str, str]:
    """What the daily retention sweep (03:15) has to clear now."""
    async with AsyncSession(engine) as session:
        due = await privacy.due(session, ctx.clock.now(), config.privacy.retention_days,
                                config.privacy.draft_hours)
    return _check("privacy", OK,
                  f"保留期限 {config.privacy.retention_days} 天：{due.tickets} 件已办结诉求"
                  f"的个人信息待清除；{due.drafts} 份超过 {config.privacy.draft_hours} 小时"
                  "的草稿待删除（每日 03:15 自动执行）")
