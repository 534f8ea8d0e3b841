"""Shared fixtures: every DB test runs on SQLite and, where configured, on PostgreSQL.

PostgreSQL/Redis tests need TEST_DATABASE_URL / TEST_REDIS_URL. Without them they are
skipped with a visible reason; under CI (CI=true) a missing variable is an error instead.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.emulator import Emulator, Limits
from models import Person, Place, Unit, migrate
from models.db import make_engine, make_sessionmaker
from services.clock import ManualClock
from services.context import ServiceContext
from services.deadlines import WorkingCalendar
from services.org_import import import_org
from services.tickets import Policy
from tests.bot_double import RecordingSession

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ORG = ROOT / "examples" / "sishui.toml"
EXAMPLE_CATALOGUE = ROOT / "examples" / "sishui_catalogue.toml"
TZ = ZoneInfo("Asia/Shanghai")
# A Friday morning in Sishui.
START = dt.datetime(2026, 11, 27, 10, 0, tzinfo=TZ)

# Markers by module (registered in pyproject.toml): `make test-fast` leaves these out.
E2E = {"test_e2e", "test_runners", "test_stop", "test_browser", "test_sandbox", "test_replicas",
       "test_errands_e2e"}
SLOW = {"test_lifecycle_properties", "test_migrations", "test_lazy_types"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if module in E2E:
            item.add_marker(pytest.mark.e2e)
        if module in SLOW:
            item.add_marker(pytest.mark.slow)


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
async def api() -> AsyncIterator[Emulator]:
    """The Bot API emulator as the runner and outbox tests' peer: every chat id exists,
    limits only when a test turns them on (then ~30/s per bot, one per 0.9 s per chat)."""
    emulator = Emulator(any_chat=True, enforce_limits=False,
                        limits=Limits(per_second=30, chat_burst=1, chat_per_second=1 / 0.9))
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture(autouse=True)
def bot_api_violations(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test if any Telegram double saw a request Telegram would refuse as
    malformed, even when the code under test caught the error (the outbox sender does)."""
    doubles: list[Emulator | RecordingSession] = []
    for cls, hook in ((Emulator, "__init__"), (RecordingSession, "__post_init__")):
        original = getattr(cls, hook)

        def tracked(self, *args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            _original(self, *args, **kwargs)
            doubles.append(self)

        monkeypatch.setattr(cls, hook, tracked)
    yield
    found = [v for double in doubles for v in double.problems()]
    if found:
        pytest.fail("Bot API violations:\n" + "\n".join(found), pytrace=False)


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
    """The example county and its dispatch catalogue, with Telegram ids bound to every
    staff member."""
    for path in (EXAMPLE_ORG, EXAMPLE_CATALOGUE):
        await import_org(session, path.read_text(encoding="utf-8"), clock)
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
