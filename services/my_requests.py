"""我的诉求: a resident's own tickets. Anyone else's ticket is "not found", never shown."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import EventAction, Person, Ticket, TicketEvent, Unit
from services import places
from services.context import ServiceContext
from services.errors import InvalidInput, NotFound
from services.places import PlaceRow
from services.tickets import ALLOWED_FROM

# What a resident's history shows of each event: staff-internal notes (return reasons,
# triage notes) stay internal; results, ratings and the resident's own words are shown.
PUBLIC_NOTES = frozenset({"resolve", "rate", "reopen", "follow_up", "callback"})


@dataclass(frozen=True)
class Page:
    tickets: list[Ticket]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class TicketDetail:
    ticket: Ticket
    unit: Unit | None
    place: PlaceRow | None
    events: list[TicketEvent]

    @property
    def can_follow_up(self) -> bool:
        return self.ticket.state in ALLOWED_FROM[EventAction.FOLLOW_UP]


async def page_of(session: AsyncSession, resident: Person, page: int,
                  size: int) -> Page:
    """Newest first; a page past the end shows the last page."""
    total = await session.scalar(
        sa.select(sa.func.count()).select_from(Ticket)
        .where(Ticket.resident_id == resident.id)) or 0
    pages = max(1, -(-total // size))
    page = min(max(page, 0), pages - 1)
    tickets = await session.scalars(
        sa.select(Ticket).where(Ticket.resident_id == resident.id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .offset(page * size).limit(size))
    return Page(list(tickets), page, pages, total)


async def own(session: AsyncSession, resident: Person, ticket_id: int) -> Ticket:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.resident_id != resident.id:
        raise NotFound()
    return ticket


async def follow_up(session: AsyncSession, ctx: ServiceContext, resident: Person,
                    ticket_id: int, text: str, photos: list[str]) -> Ticket:
    """补充: the resident's own request, words within the intake limit (refused, not
    clipped: the resident chose every word), then the lifecycle's follow-up."""
    ticket = await own(session, resident, ticket_id)
    if len(text) > ctx.intake.max_text:
        raise InvalidInput("err_text_too_long", length=len(text), limit=ctx.intake.max_text)
    await ctx.lifecycle(session).follow_up(ticket, resident, text, photos)
    return ticket


async def own_by_number(session: AsyncSession, resident: Person, number: str) -> Ticket:
    ticket = await session.scalar(sa.select(Ticket).where(Ticket.number == number.upper()))
    if ticket is None or ticket.resident_id != resident.id:
        raise NotFound()
    return ticket


async def detail(session: AsyncSession, resident: Person, ticket_id: int) -> TicketDetail:
    ticket = await own(session, resident, ticket_id)
    events = await session.scalars(
        sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
        .order_by(TicketEvent.id))
    unit = await session.get(Unit, ticket.unit_id) if ticket.unit_id else None
    place = await places.find(session, ticket.place_id)
    return TicketDetail(ticket, unit, place, list(events))
