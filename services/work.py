"""What staff see: their queue, the triage queue, a ticket they may see, who can take over.

Who may see a ticket: dispatchers and admins (all), callback staff (tickets waiting for a
callback), and whoever works on it (assignee, the unit's staff and leader, the grid's
workers). Anyone else gets "not found", exactly as a resident asking for a stranger's
ticket. The resident's phone is shown in full only to the assignee and dispatchers, and
each such view is written to the audit log. An anonymous request (匿名反映) shows nobody
the resident's name or phone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import IN_WORK, Membership, Person, Role, Ticket, TicketEvent, Unit
from models import TicketState as S
from services import access, audit, places
from services.clock import Clock, SystemClock
from services.errors import InvalidInput, NotAllowed, NotFound
from services.intake import keep
from services.places import PlaceRow

MAX_RESULT_PHOTOS = 10  # photos of one 办结 (the result the resident is shown)


def add_result_photo(photos: list[str], file_id: str) -> bool:
    """Keep a result photo; False (not kept) past MAX_RESULT_PHOTOS: the worker is told."""
    return keep(photos, file_id, MAX_RESULT_PHOTOS)


def may_see(person: Person, ticket: Ticket) -> bool:
    if access.may_dispatch(person) or access.works_on(person, ticket):
        return True
    return person.has_role(Role.CALLBACK_STAFF) and ticket.state in (S.RESOLVED,
                                                                     S.CALLBACK_DUE)


def sees_phone(person: Person, ticket: Ticket) -> bool:
    if ticket.anonymous:
        return False
    return access.may_dispatch(person) or ticket.assignee_id == person.id or (
        person.has_role(Role.CALLBACK_STAFF) and ticket.state == S.CALLBACK_DUE)


@dataclass(frozen=True)
class StaffView:
    ticket: Ticket
    unit: Unit | None
    place: PlaceRow | None
    resident: Person | None
    assignee: Person | None
    events: list[TicketEvent]
    show_phone: bool


async def visible(session: AsyncSession, person: Person, ticket: Ticket | None) -> Ticket:
    if ticket is None or not may_see(person, ticket):
        raise NotFound()
    return ticket


async def ticket_for(session: AsyncSession, person: Person, ticket_id: int) -> Ticket:
    """A ticket this person may see; NotFound otherwise (as for one that does not exist)."""
    return await visible(session, person, await session.get(Ticket, ticket_id))


async def ticket_to_dispatch(session: AsyncSession, person: Person, ticket_id: int) -> Ticket:
    """A ticket for a dispatcher's button (分派, 改派): NotAllowed for anyone else."""
    if not access.may_dispatch(person):
        raise NotAllowed()
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound()
    return ticket


async def unit(session: AsyncSession, unit_id: int | None) -> Unit | None:
    return await session.get(Unit, unit_id) if unit_id else None


async def active_unit(session: AsyncSession, unit_id: int) -> Unit:
    """A unit a ticket may be sent to; "未知单位" otherwise."""
    found = await session.get(Unit, unit_id)
    if found is None or not found.active:
        raise InvalidInput("err_unknown_unit")
    return found


async def unit_names(session: AsyncSession, unit_ids: Iterable[int]) -> dict[int, str]:
    ids = set(unit_ids)
    if not ids:
        return {}
    return dict((await session.execute(sa.select(Unit.id, Unit.name).where(
        Unit.id.in_(ids)))).tuples().all())


async def transfer_target(session: AsyncSession, person_id: int) -> Person:
    """The person a 转派 names; whether they may take it is the lifecycle's check."""
    target = await session.get(Person, person_id)
    if target is None:
        raise InvalidInput("err_transfer_target")
    return target


async def by_number(session: AsyncSession, person: Person, number: str) -> Ticket:
    ticket = await session.scalar(sa.select(Ticket).where(Ticket.number == number.upper()))
    return await visible(session, person, ticket)


async def view(session: AsyncSession, person: Person, ticket_id: int,
               clock: Clock | None = None) -> StaffView:
    ticket = await visible(session, person, await session.get(Ticket, ticket_id))
    events = await session.scalars(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))
    show_phone = sees_phone(person, ticket)
    if show_phone and ticket.contact_phone:
        audit.record(session, clock or SystemClock(), person, "phone.view", ticket.number)
    return StaffView(
        ticket,
        await session.get(Unit, ticket.unit_id) if ticket.unit_id else None,
        await places.find(session, ticket.place_id),
        None if ticket.anonymous else await session.get(Person, ticket.resident_id),
        await session.get(Person, ticket.assignee_id) if ticket.assignee_id else None,
        list(events), show_phone)


async def queue(session: AsyncSession, person: Person, limit: int = 30) -> list[Ticket]:
    """Open tickets of the person, their units and grids, soonest deadline first."""
    if not any(person.has_role(r) for r in access.WORK_ROLES):
        raise NotAllowed()
    units = [m.unit_id for m in person.memberships
             if m.role in (Role.UNIT_STAFF, Role.UNIT_LEADER) and m.unit_id]
    grids = [m.place_id for m in person.memberships
             if m.role == Role.GRID_WORKER and m.place_id]
    mine = sa.or_(Ticket.assignee_id == person.id, Ticket.unit_id.in_(units),
                  Ticket.place_id.in_(grids))
    return list(await session.scalars(
        sa.select(Ticket).where(Ticket.state.in_(IN_WORK), mine)
        .order_by(Ticket.due_at.asc().nulls_last(), Ticket.id).limit(limit)))


async def triage_queue(session: AsyncSession, person: Person, limit: int = 10) -> list[Ticket]:
    if not access.may_dispatch(person):
        raise NotAllowed()
    return list(await session.scalars(
        sa.select(Ticket).where(Ticket.state == S.TRIAGE)
        .order_by(Ticket.updated_at, Ticket.id).limit(limit)))


async def callback_queue(session: AsyncSession, person: Person, limit: int = 20,
                         clock: Clock | None = None) -> list[Ticket]:
    """Tickets to phone about, with the full phone: each number shown is audited."""
    if not (person.has_role(Role.CALLBACK_STAFF) or access.may_dispatch(person)):
        raise NotAllowed()
    tickets = list(await session.scalars(
        sa.select(Ticket).where(Ticket.state == S.CALLBACK_DUE, ~Ticket.anonymous)
        .order_by(Ticket.updated_at, Ticket.id).limit(limit)))
    for ticket in tickets:
        if ticket.contact_phone:
            audit.record(session, clock or SystemClock(), person, "phone.view",
                         ticket.number, "callback queue")
    return tickets


async def suggested_units(session: AsyncSession, ticket: Ticket) -> list[Unit]:
    """The router's offers (up to three), as units of the org (those it does not have are
    left out)."""
    return await units_by_code(session, [
        s.get("unit") for s in (ticket.routing or {}).get("suggestions", [])
        if isinstance(s, dict)])


async def units_by_code(session: AsyncSession, codes: list[str | None]) -> list[Unit]:
    """The active units of `codes`, in that order, each once (unknown codes left out)."""
    wanted = [c for c in dict.fromkeys(codes) if c]
    units = {u.code: u for u in await session.scalars(
        sa.select(Unit).where(Unit.code.in_(wanted), Unit.active))}
    return [units[c] for c in wanted if c in units]


async def nobody_receives(session: AsyncSession, ticket: Ticket,
                          units: Sequence[Unit]) -> set[int]:
    """Of `units`, those where an assignment of this ticket would reach nobody."""
    return {u.id for u in units
            if not await access.can_receive(session, u.id, ticket.place_id, None)}


async def units_page(session: AsyncSession, page: int, size: int = 8) -> tuple[list[Unit], int]:
    total = await session.scalar(sa.select(sa.func.count()).select_from(Unit)
                                 .where(Unit.active)) or 0
    pages = max(1, -(-total // size))
    page = min(max(page, 0), pages - 1)
    units = await session.scalars(sa.select(Unit).where(Unit.active).order_by(Unit.code)
                                  .offset(page * size).limit(size))
    return list(units), pages


async def transfer_candidates(session: AsyncSession, person: Person,
                              ticket: Ticket) -> list[Person]:
    """Other bound workers of the ticket's unit or grid."""
    if not access.works_on(person, ticket):
        raise NotAllowed()
    stmt = (sa.select(Person).join(Membership, Membership.person_id == Person.id)
            .where(Person.tg_user_id.is_not(None), Person.id != person.id,
                   sa.or_(sa.and_(Membership.role == Role.UNIT_STAFF,
                                  Membership.unit_id == ticket.unit_id),
                          sa.and_(Membership.role == Role.GRID_WORKER,
                                  Membership.place_id == ticket.place_id)))
            .order_by(Person.id))
    return [p for p in (await session.scalars(stmt)).unique() if p.id != ticket.assignee_id]


def overdue(ticket: Ticket, now: dt.datetime) -> bool:
    return ticket.due_at is not None and ticket.due_at < now
