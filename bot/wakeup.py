"""Waking the outbox sender when there is something to send, instead of polling the table.

A transaction that queued outbox rows (services.outbox.enqueue marks its session) sets an
asyncio.Event in this process when it commits; on PostgreSQL it also sends NOTIFY on
`minyi_outbox` in the same commit, and every replica's sender LISTENs on its own
connection. The sender still looks now and then (`outbox.idle_poll_seconds`) as the
safety net: rows due later (retries, scheduled reminders), a lost listener connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from models.db import session_class
from services.outbox import QUEUED

log = logging.getLogger(__name__)
CHANNEL = "minyi_outbox"


def _notify(session: Session) -> None:
    """before_commit: NOTIFY is delivered by PostgreSQL only if the transaction commits."""
    if session.info.get(QUEUED) and session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(f"NOTIFY {CHANNEL}"))


class OutboxWakeup:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self.event = asyncio.Event()
        self._conn: AsyncConnection | None = None
        cls = session_class(sessionmaker)
        if not cls.__dict__.get("_outbox_notify"):  # once per sessionmaker (flag on its class)
            event.listen(cls, "before_commit", _notify)
            cls._outbox_notify = True  # type: ignore[attr-defined]
        event.listen(cls, "after_commit", self._committed)
        event.listen(cls, "after_soft_rollback", self._rolled_back)

    def _committed(self, session: Session) -> None:
        if session.info.pop(QUEUED, False):
            self.event.set()

    @staticmethod
    def _rolled_back(session: Session, *_: Any) -> None:
        session.info.pop(QUEUED, None)

    def _notified(self, *_: Any) -> None:
        self.event.set()

    async def start(self) -> None:
        """LISTEN on PostgreSQL (a connection of its own, held while the bot runs)."""
        engine = self.sessionmaker.kw["bind"]
        if engine is None or engine.dialect.name != "postgresql":
            return
        try:
            conn = await engine.connect()
            raw = await conn.get_raw_connection()
            await raw.driver_connection.add_listener(CHANNEL, self._notified)
            self._conn = conn
        except Exception as exc:  # the poll still finds the rows, only later
            log.warning("outbox: LISTEN %s failed (%s); polling only", CHANNEL, exc)

    async def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Detach the commit listeners (tests build many apps on one sessionmaker)."""
        cls = session_class(self.sessionmaker)
        for name, fn in (("after_commit", self._committed),
                         ("after_soft_rollback", self._rolled_back)):
            if event.contains(cls, name, fn):
                event.remove(cls, name, fn)
