"""接诉即办 figures, computed from the ticket events of a period. The definitions live here
(and, in the words people read, in `services/texts.py` as `def_*`, shown in the README and
in the workbook's 说明 sheet), so a figure means the same in chat, XLSX and PDF.

Every figure counts **tickets**, never events: a ticket resolved twice in the period is one
resolved ticket. Every rate's numerator is a part of its denominator, so no rate exceeds
100 %, and a rate without a denominator is None (shown "—", never 100 %).

For a period [start, end) (the end excluded) and a grouping (unit, town, grid, category or
channel - chat, phone or counter (代录) - of the ticket as it is now):

- received: tickets submitted in the period;
- auto_routed / triaged: of those, first assigned by the router / first sent to triage;
- corrected: of the auto-routed ones, those a dispatcher re-routed to another unit in the
  period (改派率 = corrected / auto_routed);
- assigned / responded: tickets assigned to a unit in the period / those accepted within
  `response_hours` office hours of their assignment (响应率); median minutes to accept;
- resolved / on_time: tickets resolved (办结) in the period / those whose first
  resolution in the period was within the deadline (按时办结率);
- overdue_now: open (assigned or accepted) tickets past their deadline at `now`;
- answered / solved / satisfied: tickets with an answer to the callback questions in the
  period (by the resident, or recorded by callback staff), judged on their last answer:
  those 已解决 (解决率 = solved / answered) / those 满意 or 基本满意 (满意率 = satisfied /
  answered). Answers given before the separate question existed count 满意/基本满意 as
  solved;
- callback coverage: of the tickets resolved in the period, those answered in it;
- closed / no_callback: tickets closed in the period / of those, closed as 未回访;
- reopened / reopened_many: of the tickets resolved in the period, those sent back to be
  redone (退回重办) in it (重办率 = reopened / resolved) / those sent back twice or more;
- appointments: bookings whose session is in the period, by state; in a group (or a
  scope) by the unit of the request a booking became, else the unit the router expects.

A scope (a unit leader's units) limits every figure, the appointments included.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Booking,
    BookingState,
    Person,
    Place,
    PlaceKind,
    Rating,
    Role,
    Ticket,
    TicketEvent,
    Unit,
    Venue,
)
from models import EventAction as A
from models import TicketState as S
from services import access
from services.deadlines import WorkingCalendar
from services.errors import NotAllowed
from services.texts import plain

GOOD = frozenset({Rating.SATISFIED, Rating.BASIC})
GROUPS = ("unit", "town", "grid", "category", "channel")  # channel: chat | phone | counter
# The rates, their numerator and denominator: one table for summary, workbook and PDF.
RATES: dict[str, tuple[str, str]] = {
    "correction_rate": ("corrected", "auto_routed"),
    "response_rate": ("responded", "assigned"),
    "on_time_rate": ("on_time", "resolved"),
    "resolution_rate": ("solved", "answered"),
    "satisfaction_rate": ("satisfied", "answered"),
    "callback_coverage": ("covered", "resolved"),
    "reopen_rate": ("reopened", "resolved"),
}
COUNTS = ("received", "auto_routed", "triaged", "corrected", "assigned", "responded",
          "resolved", "on_time", "overdue_now", "answered", "solved", "satisfied", "covered",
          "closed", "no_callback", "reopened", "reopened_many")


@dataclass
class Figures:
    received: int = 0
    auto_routed: int = 0
    triaged: int = 0
    corrected: int = 0
    assigned: int = 0
    responded: int = 0
    accept_minutes: list[float] = field(default_factory=list)
    resolved: int = 0
    on_time: int = 0
    overdue_now: int = 0
    answered: int = 0
    solved: int = 0
    satisfied: int = 0
    covered: int = 0
    closed: int = 0
    no_callback: int = 0
    reopened: int = 0
    reopened_many: int = 0
    appointments: Counter[str] = field(default_factory=Counter)
    # local day -> tickets received / resolved (first resolution in the period) that day
    daily_received: Counter[dt.date] = field(default_factory=Counter)
    daily_resolved: Counter[dt.date] = field(default_factory=Counter)

    @property
    def rates(self) -> dict[str, float | None]:
        return {name: rate(getattr(self, num), getattr(self, den))
                for name, (num, den) in RATES.items()}

    @property
    def median_accept_minutes(self) -> float | None:
        return round(statistics.median(self.accept_minutes), 1) if self.accept_minutes else None

    def as_dict(self) -> dict[str, Any]:
        return ({k: getattr(self, k) for k in COUNTS} | self.rates
                | {"median_accept_minutes": self.median_accept_minutes})


@dataclass(frozen=True)
class Appraisal:
    """How the county appraises units (config `stats`): the response window, the weights
    of the 通报's score, and the target lines drawn on the charts."""

    response_hours: float = 2.0
    weights: Mapping[str, float] = field(default_factory=lambda: {
        "response_rate": 0.10, "resolution_rate": 0.45, "satisfaction_rate": 0.45})
    targets: Mapping[str, float] = field(default_factory=lambda: {
        "response_rate": 0.95, "on_time_rate": 0.95, "resolution_rate": 0.95,
        "satisfaction_rate": 0.95})


def rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


@dataclass(frozen=True)
class Scope:
    """Whose figures: the county (unit_ids None) or some units (a unit leader's)."""

    unit_ids: frozenset[int] | None = None
    names: tuple[str, ...] = ()

    def allows(self, unit_id: int | None) -> bool:
        return self.unit_ids is None or unit_id in self.unit_ids


COUNTY = Scope()


async def scope_for(session: AsyncSession, person: Person) -> Scope:
    """Dispatchers and admins see the county; a unit leader sees every unit they lead
    (all of them, not the first); anyone else is refused."""
    if access.may_dispatch(person):
        return COUNTY
    ids = frozenset(m.unit_id for m in person.memberships
                    if m.role == Role.UNIT_LEADER and m.unit_id is not None)
    if not ids:
        raise NotAllowed()
    names = tuple(await session.scalars(
        sa.select(Unit.name).where(Unit.id.in_(ids)).order_by(Unit.name)))
    return Scope(ids, names)


@dataclass
class Report:
    start: dt.datetime
    end: dt.datetime
    group: str
    total: Figures
    groups: dict[str, Figures]
    tz: Any
    scope: Scope = COUNTY

    @property
    def days(self) -> list[dt.date]:
        """Every local day of the period, the days without events included."""
        first = self.start.astimezone(self.tz).date()
        last = (self.end.astimezone(self.tz) - dt.timedelta(microseconds=1)).date()
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]

    def of_group(self, name: str) -> Report:
        """The period seen from one group (a unit of a by-unit report): its figures as the
        total, without computing again."""
        figures = self.groups.get(name, Figures())
        return Report(self.start, self.end, self.group, figures, {name: figures}, self.tz,
                      Scope(None, (name,)))


class _Ticket:
    """What the period's events say about one ticket."""

    __slots__ = ("accepted", "answer", "assigned_at", "figures", "move", "resolved",
                 "reopens", "submitted")

    def __init__(self, figures: tuple[Figures, Figures]) -> None:
        self.figures = figures
        self.submitted = False
        self.move: str | None = None  # auto | triage | corrected
        self.assigned_at: dt.datetime | None = None
        self.accepted = False
        self.resolved = False
        self.answer: tuple[bool, str] | None = None
        self.reopens = 0


class _Folds:
    """One small fold per event action: what an event of that action adds to its ticket's
    figures (the total's and its group's), in `FOLDS` below."""

    def __init__(self, calendar: WorkingCalendar, response_hours: float) -> None:
        self.calendar = calendar
        self.tz = calendar.tz
        self.window = dt.timedelta(hours=response_hours)

    def submit(self, tk: _Ticket, at: dt.datetime, actor: int | None, data: dict) -> None:
        tk.submitted = True
        day = at.astimezone(self.tz).date()
        for f in tk.figures:
            f.received += 1
            f.daily_received[day] += 1

    def triage(self, tk: _Ticket, at: dt.datetime, actor: int | None, data: dict) -> None:
        if tk.submitted and tk.move is None:
            tk.move = "triage"
            for f in tk.figures:
                f.triaged += 1

    def assign(self, tk: _Ticket, at: dt.datetime, actor: int | None, data: dict) -> None:
        if tk.submitted and tk.move is None:
            tk.move = "auto" if actor is None else "triage"
            for f in tk.figures:
                if actor is None:
                    f.auto_routed += 1
                else:
                    f.triaged += 1
        elif (tk.move == "auto" and data.get("correction")
              and data.get("previous_unit_id") not in (None, data.get("unit_id"))):
            tk.move = "corrected"
            for f in tk.figures:
                f.corrected += 1
        if tk.assigned_at is None and not tk.accepted:
            for f in tk.figures:
                f.assigned += 1
        if not tk.accepted:
            tk.assigned_at = at  # the clock runs from the unit's latest assignment

    def accept(self, tk: _Ticket, at: dt.datetime, actor: int | None, data: dict) -> None:
        if tk.assigned_at is None or tk.accepted:
            return
        tk.accepted = True
        waited = at - tk.assigned_at
        # Working time never runs faster than the clock: within the window of wall time
        # is within it of working time, without asking the calendar.
        in_time = waited <= self.window or at <= self.calendar.add_working_time(
            tk.assigned_at, self.window)
        minutes = waited.total_seconds() / 60
        for f in tk.figures:
            f.accept_minutes.append(minutes)
            f.responded += in_time

    def resolve(self, tk: _Ticket, at: dt.datetime, actor: int | None, data: dict) -> None:
        if tk.resolved:
            return
        tk.resolved = True
        day = at.astimezone(self.tz).date()
        for f in tk.figures:
            f.resolved += 1
            f.on_time += bool(data.get("on_time"))
            f.daily_resolved[day] += 1

    def answer(self, tk: _Ticket, at: dt.datetime, actor: int | None, data: dict) -> None:
        """The callback questions' answer (the resident's, the callback staff's, or the one
        that sent it back): the ticket is judged on its last."""
        if data.get("rating"):
            solved = data.get("solved")
            tk.answer = (data["rating"] in GOOD if solved is None else bool(solved),
                         data["rating"])

    def reopen(self, tk: _Ticket, at: dt.datetime, actor: int | None, data: dict) -> None:
        self.answer(tk, at, actor, data)
        tk.reopens += 1

    def outcome(self, tk: _Ticket, at: dt.datetime, actor: int | None, data: dict) -> None:
        """Closed (rated, called back, or closed without an answer)."""
        if data.get("outcome"):
            for f in tk.figures:
                f.closed += 1
                f.no_callback += data["outcome"] == "no_callback"

    def rate(self, tk: _Ticket, at: dt.datetime, actor: int | None, data: dict) -> None:
        self.answer(tk, at, actor, data)
        self.outcome(tk, at, actor, data)

    @staticmethod
    def settle(tk: _Ticket) -> None:
        """After the pass: what a ticket counts for once all its events are seen."""
        for f in tk.figures:
            if tk.answer is not None:
                f.answered += 1
                f.solved += tk.answer[0]
                f.satisfied += tk.answer[1] in GOOD
                f.covered += tk.resolved
            if tk.resolved and tk.reopens:
                f.reopened += 1
                f.reopened_many += tk.reopens >= 2


# Each event action's fold. The callback staff record the resident's answer as a rating
# does; a close without an answer only closes. The actions the fold reads, and so all
# `compute` reads (进展, 转派, 督办 ... add no figure).
FOLDS: dict[A, Callable[[_Folds, _Ticket, dt.datetime, int | None, dict], None]] = {
    A.SUBMIT: _Folds.submit, A.TRIAGE: _Folds.triage, A.ASSIGN: _Folds.assign,
    A.ACCEPT: _Folds.accept, A.RESOLVE: _Folds.resolve, A.RATE: _Folds.rate,
    A.CALLBACK: _Folds.rate, A.REOPEN: _Folds.reopen, A.CLOSE: _Folds.outcome}
EVENTS = tuple(FOLDS)


def _fold(rows: Iterable[Any], group: str, names: Mapping[int | None, str],
          calendar: WorkingCalendar, response_hours: float) -> tuple[Figures, dict[str, Figures]]:
    """One pass over the period's events (ordered by ticket, then time), each handed to
    the fold of its action: CPU work, run in a worker thread so the bot keeps answering."""
    total, groups = Figures(), defaultdict(Figures)
    tickets: dict[int, _Ticket] = {}
    folds = _Folds(calendar, response_hours)
    share = time.perf_counter()
    for n, (tid, action, at, actor, data, t_unit, t_place, category) in enumerate(rows):
        if n & 255 == 0 and time.perf_counter() - share > 0.002:
            # Hand the GIL to the event loop every 2 ms of work: otherwise each of its
            # wake-ups waits for the interpreter's 5 ms switch and a chat answer crawls.
            time.sleep(0)
            share = time.perf_counter()
        tk = tickets.get(tid)
        if tk is None:
            tk = tickets[tid] = _Ticket((total, groups[_key(group, names, t_unit, t_place,
                                                            category)]))
        FOLDS[action](folds, tk, at, actor, data)
    for tk in tickets.values():
        _Folds.settle(tk)
    return total, dict(groups)


async def _group_names(session: AsyncSession, group: str) -> dict[int | None, str]:
    if group == "unit":
        return {u.id: u.name for u in await session.scalars(sa.select(Unit))}
    if group in ("category", "channel"):
        return {}
    everything = {p.id: p for p in await session.scalars(sa.select(Place))}
    names: dict[int | None, str] = {}
    wanted = PlaceKind.TOWN if group == "town" else PlaceKind.GRID
    for pid, place in everything.items():
        node: Place | None = place
        while node is not None and node.kind != wanted:
            node = everything.get(node.parent_id or 0)
        names[pid] = node.name if node is not None else "—"
    return names


def _key(group: str, names: Mapping[int | None, str], unit_id: int | None,
         place_id: int | None, category: str | None) -> str:
    if group == "unit":
        return names.get(unit_id, "（未分派）")
    if group == "category":
        return category or "（未分类）"
    if group == "channel":  # `category` carries the ticket's channel then
        return plain(f"channel_{category or 'chat'}")
    return names.get(place_id, "（无地点）")


async def compute(session: AsyncSession, start: dt.datetime, end: dt.datetime,
                  now: dt.datetime, calendar: WorkingCalendar, *, group: str = "unit",
                  response_hours: float = Appraisal.response_hours,
                  scope: Scope = COUNTY) -> Report:
    """Every figure of the module docstring, for [start, end), by `group`, in `scope`.
    The database is read here; the fold runs in a worker thread."""
    if group not in GROUPS:
        raise ValueError(group)
    names = await _group_names(session, group)
    label = Ticket.channel if group == "channel" else Ticket.category
    stmt = (sa.select(TicketEvent.ticket_id, TicketEvent.action, TicketEvent.at,
                      TicketEvent.actor_id, TicketEvent.data, Ticket.unit_id,
                      Ticket.place_id, label)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(TicketEvent.at >= start, TicketEvent.at < end,
                   TicketEvent.action.in_(EVENTS))
            .order_by(TicketEvent.ticket_id, TicketEvent.id))
    if scope.unit_ids is not None:
        stmt = stmt.where(Ticket.unit_id.in_(scope.unit_ids))
    conn = await session.connection()  # Core rows: no ORM bookkeeping for ~10^5 rows
    result = await conn.execute(stmt)  # fetched; rows are converted in the worker thread
    total, groups = await asyncio.to_thread(
        lambda: _fold(result.all(), group, names, calendar, response_hours))
    overdue = sa.select(Ticket.unit_id, Ticket.place_id, label).where(
        Ticket.state.in_((S.ASSIGNED, S.ACCEPTED)), Ticket.due_at < now)
    if scope.unit_ids is not None:
        overdue = overdue.where(Ticket.unit_id.in_(scope.unit_ids))
    for t_unit, t_place, category in await session.execute(overdue):
        total.overdue_now += 1
        groups.setdefault(_key(group, names, t_unit, t_place, category),
                          Figures()).overdue_now += 1
    await _appointments(session, start, end, group, names, scope, total, groups)
    return Report(start, end, group, total, groups, calendar.tz, scope)


async def _appointments(session: AsyncSession, start: dt.datetime, end: dt.datetime,
                        group: str, names: Mapping[int | None, str], scope: Scope,
                        total: Figures, groups: dict[str, Figures]) -> None:
    """Bookings of the period by state, each in the group (and scope) of its unit: the
    unit of the request it became, else the unit the router expected from its topic."""
    units = dict((await session.execute(sa.select(Unit.code, Unit.id))).tuples().all())
    label = Ticket.channel if group == "channel" else Ticket.category
    rows = await session.execute(
        sa.select(Booking.state, Booking.routing, Ticket.unit_id, label,
                  Venue.place_id)
        .join(Venue, Venue.id == Booking.venue_id)
        .outerjoin(Ticket, Ticket.id == Booking.ticket_id)
        .where(Booking.starts_at >= start, Booking.starts_at < end))
    for state, routing, t_unit, t_category, place_id in rows:
        unit_id = t_unit if t_unit is not None else units.get((routing or {}).get("unit"))
        if not scope.allows(unit_id):
            continue
        category = t_category or (None if group == "channel"
                                  else (routing or {}).get("target"))
        key = _key(group, names, unit_id, place_id, category)
        for f in (total, groups.setdefault(key, Figures())):
            f.appointments[BookingState(state).value] += 1


def score(figures: Figures, weights: Mapping[str, float]) -> float | None:
    """The 通报's weighted score (0-100) of the weighted rates; None ("—") when one of
    them has no denominator, rather than a score made of fewer parts."""
    rates = figures.rates
    if not weights or any(rates[name] is None for name in weights):
        return None
    return round(100 * sum(w * (rates[n] or 0) for n, w in weights.items())
                 / sum(weights.values()), 1)


def ranking(report: Report, weights: Mapping[str, float]
            ) -> list[tuple[str, Figures, float | None]]:
    """The monthly 通报 order: score, then volume; groups without a score last."""
    scored = [(name, f, score(f, weights)) for name, f in report.groups.items()]
    return sorted(scored, key=lambda r: (r[2] is None, -(r[2] or 0), -r[1].received, r[0]))


def previous_period(start: dt.datetime, end: dt.datetime, tz: Any
                    ) -> tuple[dt.datetime, dt.datetime]:
    """The period just before: the previous month for a calendar month, else as many days."""
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if local_start.day == 1 and local_end.day == 1 and (
            (local_end.year * 12 + local_end.month) - (local_start.year * 12 + local_start.month)
            == 1):
        prev = (local_start.date() - dt.timedelta(days=1)).replace(day=1)
        return dt.datetime.combine(prev, dt.time(0), tzinfo=tz), start
    return start - (end - start), start


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

