"""aiogram FSM storage in the SQL database (the embedded default; Redis when configured).

Inside an update the storage writes through the update's own session (`current_session`,
set by DbSessionMiddleware), so a conversation step and the change it makes commit
together: a confirmed draft is cleared in the transaction that creates its ticket, and on
SQLite a second connection never waits on the first one's write lock. Outside an update
(aiogram reading the state before the middleware runs) a short session of its own is used.
Only JSON-safe drafts belong in FSM data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import FsmRecord
from models.db import upsert_insert
from services.clock import Clock, SystemClock

current_session: ContextVar[AsyncSession | None] = ContextVar("current_session",
                                                              default=None)


class SqlStorage(BaseStorage):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession],
                 clock: Clock | None = None, key_builder: KeyBuilder | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock or SystemClock()
        self.key_builder = key_builder or DefaultKeyBuilder(with_bot_id=True)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[tuple[AsyncSession, bool]]:
        """(session, owned): the update's session if there is one, else a new one."""
        session = current_session.get()
        if session is not None:
            yield session, False
            return
        async with self.sessionmaker() as own:
            yield own, True

    async def _upsert(self, key: StorageKey, **values: Any) -> None:
        async with self._session() as (session, owned):
            row = {"key": self.key_builder.build(key), "state": None, "data": {},
                   "updated_at": self.clock.now()} | values
            stmt = upsert_insert(session, FsmRecord).values(**row)
            stmt = stmt.on_conflict_do_update(
                index_elements=[FsmRecord.key],
                set_={k: stmt.excluded[k] for k in (*values, "updated_at")})
            await session.execute(stmt)
            if owned:
                await session.commit()

    async def _get(self, key: StorageKey) -> sa.Row[Any] | None:
        # Columns, not the entity: an ORM identity map could hold a row older than the
        # upsert just executed in the same session.
        async with self._session() as (session, _):
            result = await session.execute(sa.select(FsmRecord.state, FsmRecord.data)
                                           .where(FsmRecord.key == self.key_builder.build(key)))
            return result.first()

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

