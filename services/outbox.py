"""Writing outbox rows. Sending them is the bot layer's job (the sender drains the table)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models import OutboxMessage

# Priorities: lower is sent first.
URGENT = 0
NORMAL = 5
BULK = 9


def keyboard(kind: str, **args: Any) -> dict[str, Any]:
    """An abstract keyboard the bot layer renders with its CallbackData factories."""
    return {"kind": kind, "args": args}


def enqueue(
    session: AsyncSession,
    chat_ids: Iterable[int],
    *,
    kind: str,
    text: str,
    now: dt.datetime,
    ticket_id: int | None = None,
    markup: dict[str, Any] | None = None,
    photos: Iterable[str] = (),
    priority: int = NORMAL,
    not_before: dt.datetime | None = None,
) -> list[OutboxMessage]:
    """Add one row per distinct chat to the session's transaction (no commit here)."""
    rows = []
    for chat_id in dict.fromkeys(chat_ids):  # de-duplicate, keep order
        row = OutboxMessage(
            chat_id=chat_id,
            kind=kind,
            text=text,
            keyboard=markup,
            photos=list(photos),
            ticket_id=ticket_id,
            priority=priority,
            not_before=not_before or now,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    return rows
