"""Staff onboarding: a one-time deep link binds a Telegram account to a staff record.

Staff exist before they open the bot (org file or `minyi invite`). The link carries a
random token; opening it binds the account. A token works once and expires. If the account
already talked to the bot as a resident, that resident record is merged into the staff
record (their own requests stay theirs).
"""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import Invite, Membership, Person, Place, PlaceKind, Role, Ticket, TicketEvent, Unit
from services.clock import Clock
from services.errors import InvalidInput

UNIT_ROLES = (Role.UNIT_STAFF, Role.UNIT_LEADER)


async def new_staff(session: AsyncSession, role: Role, *, unit_code: str | None,
                    grid_code: str | None, name: str, phone: str, clock: Clock) -> Person:
    """A staff record for someone not in the org file yet."""
    membership = Membership(role=role)
    if role in UNIT_ROLES:
        unit = await session.scalar(sa.select(Unit).where(Unit.code == (unit_code or "")))
        if unit is None:
            raise InvalidInput("err_invite_unit", code=unit_code or "")
        membership.unit_id = unit.id
    elif role == Role.GRID_WORKER:
        grid = await session.scalar(sa.select(Place).where(Place.code == (grid_code or ""),
                                                           Place.kind == PlaceKind.GRID))
        if grid is None:
            raise InvalidInput("err_invite_grid", code=grid_code or "")
        membership.place_id = grid.id
    if not name.strip():
        raise InvalidInput("err_invite_name")
    count = await session.scalar(sa.select(sa.func.count()).select_from(Person)) or 0
    person = Person(code=f"invited-{count + 1}-{secrets.token_hex(2)}", name=name.strip(),
                    phone=phone or None, created_at=clock.now(), memberships=[membership])
    session.add(person)
    await session.flush()
    return person


async def existing_staff(session: AsyncSession, code: str) -> Person:
    person = await session.scalar(sa.select(Person).where(Person.code == code))
    if person is None:
        raise InvalidInput("err_invite_person", code=code)
    if not person.active:
        raise InvalidInput("err_staff_inactive", code=code)
    return person


async def create(session: AsyncSession, person: Person, clock: Clock, hours: int) -> Invite:
    now = clock.now()
    invite = Invite(token=secrets.token_urlsafe(24), person_id=person.id, created_at=now,
                    expires_at=now + dt.timedelta(hours=hours))
    session.add(invite)
    await session.flush()
    return invite


async def redeem(session: AsyncSession, token: str, tg_user_id: int, clock: Clock) -> Person:
    """Bind the account to the invited staff record, or say why not."""
    invite = await session.scalar(sa.select(Invite).where(Invite.token == token)
                                  .with_for_update())
    now = clock.now()
    if invite is None:
        raise InvalidInput("err_invite_unknown")
    staff = await session.get(Person, invite.person_id)
    assert staff is not None
    if not staff.active:  # removed after the link was made
        raise InvalidInput("err_invite_unknown")
    if invite.used_at is not None:
        if invite.used_by_tg_id == tg_user_id:
            return staff  # the same person opening the link again
        raise InvalidInput("err_invite_used")
    if invite.expires_at < now:
        raise InvalidInput("err_invite_expired")
    if staff.tg_user_id is not None and staff.tg_user_id != tg_user_id:
        raise InvalidInput("err_invite_taken")
    current = await session.scalar(sa.select(Person).where(Person.tg_user_id == tg_user_id))
    if current is not None and current.id != staff.id:
        if current.code is not None:
            raise InvalidInput("err_invite_other_staff", name=current.name)
        await _merge_resident(session, current, staff)
    staff.tg_user_id = tg_user_id
    staff.unreachable_at, staff.unreachable_reason = None, ""
    invite.used_at, invite.used_by_tg_id = now, tg_user_id
    await session.flush()
    return staff


async def _merge_resident(session: AsyncSession, resident: Person, staff: Person) -> None:
    """The account's resident record becomes part of the staff record."""
    await session.execute(sa.update(Ticket).where(Ticket.resident_id == resident.id)
                          .values(resident_id=staff.id))
    await session.execute(sa.update(TicketEvent).where(TicketEvent.actor_id == resident.id)
                          .values(actor_id=staff.id))
    if not staff.has_role(Role.RESIDENT):
        staff.memberships.append(Membership(role=Role.RESIDENT))
    staff.phone = staff.phone or resident.phone
    resident.tg_user_id = None
    await session.flush()
    await session.delete(resident)
    await session.flush()
