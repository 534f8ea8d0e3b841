"""民意"5"来听: residents book a slot at a venue on its appointment days.

A venue's schedule (org file) names its days of the month (5/15/25 by default), hours,
slot length, capacity per slot, who receives, and what happens when a day falls on a
rest day: "next_workday" (moved, and residents are told) or "keep". Slots are rows made
on first sight; a booking takes a place with one conditional UPDATE, so capacity holds
under any number of simultaneous bookings. Reminders (the day before at 18:00, two hours
before) go through the outbox from the same sweep loop as the tickets'.
"""

from __future__ import annotations

import asyncio
import calendar as month_calendar
import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import Booking, BookingState, Person, Role, Slot, Unit, Venue
from models.db import skip_locked, upsert_insert
from services import access, places
from services.context import ServiceContext
from services.deadlines import WorkingCalendar
from services.errors import InvalidInput, NotAllowed, NotFound
from services.intake import IntakeRules, RequestRouter, check_description
from services.outbox import NORMAL, enqueue
from services.texts import fmt_moment, plain, t
from services.tickets import Draft

UPCOMING = (BookingState.BOOKED,)  # a booking still to happen
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class Schedule:
    days: tuple[int, ...] = (5, 15, 25)
    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(11, 30)
    slot_minutes: int = 30
    capacity: int = 3
    holiday_rule: str = "next_workday"  # or "keep"
    receivers: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, venue: Venue) -> Schedule | None:
        raw: dict[str, Any] = venue.schedule or {}
        if not raw:
            return None
        return cls(days=tuple(raw.get("days", (5, 15, 25))),
                   start=dt.time.fromisoformat(raw.get("start", "09:00")),
                   end=dt.time.fromisoformat(raw.get("end", "11:30")),
                   slot_minutes=int(raw.get("slot_minutes", 30)),
                   capacity=int(raw.get("capacity", 3)),
                   holiday_rule=raw.get("holiday_rule", "next_workday"),
                   receivers=tuple(raw.get("receivers", ())))


@dataclass(frozen=True)
class SessionDay:
    nominal: dt.date  # the 5th/15th/25th
    actual: dt.date  # where the holiday rule puts it

    @property
    def moved(self) -> bool:
        return self.nominal != self.actual


def session_days(schedule: Schedule, cal: WorkingCalendar, today: dt.date,
                 count: int = 3) -> list[SessionDay]:
    """The next `count` session days from today on, with the holiday rule applied."""
    found: dict[dt.date, SessionDay] = {}
    year, month = today.year, today.month
    for _ in range(14):
        last = month_calendar.monthrange(year, month)[1]
        for day in sorted(schedule.days):
            if day > last:
                continue
            nominal = dt.date(year, month, day)
            actual = nominal
            if schedule.holiday_rule == "next_workday" and not cal.is_workday(nominal):
                actual = cal.next_workday(nominal)
            if actual >= today and actual not in found:
                found[actual] = SessionDay(nominal, actual)
        month += 1
        if month == 13:
            year, month = year + 1, 1
        if len(found) >= count:
            break
    return [found[d] for d in sorted(found)][:count]


def slot_times(schedule: Schedule, day: dt.date, tz: Any) -> list[tuple[dt.datetime,
                                                                         dt.datetime]]:
    times = []
    cur = dt.datetime.combine(day, schedule.start, tzinfo=tz)
    end = dt.datetime.combine(day, schedule.end, tzinfo=tz)
    step = dt.timedelta(minutes=schedule.slot_minutes)
    while cur + step <= end:
        times.append((cur, cur + step))
        cur += step
    return times


async def bookable_venues(session: AsyncSession) -> list[Venue]:
    return [v for v in await session.scalars(sa.select(Venue).order_by(Venue.code))
            if v.schedule]


async def venues_in(session: AsyncSession, town_id: int) -> list[Venue]:
    """Bookable venues at the town or anywhere below it."""
    tree = await places.directory(session)
    below = {town_id}
    frontier = [town_id]
    while frontier:
        kids = [p.id for parent in frontier for p in tree.children(parent)]
        below.update(kids)
        frontier = kids
    return [v for v in await bookable_venues(session) if v.place_id in below]


async def venues_near(session: AsyncSession, lat: float, lon: float, max_km: float,
                      limit: int = 4) -> list[tuple[Venue, float]]:
    """Nearest bookable venues (a venue without a point uses its place's point)."""
    found = []
    for venue in await bookable_venues(session):
        vlat, vlon = venue.latitude, venue.longitude
        if vlat is None or vlon is None:
            place = await places.find(session, venue.place_id)
            vlat, vlon = (place.latitude, place.longitude) if place else (None, None)
        if vlat is None or vlon is None:
            continue
        km = places.distance_km(lat, lon, vlat, vlon)
        if km <= max_km:
            found.append((venue, km))
    if not found:
        raise InvalidInput("err_location_outside")
    return sorted(found, key=lambda vk: vk[1])[:limit]


async def venue(session: AsyncSession, venue_id: int) -> tuple[Venue, Schedule]:
    v = await session.get(Venue, venue_id)
    schedule = Schedule.of(v) if v else None
    if v is None or schedule is None:
        raise NotFound()
    return v, schedule


async def slot(session: AsyncSession, slot_id: int) -> tuple[Slot, Venue]:
    """The chosen slot and its venue, for the confirmation."""
    chosen = await session.get(Slot, slot_id)
    v = await session.get(Venue, chosen.venue_id) if chosen else None
    if chosen is None or v is None:
        raise NotFound()
    return chosen, v


async def unit_names(session: AsyncSession, bookings: list[Booking]) -> dict[str, str]:
    """Unit code -> name for the units the router proposed for these bookings' topics."""
    codes = {b.routing.get("unit") for b in bookings} - {None}
    if not codes:
        return {}
    rows = await session.execute(sa.select(Unit.code, Unit.name).where(Unit.code.in_(codes)))
    return dict(rows.tuples().all())


async def slots(session: AsyncSession, ctx: ServiceContext, venue_id: int,
                day: dt.date) -> list[Slot]:
    """The day's slots (made on first sight); only days the schedule has, in the future."""
    v, schedule = await venue(session, venue_id)
    today = ctx.clock.now().astimezone(ctx.calendar.tz).date()
    if day not in {d.actual for d in session_days(schedule, ctx.calendar, today, count=6)}:
        raise InvalidInput("stale_button")
    for start, end in slot_times(schedule, day, ctx.calendar.tz):
        await session.execute(upsert_insert(session, Slot).values(
            venue_id=v.id, starts_at=start, ends_at=end, capacity=schedule.capacity,
            booked=0).on_conflict_do_nothing())
    lo = dt.datetime.combine(day, dt.time(0), tzinfo=ctx.calendar.tz)
    return list(await session.scalars(sa.select(Slot).where(
        Slot.venue_id == v.id, Slot.starts_at >= lo,
        Slot.starts_at < lo + dt.timedelta(days=1), Slot.starts_at > ctx.clock.now())
        .order_by(Slot.starts_at)))


def _reminder_points(starts_at: dt.datetime, tz: Any) -> list[dt.datetime]:
    local = starts_at.astimezone(tz)
    evening = dt.datetime.combine(local.date() - dt.timedelta(days=1), dt.time(18, 0),
                                  tzinfo=tz)
    return [evening, starts_at - dt.timedelta(hours=2)]


def _next_reminder(starts_at: dt.datetime, tz: Any, now: dt.datetime) -> dt.datetime | None:
    ahead = [p for p in _reminder_points(starts_at, tz) if p > now]
    return min(ahead) if ahead else None


async def _take(session: AsyncSession, slot_id: int, now: dt.datetime) -> Slot:
    """One place in the slot, or "full": one conditional UPDATE, atomic everywhere."""
    result = await session.execute(
        sa.update(Slot).where(Slot.id == slot_id, Slot.booked < Slot.capacity,
                              Slot.starts_at > now)
        .values(booked=Slot.booked + 1))
    if result.rowcount != 1:
        raise InvalidInput("err_slot_full")
    slot = await session.get(Slot, slot_id, populate_existing=True)
    assert slot is not None
    return slot


async def _free(session: AsyncSession, slot_id: int) -> None:
    await session.execute(sa.update(Slot).where(Slot.id == slot_id, Slot.booked > 0)
                          .values(booked=Slot.booked - 1))


async def open_bookings(session: AsyncSession, resident: Person,
                        now: dt.datetime) -> list[Booking]:
    return list(await session.scalars(sa.select(Booking).where(
        Booking.resident_id == resident.id, Booking.state.in_(UPCOMING),
        Booking.starts_at > now).order_by(Booking.starts_at)))


async def book(session: AsyncSession, ctx: ServiceContext, router: RequestRouter,
               rules: IntakeRules, resident: Person, slot_id: int, topic: str,
               max_open: int) -> Booking:
    now = ctx.clock.now()
    topic = check_description(topic, rules)
    if len(await open_bookings(session, resident, now)) >= max_open:
        raise InvalidInput("err_booking_limit", limit=max_open)
    slot = await _take(session, slot_id, now)
    decision = await router.decide(session, topic)
    booking = Booking(
        code="YY" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6)),
        resident_id=resident.id, slot_id=slot.id, venue_id=slot.venue_id,
        starts_at=slot.starts_at, topic=topic,
        routing={"target": decision.matter_name or decision.category, "unit": decision.unit,
                 "rule": decision.rule, "confidence": round(decision.confidence, 4)},
        remind_at=_next_reminder(slot.starts_at, ctx.calendar.tz, now),
        created_at=now, updated_at=now)
    session.add(booking)
    await session.flush()
    return booking


async def own(session: AsyncSession, resident: Person, booking_id: int) -> Booking:
    booking = await session.get(Booking, booking_id)
    if booking is None or booking.resident_id != resident.id:
        raise NotFound()
    return booking


async def cancel(session: AsyncSession, ctx: ServiceContext, resident: Person,
                 booking_id: int) -> Booking:
    """Frees the slot at once."""
    booking = await own(session, resident, booking_id)
    if booking.state != BookingState.BOOKED or booking.starts_at <= ctx.clock.now():
        raise InvalidInput("err_booking_not_open")
    await _free(session, booking.slot_id)
    booking.state = BookingState.CANCELLED
    booking.remind_at = None
    booking.updated_at = ctx.clock.now()
    await session.flush()
    return booking


async def change(session: AsyncSession, ctx: ServiceContext, resident: Person,
                 booking_id: int, slot_id: int) -> Booking:
    """Move a booking to another slot: the new place is taken before the old is freed."""
    booking = await own(session, resident, booking_id)
    now = ctx.clock.now()
    if booking.state != BookingState.BOOKED or booking.starts_at <= now:
        raise InvalidInput("err_booking_not_open")
    if slot_id == booking.slot_id:
        return booking
    slot = await _take(session, slot_id, now)
    await _free(session, booking.slot_id)
    booking.slot_id, booking.venue_id, booking.starts_at = slot.id, slot.venue_id, slot.starts_at
    booking.remind_at = _next_reminder(slot.starts_at, ctx.calendar.tz, now)
    booking.reminders_sent = 0
    booking.updated_at = now
    await session.flush()
    return booking


def may_receive(person: Person, v: Venue) -> bool:
    schedule = Schedule.of(v)
    return access.may_dispatch(person) or (
        schedule is not None and person.code is not None and person.code in schedule.receivers)


async def roster(session: AsyncSession, person: Person, day: dt.date, tz: Any,
                 venue_code: str | None = None) -> list[tuple[Booking, Venue]]:
    """The day's bookings at the venues this person receives at, in time order."""
    if not (access.may_dispatch(person) or person.has_role(Role.REPRESENTATIVE)
            or person.code):
        raise NotAllowed()
    lo = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    rows = await session.execute(
        sa.select(Booking, Venue).join(Venue, Venue.id == Booking.venue_id)
        .where(Booking.starts_at >= lo, Booking.starts_at < lo + dt.timedelta(days=1),
               Booking.state != BookingState.CANCELLED)
        .order_by(Booking.starts_at, Booking.id))
    return [(b, v) for b, v in rows.tuples() if may_receive(person, v)
            and (venue_code is None or v.code == venue_code)]


async def roster_workbook(rows: list[tuple[Booking, Venue]], units: dict[str, str],
                          tz: Any) -> bytes:
    """/roster export: the day's bookings as a workbook (built in a worker thread), naming
    the unit the router expects (`units`: code -> name, from `unit_names`); the residents'
    words are written as text, never as formulas."""
    from services import xlsx

    def build() -> bytes:
        wb = xlsx.new_workbook()
        xlsx.add_table(
            wb, "预约名单", ["时间", "服务点", "预约码", "反映事项", "可能承办单位", "状态",
                         "接待记录"],
            [[xlsx.Moment(b.starts_at, tz), v.name, b.code, b.topic,
              units.get(b.routing.get("unit") or "", ""), plain(f"booking_{b.state}"), b.notes]
             for b, v in rows])
        return xlsx.save(wb)

    return await asyncio.to_thread(build)


async def markable(session: AsyncSession, person: Person,
                   booking_id: int) -> tuple[Booking, Venue]:
    """The booking, if this person receives at its venue and it is not marked yet."""
    booking = await session.get(Booking, booking_id)
    v = await session.get(Venue, booking.venue_id) if booking else None
    if booking is None or v is None or not may_receive(person, v):
        raise NotFound()
    if booking.state != BookingState.BOOKED:
        raise InvalidInput("err_booking_marked", state=t(f"booking_{booking.state}"))
    return booking, v


async def mark(session: AsyncSession, ctx: ServiceContext, router: RequestRouter,
               person: Person, booking_id: int, outcome: BookingState,
               notes: str = "") -> Booking:
    """After the session: attended (with notes), no-show, or turned into a request."""
    booking, v = await markable(session, person, booking_id)
    now = ctx.clock.now()
    booking.notes = (notes or "").strip()[:2000]
    booking.updated_at = now
    booking.remind_at = None
    if outcome == BookingState.CONVERTED:
        resident = await session.get(Person, booking.resident_id)
        assert resident is not None
        text = booking.topic + (f"\n（接待记录）{booking.notes}" if booking.notes else "")
        route = await router.route(session, text, v.place_id)
        ticket = await ctx.lifecycle(session).submit(
            resident, Draft(text=text, place_id=v.place_id, title=t("booking_ticket_title")),
            route)
        booking.ticket_id = ticket.id
        if resident.tg_user_id:
            enqueue(session, [resident.tg_user_id], kind="booking_converted", now=now,
                    ticket_id=ticket.id, priority=NORMAL,
                    text=t("ob_booking_converted", code=booking.code, number=ticket.number))
    booking.state = outcome
    await session.flush()
    return booking


async def remind_due(session: AsyncSession, ctx: ServiceContext, limit: int = 100) -> int:
    """Appointment reminders due now (a sweep): one transaction, claimed like tickets."""
    now = ctx.clock.now()
    stmt = (sa.select(Booking).where(Booking.remind_at <= now).order_by(Booking.remind_at)
            .limit(limit))
    bookings = list(await session.scalars(skip_locked(session, stmt)))
    for booking in bookings:
        # Claim: only if nobody moved it meanwhile (SQLite has no SKIP LOCKED).
        claimed = await session.execute(sa.update(Booking).where(
            Booking.id == booking.id, Booking.remind_at == booking.remind_at).values(
            remind_at=_next_reminder(booking.starts_at, ctx.calendar.tz, now),
            reminders_sent=Booking.reminders_sent + 1))
        if claimed.rowcount != 1 or booking.state != BookingState.BOOKED:
            continue
        resident = await session.get(Person, booking.resident_id)
        v = await session.get(Venue, booking.venue_id)
        if resident and resident.tg_user_id and v:
            enqueue(session, [resident.tg_user_id], kind="booking_reminder", now=now,
                    priority=NORMAL,
                    text=t("ob_booking_reminder", code=booking.code, venue=v.name,
                           at=fmt_moment(booking.starts_at, ctx.calendar.tz),
                           address=v.address or "—"))
    await session.commit()
    return len(bookings)
