"""aiogram FSM storage in the SQL database (the embedded default; Redis when configured).

Each call opens its own short session: aiogram calls the storage outside the update's
session. Only JSON-safe drafts belong in FSM data; the ticket is written on confirm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import FsmRecord
from models.db import upsert_insert
from services.clock import Clock, SystemClock


class SqlStorage(BaseStorage):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession],
                 clock: Clock | None = None, key_builder: KeyBuilder | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock or SystemClock()
        self.key_builder = key_builder or DefaultKeyBuilder(with_bot_id=True)

    async def _upsert(self, key: StorageKey, **values: Any) -> None:
        async with self.sessionmaker() as session:
            row = {"key": self.key_builder.build(key), "state": None, "data": {},
                   "updated_at": self.clock.now()} | values
            stmt = upsert_insert(session, FsmRecord).values(**row)
            stmt = stmt.on_conflict_do_update(
                index_elements=[FsmRecord.key],
                set_={k: stmt.excluded[k] for k in (*values, "updated_at")})
            await session.execute(stmt)
            await session.commit()

    async def _get(self, key: StorageKey) -> FsmRecord | None:
        async with self.sessionmaker() as session:
            return await session.get(FsmRecord, self.key_builder.build(key))

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._upsert(key, state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        record = await self._get(key)
        return record.state if record else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._upsert(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = await self._get(key)
        return dict(record.data) if record else {}

    async def close(self) -> None:
        """The engine belongs to the app, which disposes of it."""

