"""民意“5”来听 bookings through the real Dispatcher, and their rules in the service."""

from __future__ import annotations

import asyncio
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from models import Booking, BookingState, OutboxMessage, Person, Slot, Ticket, Venue
from models.db import make_sessionmaker
from services import appointments, sweeps
from services.clock import ManualClock
from services.context import ServiceContext
from services.errors import InvalidInput
from services.intake import IntakeRules
from services.texts import t
from tests.bot_double import Chatter, Harness
from tests.conftest import TZ, Org
from tests.helpers import new_resident

TOPIC = "小区门口的路灯坏了，想当面反映一下"


async def book_at_sihe(u: Chatter, slot: str = "09:00") -> None:
    await u.say(t("btn_appointment"))
    await u.press("泗河街道")
    await u.press("泗河社区党群服务中心")
    await u.press("12月15日")
    await u.press(slot)
    await u.say(TOPIC)
    await u.press(t("btn_confirm"))


async def test_book_see_change_cancel(harness: Harness) -> None:
    u = harness.user(7001)
    await u.say(t("btn_appointment"))
    assert u.inbox[-2].text == t("appt_intro")
    await u.press("泗河街道")
    await u.press("泗河社区党群服务中心")
    days = u.last_with_buttons()
    assert t("appt_rule_next_workday") in days.text
    assert [b for b, _ in days.buttons] == ["12月15日", "1月15日", "2月15日"]
    await u.press("12月15日")
    assert "09:00 （剩3）" in [b for b, _ in u.last_with_buttons().buttons]
    await u.press("09:00")
    await u.say("😀")
    assert u.last.text == t("err_text_meaningless", minimum=4)
    await u.say(TOPIC)
    await u.press(t("btn_confirm"))
    assert u.last.text.startswith("预约成功！预约码：YY")
    async with harness.sessionmaker() as s:
        booking = await s.scalar(sa.select(Booking))
        slot = await s.get(Slot, booking.slot_id) if booking else None
    assert booking is not None and slot is not None and slot.booked == 1
    assert booking.routing["target"] and booking.starts_at == dt.datetime(2026, 12, 15, 9,
                                                                          tzinfo=TZ)
    assert booking.remind_at == dt.datetime(2026, 12, 14, 18, tzinfo=TZ)
    await u.say("/bookings")
    mine = u.last
    assert booking.code in mine.text
    await u.press(t("btn_appt_change"), mine)
    await u.press("泗河社区党群服务中心")
    await u.press("12月15日")
    await u.press("10:00")
    assert t("appt_changed", code=booking.code, at="2026年12月15日 10:00") in [
        m.text for m in u.inbox]
    async with harness.sessionmaker() as s:
        booked = dict((await s.execute(sa.select(Slot.starts_at, Slot.booked))).tuples().all())
        moved = await s.get(Booking, booking.id)
    assert booked[dt.datetime(2026, 12, 15, 9, tzinfo=TZ)] == 0
    assert booked[dt.datetime(2026, 12, 15, 10, tzinfo=TZ)] == 1
    assert moved is not None and moved.starts_at.astimezone(TZ).hour == 10
    await u.say("/bookings")
    await u.press(t("btn_appt_cancel"), u.last)
    async with harness.sessionmaker() as s:
        assert (await s.scalar(sa.select(sa.func.sum(Slot.booked)))) == 0
        cancelled = await s.get(Booking, booking.id)
    assert cancelled is not None and cancelled.state == BookingState.CANCELLED


async def test_full_slot_limit_and_holiday_shift(harness: Harness, clock: ManualClock) -> None:
    users = [harness.user(7100 + i) for i in range(4)]
    for u in users[:3]:
        await book_at_sihe(u)
    late = users[3]
    await late.say(t("btn_appointment"))
    await late.press("泗河街道")
    await late.press("泗河社区党群服务中心")
    await late.press("12月15日")
    assert "09:00 （已满）" in [b for b, _ in late.last_with_buttons().buttons]
    await late.press("09:00 （已满）")
    await late.say(TOPIC)
    await late.press(t("btn_confirm"))
    assert late.last_alert() == t("err_slot_full")
    # At most two open bookings per resident.
    u = users[0]
    await book_at_sihe(u, "10:00")
    await book_at_sihe(u, "10:30")
    assert u.last_alert() == t("err_booking_limit", limit=2)
    # The 15th of March 2026 is a Sunday: the service centre moves to Monday the 16th;
    # the Red Sail station keeps 5 April (a Sunday) as it falls.
    clock.set(dt.datetime(2026, 3, 1, 10, tzinfo=TZ))
    v = harness.user(7200)
    await v.say(t("btn_appointment"))
    await v.press("泗河街道")
    await v.press("泗河社区党群服务中心")
    days = v.last_with_buttons()
    assert t("appt_moved", nominal="3月15日", actual="3月16日") in days.text
    assert [b for b, _ in days.buttons][0] == "3月16日"
    await v.say(t("btn_appointment"))
    await v.press("泗河街道")
    await v.press("泗河社区红帆驿站")
    assert t("appt_rule_keep") in v.last_with_buttons().text
    assert "4月5日" in [b for b, _ in v.last_with_buttons().buttons]


async def test_concurrent_bookings_never_exceed_capacity(
        engine: AsyncEngine, org: Org, ctx: ServiceContext, harness: Harness) -> None:
    sm = make_sessionmaker(engine)
    async with sm() as s:
        venue = await s.scalar(sa.select(Venue).where(Venue.code == "V-SHJD"))
        assert venue is not None
        [slot, *_] = await appointments.slots(s, ctx, venue.id, dt.date(2026, 12, 15))
        slot_id = slot.id
        await s.commit()
    residents = []
    async with sm() as s:
        for i in range(12):
            residents.append((await new_resident(s, ctx.clock, 7300 + i)).id)
        await s.commit()
    router = harness.dp.workflow_data["ctx"].router

    async def one(person_id: int) -> bool:
        async with sm() as s:
            person = await s.get(Person, person_id)
            assert person is not None
            try:
                await appointments.book(s, ctx, router, IntakeRules(), person, slot_id,
                                        TOPIC, max_open=2)
                await s.commit()
                return True
            except InvalidInput:
                await s.rollback()
                return False

    results = await asyncio.gather(*(one(p) for p in residents))
    assert sum(results) == 3
    async with sm() as s:
        final = await s.get(Slot, slot_id)
        assert final is not None and final.booked == 3
        count = await s.scalar(sa.select(sa.func.count()).select_from(Booking))
    assert count == 3


async def test_reminders_and_receiver_turns_a_booking_into_a_request(
        harness: Harness, org: Org, ctx: ServiceContext, clock: ManualClock,
        engine: AsyncEngine) -> None:
    u = harness.user(7400)
    await book_at_sihe(u)
    sm = make_sessionmaker(engine)
    for moment in (dt.datetime(2026, 12, 14, 17, 59, tzinfo=TZ),
                   dt.datetime(2026, 12, 14, 18, 0, tzinfo=TZ),
                   dt.datetime(2026, 12, 15, 7, 0, tzinfo=TZ),
                   dt.datetime(2026, 12, 15, 7, 30, tzinfo=TZ)):
        clock.set(moment)
        await sweeps.run_sweeps(sm, ctx)
    async with sm() as s:
        sent = [r.created_at.astimezone(TZ) for r in await s.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == "booking_reminder"))]
    assert sent == [dt.datetime(2026, 12, 14, 18, tzinfo=TZ),
                    dt.datetime(2026, 12, 15, 7, tzinfo=TZ)]
    clock.set(dt.datetime(2026, 12, 15, 9, 40, tzinfo=TZ))
    receiver_person = await org.person("rep-1")
    receiver = harness.user(receiver_person.tg_user_id or 0, "金国庆")
    await receiver.say("/roster 2026-12-15")
    item = receiver.last
    assert TOPIC in item.text and "09:00" in item.text
    converted = next(d for b, d in item.buttons if b == t("btn_mark_converted"))
    await receiver.press(t("btn_mark_converted"), item)
    await receiver.say("路灯线路老化，需城管更换")
    assert receiver.last.text.startswith("已记录")
    async with sm() as s:
        booking = await s.scalar(sa.select(Booking))
        ticket = await s.get(Ticket, booking.ticket_id) if booking and booking.ticket_id else None
    assert booking is not None and booking.state == BookingState.CONVERTED
    assert ticket is not None and TOPIC in ticket.text
    assert ticket.resident_id == booking.resident_id
    await harness.deliver()
    assert ticket.number in u.last.text
    assert item.buttons == []  # the card shows what became of it
    await receiver.press_data(converted, item)  # a press from an older copy is refused
    assert receiver.last_alert() == t("err_booking_marked", state=t("booking_converted"))
    await receiver.say("/roster export 2026-12-15")
    assert receiver.last.text.startswith("2026-12-15 预约名单")
    # A resident is not a receiver.
    await u.say("/roster 2026-12-15")
    assert u.last.text == t("err_not_allowed")


async def test_roster_export_writes_residents_words_as_text_never_formulas() -> None:
    import io

    from openpyxl import load_workbook

    moment = dt.datetime(2026, 12, 15, 9, 0, tzinfo=TZ)
    rows = [(Booking(code=f"YY{i}", starts_at=moment, topic=topic, routing={"unit": "X"},
                     state=BookingState.ATTENDED, notes=notes), Venue(name="@红帆驿站"))
            for i, (topic, notes) in enumerate((
                ('=HYPERLINK("http://evil","点我")', "+86 138"),
                ("-1+2 路灯", "@SUM(A1:A9)")))]
    wb = load_workbook(io.BytesIO(await appointments.roster_workbook(rows, {"X": "=1"}, TZ)))
    ws = wb["预约名单"]
    cells = [c for row in ws.iter_rows(min_row=2) for c in row if isinstance(c.value, str)]
    assert {c.value for c in cells} >= {'=HYPERLINK("http://evil","点我")', "+86 138",
                                        "-1+2 路灯", "@SUM(A1:A9)", "@红帆驿站", "=1"}
    assert all(c.data_type == "s" for c in cells)  # text, never a formula
    assert all(c.quotePrefix for c in cells if c.value[0] in "=+-@")
    assert ws["A2"].value == moment.replace(tzinfo=None)  # local time, a real date
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:G3"
