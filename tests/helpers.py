"""Small helpers shared by the service tests."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import OutboxMessage, Person, TicketEvent
from services.clock import Clock


async def new_resident(session: AsyncSession, clock: Clock, tg_id: int,
                       name: str = "居民") -> Person:
    person = Person(tg_user_id=tg_id, name=name, created_at=clock.now(), memberships=[])
    session.add(person)
    await session.flush()
    return person


async def outbox(session: AsyncSession, ticket_id: int | None = None) -> list[OutboxMessage]:
    stmt = sa.select(OutboxMessage).order_by(OutboxMessage.id)
    if ticket_id is not None:
        stmt = stmt.where(OutboxMessage.ticket_id == ticket_id)
    return list(await session.scalars(stmt))


async def events(session: AsyncSession, ticket_id: int) -> list[TicketEvent]:
    return list(await session.scalars(
        sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.id)))
