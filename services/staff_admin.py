"""Removing staff and unbinding a lost account: effective at once.

The bot looks the person behind every update up in the database (bot/middlewares.py
CurrentPerson), so a committed change applies to the next update of a running bot: an
unbound account is a stranger again, a removed person has no role left. Messages still
waiting in the outbox for that account are cancelled, unused invite links revoked, and
each change is written to the audit log.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import IN_WORK, Invite, OutboxMessage, OutboxState, Person, Role, Ticket
from services import audit
from services.clock import Clock
from services.errors import InvalidInput


async def _staff(session: AsyncSession, code: str) -> Person:
    person = await session.scalar(sa.select(Person).where(Person.code == code))
    if person is None:
        raise InvalidInput("err_invite_person", code=code)
    return person


async def _cut_account(session: AsyncSession, person: Person, clock: Clock) -> int | None:
    """Drop the Telegram binding, its pending messages and unused invites."""
    tg_id, person.tg_user_id = person.tg_user_id, None
    now = clock.now()
    await session.execute(sa.update(Invite).where(Invite.person_id == person.id,
                                                  Invite.used_at.is_(None))
                          .values(expires_at=now))
    if tg_id is not None:
        await session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.chat_id == tg_id,
                   OutboxMessage.state.in_((OutboxState.PENDING, OutboxState.SENDING)))
            .values(state=OutboxState.FAILED, last_error="staff account removed"))
    return tg_id


async def open_assigned(session: AsyncSession, person: Person) -> list[str]:
    """Numbers of open tickets still assigned to the person (to be handed over)."""
    return list(await session.scalars(
        sa.select(Ticket.number).where(Ticket.assignee_id == person.id,
                                       Ticket.state.in_(IN_WORK))))


async def unbind(session: AsyncSession, code: str, clock: Clock, actor: str) -> Person:
    """A lost or stolen account: the roles stay, `minyi invite --person CODE` binds anew."""
    person = await _staff(session, code)
    tg_id = await _cut_account(session, person, clock)
    audit.record(session, clock, actor, "staff.unbind", audit.person_label(person),
                 "was bound" if tg_id is not None else "was not bound")
    await session.flush()
    return person


async def deactivate(session: AsyncSession, person: Person, clock: Clock, actor: str,
                     how: str = "staff.remove") -> None:
    """No staff role, no account, no invite; the record stays for the audit trail."""
    roles = sorted({m.role.value for m in person.memberships if m.role != Role.RESIDENT})
    # delete-orphan: the dropped memberships are deleted at the flush.
    person.memberships = [m for m in person.memberships if m.role == Role.RESIDENT]
    tg_id = await _cut_account(session, person, clock)
    person.active = False
    audit.record(session, clock, actor, how, audit.person_label(person),
                 f"roles: {','.join(roles) or '-'}; "
                 + ("was bound" if tg_id is not None else "was not bound"))
    await session.flush()


async def remove(session: AsyncSession, code: str, clock: Clock, actor: str) -> Person:
    person = await _staff(session, code)
    await deactivate(session, person, clock, actor)
    return person
