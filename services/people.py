"""Finding and registering the people who write to the bot."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from models import Membership, Person, Role
from services.clock import Clock

# Run for every update: built once (building it and its cache key cost more than the
# query's round trip; a statement object keeps its cache key).
_BY_TG_ID = (sa.select(Person).options(joinedload(Person.memberships))
             .where(Person.tg_user_id == sa.bindparam("tg_user_id")))


async def by_tg_id(session: AsyncSession, tg_user_id: int) -> Person | None:
    """The person with their memberships (roles) in one query."""
    result = await session.scalars(_BY_TG_ID, {"tg_user_id": tg_user_id})
    return result.unique().one_or_none()


async def ensure_resident(session: AsyncSession, tg_user_id: int, name: str,
                          clock: Clock) -> Person:
    """The person behind a Telegram account, created as a resident on first contact.

    The display name is refreshed for people who came in through the bot; staff names
    from the org file are left as the file has them.
    """
    person = await by_tg_id(session, tg_user_id)
    if person is None:
        person = Person(tg_user_id=tg_user_id, name=name[:128], created_at=clock.now())
        person.memberships = [Membership(role=Role.RESIDENT)]
        session.add(person)
        await session.flush()
    elif person.code is None and name and person.name != name[:128]:
        person.name = name[:128]
    return person


async def seen(session: AsyncSession, tg_user_id: int, name: str, clock: Clock) -> Person:
    """The person behind an incoming update (`ensure_resident`). Someone a push could not
    reach (blocked the bot) who writes again can be reached again."""
    person = await ensure_resident(session, tg_user_id, name, clock)
    if person.unreachable_at is not None:
        person.unreachable_at, person.unreachable_reason = None, ""
    return person


async def ensure_caller(session: AsyncSession, name: str, phone: str, clock: Clock) -> Person:
    """The resident behind a phone call or a counter visit (代录): found by the phone among
    people without a chat, else created. They have no chat: the bot never writes to them."""
    person = await session.scalar(
        sa.select(Person).where(Person.phone == phone, Person.tg_user_id.is_(None),
                                Person.code.is_(None)).order_by(Person.id).limit(1))
    if person is None:
        person = Person(name=name[:128], phone=phone, created_at=clock.now())
        person.memberships = [Membership(role=Role.RESIDENT)]
        session.add(person)
        await session.flush()
    elif name and person.name != name[:128]:
        person.name = name[:128]
    return person
