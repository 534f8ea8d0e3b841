"""Outbox: every message the system pushes, written in the transaction that caused it."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, str_enum


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender
    SENT = "sent"
    FAILED = "failed"  # gave up after retries
    BLOCKED = "blocked"  # 403: the user blocked the bot


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_state_not_before", "state", "priority", "not_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))  # assignment, result, reminder, ...
    text: Mapped[str] = mapped_column(sa.Text)
    # Abstract keyboard ({"kind": ..., "args": {...}}): the bot layer renders the buttons,
    # so services stay free of aiogram.
    keyboard: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    photos: Mapped[list[Any]] = mapped_column(default=list)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    priority: Mapped[int] = mapped_column(default=0)  # lower is sooner
    not_before: Mapped[dt.datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    # Photos and text may take two API calls; a retry resumes after the parts already sent.
    parts_sent: Mapped[int] = mapped_column(default=0)
    state: Mapped[OutboxState] = mapped_column(str_enum(OutboxState),
                                               default=OutboxState.PENDING)
    claimed_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    tg_message_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime]


class JobRun(Base):
    """A once-only job (a day's digest, a month's report): the first process to insert
    the row runs it; the others see the conflict and skip."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    ran_at: Mapped[dt.datetime]
