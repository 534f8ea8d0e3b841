"""红色代办 figures of a period, beside services/stats.py (which counts 诉求).

Orders by errand, time to accept, completion, satisfaction, volunteer hours, and the
ranking of 驿站 and of 双报到 units by the points their volunteers earned. An errand
counts in the period it was ordered in; hours and points in the period they were confirmed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import Errand, ErrandState, Membership, Person, Role, Unit, Venue
from services.errors import NotAllowed
from services.texts import Html, join, t

DONE = (ErrandState.DONE, ErrandState.CLOSED)
GOOD = ("satisfied", "basic")


@dataclass
class ErrandFigures:
    ordered: int = 0
    priority: int = 0
    accepted: int = 0
    completed: int = 0
    cancelled: int = 0
    rated: int = 0
    satisfied: int = 0  # 满意 + 基本满意
    accept_hours: list[float] = field(default_factory=list)
    by_item: Counter[str] = field(default_factory=Counter)
    hours: float = 0.0
    points: int = 0
    venues: Counter[str] = field(default_factory=Counter)  # name -> points
    units: Counter[str] = field(default_factory=Counter)  # 双报到 unit name -> points

    @property
    def mean_accept_hours(self) -> float | None:
        return sum(self.accept_hours) / len(self.accept_hours) if self.accept_hours else None

    @staticmethod
    def rate(part: int, whole: int) -> str:
        return f"{100 * part / whole:.1f}%" if whole else "—"


def scope(person: Person) -> list[int] | None:
    """Admins see every 驿站; an organiser their own; others nothing."""
    if person.has_role(Role.ADMIN):
        return None
    venues = [m.venue_id for m in person.memberships
              if m.role == Role.ORGANISER and m.venue_id is not None]
    if not venues:
        raise NotAllowed()
    return venues


async def compute(session: AsyncSession, start: dt.datetime, end: dt.datetime,
                  venue_ids: list[int] | None = None) -> ErrandFigures:
    """One pass over the errands ordered or confirmed in [start, end)."""
    figures = ErrandFigures()
    stmt = sa.select(Errand).where(sa.or_(
        sa.and_(Errand.created_at >= start, Errand.created_at < end),
        sa.and_(Errand.closed_at >= start, Errand.closed_at < end)))
    if venue_ids is not None:
        stmt = stmt.where(Errand.venue_id.in_(venue_ids))
    venue_names = dict((await session.execute(sa.select(Venue.id, Venue.name))).tuples().all())
    unit_of = dict((await session.execute(
        sa.select(Membership.person_id, Unit.name).join(Unit, Unit.id == Membership.unit_id)
        .where(Membership.role == Role.VOLUNTEER))).tuples().all())
    for errand in await session.scalars(stmt):
        if start <= errand.created_at < end:
            figures.ordered += 1
            figures.priority += errand.priority
            figures.by_item[errand.item] += 1
            figures.cancelled += errand.state == ErrandState.CANCELLED
            if errand.accepted_at is not None:
                figures.accepted += 1
                figures.accept_hours.append(
                    (errand.accepted_at - errand.created_at).total_seconds() / 3600)
            figures.completed += errand.done_at is not None
            if errand.rating is not None:
                figures.rated += 1
                figures.satisfied += errand.rating in GOOD
        if errand.closed_at is not None and start <= errand.closed_at < end:
            figures.hours += errand.hours
            figures.points += errand.points
            figures.venues[venue_names.get(errand.venue_id, "—")] += errand.points
            if errand.volunteer_id in unit_of:
                figures.units[unit_of[errand.volunteer_id]] += errand.points
    return figures


def summary_text(f: ErrandFigures, start: dt.date, end: dt.date, top: int = 5) -> Html:
    mean = f.mean_accept_hours
    lines = [t("errand_stats_head", start=start.isoformat(), end=end.isoformat()),
             t("errand_stats_body", ordered=f.ordered, priority=f.priority,
               accepted=f.accepted, completed=f.completed, cancelled=f.cancelled,
               completion=f.rate(f.completed, f.ordered - f.cancelled),
               satisfaction=f.rate(f.satisfied, f.rated),
               accept="—" if mean is None else f"{mean:.1f}",
               hours=f"{f.hours:g}", points=f.points)]
    if f.by_item:
        lines.append(t("errand_stats_items", items="、".join(
            f"{item} {n}" for item, n in f.by_item.most_common())))
    for key, ranking in (("errand_stats_venues", f.venues), ("errand_stats_units", f.units)):
        if ranking:
            lines.append(t(key, ranking="；".join(
                f"{i}. {name} {points}分"
                for i, (name, points) in enumerate(ranking.most_common(top), start=1))))
    return join(lines)
