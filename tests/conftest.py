"""Shared fixtures: every DB test runs on SQLite and, where configured, on PostgreSQL.

PostgreSQL/Redis tests need TEST_DATABASE_URL / TEST_REDIS_URL. Without them they are
skipped with a visible reason; under CI (CI=true) a missing variable is an error instead.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models import Person, Place, Unit, migrate
from models.db import make_engine, make_sessionmaker
from services.clock import ManualClock
from services.context import ServiceContext
from services.deadlines import WorkingCalendar
from services.org_import import import_org
from services.tickets import Policy
from tests.fake_bot_api import FakeBotApi

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ORG = ROOT / "examples" / "sishui.toml"
TZ = ZoneInfo("Asia/Shanghai")
# A Friday morning in Sishui.
START = dt.datetime(2026, 11, 27, 10, 0, tzinfo=TZ)


def external_url(var: str) -> str:
    url = os.environ.get(var, "")
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{var} is not set under CI: the PostgreSQL/Redis runs must happen")
        pytest.skip(f"{var} not set: run with a real server to include this backend")
    return url


def pg_url() -> str:
    url = external_url("TEST_DATABASE_URL")
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def reset_postgres(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(sa.text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind, not yet migrated."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    url = pg_url()
    await reset_postgres(url)
    return url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with make_sessionmaker(engine)() as session:
        yield session


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def calendar() -> WorkingCalendar:
    return WorkingCalendar(TZ)


@pytest.fixture
def ctx(clock: ManualClock, calendar: WorkingCalendar) -> ServiceContext:
    return ServiceContext(clock=clock, calendar=calendar, policy=Policy())


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    """The loopback Bot API double of the runner and outbox tests."""
    fake = FakeBotApi()
    await fake.start()
    yield fake
    await fake.stop()


class Org:
    """Lookups into the imported example org."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def person(self, code: str) -> Person:
        return (await self.session.scalars(sa.select(Person).where(Person.code == code))).one()

    async def unit(self, code: str) -> Unit:
        return (await self.session.scalars(sa.select(Unit).where(Unit.code == code))).one()

    async def place(self, code: str) -> Place:
        return (await self.session.scalars(sa.select(Place).where(Place.code == code))).one()


@pytest.fixture
async def org(session: AsyncSession, clock: ManualClock) -> Org:
    """The example county, with Telegram ids bound to every staff member."""
    await import_org(session, EXAMPLE_ORG.read_text(encoding="utf-8"), clock)
    people = (await session.scalars(sa.select(Person).order_by(Person.id))).all()
    for i, person in enumerate(people):
        person.tg_user_id = 900_000 + i
    await session.commit()
    return Org(session)


@pytest.fixture
async def harness(engine: AsyncEngine, org: Org, ctx: ServiceContext):  # type: ignore[no-untyped-def]
    """The real Dispatcher (routers, middlewares, SQL FSM storage) on the example county."""
    from bot.app import make_request_router
    from bot.config import Config, FloodConfig
    from tests.bot_double import Harness

    # Scripted dialogues send faster than any person: flood control has its own test.
    config = Config(flood=FloodConfig(limit=1000))
    sessionmaker = make_sessionmaker(engine)
    return Harness(config, sessionmaker, ctx, await make_request_router(config, sessionmaker))
