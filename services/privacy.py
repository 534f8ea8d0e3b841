"""个人信息保护法: consent, the resident's copy of their data, erasure, and retention.

- Consent: the notice is shown at the first /start and before a first request; confirming
  the request records `people.consent_at` in the transaction that stores the request.
- 我的信息: everything stored about the resident (`export`) as one JSON document.
- 删除我的信息 (`erase`): name, phone, Telegram binding, locations, photos and finished
  bookings' topics go; the tickets stay for the statistics, attached to a record that no
  longer names anyone, their text kept until the retention rule clears it.
- Retention (`purge_closed`, `expire_drafts`): personal fields of tickets closed more than
  `privacy.retention_days` ago, and the messages pushed about them; drafts older than
  `privacy.draft_hours`; the contact and result of finished 红色代办 errands and the text of
  finished 微心愿 (`purge_errands`). A daily scheduler sweep runs them; `minyi doctor`
  shows what is due.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import (
    Booking,
    BookingState,
    Errand,
    ErrandState,
    FsmRecord,
    OutboxMessage,
    OutboxState,
    Person,
    Ticket,
    TicketEvent,
    TicketState,
    Wish,
    WishState,
)
from services import audit
from services.clock import Clock
from services.errors import InvalidInput

BATCH = 500
IN_FLIGHT = (OutboxState.PENDING, OutboxState.SENDING)
# Ticket columns that describe the resident or their place, cleared by erase and retention.
PLACE_AND_MEDIA = {"contact_phone": None, "latitude": None, "longitude": None, "address": "",
                   "photos": [], "attachments": []}


ERRANDS_FINISHED = (ErrandState.CLOSED, ErrandState.CANCELLED)
WISHES_FINISHED = (WishState.FULFILLED, WishState.REJECTED)
ERRAND_PERSONAL = {"beneficiary_name": "", "address": "", "phone": "", "result_note": "",
                   "result_photo": None, "note": ""}


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def export(session: AsyncSession, person: Person,
                 draft: dict[str, Any] | None) -> dict[str, Any]:
    """Everything stored about the person, as plain JSON-safe data."""
    tickets = list(await session.scalars(
        sa.select(Ticket).where(Ticket.resident_id == person.id).order_by(Ticket.id)))
    events = list(await session.scalars(
        sa.select(TicketEvent).where(TicketEvent.ticket_id.in_([tk.id for tk in tickets]))
        .order_by(TicketEvent.id))) if tickets else []
    bookings = await session.scalars(
        sa.select(Booking).where(Booking.resident_id == person.id).order_by(Booking.id))
    return {
        "person": {"name": person.name, "phone": person.phone,
                   "telegram_user_id": person.tg_user_id,
                   "first_contact": _iso(person.created_at),
                   "consent_at": _iso(person.consent_at),
                   "roles": sorted({m.role.value for m in person.memberships})},
        "tickets": [{
            "number": tk.number, "state": tk.state.value, "anonymous": tk.anonymous,
            "text": tk.text, "address": tk.address, "latitude": tk.latitude,
            "longitude": tk.longitude, "contact_phone": tk.contact_phone,
            "photos": len(tk.photos), "voice_or_video": len(tk.attachments),
            "submitted": _iso(tk.created_at), "closed": _iso(tk.closed_at),
            "rating": tk.rating.value if tk.rating else None, "result": tk.result_text,
            "history": [{"at": _iso(e.at), "action": e.action,
                         "note": e.note if e.actor_id == person.id else ""}
                        for e in events if e.ticket_id == tk.id],
        } for tk in tickets],
        "bookings": [{"code": b.code, "at": _iso(b.starts_at), "topic": b.topic,
                      "state": b.state.value} for b in bookings],
        "errands": [{
            "id": e.id, "item": e.item, "for": e.beneficiary_name, "age": e.beneficiary_age,
            "address": e.address, "phone": e.phone, "day": e.wanted_day.isoformat(),
            "state": e.state.value, "rating": e.rating, "ordered": _iso(e.created_at),
        } for e in await session.scalars(
            sa.select(Errand).where(Errand.orderer_id == person.id).order_by(Errand.id))],
        "wishes": [{"id": w.id, "text": w.text, "value": w.value, "state": w.state.value}
                   for w in await session.scalars(sa.select(Wish).where(
                       Wish.resident_id == person.id).order_by(Wish.id))],
        "draft": draft or {},
    }


def consent(person: Person, clock: Clock) -> None:
    """The resident agreed to the notice (同意, or confirming a first request)."""
    person.consent_at = person.consent_at or clock.now()


async def erase(session: AsyncSession, person: Person, clock: Clock) -> int:
    """删除我的信息. Returns the number of tickets kept (detached) for the statistics."""
    if person.code is not None:  # staff records belong to the org file
        raise InvalidInput("privacy_erase_staff")
    ids = list(await session.scalars(sa.select(Ticket.id)
                                     .where(Ticket.resident_id == person.id)))
    if ids:
        await session.execute(sa.update(Ticket).where(Ticket.id.in_(ids))
                              .values(**PLACE_AND_MEDIA, result_photos=[]))
        await _clear_event_photos(session, ids)
        await _clear_sent_messages(session, OutboxMessage.ticket_id.in_(ids))
    if person.tg_user_id is not None:
        await _clear_sent_messages(session, OutboxMessage.chat_id == person.tg_user_id)
    await session.execute(sa.update(Booking).where(Booking.resident_id == person.id,
                                                   Booking.state != BookingState.BOOKED)
                          .values(topic="", notes=""))
    # 红色代办 and 微心愿 that are finished (an open errand keeps its contact until done)
    await session.execute(sa.update(Errand).where(Errand.orderer_id == person.id,
                                                  Errand.state.in_(ERRANDS_FINISHED))
                          .values(**ERRAND_PERSONAL))
    await session.execute(sa.update(Wish).where(Wish.resident_id == person.id,
                                                Wish.state.in_(WISHES_FINISHED))
                          .values(text="", photo=None))
    person.name, person.phone, person.tg_user_id = "", None, None
    person.consent_at, person.unreachable_at, person.unreachable_reason = None, None, ""
    person.active = False
    audit.record(session, clock, person, "privacy.erase", audit.person_label(person),
                 f"{len(ids)} tickets kept for statistics, detached")
    await session.flush()
    return len(ids)


async def _clear_event_photos(session: AsyncSession, ticket_ids: list[int]) -> None:
    rows = await session.scalars(sa.select(TicketEvent).where(
        TicketEvent.ticket_id.in_(ticket_ids)))
    for event in rows:
        if event.data.get("photos"):
            event.data = {**event.data, "photos": []}


async def _clear_sent_messages(session: AsyncSession, where: Any) -> None:
    """Delivered (or given-up) copies of messages; those in flight are left to the sender."""
    await session.execute(sa.update(OutboxMessage)
                          .where(where, OutboxMessage.state.not_in(IN_FLIGHT))
                          .values(text="", photos=[], keyboard=None))


@dataclass(frozen=True)
class Due:
    tickets: int  # closed tickets past retention, not yet cleared
    drafts: int  # conversation drafts older than draft_hours (SQL storage)


def _purge_filter(now: dt.datetime, retention_days: int) -> Any:
    return sa.and_(Ticket.state == TicketState.CLOSED, Ticket.purged_at.is_(None),
                   Ticket.closed_at <= now - dt.timedelta(days=retention_days))


async def due(session: AsyncSession, now: dt.datetime, retention_days: int,
              draft_hours: int) -> Due:
    tickets = await session.scalar(sa.select(sa.func.count()).select_from(Ticket)
                                   .where(_purge_filter(now, retention_days)))
    drafts = await session.scalar(sa.select(sa.func.count()).select_from(FsmRecord).where(
        FsmRecord.updated_at <= now - dt.timedelta(hours=draft_hours)))
    return Due(tickets or 0, drafts or 0)


async def purge_closed(session: AsyncSession, now: dt.datetime, retention_days: int) -> int:
    """One batch: clear the personal fields of tickets closed before the retention limit,
    their events' notes and photos, and the messages pushed about them. Flushes; the
    caller commits. Returns the number of tickets cleared (BATCH: call again)."""
    ids = list(await session.scalars(sa.select(Ticket.id).where(
        _purge_filter(now, retention_days)).order_by(Ticket.closed_at).limit(BATCH)))
    if not ids:
        return 0
    await session.execute(sa.update(Ticket).where(Ticket.id.in_(ids)).values(
        **PLACE_AND_MEDIA, text="", title="", result_text="", result_photos=[],
        purged_at=now))
    await session.execute(sa.update(TicketEvent).where(TicketEvent.ticket_id.in_(ids))
                          .values(note=""))
    await _clear_event_photos(session, ids)
    await _clear_sent_messages(session, OutboxMessage.ticket_id.in_(ids))
    await session.flush()
    return len(ids)


async def purge_bookings(session: AsyncSession, now: dt.datetime, retention_days: int) -> int:
    """Topics of bookings whose day is past the retention limit."""
    result = await session.execute(sa.update(Booking).where(
        Booking.starts_at <= now - dt.timedelta(days=retention_days), Booking.topic != "",
        Booking.state != BookingState.BOOKED).values(topic="", notes=""))
    return int(result.rowcount or 0)


async def purge_errands(session: AsyncSession, now: dt.datetime, retention_days: int) -> int:
    """The beneficiary's contact and the result of errands finished before the limit, and
    the text and photo of finished wishes."""
    limit = now - dt.timedelta(days=retention_days)
    result = await session.execute(sa.update(Errand).where(
        Errand.state.in_(ERRANDS_FINISHED), Errand.updated_at <= limit, Errand.phone != "")
        .values(**ERRAND_PERSONAL))
    wishes = await session.execute(sa.update(Wish).where(
        Wish.state.in_(WISHES_FINISHED), Wish.updated_at <= limit, Wish.text != "")
        .values(text="", photo=None))
    return int(result.rowcount or 0) + int(wishes.rowcount or 0)


async def expire_drafts(session: AsyncSession, now: dt.datetime, draft_hours: int) -> int:
    result = await session.execute(sa.delete(FsmRecord).where(
        FsmRecord.updated_at <= now - dt.timedelta(hours=draft_hours)))
    return int(result.rowcount or 0)


async def run_retention(sessionmaker: async_sessionmaker[AsyncSession], clock: Clock,
                        retention_days: int, draft_hours: int) -> dict[str, int]:
    """The daily sweep: every batch in its own transaction, until nothing is due."""
    done = {"tickets": 0, "bookings": 0, "errands": 0, "drafts": 0}
    while True:
        async with sessionmaker() as session:
            n = await purge_closed(session, clock.now(), retention_days)
            await session.commit()
        done["tickets"] += n
        if n < BATCH:
            break
    async with sessionmaker() as session:
        done["bookings"] = await purge_bookings(session, clock.now(), retention_days)
        done["errands"] = await purge_errands(session, clock.now(), retention_days)
        done["drafts"] = await expire_drafts(session, clock.now(), draft_hours)
        if done["tickets"]:
            audit.record(session, clock, None, "retention.purge", "",
                         f"{done['tickets']} closed tickets cleared")
        await session.commit()
    return done
