"""红色代办 (群众点单、组织下单、党员接单): the errand lifecycle and its rules.

`ErrandLifecycle` is the only writer of an errand's state. Each public method is one row
of `TRANSITIONS`: it checks who acts and from which state, writes the new state, one
`ErrandEvent` and the outbox rows it causes into the caller's session, and flushes; the
caller commits once. A concurrent change of the same errand fails the version check.
The keyboards derive the buttons a state allows from the same table (`actions_for`).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Errand,
    ErrandEvent,
    Membership,
    Person,
    Place,
    PlaceKind,
    Role,
    Venue,
    VenueKind,
)
from models import ErrandState as S
from services import errand_notices, privacy
from services.clock import Clock
from services.deadlines import WorkingCalendar
from services.errors import InvalidInput, NotAllowed, NotFound
from services.texts import Html, plain, t

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WINDOWS = ("morning", "afternoon", "any")
CARE = ("", "elderly_alone", "left_behind_child", "disabled")  # 重点关爱: 孤寡, 留守儿童, 残疾
OPEN = (S.ORDERED, S.OFFERED, S.ACCEPTED, S.VISITED, S.DONE)
HELD = (S.OFFERED, S.ACCEPTED, S.VISITED)  # what counts against a volunteer's capacity
MAX_RESULT_PHOTOS = 1  # 已完成: the photo an errand's result keeps (Errand.result_photo)


@dataclass(frozen=True)
class ErrandRules:
    """Built from `[errands]` of the config (its defaults are these)."""

    offer_hours: float = 4.0  # office hours a volunteer has to accept before the next
    elderly_age: int = 70  # from this age an errand comes first
    days_ahead: int = 7  # how far ahead a day may be wanted
    max_open: int = 3  # open errands one person may have ordered
    hours: float = 1.0  # volunteer service hours credited per confirmed errand
    points: int = 10  # 双报到双积分 points per confirmed errand
    item_hours: dict[str, float] = field(default_factory=dict)  # errand name -> hours
    item_points: dict[str, int] = field(default_factory=dict)
    wish_value_limit: int = 200  # 微心愿: yuan
    # 已完成 but not confirmed: whoever ordered is reminded after `confirm_remind_hours`
    # and the errand closes 未评价 after `confirm_close_hours` (wall-clock hours from 已完成;
    # both sent in office hours): the volunteer is credited, the 满意率 does not count it.
    confirm_remind_hours: float = 24.0
    confirm_close_hours: float = 72.0
    # More 驿站 taking errands than this: a resident picks the town (镇/街道) first.
    town_step: int = 8
    # Errands one volunteer may hold at once (offered, accepted or 已上门); a volunteer at
    # it is skipped down the rota and cannot be assigned more. 0: no limit.
    volunteer_capacity: int = 3

    def full(self, held: int) -> bool:
        return 0 < self.volunteer_capacity <= held

    def credit(self, item: str) -> tuple[float, int]:
        return self.item_hours.get(item, self.hours), self.item_points.get(item, self.points)


class Party(enum.StrEnum):
    ORDERER = "orderer"  # whoever 点单 (the resident, or a 三长/family member for someone)
    ORGANISER = "organiser"
    VOLUNTEER = "volunteer"
    SYSTEM = "system"


class ErrandAction(enum.StrEnum):
    """The event `action` of an errand, and the action of its buttons."""

    ORDER = "order"
    ASSIGN = "assign"  # the organiser offers it to a volunteer of the day's rota
    AUTO = "auto"  # the organiser lets the system offer it down the rota
    ACCEPT = "accept"
    DECLINE = "decline"
    LAPSE = "lapse"  # the offer was not accepted within the office hours: the next
    VISIT = "visit"  # 已上门
    COMPLETE = "complete"  # 已完成
    SATISFIED = "satisfied"
    BASIC = "basic"  # 基本满意
    UNSATISFIED = "unsatisfied"  # back to the organiser
    CANCEL = "cancel"
    REMIND = "remind"  # the sweep: whoever ordered has not confirmed yet
    TIMEOUT = "timeout"  # the sweep: not confirmed in time, closed 未评价


A = ErrandAction


class Transition(NamedTuple):
    sources: frozenset[S]
    party: Party


TRANSITIONS: dict[ErrandAction, Transition] = {
    A.ORDER: Transition(frozenset(), Party.ORDERER),
    A.ASSIGN: Transition(frozenset({S.ORDERED, S.OFFERED}), Party.ORGANISER),
    A.AUTO: Transition(frozenset({S.ORDERED}), Party.ORGANISER),
    A.ACCEPT: Transition(frozenset({S.OFFERED}), Party.VOLUNTEER),
    A.DECLINE: Transition(frozenset({S.OFFERED}), Party.VOLUNTEER),
    A.LAPSE: Transition(frozenset({S.OFFERED}), Party.SYSTEM),
    A.VISIT: Transition(frozenset({S.ACCEPTED}), Party.VOLUNTEER),
    A.COMPLETE: Transition(frozenset({S.ACCEPTED, S.VISITED}), Party.VOLUNTEER),
    A.SATISFIED: Transition(frozenset({S.DONE}), Party.ORDERER),
    A.BASIC: Transition(frozenset({S.DONE}), Party.ORDERER),
    A.UNSATISFIED: Transition(frozenset({S.DONE}), Party.ORDERER),
    A.CANCEL: Transition(frozenset({S.ORDERED, S.OFFERED}), Party.ORDERER),
    A.REMIND: Transition(frozenset({S.DONE}), Party.SYSTEM),
    A.TIMEOUT: Transition(frozenset({S.DONE}), Party.SYSTEM),
}
RATINGS = (A.SATISFIED, A.BASIC, A.UNSATISFIED)
UNRATED = "unrated"  # the rating of an errand closed by the confirmation timeout


def check(errand: Errand, action: ErrandAction) -> None:
    """A press of a button the errand's state no longer allows (a stale card): refused
    with what the errand is now."""
    if errand.state not in TRANSITIONS[action].sources:
        raise InvalidInput("err_errand_state", id=errand.id,
                           state=plain(f"errand_now_{errand.state}"))


def actions_for(state: S, party: Party) -> list[ErrandAction]:
    """The actions `party` may take on an errand in `state`, in table order."""
    return [a for a, tr in TRANSITIONS.items() if tr.party == party and state in tr.sources]


@dataclass
class ErrandDraft:
    """What the 点单 conversation collects (kept as a dict in FSM data)."""

    key: str
    venue_id: int | None = None
    item: str = ""
    for_other: bool = False
    name: str = ""
    age: int | None = None
    address: str = ""
    phone: str = ""
    care: str = ""
    day: str = ""  # ISO date
    window: str = ""


# -- checks of what a resident types (each raises InvalidInput with a Chinese text) ------
def check_name(text: str) -> str:
    name = (text or "").strip()
    if not 1 <= len(name) <= 32 or name.startswith("/"):
        raise InvalidInput("err_errand_name")
    return name


def check_age(text: str) -> int:
    value = (text or "").strip().removesuffix("岁")
    if not value.isdigit() or not 1 <= int(value) <= 120:
        raise InvalidInput("err_errand_age")
    return int(value)


def check_address(text: str) -> str:
    address = (text or "").strip()
    if not 4 <= len(address) <= 200:
        raise InvalidInput("err_errand_address")
    return address


def check_phone(text: str) -> str:
    phone = re.sub(r"[\s-]", "", text or "").removeprefix("+86")
    if not re.fullmatch(r"\d{7,12}", phone):
        raise InvalidInput("err_errand_phone")
    return phone


def wanted_days(today: dt.date, rules: ErrandRules) -> list[dt.date]:
    return [today + dt.timedelta(days=n) for n in range(rules.days_ahead)]


def menu(venue: Venue) -> list[str]:
    return list((venue.errands or {}).get("menu", []))


async def venues(session: AsyncSession) -> list[Venue]:
    """The 红帆驿站 that take errands (a menu in the org file)."""
    rows = await session.scalars(sa.select(Venue).where(Venue.kind == VenueKind.RED_SAIL)
                                 .order_by(Venue.code))
    return [v for v in rows if menu(v)]


async def by_town(session: AsyncSession) -> list[tuple[Place, list[Venue]]]:
    """The 驿站 that take errands grouped by their town (镇/街道), in code order; a 驿站
    outside any town is under the county."""
    places = {p.id: p for p in await session.scalars(sa.select(Place))}

    def town(place_id: int | None) -> Place | None:
        node = places.get(place_id or 0)
        while node is not None and node.kind not in (PlaceKind.TOWN, PlaceKind.COUNTY):
            node = places.get(node.parent_id or 0)
        return node

    grouped: dict[int, tuple[Place, list[Venue]]] = {}
    for place in await venues(session):
        found = town(place.place_id)
        if found is not None:
            grouped.setdefault(found.id, (found, []))[1].append(place)
    return sorted(grouped.values(), key=lambda g: g[0].code)


async def in_town(session: AsyncSession, town_id: int) -> list[Venue]:
    """The 驿站 of one town that take errands; none (a forged or stale town) is NotFound."""
    found = next((v for town, v in await by_town(session) if town.id == town_id), [])
    if not found:
        raise NotFound()
    return found


async def venue(session: AsyncSession, venue_id: int) -> Venue:
    found = await session.get(Venue, venue_id)
    if found is None or not menu(found):
        raise NotFound()
    return found


# -- load and authorise: one helper per party ------------------------------------------
async def _load(session: AsyncSession, errand_id: int,
                allowed: Callable[[Errand], bool]) -> Errand:
    """The errand, if this caller may see it; anyone else's is 'not found'."""
    errand = await session.get(Errand, errand_id)
    if errand is None or not allowed(errand):
        raise NotFound()
    return errand


def organises(person: Person, venue_id: int) -> bool:
    return any(m.role == Role.ORGANISER and m.venue_id == venue_id for m in person.memberships)


async def own(session: AsyncSession, person: Person, errand_id: int) -> Errand:
    """An errand this person ordered."""
    return await _load(session, errand_id, lambda e: e.orderer_id == person.id)


async def for_organiser(session: AsyncSession, person: Person, errand_id: int) -> Errand:
    """An errand of a 驿站 this person organises."""
    return await _load(session, errand_id, lambda e: organises(person, e.venue_id))


async def for_volunteer(session: AsyncSession, person: Person, errand_id: int) -> Errand:
    """An errand offered to or accepted by this volunteer."""
    return await _load(session, errand_id, lambda e: e.volunteer_id == person.id)


async def volunteers(session: AsyncSession, venue_id: int) -> list[Person]:
    stmt = (sa.select(Person).join(Membership, Membership.person_id == Person.id)
            .where(Membership.role == Role.VOLUNTEER, Membership.venue_id == venue_id,
                   Person.active).order_by(Person.id))
    return list((await session.scalars(stmt)).unique())


async def rota(session: AsyncSession, venue: Venue, day: dt.date) -> list[Person]:
    """The volunteers on `day`'s rota of the venue, in the order the org file lists them."""
    codes = (venue.errands or {}).get("rota", {}).get(WEEKDAY_KEYS[day.weekday()], [])
    by_code = {p.code: p for p in await volunteers(session, venue.id)}
    return [by_code[c] for c in codes if c in by_code]


async def rota_gaps(session: AsyncSession) -> list[tuple[Venue, list[int]]]:
    """`minyi doctor`: the 驿站 taking errands whose rota leaves a weekday (0 = Monday) with
    no active volunteer: an errand wanted that day can only wait for the organiser."""
    gaps = []
    for place in await venues(session):
        active = {p.code for p in await volunteers(session, place.id)}
        rota_days = (place.errands or {}).get("rota", {})
        empty = [n for n, key in enumerate(WEEKDAY_KEYS)
                 if not active & set(rota_days.get(key, []))]
        if empty:
            gaps.append((place, empty))
    return gaps


def block_title(label: str) -> str:
    """A 三长 as people call them: 幸福小区3号楼楼栋长 (from the org file's `block`)."""
    parts = [p for p in (label or "").split("/") if p]
    if not parts:
        return plain("role_block_head")
    return "".join(parts) + plain(f"block_head_{min(len(parts), 3)}")


async def orderer_line(session: AsyncSession, errand: Errand) -> Html:
    """替人点单: who ordered (a 三长 with their 小区/楼栋/单元), for those who see the
    contact; empty for someone who ordered for themselves."""
    person = await session.get(Person, errand.orderer_id) if errand.for_other else None
    if person is None:
        return Html("")
    head = next((m for m in person.memberships if m.role == Role.BLOCK_HEAD), None)
    return t("errand_orderer", name=person.name or "—",
             role=t("errand_orderer_role", role=block_title(head.label)) if head else "")


async def held(session: AsyncSession, volunteer_ids: list[int]) -> dict[int, int]:
    """Errands each volunteer holds now (offered to them, accepted or 已上门)."""
    rows = await session.execute(
        sa.select(Errand.volunteer_id, sa.func.count()).where(
            Errand.volunteer_id.in_(volunteer_ids), Errand.state.in_(HELD))
        .group_by(Errand.volunteer_id))
    return {vid: n for vid, n in rows.tuples() if vid is not None}


async def organiser_chats(session: AsyncSession, venue_id: int) -> list[int]:
    rows = await session.scalars(
        sa.select(Person.tg_user_id).join(Membership, Membership.person_id == Person.id)
        .where(Membership.role == Role.ORGANISER, Membership.venue_id == venue_id,
               Person.tg_user_id.is_not(None), Person.active))
    return list(dict.fromkeys(r for r in rows if r is not None))


async def organiser_queue(session: AsyncSession, person: Person) -> list[Errand]:
    """Open errands of the venues this person organises, those that come first first."""
    venue_ids = [m.venue_id for m in person.memberships if m.role == Role.ORGANISER]
    if not venue_ids:
        raise NotAllowed()
    stmt = (sa.select(Errand).where(Errand.venue_id.in_(venue_ids), Errand.state.in_(OPEN))
            .order_by(Errand.priority.desc(), Errand.wanted_day, Errand.id).limit(30))
    return list(await session.scalars(stmt))


async def mine(session: AsyncSession, person: Person) -> list[Errand]:
    stmt = (sa.select(Errand).where(Errand.orderer_id == person.id)
            .order_by(Errand.id.desc()).limit(10))
    return list(await session.scalars(stmt))


async def by_key(session: AsyncSession, key: str) -> Errand | None:
    return await session.scalar(sa.select(Errand).where(Errand.submission_key == key))


@dataclass(frozen=True)
class VolunteerRecord:
    errands: int
    hours: float
    points: int
    month_errands: int
    month_hours: float
    month_points: int


async def record(session: AsyncSession, person: Person, month_start: dt.datetime
                 ) -> VolunteerRecord:
    """`/volunteer`: confirmed errands, hours and points, in all and since `month_start`."""
    def totals(since: dt.datetime | None) -> sa.Select[Any]:
        stmt = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Errand.hours), 0),
                         sa.func.coalesce(sa.func.sum(Errand.points), 0)).where(
            Errand.volunteer_id == person.id, Errand.state == S.CLOSED)
        return stmt if since is None else stmt.where(Errand.closed_at >= since)

    n, hours, points = (await session.execute(totals(None))).one()
    mn, mh, mp = (await session.execute(totals(month_start))).one()
    return VolunteerRecord(n, float(hours), int(points), mn, float(mh), int(mp))


class ErrandLifecycle:
    def __init__(self, session: AsyncSession, clock: Clock, calendar: WorkingCalendar,
                 rules: ErrandRules) -> None:
        self.session = session
        self.clock = clock
        self.calendar = calendar
        self.rules = rules
        self.notices = errand_notices.ErrandNotices(session, calendar.tz)

    def _check(self, errand: Errand, action: ErrandAction) -> None:
        check(errand, action)

    async def _move(self, errand: Errand, actor: Person | None, action: ErrandAction, to: S,
                    note: str = "", **data: Any) -> None:
        now = self.clock.now()
        self.session.add(ErrandEvent(errand_id=errand.id, actor_id=actor.id if actor else None,
                                     action=action.value, from_state=errand.state,
                                     to_state=to.value, note=note, data=data, at=now))
        changed = errand.state != to or action in (A.ASSIGN, A.DECLINE, A.LAPSE)
        errand.state = to
        errand.updated_at = now
        if changed:  # the buttons on every copy of its cards change
            await self.notices.refresh(errand, now)

    async def order(self, orderer: Person, draft: ErrandDraft) -> Errand:
        """点单. A second confirm of the same draft returns the errand it made."""
        done = await by_key(self.session, draft.key)
        if done is not None:
            return done
        place = await venue(self.session, draft.venue_id or 0)
        if draft.item not in menu(place):
            raise InvalidInput("err_errand_item")
        if draft.window not in WINDOWS or draft.care not in CARE or draft.age is None:
            raise InvalidInput("err_errand_incomplete")
        try:
            day = dt.date.fromisoformat(draft.day)
        except ValueError as exc:
            raise InvalidInput("err_errand_incomplete") from exc
        now = self.clock.now()
        privacy.consent(orderer, self.clock)  # confirming the order, with the notice shown
        if day not in wanted_days(now.astimezone(self.calendar.tz).date(), self.rules):
            raise InvalidInput("err_errand_day")
        open_count = await self.session.scalar(sa.select(sa.func.count()).where(
            Errand.orderer_id == orderer.id, Errand.state.in_(OPEN)))
        if (open_count or 0) >= self.rules.max_open:
            raise InvalidInput("err_errand_too_many", limit=self.rules.max_open)
        errand = Errand(
            submission_key=draft.key, venue_id=place.id, orderer_id=orderer.id,
            item=draft.item, for_other=draft.for_other,
            beneficiary_name=check_name(draft.name or orderer.name or "居民"),
            beneficiary_age=draft.age, address=check_address(draft.address),
            phone=check_phone(draft.phone), care=draft.care,
            priority=draft.age >= self.rules.elderly_age or bool(draft.care),
            wanted_day=day, window=draft.window, state=S.ORDERED, offered=[],
            created_at=now, updated_at=now)
        self.session.add(errand)
        await self.session.flush()
        self.session.add(ErrandEvent(errand_id=errand.id, actor_id=orderer.id,
                                     action=A.ORDER.value, from_state=None,
                                     to_state=S.ORDERED.value, data={}, at=now))
        await self.notices.ordered(errand, place, now)
        return errand

    async def assign(self, errand: Errand, organiser: Person, volunteer_id: int) -> Person:
        self._check(errand, A.ASSIGN)
        if not organises(organiser, errand.venue_id):
            raise NotAllowed()
        chosen = next((v for v in await volunteers(self.session, errand.venue_id)
                       if v.id == volunteer_id), None)
        if chosen is None:
            raise InvalidInput("err_errand_not_volunteer")
        load = (await held(self.session, [chosen.id])).get(chosen.id, 0)
        if errand.volunteer_id != chosen.id and self.rules.full(load):
            raise InvalidInput("err_errand_volunteer_full", name=chosen.name,
                               limit=self.rules.volunteer_capacity)
        await self._offer(errand, organiser, A.ASSIGN, chosen)
        return chosen

    async def auto(self, errand: Errand, organiser: Person) -> Person | None:
        self._check(errand, A.AUTO)
        if not organises(organiser, errand.venue_id):
            raise NotAllowed()
        return await self._next(errand, organiser, A.AUTO)

    async def accept(self, errand: Errand, volunteer: Person) -> None:
        self._check(errand, A.ACCEPT)
        if errand.volunteer_id != volunteer.id:
            raise NotAllowed()
        errand.offer_until = None
        errand.accepted_at = self.clock.now()
        await self._move(errand, volunteer, A.ACCEPT, S.ACCEPTED)
        await self.notices.accepted(errand, volunteer, self.clock.now())

    async def decline(self, errand: Errand, volunteer: Person) -> Person | None:
        self._check(errand, A.DECLINE)
        if errand.volunteer_id != volunteer.id:
            raise NotAllowed()
        return await self._next(errand, volunteer, A.DECLINE)

    async def lapse(self, errand: Errand) -> Person | None:
        """The sweep: nobody accepted within the office hours; offer the next."""
        self._check(errand, A.LAPSE)
        return await self._next(errand, None, A.LAPSE)

    async def visit(self, errand: Errand, volunteer: Person) -> None:
        self._check(errand, A.VISIT)
        if errand.volunteer_id != volunteer.id:
            raise NotAllowed()
        await self._move(errand, volunteer, A.VISIT, S.VISITED)
        await self.notices.visited(errand, volunteer, self.clock.now())

    async def complete(self, errand: Errand, volunteer: Person, note: str,
                       photo: str | None) -> None:
        self._check(errand, A.COMPLETE)
        if errand.volunteer_id != volunteer.id:
            raise NotAllowed()
        note = (note or "").strip()
        if not note:  # a photo alone says nothing to whoever ordered: the text closes it
            raise InvalidInput("err_errand_result")
        errand.result_note, errand.result_photo = note[:2000], photo
        errand.done_at = now = self.clock.now()
        remind = dt.timedelta(hours=self.rules.confirm_remind_hours)
        close = dt.timedelta(hours=self.rules.confirm_close_hours)
        errand.remind_at = now + remind if remind < close else None
        errand.close_at = now + close
        await self._move(errand, volunteer, A.COMPLETE, S.DONE, note[:2000])
        await self.notices.completed(errand, self.clock.now())

    async def rate(self, errand: Errand, orderer: Person, rating: ErrandAction) -> None:
        if rating not in RATINGS:
            raise InvalidInput("stale_button")
        self._check(errand, rating)
        if errand.orderer_id != orderer.id:
            raise NotAllowed()
        now = self.clock.now()
        errand.rating = rating.value
        errand.remind_at = errand.close_at = None
        if rating == A.UNSATISFIED:  # back to the organiser, who assigns it again
            volunteer_id = errand.volunteer_id
            errand.volunteer_id, errand.offered, errand.offer_until = None, [], None
            await self._move(errand, orderer, rating, S.ORDERED, volunteer_id=volunteer_id)
            await self.notices.unsatisfied(errand, now)
            return
        errand.hours, errand.points = self.rules.credit(errand.item)
        errand.closed_at = now
        await self._move(errand, orderer, rating, S.CLOSED, hours=errand.hours,
                         points=errand.points)
        await self.notices.closed(errand, now)

    async def remind(self, errand: Errand) -> None:
        """The sweep: 已完成 and not confirmed after `confirm_remind_hours`: ask again."""
        self._check(errand, A.REMIND)
        errand.remind_at = None
        await self._move(errand, None, A.REMIND, S.DONE)
        await self.notices.confirm_reminder(errand, self.clock.now())

    async def timeout(self, errand: Errand) -> None:
        """The sweep: not confirmed after `confirm_close_hours`: closed 未评价. The work was
        done, so the volunteer is credited; the 满意率 counts only real answers."""
        self._check(errand, A.TIMEOUT)
        now = self.clock.now()
        errand.rating = UNRATED
        errand.remind_at = errand.close_at = None
        errand.hours, errand.points = self.rules.credit(errand.item)
        errand.closed_at = now
        await self._move(errand, None, A.TIMEOUT, S.CLOSED, hours=errand.hours,
                   points=errand.points)
        await self.notices.timed_out(errand, now)

    async def cancel(self, errand: Errand, orderer: Person) -> None:
        self._check(errand, A.CANCEL)
        if errand.orderer_id != orderer.id:
            raise NotAllowed()
        offered_to = errand.volunteer_id if errand.state == S.OFFERED else None
        errand.offer_until = None
        await self._move(errand, orderer, A.CANCEL, S.CANCELLED)
        await self.notices.cancelled(errand, offered_to, self.clock.now())

    # -- offering down the rota -------------------------------------------------------
    async def _next(self, errand: Errand, actor: Person | None,
                    action: ErrandAction) -> Person | None:
        """Offer to the first volunteer of the day's rota not offered yet; when the rota
        runs out the errand goes back to the organiser, who is told."""
        place = await venue(self.session, errand.venue_id)
        tried = set(errand.offered or [])
        on_rota = await rota(self.session, place, errand.wanted_day)
        loads = await held(self.session, [v.id for v in on_rota])
        # Down the rota: the first not asked yet who has room for one more.
        nxt = next((v for v in on_rota
                    if v.id not in tried and not self.rules.full(loads.get(v.id, 0))), None)
        if nxt is None:
            errand.volunteer_id = errand.offer_until = None
            await self._move(errand, actor, action, S.ORDERED, exhausted=True)
            await self.notices.exhausted(errand, self.clock.now())
            return None
        await self._offer(errand, actor, action, nxt)
        return nxt

    async def _offer(self, errand: Errand, actor: Person | None, action: ErrandAction,
                     volunteer: Person) -> None:
        now = self.clock.now()
        previous = errand.volunteer_id if errand.state == S.OFFERED else None
        errand.volunteer_id = volunteer.id
        errand.offered = [*(errand.offered or []), volunteer.id]
        errand.offer_until = self.calendar.add_working_time(
            now, dt.timedelta(hours=self.rules.offer_hours))
        await self._move(errand, actor, action, S.OFFERED, volunteer_id=volunteer.id,
                   previous=previous)
        await self.notices.offered(errand, volunteer, now)


class ErrandSweep(NamedTuple):
    name: str
    column: Any  # the moment column (indexed) the sweep reads
    state: S  # the state it acts in; elsewhere the moment is stale and is dropped
    act: Callable[[ErrandLifecycle, Errand], Awaitable[Any]]


SWEEPS = (
    # An offer not accepted within the office hours goes to the next on the rota.
    ErrandSweep("errand_offers", Errand.offer_until, S.OFFERED, ErrandLifecycle.lapse),
    # Timeouts before reminders: after a long stop nobody is reminded of a closed errand.
    ErrandSweep("errand_timeouts", Errand.close_at, S.DONE, ErrandLifecycle.timeout),
    ErrandSweep("errand_reminders", Errand.remind_at, S.DONE, ErrandLifecycle.remind),
)


async def sweep_due(session: AsyncSession, clock: Clock, calendar: WorkingCalendar,
                    rules: ErrandRules, sweep: ErrandSweep, limit: int = 100) -> int:
    """One batch of one sweep: the errands whose moment has come, those that come first
    first. Flushes; the caller commits. On PostgreSQL the rows are taken `FOR UPDATE SKIP
    LOCKED` (two processes take different errands); everywhere a concurrent change of an
    errand fails its version check and the batch is left for the next run."""
    from models.db import skip_locked

    now = clock.now()
    stmt = (sa.select(Errand).where(sweep.column <= now)
            .order_by(Errand.priority.desc(), sweep.column).limit(limit))
    found = list(await session.scalars(skip_locked(session, stmt, of=Errand)))
    life = ErrandLifecycle(session, clock, calendar, rules)
    for errand in found:
        if errand.state == sweep.state:
            await sweep.act(life, errand)
        else:  # a stale plan (should not happen): drop it rather than act on it
            setattr(errand, sweep.column.key, None)
    await session.flush()
    return len(found)

