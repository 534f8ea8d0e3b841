"""Who may act on a ticket, and who is told about it. Roles live in the database."""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import Membership, Person, PlaceKind, Role, Ticket
from services import places

# Who may dispatch (triage, assign, re-route, close): dispatchers and admins.
DISPATCH_ROLES = (Role.DISPATCHER, Role.ADMIN)
# Who may work on a ticket of their unit or grid (see `works_on`).
WORK_ROLES = (Role.GRID_WORKER, Role.UNIT_STAFF, Role.UNIT_LEADER)


class Audience(NamedTuple):
    """Everyone with `role` (in `unit_id` / at `place_id` when given): whom a notice reaches."""

    role: Role
    unit_id: int | None = None
    place_id: int | None = None


def may_dispatch(person: Person) -> bool:
    """A dispatcher or an admin."""
    return any(person.has_role(r) for r in DISPATCH_ROLES)


def works_on(person: Person, ticket: Ticket) -> bool:
    """The assignee, staff or leader of the ticket's unit, or a worker of its grid."""
    if ticket.assignee_id == person.id:
        return True
    if ticket.unit_id is not None and (
        person.has_role(Role.UNIT_STAFF, unit_id=ticket.unit_id)
        or person.has_role(Role.UNIT_LEADER, unit_id=ticket.unit_id)
    ):
        return True
    return ticket.place_id is not None and person.has_role(
        Role.GRID_WORKER, place_id=ticket.place_id
    )


def does_the_work(person: Person, ticket: Ticket) -> bool:
    """Who gets the work buttons on a ticket's card: the assignee, the staff of its unit,
    the workers of its grid. Narrower than `works_on`, which also lets the unit's leader
    act (the leader oversees: sees the card, may act by command, gets no buttons)."""
    return (ticket.assignee_id == person.id
            or (ticket.unit_id is not None
                and person.has_role(Role.UNIT_STAFF, unit_id=ticket.unit_id))
            or (ticket.place_id is not None
                and person.has_role(Role.GRID_WORKER, place_id=ticket.place_id)))


async def grid_worker_ids(session: AsyncSession, place_id: int) -> list[int]:
    """The grid workers (person ids, in the order they were added) of a ticket's place:
    those of the grid itself, or, for a community or village (the place buttons stop
    there; only a shared location finds the grid), those of the grids directly under it.
    A town or the county has none."""
    grids = [place_id] + [p.id for p in await places.children(session, place_id)
                          if p.kind == PlaceKind.GRID]
    stmt = (sa.select(Person.id).join(Membership, Membership.person_id == Person.id)
            .where(Membership.role == Role.GRID_WORKER, Membership.place_id.in_(grids))
            .order_by(Person.id))
    return list(dict.fromkeys((await session.scalars(stmt)).all()))


async def can_receive(session: AsyncSession, unit_id: int, place_id: int | None,
                      assignee_id: int | None) -> bool:
    """Someone bound to Telegram would get an assignment: the unit's staff, the grid's
    workers, or the chosen assignee."""
    if await chat_ids(session, Audience(Role.UNIT_STAFF, unit_id=unit_id),
                      Audience(Role.GRID_WORKER, place_id=place_id)):
        return True
    return await chat_of(session, assignee_id) is not None


async def chat_of(session: AsyncSession, person_id: int | None) -> int | None:
    """One person's Telegram chat (None: nobody, or not bound), read without loading the
    person and their memberships (two statements and the ORM objects)."""
    if person_id is None:
        return None
    return await session.scalar(sa.select(Person.tg_user_id).where(Person.id == person_id))


async def chat_ids(session: AsyncSession, *queries: Audience) -> list[int]:
    """Telegram chats of everyone in any of the audiences, audience by audience, each in
    the order people were added; people not bound are skipped. One statement for all the
    audiences, reading the chat ids only (no Person objects, no memberships loaded)."""
    selects = []
    for i, (role, unit_id, place_id) in enumerate(queries):
        if role in (Role.UNIT_STAFF, Role.UNIT_LEADER) and unit_id is None:
            continue
        if role == Role.GRID_WORKER and place_id is None:
            continue
        stmt = (sa.select(sa.literal(i).label("audience"), Person.id, Person.tg_user_id)
                .join(Membership, Membership.person_id == Person.id)
                .where(Membership.role == role, Person.tg_user_id.is_not(None)))
        if unit_id is not None:
            stmt = stmt.where(Membership.unit_id == unit_id)
        if place_id is not None:
            stmt = stmt.where(Membership.place_id == place_id)
        selects.append(stmt)
    if not selects:
        return []
    union = sa.union_all(*selects).subquery()
    rows = await session.execute(sa.select(union.c.tg_user_id)
                                 .order_by(union.c.audience, union.c.id))
    return list(dict.fromkeys(rows.scalars()))
