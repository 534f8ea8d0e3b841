"""FSM storage choice: Redis where configured (checked on the real server)."""

from __future__ import annotations

from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage

from bot.app import make_storage
from bot.config import load_config
from tests.conftest import external_url


def test_without_redis_the_process_keeps_state() -> None:
    assert isinstance(make_storage(load_config(env={})), MemoryStorage)


async def test_redis_storage_round_trip() -> None:
    url = external_url("TEST_REDIS_URL")
    storage = make_storage(load_config(env={"MINYI_REDIS_URL": url}))
    assert isinstance(storage, RedisStorage)
    key = StorageKey(bot_id=42, chat_id=555, user_id=555)
    try:
        await storage.set_state(key, "Submit:describe")
        await storage.set_data(key, {"text": "路灯坏了", "photos": ["f1"]})
        assert await storage.get_state(key) == "Submit:describe"
        assert await storage.get_data(key) == {"text": "路灯坏了", "photos": ["f1"]}
    finally:
        await storage.set_state(key, None)
        await storage.set_data(key, {})
        await storage.close()
