"""红色代办 figures of a period, beside services/stats.py (which counts 诉求).

Orders by errand, time to accept, completion, satisfaction, volunteer hours, and the
monthly ranking of 驿站 and of 双报到 units by the points their volunteers earned.

- ordered / priority / cancelled: errands ordered in the period / of those, for someone
  over `elderly_age` or 重点关爱 (they come first) / cancelled by whoever ordered;
- accepted, time to accept: of those ordered, accepted by a volunteer / hours from 点单
  to 接单 (mean and median; and the mean of those that come first, to see they do);
- completed: of those ordered, marked 已完成 (完成率 = completed / (ordered - cancelled -
  not yet due), an order still open whose wanted day has not passed counting neither way);
- rated / satisfied / unrated: of those ordered, rated by whoever ordered / 满意 or
  基本满意 (满意率 = satisfied / rated) / closed with no rating after the confirmation
  timeout (未评价: not in the 满意率, see docs/errands.md);
- confirmed, hours, points: errands confirmed (closed) in the period, and the service hours
  and 双报到双积分 points credited for them: the rankings count these, by 驿站 and by the
  双报到 unit of the volunteer, every 驿站 that takes errands and every unit with a
  volunteer listed (those with nothing at the bottom).

A 驿站 scope (an organiser's) limits the figures to its errands; a unit scope (a unit
leader's /stats) to the errands one of its volunteers accepted (one sent back after 不满意
included). The rankings are always the county's: a scope shows where its 驿站 or units
stand in them.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Errand,
    ErrandEvent,
    ErrandState,
    Membership,
    Person,
    Role,
    Unit,
    Venue,
    VenueKind,
)
from services.errors import NotAllowed
from services.texts import Html, join, plain, t
from services.xlsx import Pct

GOOD = ("satisfied", "basic")
UNRATED = "unrated"  # closed by the confirmation timeout (services/errands.close_due)


@dataclass
class Tally:
    """One row of a ranking: confirmed errands, their hours and points, the volunteers."""

    errands: int = 0
    hours: float = 0.0
    points: int = 0
    volunteers: set[int] = field(default_factory=set)

    def add(self, errand_hours: float, errand_points: int, volunteer_id: int | None) -> None:
        self.errands += 1
        self.hours += errand_hours
        self.points += errand_points
        if volunteer_id is not None:
            self.volunteers.add(volunteer_id)


@dataclass
class ErrandFigures:
    ordered: int = 0
    priority: int = 0
    accepted: int = 0
    completed: int = 0
    cancelled: int = 0
    not_due: int = 0  # still open, its wanted day not passed yet: not in the 完成率
    rated: int = 0
    satisfied: int = 0  # 满意 + 基本满意
    unrated: int = 0  # closed without a rating (the confirmation timed out)
    accept_hours: list[float] = field(default_factory=list)
    priority_accept_hours: list[float] = field(default_factory=list)  # they come first
    by_item: Counter[str] = field(default_factory=Counter)
    done_by_item: Counter[str] = field(default_factory=Counter)
    confirmed: int = 0
    hours: float = 0.0
    points: int = 0
    venues: dict[str, Tally] = field(default_factory=dict)  # 驿站 name -> its row
    units: dict[str, Tally] = field(default_factory=dict)  # 双报到 unit name -> its row
    # In a scope, the rows of the rankings shown (their rank is the county's); None: all.
    shown_venues: frozenset[str] | None = None
    shown_units: frozenset[str] | None = None

    def shown(self, rows: dict[str, Tally]) -> list[tuple[int, str, Tally]]:
        """The ranking of `rows` (venues or units), the rows of the scope only."""
        only = self.shown_venues if rows is self.venues else self.shown_units
        return [r for r in ranking(rows) if only is None or r[1] in only]

    @property
    def mean_accept_hours(self) -> float | None:
        return sum(self.accept_hours) / len(self.accept_hours) if self.accept_hours else None

    @property
    def priority_mean_accept_hours(self) -> float | None:
        hours = self.priority_accept_hours
        return sum(hours) / len(hours) if hours else None

    @property
    def median_accept_hours(self) -> float | None:
        return statistics.median(self.accept_hours) if self.accept_hours else None

    @property
    def completion(self) -> float | None:
        return ratio(self.completed, self.ordered - self.cancelled - self.not_due)

    @property
    def satisfaction(self) -> float | None:
        return ratio(self.satisfied, self.rated)

    @staticmethod
    def rate(part: int, whole: int) -> str:
        return f"{100 * part / whole:.1f}%" if whole else "—"


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def ranking(rows: dict[str, Tally]) -> list[tuple[int, str, Tally]]:
    """Points, then hours, then errands; equal points and hours share a rank (1, 1, 3)."""
    ordered = sorted(rows.items(), key=lambda r: (-r[1].points, -r[1].hours,
                                                  -r[1].errands, r[0]))
    ranked: list[tuple[int, str, Tally]] = []
    for i, (name, tally) in enumerate(ordered, start=1):
        same = ranked and (ranked[-1][2].points, ranked[-1][2].hours) == (tally.points,
                                                                         tally.hours)
        ranked.append((ranked[-1][0] if same else i, name, tally))
    return ranked


def scope(person: Person) -> list[int] | None:
    """/errandstats: admins see every 驿站; an organiser their own; others nothing."""
    if person.has_role(Role.ADMIN):
        return None
    venues = [m.venue_id for m in person.memberships
              if m.role == Role.ORGANISER and m.venue_id is not None]
    if not venues:
        raise NotAllowed()
    return venues


async def compute(session: AsyncSession, start: dt.datetime, end: dt.datetime,
                  venue_ids: list[int] | None = None,
                  unit_ids: frozenset[int] | None = None,
                  now: dt.datetime | None = None) -> ErrandFigures:
    """The figures of the module docstring for [start, end), in a 驿站 scope (`venue_ids`)
    or a unit scope (`unit_ids`, the 双报到 units of a unit leader), else the county.
    The rankings are always the county's; a scope says which of their rows are shown.
    An order still open on a wanted day not before `now` (local; default `end`) is not due
    yet: the 完成率 leaves it out."""
    figures = ErrandFigures()
    today = min(end, now or end).date()
    unit_of = dict((await session.execute(
        sa.select(Membership.person_id, Membership.unit_id)
        .where(Membership.role == Role.VOLUNTEER, Membership.unit_id.is_not(None))))
        .tuples().all())
    unit_names = dict((await session.execute(sa.select(Unit.id, Unit.name))).tuples().all())
    venue_names = dict((await session.execute(sa.select(Venue.id, Venue.name))).tuples().all())
    # Every 驿站 that takes errands and every unit with a volunteer has a row, nothing or not.
    figures.venues = {v.name: Tally() for v in await session.scalars(
        sa.select(Venue).where(Venue.kind == VenueKind.RED_SAIL).order_by(Venue.code))
        if (v.errands or {}).get("menu")}
    figures.units = {unit_names[u]: Tally() for u in sorted(set(unit_of.values()))
                     if u in unit_names}
    if venue_ids is not None:
        figures.shown_venues = frozenset(venue_names[v] for v in venue_ids if v in venue_names)
    if unit_ids is not None:
        figures.shown_units = frozenset(unit_names[u] for u in unit_ids if u in unit_names)
        figures.shown_venues = frozenset()
    taken: set[int] = set()  # a unit scope: errands one of its volunteers accepted
    if unit_ids is not None:
        taken = set(await session.scalars(sa.select(ErrandEvent.errand_id).where(
            ErrandEvent.action == "accept", ErrandEvent.actor_id.in_(
                [p for p, u in unit_of.items() if u in unit_ids]))))
    stmt = sa.select(Errand.id, Errand.created_at, Errand.closed_at, Errand.accepted_at,
                     Errand.done_at, Errand.state, Errand.priority, Errand.item, Errand.rating,
                     Errand.hours, Errand.points, Errand.venue_id, Errand.volunteer_id,
                     Errand.wanted_day).where(
        sa.or_(sa.and_(Errand.created_at >= start, Errand.created_at < end),
               sa.and_(Errand.closed_at >= start, Errand.closed_at < end)))
    for (errand_id, created, closed, accepted, done, state, priority, item, rating, hours,
         points, venue_id, volunteer_id, wanted_day) in await session.execute(stmt):
        unit_id = unit_of.get(volunteer_id)
        confirmed = closed is not None and start <= closed < end
        if confirmed:  # the rankings are the county's, whatever the scope
            figures.venues.setdefault(venue_names.get(venue_id, "—"), Tally()).add(
                hours, points, volunteer_id)
            if unit_id in unit_names:
                figures.units[unit_names[unit_id]].add(hours, points, volunteer_id)
        if (venue_ids is not None and venue_id not in venue_ids) or (
                unit_ids is not None and errand_id not in taken):
            continue
        if start <= created < end:
            figures.ordered += 1
            figures.priority += priority
            figures.by_item[item] += 1
            figures.cancelled += state == ErrandState.CANCELLED
            figures.not_due += (done is None and state != ErrandState.CANCELLED
                                and wanted_day >= today)
            if accepted is not None:
                figures.accepted += 1
                waited = (accepted - created).total_seconds() / 3600
                figures.accept_hours.append(waited)
                if priority:
                    figures.priority_accept_hours.append(waited)
            if done is not None:
                figures.completed += 1
                figures.done_by_item[item] += 1
            if rating == UNRATED:
                figures.unrated += 1
            elif rating is not None:
                figures.rated += 1
                figures.satisfied += rating in GOOD
        if confirmed:
            figures.confirmed += 1
            figures.hours += hours
            figures.points += points
    return figures


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _ranking_line(ranked: list[tuple[int, str, Tally]], top: int) -> str:
    return "；".join(plain("errand_rank_item", rank=rank, name=name, points=tally.points,
                          hours=f"{tally.hours:g}")
                    for rank, name, tally in ranked[:top] if tally.points or tally.errands)


def body_lines(f: ErrandFigures, top: int = 5) -> list[Html]:
    """The figures and the rankings, as /errandstats, /stats and the monthly 通报 show them:
    the county's top rows, or in a scope where its 驿站 / units stand in the county."""
    lines = [t("errand_stats_body", ordered=f.ordered, priority=f.priority,
               accepted=f.accepted, completed=f.completed, cancelled=f.cancelled,
               accept=_hours(f.mean_accept_hours), median=_hours(f.median_accept_hours),
               first=_hours(f.priority_mean_accept_hours),
               completion=_pct(f.completion), satisfaction=_pct(f.satisfaction),
               rated=f.rated, unrated=f.unrated, confirmed=f.confirmed,
               hours=f"{f.hours:g}", points=f.points)]
    if f.by_item:
        lines.append(t("errand_stats_items", items="、".join(
            f"{item} {n}" for item, n in f.by_item.most_common())))
    for rows, top_key, own_key, only in (
            (f.venues, "errand_stats_venues", "errand_stats_venue_rank", f.shown_venues),
            (f.units, "errand_stats_units", "errand_stats_unit_rank", f.shown_units)):
        if only is None:
            line = _ranking_line(ranking(rows), top)
            if line:
                lines.append(t(top_key, ranking=line))
            continue
        lines += [t(own_key, name=name, errands=tally.errands,
                    rank=t("errand_rank_of", rank=rank, of=len(rows))
                    if tally.points or tally.errands else t("errand_rank_none"),
                    hours=f"{tally.hours:g}", points=tally.points,
                    volunteers=len(tally.volunteers))
                  for rank, name, tally in f.shown(rows)]
    return lines


def summary_text(f: ErrandFigures, start: dt.date, end: dt.date, top: int = 5) -> Html:
    """/errandstats."""
    return join([t("errand_stats_head", start=start.isoformat(), end=end.isoformat()),
                 *body_lines(f, top)])


def section_text(f: ErrandFigures, top: int = 5) -> Html:
    """The 红色代办 part of /stats and of the monthly 通报."""
    return join([t("errand_stats_section"), *body_lines(f, top)])


# -- the workbook's sheets (services/report_files.py adds them) -------------------------
FIGURES = ("ordered", "priority", "accepted", "mean_accept_hours", "median_accept_hours",
           "priority_mean_accept_hours",
           "completed", "cancelled", "completion", "rated", "satisfied", "satisfaction",
           "unrated", "confirmed", "hours", "points")
PERCENTS = ("completion", "satisfaction")


def figure_value(f: ErrandFigures, name: str) -> Any:
    value = getattr(f, name)
    if name in PERCENTS:
        return Pct(value)
    if isinstance(value, float) and name.endswith("_hours"):
        return round(value, 2)
    return "—" if value is None else value


def sheets(f: ErrandFigures) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(title, header, rows) of the 红色代办 sheets: the figures, orders by errand, and the
    rankings of 驿站 and of 双报到 units."""
    out: list[tuple[str, list[str], list[list[Any]]]] = [
        ("红色代办", ["指标", "数值"],
         [[plain(f"fig_errand_{n}"), figure_value(f, n)] for n in FIGURES]),
        ("代办事项", ["事项", "点单", "办完"],
         [[item, n, f.done_by_item[item]] for item, n in f.by_item.most_common()])]
    header = ["排名", "{}", "确认完成", "服务时长（小时）", "积分", "参与志愿者"]
    for title, label, rows in (("驿站排名", "红帆驿站", f.venues),
                               ("双报到单位排名", "双报到单位", f.units)):
        shown = f.shown(rows)
        if shown or (f.shown_venues if rows is f.venues else f.shown_units) is None:
            out.append((title, [h.format(label) for h in header],
                        [[rank, name, x.errands, x.hours, x.points, len(x.volunteers)]
                         for rank, name, x in shown]))
    return out


def definitions() -> list[list[str]]:
    return [[plain(f"fig_errand_{n}"), plain(f"def_errand_{n}")] for n in FIGURES] + [
        [plain("fig_errand_ranking"), plain("def_errand_ranking")]]
