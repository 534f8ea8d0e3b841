"""Labelled examples from the tickets themselves, so the router improves with use.

A ticket that a dispatcher assigned or re-routed (an `assign` event marked `correction`),
or whose resident picked the matter when the bot asked (routing record `rule` =
"resident"), or that a dispatcher recorded on a caller's behalf and confirmed or corrected
(`rule` = "dispatcher"), is labelled with the unit it finally went to: a person's choice, not the
router's.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import EventAction, Ticket, TicketEvent, Unit


async def corrected_examples(session: AsyncSession) -> list[tuple[str, str]]:
    """(request text, unit code) for every ticket a person routed."""
    events = await session.execute(
        sa.select(TicketEvent.ticket_id, TicketEvent.data)
        .where(TicketEvent.action == EventAction.ASSIGN))
    ticket_ids = {ticket_id for ticket_id, data in events if data.get("correction")}
    ticket_ids |= set(await session.scalars(sa.select(Ticket.id).where(
        Ticket.routing["rule"].as_string().in_(("resident", "dispatcher")))))
    if not ticket_ids:
        return []
    rows = await session.execute(
        sa.select(Ticket.title, Ticket.text, Unit.code)
        .join(Unit, Unit.id == Ticket.unit_id)
        .where(Ticket.id.in_(ticket_ids))
        .order_by(Ticket.id))
    return [(f"{title}\n{text}".strip(), code) for title, text, code in rows]
