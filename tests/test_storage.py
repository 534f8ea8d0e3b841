"""FSM storage: the SQL database by default, Redis where configured (real servers)."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisStorage
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import make_storage
from bot.config import load_config
from bot.fsm_storage import SqlStorage, current_session
from bot.isolation import LeasedRedisIsolation
from models.db import make_sessionmaker
from tests.conftest import external_url

KEY = StorageKey(bot_id=42, chat_id=555, user_id=555)
OTHER = StorageKey(bot_id=42, chat_id=556, user_id=556)


class Submit(StatesGroup):
    describe = State()


async def test_sql_storage_survives_a_restart(engine: AsyncEngine) -> None:
    storage, isolation = make_storage(load_config(env={}), make_sessionmaker(engine))
    assert isinstance(storage, SqlStorage) and isinstance(isolation, SimpleEventIsolation)
    assert await storage.get_state(KEY) is None and await storage.get_data(KEY) == {}
    await storage.set_state(KEY, Submit.describe)
    await storage.set_data(KEY, {"text": "路灯坏了", "photos": ["f1"]})
    await storage.set_state(OTHER, "Other:step")
    await storage.close()
    restarted = SqlStorage(make_sessionmaker(engine))  # a new process, same database
    assert await restarted.get_state(KEY) == "Submit:describe"
    assert await restarted.get_data(KEY) == {"text": "路灯坏了", "photos": ["f1"]}
    await restarted.set_state(KEY, None)
    assert await restarted.get_state(KEY) is None
    assert await restarted.get_data(KEY) == {"text": "路灯坏了", "photos": ["f1"]}
    assert await restarted.get_state(OTHER) == "Other:step"


async def test_inside_an_update_state_commits_with_the_update(engine: AsyncEngine) -> None:
    """The update's session carries the FSM write: a failed update leaves no state."""
    sessionmaker = make_sessionmaker(engine)
    storage = SqlStorage(sessionmaker)
    async with sessionmaker() as session:
        token = current_session.set(session)
        try:
            await storage.set_state(KEY, Submit.describe)
            assert await storage.get_state(KEY) == "Submit:describe"  # sees its own write
            await session.rollback()  # the handler failed
        finally:
            current_session.reset(token)
    assert await storage.get_state(KEY) is None
    async with sessionmaker() as session:
        token = current_session.set(session)
        try:
            await storage.set_state(KEY, Submit.describe)
            await session.commit()
        finally:
            current_session.reset(token)
    assert await storage.get_state(KEY) == "Submit:describe"


async def test_redis_storage_round_trip(engine: AsyncEngine) -> None:
    url = external_url("TEST_REDIS_URL")
    storage, isolation = make_storage(load_config(env={"MINYI_REDIS_URL": url}),
                                      make_sessionmaker(engine))
    assert isinstance(storage, RedisStorage) and isinstance(isolation, LeasedRedisIsolation)
    try:
        await storage.set_state(KEY, "Submit:describe")
        await storage.set_data(KEY, {"text": "路灯坏了", "photos": ["f1"]})
        assert await storage.get_state(KEY) == "Submit:describe"
        assert await storage.get_data(KEY) == {"text": "路灯坏了", "photos": ["f1"]}
    finally:
        await storage.set_state(KEY, None)
        await storage.set_data(KEY, {})
        await storage.close()
