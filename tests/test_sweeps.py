"""Deadlines, reminders, escalation and callbacks in simulated time (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.config import load_config
from bot.health import health_report
from bot.scheduler import Scheduler
from models import OutboxMessage, Ticket, TicketEvent, TicketState
from models.db import make_sessionmaker
from services import sweeps
from services.clock import ManualClock
from services.context import ServiceContext
from services.texts import t
from services.tickets import Draft, Route
from tests.conftest import TZ, Org
from tests.helpers import new_resident

STEP = dt.timedelta(minutes=30)


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


async def submit(session: AsyncSession, ctx: ServiceContext, org: Org, tg_id: int = 1,
                 text: str = "小区路灯坏了") -> Ticket:
    resident = await new_resident(session, ctx.clock, tg_id)
    grid = await org.place("SS-SHJD-01-G1")
    unit = await org.unit("CG")
    ticket = await ctx.lifecycle(session).submit(
        resident, Draft(text=text, place_id=grid.id), Route(unit.id, "城乡建设", 0.9))
    await session.commit()
    return ticket


async def walk(engine: AsyncEngine, ctx: ServiceContext, clock: ManualClock,
               until: dt.datetime) -> None:
    """Move the clock in 30-minute steps, running the sweeps (and the 09:00 digest)."""
    sm = make_sessionmaker(engine)
    while clock.now() < until:
        clock.advance(STEP)
        await sweeps.run_sweeps(sm, ctx)
        if clock.now().astimezone(TZ).time() == dt.time(9, 0):
            await sweeps.daily_digest(sm, ctx)


async def rows(session: AsyncSession, kind: str) -> list[OutboxMessage]:
    return list(await session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.kind == kind).order_by(OutboxMessage.id)))


async def test_national_day_week(engine: AsyncEngine, session: AsyncSession, org: Org,
                                 ctx: ServiceContext, clock: ManualClock) -> None:
    clock.set(local(2026, 9, 30, 16, 0))
    ticket = await submit(session, ctx, org)
    number, ticket_id = ticket.number, ticket.id
    # 3 working days after Wed 30 Sep: Thu 8, Fri 9 and the make-up Saturday 10 Oct.
    assert ticket.due_at == local(2026, 10, 10, 16, 0)
    assert ticket.remind_at == local(2026, 10, 9, 16, 0)  # "1d": one working day before
    await walk(engine, ctx, clock, local(2026, 10, 12, 10, 0))
    session.expire_all()
    reminders = await rows(session, "reminder")
    moments = sorted({r.created_at.astimezone(TZ) for r in reminders})
    # "4h": four office hours before 16:00 on the make-up Saturday is 12:00 that day.
    assert moments == [local(2026, 10, 9, 16, 0), local(2026, 10, 10, 12, 0)]
    leader = await org.person("staff-cg-leader")
    escalations = await rows(session, "escalation")
    assert {r.created_at.astimezone(TZ) for r in escalations} == {local(2026, 10, 10, 16, 0)}
    assert leader.tg_user_id in {r.chat_id for r in escalations}
    assert t("overdue_reason") in escalations[0].text
    # The digest: not on Sunday 11 Oct, on Monday 12 Oct at 09:00, to the unit's leader.
    digests = await rows(session, "digest")
    assert [(r.created_at.astimezone(TZ), r.chat_id) for r in digests] == [
        (local(2026, 10, 12, 9, 0), leader.tg_user_id)]
    assert number in digests[0].text
    ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None and ticket.escalation_count == 1 and ticket.escalate_at is None
    assert ticket.state == TicketState.ASSIGNED
    # Every reminder and escalation was written inside office hours of a working day.
    for r in reminders + escalations:
        assert ctx.calendar.is_working_moment(r.created_at)


async def test_resolved_without_rating_goes_to_callback_staff(
        engine: AsyncEngine, session: AsyncSession, org: Org, ctx: ServiceContext,
        clock: ManualClock) -> None:
    clock.set(local(2026, 11, 27, 10, 0))  # Friday
    ticket = await submit(session, ctx, org)
    ticket_id = ticket.id
    worker = await org.person("grid-shjd-1")
    life = ctx.lifecycle(session)
    await life.accept(ticket, worker)
    await life.resolve(ticket, worker, "已修复")
    await session.commit()
    assert ticket.callback_at == local(2026, 12, 1, 10, 0)  # 2 working days: Mon, Tue
    await walk(engine, ctx, clock, local(2026, 12, 1, 11, 0))
    session.expire_all()
    ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None and ticket.state == TicketState.CALLBACK_DUE
    callback_staff = await org.person("staff-callback-1")
    due = await rows(session, "callback_due")
    assert [r.chat_id for r in due] == [callback_staff.tg_user_id]
    assert due[0].created_at.astimezone(TZ) == local(2026, 12, 1, 10, 0)


async def test_year_without_calendar_data_uses_the_fallback_and_doctor_says_so(
        engine: AsyncEngine, session: AsyncSession, org: Org, ctx: ServiceContext,
        clock: ManualClock) -> None:
    clock.set(local(2026, 12, 30, 10, 0))
    ticket = await submit(session, ctx, org)
    # Thu 31 Dec (official), then 2027 counted Monday-Friday: Fri 1 Jan, Mon 4 Jan.
    assert ticket.due_at == local(2027, 1, 4, 10, 0)
    assert 2027 in ctx.calendar.uncovered_years
    report = await health_report(load_config(env={}), engine, ctx)
    calendar_check = next(c for c in report["checks"] if c["name"] == "calendar")
    assert calendar_check["status"] == "warn" and "2027" in calendar_check["detail"]


async def test_a_crash_before_commit_repeats_nothing_and_loses_nothing(
        engine: AsyncEngine, session: AsyncSession, org: Org, ctx: ServiceContext,
        clock: ManualClock) -> None:
    clock.set(local(2026, 11, 27, 10, 0))
    ticket = await submit(session, ctx, org)
    assert ticket.remind_at is not None
    clock.set(ticket.remind_at + dt.timedelta(minutes=1))
    sm = make_sessionmaker(engine)
    reminders = sweeps.SWEEPS[0]
    async with sm() as s:
        original = s.commit

        async def crash() -> None:
            raise RuntimeError("killed between claim and commit")
        s.commit = crash  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            await sweeps.sweep_batch(s, ctx, reminders)
        s.commit = original  # type: ignore[method-assign]
        await s.rollback()
    assert await rows(session, "reminder") == []
    await sweeps.run_sweeps(sm, ctx)  # the restarted scheduler
    await sweeps.run_sweeps(sm, ctx)  # and its next run
    assert len(await rows(session, "reminder")) >= 1
    assert len({r.chat_id for r in await rows(session, "reminder")}) == len(
        await rows(session, "reminder"))  # one per person, once


async def test_two_schedulers_never_duplicate_over_a_week(
        engine: AsyncEngine, session: AsyncSession, org: Org, ctx: ServiceContext,
        clock: ManualClock) -> None:
    clock.set(local(2026, 11, 23, 9, 0))  # Monday
    ids = [(await submit(session, ctx, org, tg_id=100 + i, text=f"问题{i}")).id
           for i in range(20)]
    sm = make_sessionmaker(engine)
    end = local(2026, 11, 30, 18, 0)
    while clock.now() < end:
        clock.advance(STEP)
        await asyncio.gather(sweeps.run_sweeps(sm, ctx), sweeps.run_sweeps(sm, ctx))
        if clock.now().astimezone(TZ).time() == dt.time(9, 0):
            await asyncio.gather(sweeps.daily_digest(sm, ctx), sweeps.daily_digest(sm, ctx))
    session.expire_all()
    events = list(await session.scalars(sa.select(TicketEvent).where(
        TicketEvent.action == "escalate")))
    assert sorted(e.ticket_id for e in events) == sorted(ids)
    reminder_rows = await rows(session, "reminder")
    per_ticket: dict[int | None, int] = {}
    for r in reminder_rows:
        per_ticket[r.ticket_id] = per_ticket.get(r.ticket_id, 0) + 1
    chats = len({r.chat_id for r in reminder_rows if r.ticket_id == ids[0]})
    assert set(per_ticket.values()) == {2 * chats}  # two reminder points, each once
    digest_days = {r.created_at.astimezone(TZ).date() for r in await rows(session, "digest")}
    assert len(await rows(session, "digest")) == len(digest_days)  # one a day


async def test_whistle_then_late_accept_escalates_again(
        engine: AsyncEngine, session: AsyncSession, org: Org, ctx: ServiceContext,
        clock: ManualClock) -> None:
    clock.set(local(2026, 11, 27, 10, 0))
    ticket = await submit(session, ctx, org)
    ticket_id = ticket.id
    worker = await org.person("grid-shjd-1")
    dispatcher = await org.person("staff-dispatch-1")
    life = ctx.lifecycle(session)
    await life.whistle(ticket, worker, "涉及供电线路，网格无法处理")
    assert ticket.state == TicketState.TRIAGE and ticket.remind_at is None
    whistle_rows = await rows(session, "whistle")
    assert whistle_rows and whistle_rows[0].priority == 0
    await life.assign(ticket, dispatcher, (await org.unit("GD")).id)
    await session.commit()
    assert ticket.accept_by == local(2026, 11, 27, 12, 0)  # 2 office hours
    await walk(engine, ctx, clock, local(2026, 11, 27, 15, 0))
    session.expire_all()
    ticket = await session.get(Ticket, ticket_id)
    # The whistle, then late at 12:00 and again at 14:00; next look at 16:00.
    assert ticket is not None and ticket.escalation_count == 3
    assert ticket.accept_by == local(2026, 11, 27, 16, 0)
    await ctx.lifecycle(session).accept(ticket, await org.person("staff-gd-1"))
    await session.commit()
    assert ticket.accept_by is None


def test_scheduler_has_the_sweeps(ctx: ServiceContext) -> None:
    scheduler = Scheduler(ctx, make_sessionmaker(None))  # type: ignore[arg-type]
    scheduler.add_default_sweeps()
    assert set(scheduler.job_ids()) == {"calendar-coverage", "deadlines", "daily-digest",
                                        "monthly-report"}


async def test_a_reminder_whose_moment_passed_the_deadline_is_dropped(
        engine: AsyncEngine, session: AsyncSession, org: Org, ctx: ServiceContext,
        clock: ManualClock) -> None:
    """The bot was down over the reminder points and starts again after the deadline: one
    escalation, no "will be due at 08:30" at 09:00."""
    clock.set(local(2026, 11, 30, 8, 30))  # Monday
    ticket = await submit(session, ctx, org)
    assert ticket.due_at == local(2026, 12, 3, 8, 30) and ticket.remind_at is not None
    ticket_id = ticket.id
    clock.set(local(2026, 12, 3, 9, 0))
    await sweeps.run_sweeps(make_sessionmaker(engine), ctx)
    session.expire_all()
    assert await rows(session, "reminder") == []
    assert len({r.ticket_id for r in await rows(session, "escalation")}) == 1
    ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None and ticket.remind_at is None
