"""接诉即办 figures, computed from the ticket events of a period. Definitions live here
(and in the README), so a figure means the same in chat, XLSX and the monthly report.

For a period [start, end) and a grouping (unit, town, grid or category of the ticket):

- received: tickets submitted in the period;
- auto_routed / triaged: of those, first assigned by the router / first sent to triage;
- corrected: tickets a dispatcher re-routed after the router had assigned them
  (an `assign` event with `correction` and a previous unit), among auto_routed;
- responded: assignments in the period accepted within `response_hours` office hours
  (response rate = responded / assignments); median minutes from assignment to acceptance;
- resolved / on_time: resolve events in the period / those within the deadline;
- overdue_now: open (assigned or accepted) tickets past their deadline at `now`;
- closed / closed_satisfied: closes in the period / those rated 满意 or 基本满意
  (resolution rate = closed_satisfied / closed);
- answered / satisfied: ratings given in the period, by the resident or recorded by callback
  staff / those 满意 or 基本满意 (satisfaction rate); callback coverage = answered / resolved;
- no_callback: tickets closed as 未回访 in the period;
- reopened: 退回重办 events in the period (reopen rate = reopened / resolved);
  reopened_many: tickets reopened more than once, counted once;
- appointments: bookings whose session is in the period, by state.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import Booking, BookingState, Place, PlaceKind, Ticket, TicketEvent, Unit
from models import TicketState as S
from services.deadlines import WorkingCalendar

GOOD = ("satisfied", "basically_satisfied")
GROUPS = ("unit", "town", "grid", "category")


@dataclass
class Figures:
    received: int = 0
    auto_routed: int = 0
    triaged: int = 0
    corrected: int = 0
    assignments: int = 0
    responded: int = 0
    accept_minutes: list[float] = field(default_factory=list)
    resolved: int = 0
    on_time: int = 0
    overdue_now: int = 0
    closed: int = 0
    closed_satisfied: int = 0
    answered: int = 0
    satisfied: int = 0
    no_callback: int = 0
    reopened: int = 0
    reopened_many: int = 0

    @staticmethod
    def _rate(num: int, den: int) -> float | None:
        return round(num / den, 4) if den else None

    @property
    def rates(self) -> dict[str, float | None]:
        return {
            "correction_rate": self._rate(self.corrected, self.auto_routed),
            "response_rate": self._rate(self.responded, self.assignments),
            "on_time_rate": self._rate(self.on_time, self.resolved),
            "resolution_rate": self._rate(self.closed_satisfied, self.closed),
            "satisfaction_rate": self._rate(self.satisfied, self.answered),
            "callback_coverage": self._rate(self.answered, self.resolved),
            "reopen_rate": self._rate(self.reopened, self.resolved),
        }

    @property
    def median_accept_minutes(self) -> float | None:
        return round(statistics.median(self.accept_minutes), 1) if self.accept_minutes else None

    def as_dict(self) -> dict[str, Any]:
        counts = {k: v for k, v in self.__dict__.items() if k != "accept_minutes"}
        return counts | self.rates | {"median_accept_minutes": self.median_accept_minutes}


@dataclass
class Report:
    start: dt.datetime
    end: dt.datetime
    group: str
    total: Figures
    groups: dict[str, Figures]
    appointments: dict[str, int]
    daily: dict[dt.date, tuple[int, int]]  # day -> (received, resolved)

    def of_group(self, name: str) -> Report:
        """The period seen from one group (a unit of a by-unit report): its figures as the
        total, without computing again. Daily counts are not split by group: left out."""
        figures = self.groups.get(name, Figures())
        return Report(self.start, self.end, self.group, figures, {name: figures},
                      self.appointments, {})


async def _group_names(session: AsyncSession, group: str) -> dict[int | None, str]:
    if group == "unit":
        return {u.id: u.name for u in await session.scalars(sa.select(Unit))}
    everything = {p.id: p for p in await session.scalars(sa.select(Place))}
    names: dict[int | None, str] = {}
    for pid, place in everything.items():
        node: Place | None = place
        wanted = PlaceKind.TOWN if group == "town" else PlaceKind.GRID
        while node is not None and node.kind != wanted:
            node = everything.get(node.parent_id or 0)
        names[pid] = node.name if node is not None else "—"
    return names


def _key(group: str, names: dict[int | None, str], unit_id: int | None,
         place_id: int | None, category: str | None) -> str:
    if group == "unit":
        return names.get(unit_id, "（未分派）")
    if group == "category":
        return category or "（未分类）"
    return names.get(place_id, "（无地点）")


async def compute(session: AsyncSession, start: dt.datetime, end: dt.datetime,
                  now: dt.datetime, calendar: WorkingCalendar, *, group: str = "unit",
                  response_hours: float = 2.0, unit_id: int | None = None) -> Report:
    """Every figure of the module docstring, for [start, end), by `group`."""
    if group not in GROUPS:
        raise ValueError(group)
    names = await _group_names(session, group) if group != "category" else {}
    total, groups = Figures(), defaultdict(Figures)
    daily: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0])
    stmt = (sa.select(TicketEvent.ticket_id, TicketEvent.action, TicketEvent.at,
                      TicketEvent.actor_id, TicketEvent.data, Ticket.unit_id,
                      Ticket.place_id, Ticket.category)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(TicketEvent.at >= start, TicketEvent.at < end,
                   TicketEvent.action.in_(("submit", "assign", "triage", "accept", "resolve",
                                           "rate", "callback", "close", "reopen")))
            .order_by(TicketEvent.ticket_id, TicketEvent.id))
    if unit_id is not None:
        stmt = stmt.where(Ticket.unit_id == unit_id)
    first_move: dict[int, str] = {}
    assigned_at: dict[int, dt.datetime] = {}
    reopens: dict[int, int] = defaultdict(int)
    submitted: set[int] = set()
    conn = await session.connection()  # Core rows: no ORM bookkeeping for ~10^5 rows
    for tid, action, at, actor, data, t_unit, t_place, category in await conn.execute(stmt):
        buckets = (total, groups[_key(group, names, t_unit, t_place, category)])
        local_day = at.astimezone(calendar.tz).date()
        if action == "submit":
            submitted.add(tid)
            daily[local_day][0] += 1
            for f in buckets:
                f.received += 1
        elif action in ("assign", "triage") and tid in submitted and tid not in first_move:
            first_move[tid] = "auto" if action == "assign" and actor is None else "triage"
            for f in buckets:
                if first_move[tid] == "auto":
                    f.auto_routed += 1
                else:
                    f.triaged += 1
        if action == "assign":
            assigned_at[tid] = at
            for f in buckets:
                f.assignments += 1
            if data.get("correction") and data.get("previous_unit_id"):
                for f in buckets:
                    f.corrected += 1
        elif action == "accept" and tid in assigned_at:
            since = assigned_at.pop(tid)
            minutes = (at - since).total_seconds() / 60
            in_time = at <= calendar.add_working_time(since, dt.timedelta(hours=response_hours))
            for f in buckets:
                f.accept_minutes.append(minutes)
                f.responded += in_time
        elif action == "resolve":
            daily[local_day][1] += 1
            for f in buckets:
                f.resolved += 1
                f.on_time += bool(data.get("on_time"))
        elif action in ("rate", "callback") and data.get("rating"):
            for f in buckets:
                f.answered += 1
                f.satisfied += data["rating"] in GOOD
        elif action == "reopen":
            reopens[tid] += 1
            for f in buckets:
                f.reopened += 1
                f.answered += 1  # an unsatisfied answer is an answer
                if reopens[tid] == 2:
                    f.reopened_many += 1
        if action in ("rate", "callback", "close") and data.get("outcome"):
            for f in buckets:
                f.closed += 1
                f.closed_satisfied += data.get("rating") in GOOD
                f.no_callback += data["outcome"] == "no_callback"
    overdue = sa.select(Ticket.unit_id, Ticket.place_id, Ticket.category).where(
        Ticket.state.in_((S.ASSIGNED, S.ACCEPTED)), Ticket.due_at < now)
    if unit_id is not None:
        overdue = overdue.where(Ticket.unit_id == unit_id)
    for t_unit, t_place, category in await session.execute(overdue):
        total.overdue_now += 1
        groups[_key(group, names, t_unit, t_place, category)].overdue_now += 1
    appts: dict[str, int] = dict.fromkeys((s.value for s in BookingState), 0)
    for state, n in await session.execute(
            sa.select(Booking.state, sa.func.count()).where(
                Booking.starts_at >= start, Booking.starts_at < end)
            .group_by(Booking.state)):
        appts[BookingState(state).value] = n
    return Report(start, end, group, total, dict(groups), appts,
                  {d: (v[0], v[1]) for d, v in sorted(daily.items())})


def ranking(report: Report) -> list[tuple[str, Figures]]:
    """The monthly 通报 order: on-time rate, then satisfaction, then volume."""
    def key(item: tuple[str, Figures]) -> tuple[float, float, int]:
        rates = item[1].rates
        return (-(rates["on_time_rate"] or 0), -(rates["satisfaction_rate"] or 0),
                -item[1].received)
    return sorted(report.groups.items(), key=key)


def parse_period(text: str, today: dt.date, tz: Any) -> tuple[dt.datetime, dt.datetime]:
    """"" / 本月 (this month), 上月, 2026-11, or 2026-11-01..2026-11-30 (inclusive)."""
    text = (text or "").strip()
    if text in ("", "本月"):
        first = today.replace(day=1)
    elif text == "上月":
        first = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    elif ".." in text:
        a, b = text.split("..", 1)
        lo, hi = dt.date.fromisoformat(a), dt.date.fromisoformat(b)
        if hi < lo:
            raise ValueError("end before start")
        return (dt.datetime.combine(lo, dt.time(0), tzinfo=tz),
                dt.datetime.combine(hi + dt.timedelta(days=1), dt.time(0), tzinfo=tz))
    else:
        year, month = (int(x) for x in text.split("-"))
        first = dt.date(year, month, 1)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    return (dt.datetime.combine(first, dt.time(0), tzinfo=tz),
            dt.datetime.combine(nxt, dt.time(0), tzinfo=tz))
