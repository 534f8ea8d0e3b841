"""aiogram FSM storage in the SQL database (the embedded default), or Redis when configured.

Inside an update the storage works through the update's own session (`current_session`,
set by DbSessionMiddleware): the state is read once per update (with its data) and kept
in the session; changes are written by one upsert just before that session commits, and
only if the state or data changed. So a conversation step and the change it makes commit
together (a confirmed draft is cleared in the transaction that creates its ticket),
`state.clear()` costs nothing for someone with no state, and a failed update (rollback)
leaves the state as it was. Outside an update a short session of its own is used.
Only JSON-safe drafts belong in FSM data.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StorageKey
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from models import FsmRecord
from models.db import session_class, upsert_insert
from services.clock import Clock, SystemClock

if TYPE_CHECKING:
    from aiogram.fsm.storage.redis import RedisStorage

current_session: ContextVar[AsyncSession | None] = ContextVar("current_session",
                                                              default=None)
PENDING = "fsm_states"  # Session.info key: {storage key: _Entry}
REDIS_READS = "fsm_redis"  # Session.info key: {state key: [state, data]} (Redis)


@dataclass
class _Entry:
    state: str | None
    data: dict[str, Any]
    stored: str  # what the database holds, as JSON ("" when there is no row)
    clock: Clock

    def snapshot(self) -> str:
        return json.dumps([self.state, self.data], ensure_ascii=False, sort_keys=True)


EMPTY = json.dumps([None, {}])


def _write_pending(session: Session) -> None:
    """before_commit: one upsert per key whose state or data changed in this transaction.
    (A sync listener; in an AsyncSession it runs inside the commit's greenlet.)"""
    entries: dict[str, _Entry] = session.info.pop(PENDING, {})
    for key, entry in entries.items():
        now = entry.snapshot()
        if now == entry.stored or (not entry.stored and now == EMPTY):
            continue
        row = {"key": key, "state": entry.state, "data": entry.data,
               "updated_at": entry.clock.now()}
        stmt = upsert_insert(session, FsmRecord).values(**row)
        session.execute(stmt.on_conflict_do_update(
            index_elements=[FsmRecord.key],
            set_={k: stmt.excluded[k] for k in ("state", "data", "updated_at")}))


def _forget_pending(session: Session, *_: Any) -> None:
    session.info.pop(PENDING, None)


class SqlStorage(BaseStorage):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession],
                 clock: Clock | None = None, key_builder: KeyBuilder | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock or SystemClock()
        self.key_builder = key_builder or DefaultKeyBuilder(with_bot_id=True)
        cls = session_class(sessionmaker)
        if not cls.__dict__.get("_fsm_listeners"):  # once per sessionmaker (flag on its class)
            event.listen(cls, "before_commit", _write_pending)
            event.listen(cls, "after_soft_rollback", _forget_pending)
            cls._fsm_listeners = True  # type: ignore[attr-defined]

    async def _entry(self, session: AsyncSession, key: StorageKey) -> _Entry:
        entries: dict[str, _Entry] = session.info.setdefault(PENDING, {})
        k = self.key_builder.build(key)
        if k not in entries:
            row = (await session.execute(sa.select(FsmRecord.state, FsmRecord.data)
                                         .where(FsmRecord.key == k))).first()
            entry = _Entry(row.state, dict(row.data), "", self.clock) if row else \
                _Entry(None, {}, "", self.clock)
            if row:
                entry.stored = entry.snapshot()
            entries[k] = entry
        return entries[k]

    async def _read(self, key: StorageKey) -> _Entry:
        session = current_session.get()
        if session is not None:
            return await self._entry(session, key)
        async with self.sessionmaker() as own:
            return await self._entry(own, key)

    async def _change(self, key: StorageKey, **values: Any) -> None:
        session = current_session.get()
        if session is not None:  # written when the update commits
            entry = await self._entry(session, key)
            for name, value in values.items():
                setattr(entry, name, value)
            return
        async with self.sessionmaker() as own:
            entry = await self._entry(own, key)
            for name, value in values.items():
                setattr(entry, name, value)
            await own.commit()

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        await self._change(key, state=state.state if isinstance(state, State) else state)

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._read(key)).state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._change(key, data=json.loads(json.dumps(dict(data))))  # JSON-safe copy

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return json.loads(json.dumps((await self._read(key)).data))  # the caller's own copy

    async def close(self) -> None:
        """The engine belongs to the app, which disposes of it."""


def redis_storage(url: str, ttl: int) -> RedisStorage:
    """aiogram's RedisStorage, read once per update (see ReadOnceRedisStorage)."""
    from aiogram.fsm.storage.redis import RedisStorage

    class ReadOnceRedisStorage(RedisStorage):
        """Inside an update (`current_session` set) the state and the data are read in one
        MGET and kept in the update's session; handlers read the draft several times a
        step, each a round trip to Redis before. Writes go to Redis at once, as aiogram
        does (the per-user lock keeps other replicas out meanwhile), and what is kept is
        their JSON form, as the next update will read it; deleting what is not there is
        skipped. Outside an update this is aiogram's storage unchanged. Kept copies are
        this update's own: code that changed another user's state inside an update would
        have to go through that user's lock (none does today)."""

        async def _entry(self, key: StorageKey) -> list[Any] | None:
            session = current_session.get()
            if session is None:
                return None
            kept: dict[str, list[Any]] = session.info.setdefault(REDIS_READS, {})
            name = self.key_builder.build(key, "state")
            if name not in kept:
                state, data = await self.redis.mget(name, self.key_builder.build(key, "data"))
                kept[name] = [state.decode() if isinstance(state, bytes) else state,
                              self.json_loads(data) if data else {}]
            return kept[name]

        async def get_state(self, key: StorageKey) -> str | None:
            entry = await self._entry(key)
            return await super().get_state(key) if entry is None else entry[0]

        async def get_data(self, key: StorageKey) -> dict[str, Any]:
            entry = await self._entry(key)
            return await super().get_data(key) if entry is None else copy.deepcopy(entry[1])

        async def set_state(self, key: StorageKey, state: Any = None) -> None:
            entry = await self._entry(key)
            value = state.state if isinstance(state, State) else state
            if entry is not None and value is None and entry[0] is None:
                return
            await super().set_state(key, state)
            if entry is not None:
                entry[0] = value

        async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
            entry = await self._entry(key)
            if entry is not None and not data and not entry[1]:
                return
            await super().set_data(key, data)
            if entry is not None:
                entry[1] = self.json_loads(self.json_dumps(dict(data)))

    return ReadOnceRedisStorage.from_url(url, state_ttl=ttl, data_ttl=ttl)
