"""The periodic sweeps that keep the three-working-day promise.

Each ticket carries the moments the sweeps must next look at it (`remind_at`,
`escalate_at`, `callback_at`, `accept_by`; NULL when nothing is planned), set by the
lifecycle. A sweep reads a batch of due rows through the index on that column — so its
cost follows the number due, not the number open — and hands each to one lifecycle
method, which moves the column on and writes the outbox rows, in one transaction.

Claims are safe with several bot processes: on PostgreSQL the batch is selected
`FOR UPDATE SKIP LOCKED`, so two sweeps take different tickets; everywhere the ticket's
version column makes a second writer of the same ticket fail, and its whole batch is
rolled back and left for the next run. A crash before the commit repeats nothing (nothing
was written); after it, the outbox delivers what was written.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.exc import StaleDataError

from models import IN_WORK, JobRun, Role, Ticket, Unit
from models import TicketState as S
from models.db import skip_locked, upsert_insert
from services import access, appointments, errands
from services.access import Audience
from services.context import ServiceContext
from services.errors import Conflict
from services.outbox import NORMAL, enqueue
from services.stats import Appraisal
from services.texts import fmt_day, join, t
from services.tickets import Lifecycle

log = logging.getLogger(__name__)
BATCH = 100


@dataclass
class SweepReport:
    done: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, n: int) -> None:
        self.done[name] = self.done.get(name, 0) + n


@dataclass(frozen=True)
class _Sweep:
    name: str
    column: InstrumentedAttribute[dt.datetime | None]
    states: tuple[S, ...]
    act: Callable[[Lifecycle, Ticket], Awaitable[None]]
    working_hours_only: bool = False


async def _remind(life: Lifecycle, ticket: Ticket) -> None:
    assert ticket.remind_at is not None
    await life.remind(ticket, ticket.remind_at)


async def _overdue(life: Lifecycle, ticket: Ticket) -> None:
    await life.overdue(ticket)


async def _callback_due(life: Lifecycle, ticket: Ticket) -> None:
    await life.mark_callback_due(ticket)


async def _accept_late(life: Lifecycle, ticket: Ticket) -> None:
    await life.accept_late(ticket)


SWEEPS = (
    # A reminder never arrives at night or on a holiday: outside office hours it waits.
    _Sweep("reminders", Ticket.remind_at, IN_WORK, _remind, working_hours_only=True),
    _Sweep("overdue", Ticket.escalate_at, IN_WORK, _overdue),
    _Sweep("callbacks", Ticket.callback_at, (S.RESOLVED,), _callback_due),
    _Sweep("accept_late", Ticket.accept_by, (S.ASSIGNED,), _accept_late),
)


async def sweep_batch(session: AsyncSession, ctx: ServiceContext, sweep: _Sweep,
                      limit: int = BATCH) -> int:
    """One transaction: up to `limit` due tickets of one sweep. Returns how many."""
    now = ctx.clock.now()
    # Only the moment column in SQL: the lifecycle clears it when a ticket leaves the
    # sweep's states, so the index on it alone finds the due rows.
    stmt = sa.select(Ticket).where(sweep.column <= now).order_by(sweep.column).limit(limit)
    tickets = list(await session.scalars(skip_locked(session, stmt, of=Ticket)))
    life = ctx.lifecycle(session)
    for ticket in tickets:
        if ticket.state in sweep.states:
            await sweep.act(life, ticket)
        else:  # a stale plan (should not happen): drop it rather than act on it
            setattr(ticket, sweep.column.key, None)
    await session.commit()
    return len(tickets)


async def run_sweeps(sessionmaker: async_sessionmaker[AsyncSession], ctx: ServiceContext,
                     *, max_batches: int = 50) -> SweepReport:
    """Every sweep until nothing is due (or `max_batches` per sweep, for the next run)."""
    report = SweepReport()
    working = ctx.calendar.is_working_moment(ctx.clock.now())
    for sweep in SWEEPS:
        if sweep.working_hours_only and not working:
            continue
        for _ in range(max_batches):
            async with sessionmaker() as session:
                try:
                    n = await sweep_batch(session, ctx, sweep)
                except (Conflict, StaleDataError, DBAPIError) as exc:
                    # Another process changed one of these tickets first: its batch wins.
                    await session.rollback()
                    log.info("sweep %s: batch left for the next run (%s)", sweep.name, exc)
                    break
            report.add(sweep.name, n)
            if n < BATCH:
                break
    async with sessionmaker() as session:
        report.add("appointment_reminders", await appointments.remind_due(session, ctx))
    if working:  # 红色代办: an offer lapses in office hours only (its moment is counted in
        # them); a resident is reminded, and an errand closed 未评价, in office hours too
        for errand_sweep in errands.SWEEPS:
            for _ in range(max_batches):
                async with sessionmaker() as session:
                    try:
                        n = await errands.sweep_due(session, ctx.clock, ctx.calendar,
                                                    ctx.errands, errand_sweep, BATCH)
                        await session.commit()
                    except (Conflict, StaleDataError, DBAPIError) as exc:
                        await session.rollback()
                        log.info("sweep %s: batch left for the next run (%s)",
                                 errand_sweep.name, exc)
                        break
                report.add(errand_sweep.name, n)
                if n < BATCH:
                    break
    return report


async def claim_job(session: AsyncSession, name: str, key: str, now: dt.datetime) -> bool:
    """True for the one process that runs job (name, key); the others get False."""
    result = await session.execute(
        upsert_insert(session, JobRun).values(name=name, key=key, ran_at=now)
        .on_conflict_do_nothing())
    return bool(result.rowcount)


async def daily_digest(sessionmaker: async_sessionmaker[AsyncSession],
                       ctx: ServiceContext) -> int:
    """On working days: each unit's leader gets the list of its overdue tickets (once per
    day, whatever the number of bot processes). Returns the number of units told."""
    now = ctx.clock.now()
    today = now.astimezone(ctx.calendar.tz).date()
    if not ctx.calendar.is_workday(today):
        return 0
    async with sessionmaker() as session:
        if not await claim_job(session, "daily_digest", today.isoformat(), now):
            await session.rollback()
            return 0
        overdue = list(await session.scalars(
            sa.select(Ticket).where(Ticket.state.in_(IN_WORK), Ticket.due_at < now)
            .order_by(Ticket.unit_id, Ticket.due_at)))
        told = 0
        by_unit: dict[int, list[Ticket]] = {}
        for ticket in overdue:
            if ticket.unit_id is not None:
                by_unit.setdefault(ticket.unit_id, []).append(ticket)
        for unit_id, tickets in by_unit.items():
            unit = await session.get(Unit, unit_id)
            chats = await access.chat_ids(session, Audience(Role.UNIT_LEADER, unit_id=unit_id))
            if not chats or unit is None:
                continue
            lines = join(t("ob_digest_line", number=tk.number,
                           due=fmt_day(tk.due_at, ctx.calendar.tz)) for tk in tickets[:50])
            enqueue(session, chats, kind="digest", now=now, priority=NORMAL,
                    text=t("ob_digest", unit=unit.name, count=len(tickets), lines=lines))
            told += 1
        await session.commit()
    return told


async def monthly_report(sessionmaker: async_sessionmaker[AsyncSession], ctx: ServiceContext,
                         appraisal: Appraisal | None = None) -> int:
    """On the first working day of a month: last month's figures to admins (the county)
    and to each unit leader (their unit, every figure scoped), with 红色代办 (the county's;
    a unit's 双报到 volunteers and its rank), and to each 驿站's organisers their 驿站's
    红色代办 and its rank, once. One pass over the month's events serves every unit.
    Returns the number of messages queued."""
    from services import errand_stats, report_files, stats

    appraisal = appraisal or Appraisal()
    now = ctx.clock.now()
    today = now.astimezone(ctx.calendar.tz).date()
    first = today.replace(day=1)
    first_working = first if ctx.calendar.is_workday(first) else ctx.calendar.next_workday(first)
    if today != first_working:
        return 0
    start, end = stats.parse_period("上月", today, ctx.calendar.tz)
    queued = 0
    async with sessionmaker() as session:
        if not await claim_job(session, "monthly_report", f"{start:%Y-%m}", now):
            await session.rollback()
            return 0
        county = await stats.compute(session, start, end, now, ctx.calendar,
                                     response_hours=appraisal.response_hours)
        county_errands = await errand_stats.compute(session, start, end)
        admins = await access.chat_ids(session, Audience(Role.ADMIN))
        text = t("ob_monthly_report", summary=join([
            report_files.summary_text(county, appraisal),
            errand_stats.section_text(county_errands)], "\n\n"))
        queued += len(enqueue(session, admins, kind="monthly_report", now=now, text=text,
                              priority=NORMAL))
        for unit in await session.scalars(sa.select(Unit).where(Unit.active)):
            leaders = await access.chat_ids(session, Audience(Role.UNIT_LEADER, unit_id=unit.id))
            if not leaders:
                continue
            own = county.of_group(unit.name)  # the county's figures, not a second pass
            parts = [report_files.summary_text(own, appraisal, top=0)]
            if unit.name in county_errands.units:  # it has 双报到 volunteers: where it stands
                parts.append(errand_stats.section_text(
                    await errand_stats.compute(session, start, end,
                                               unit_ids=frozenset({unit.id}))))
            queued += len(enqueue(
                session, leaders, kind="monthly_report", now=now, priority=NORMAL,
                text=t("ob_monthly_report", summary=join(parts, "\n\n"))))
        queued += await _errand_monthly(session, ctx, start, end)
        await session.commit()
    return queued


async def _errand_monthly(session: AsyncSession, ctx: ServiceContext, start: dt.datetime,
                          end: dt.datetime) -> int:
    """Each 驿站's organisers: last month's 红色代办 of their 驿站 and its place in the
    county's ranking of 驿站."""
    from services import errand_stats

    queued = 0
    local = ctx.calendar.tz
    for venue in await errands.venues(session):
        chats = await errands.organiser_chats(session, venue.id)
        if not chats:
            continue
        own = await errand_stats.compute(session, start, end, venue_ids=[venue.id])
        queued += len(enqueue(
            session, chats, kind="monthly_report", now=ctx.clock.now(), priority=NORMAL,
            text=t("ob_errand_monthly", venue=venue.name, summary=errand_stats.summary_text(
                own, start.astimezone(local).date(),
                (end.astimezone(local) - dt.timedelta(days=1)).date()))))
    return queued
