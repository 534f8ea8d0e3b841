"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import logging
import time
from typing import Any, TypeVar

from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

T = TypeVar("T")
IDLE_PING_SECONDS = 10.0  # PostgreSQL: a connection idle longer is pinged before use


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    # hide_parameters: an error or echo never logs the values (a resident's text, phone).
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if url.startswith("sqlite"):
        # One writer at a time; wait for the lock instead of failing at once.
        kwargs["connect_args"] = {"timeout": 30}
        if url.startswith("sqlite+aiosqlite"):
            from models.sqlite_driver import dbapi

            kwargs["module"] = dbapi()  # one trip to aiosqlite's thread per statement
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        # aiosqlite's DEBUG lines print every statement with its parameters.
        quiet = logging.getLogger("aiosqlite")
        quiet.setLevel(max(quiet.getEffectiveLevel(), logging.INFO))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        ping_if_idle(engine, IDLE_PING_SECONDS)
    return engine


def ping_if_idle(engine: AsyncEngine, seconds: float) -> None:
    """A pooled connection unused for `seconds` is pinged before it is handed out, and
    replaced if PostgreSQL dropped it (a restart, an idle timeout in between). SQLAlchemy's
    `pool_pre_ping` pings every checkout, and asyncpg's ping is three round trips (BEGIN,
    an empty query, ROLLBACK): a third of what a /start sent to the server. A connection
    in use within the last `seconds` is handed out as it is; if the server went away in
    that window, the first statement fails, SQLAlchemy discards the pool's connections and
    the next update gets fresh ones."""
    pool = engine.sync_engine.pool

    def used(_dbapi_conn: Any, record: Any, *_: Any) -> None:
        record.info["used_at"] = time.monotonic()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("used_at", 0.0) > seconds:
            try:
                dbapi_conn.ping()
            except Exception as error:  # the pool retries with a new connection
                raise exc.DisconnectionError() from error

    event.listen(pool, "connect", used)
    event.listen(pool, "checkin", used)
    event.listen(pool, "checkout", checkout)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    # WAL with synchronous=NORMAL: a commit is not fsynced, the WAL is at checkpoints. A
    # killed or crashed process loses nothing committed; a power cut or OS crash can lose
    # the last commits (never corrupts the file). PostgreSQL is the choice where that
    # matters.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Each sessionmaker gets a Session class of its own, so commit listeners (the FSM
    storage's write, the outbox wake-up) belong to one app, not to every Session."""
    cls = type("AppSession", (Session,), {})
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=cls)


def session_class(sessionmaker: async_sessionmaker[AsyncSession]) -> type[Session]:
    """The sync Session class behind `sessionmaker`, for `sqlalchemy.event.listen`."""
    cls: type[Session] = sessionmaker.kw.get("sync_session_class", Session)
    return cls


def upsert_insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT with `on_conflict_do_*` for the session's dialect (SQLite or PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def skip_locked(session: AsyncSession, stmt: Any, **kwargs: Any) -> Any:
    """`stmt ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent claimers take
    different rows; unchanged on SQLite, whose single writer serialises them anyway."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True, **kwargs)
    return stmt

