"""The ticket lifecycle: the only code that changes a ticket's state.

Each public method is one transition of DESIGN.md. It checks who acts and from which
state, then writes the new state, one `TicketEvent` and the outbox rows it causes into
the caller's session. It flushes but never commits: the caller (the session middleware,
a scheduler job, the CLI) commits once, so state, event and messages land together or
not at all. A concurrent change of the same ticket fails the version check -> `Conflict`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from models import IN_WORK, Person, Rating, Role, Ticket, TicketEvent, TicketSequence, Unit
from models import EventAction as A
from models import TicketState as S
from models.db import upsert_insert
from services import access, audit, notices
from services.clock import Clock
from services.deadlines import WorkingCalendar
from services.errors import Conflict, IllegalTransition, InvalidInput, NotAllowed, NotFound
from services.texts import t

# action -> states it may start from. The target state is decided by the method.
ALLOWED_FROM: dict[A, frozenset[S]] = {
    A.TRIAGE: frozenset({S.SUBMITTED}),
    A.ASSIGN: frozenset({S.SUBMITTED, S.TRIAGE, S.ASSIGNED, S.ACCEPTED}),
    A.ACCEPT: frozenset({S.ASSIGNED}),
    A.RETURN: frozenset({S.ASSIGNED, S.ACCEPTED}),
    A.ESCALATE: frozenset({S.ASSIGNED, S.ACCEPTED}),
    A.RESOLVE: frozenset({S.ACCEPTED}),
    A.RATE: frozenset({S.RESOLVED, S.CALLBACK_DUE}),
    A.CALLBACK_DUE: frozenset({S.RESOLVED}),
    A.CALLBACK: frozenset({S.CALLBACK_DUE}),
    A.CLOSE: frozenset({S.TRIAGE, S.RESOLVED, S.CALLBACK_DUE}),
    A.FOLLOW_UP: frozenset({S.TRIAGE, S.ASSIGNED, S.ACCEPTED}),
    A.PROGRESS: frozenset({S.ACCEPTED}),
    A.TRANSFER: frozenset({S.ASSIGNED, S.ACCEPTED}),
    A.WHISTLE: frozenset({S.ASSIGNED, S.ACCEPTED}),
    A.REMIND: frozenset({S.ASSIGNED, S.ACCEPTED}),
}
CLOSE_OUTCOMES = frozenset({"rated", "no_callback", "invalid", "withdrawn"})
MAX_TEXT = 4000


@dataclass(frozen=True)
class Policy:
    working_days: int = 3
    max_unreachable: int = 3
    # Reminder points before the deadline: "Nd" = N working days, "Nh" = N office hours.
    reminders: tuple[str, ...] = ("1d", "4h")
    callback_wait_days: int = 2
    whistle_accept_hours: float = 2.0
    unit_days: dict[str, int] = field(default_factory=dict)  # unit code -> working days
    category_days: dict[str, int] = field(default_factory=dict)

    def days_for(self, unit: Unit, category: str | None, matter_days: int | None = None
                 ) -> int:
        """The catalogue matter's own days first, then the unit's, the category's, the
        default."""
        if matter_days:
            return matter_days
        if unit.code in self.unit_days:
            return self.unit_days[unit.code]
        return self.category_days.get(category or "", self.working_days)


@dataclass
class Draft:
    """What a resident submits; validated by `submit`."""

    text: str
    title: str = ""
    photos: list[str] = field(default_factory=list)
    attachments: list[dict[str, str]] = field(default_factory=list)
    latitude: float | None = None
    longitude: float | None = None
    address: str = ""
    contact_phone: str | None = None
    phone_declined: bool = False  # 不留电话: no phone on this ticket, not even a known one
    place_id: int | None = None
    submission_key: str | None = None
    anonymous: bool = False  # 匿名反映: no phone kept, staff never see who asked
    matter: str | None = None  # the catalogue matter the resident picked when asked
    channel: str = "chat"  # chat | phone | counter (a dispatcher's 代录)


@dataclass(frozen=True)
class Route:
    """The routing decision the services hand over; unit None means triage."""

    unit_id: int | None
    category: str | None = None
    confidence: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # services.intake.RoutingRecord
    days: int | None = None  # the matter's own deadline, if the catalogue gives one


class Lifecycle:
    def __init__(self, session: AsyncSession, clock: Clock, calendar: WorkingCalendar,
                 policy: Policy | None = None) -> None:
        self.session = session
        self.clock = clock
        self.calendar = calendar
        self.policy = policy or Policy()
        self.notices = notices.Notices(session, calendar.tz)

    # -- reading -------------------------------------------------------------------------
    async def get(self, ticket_id: int) -> Ticket:
        ticket = await self.session.get(Ticket, ticket_id)
        if ticket is None:
            raise NotFound()
        return ticket

    def _days(self, ticket: Ticket, unit: Unit) -> int:
        """Working days for the ticket at `unit`: the routed matter's own days count only
        while the ticket is with the unit the matter named."""
        routing = ticket.routing or {}
        matter_days = routing.get("days") if routing.get("unit") == unit.code else None
        return self.policy.days_for(unit, ticket.category, matter_days)

    # -- transitions ---------------------------------------------------------------------
    async def submit(self, resident: Person, draft: Draft, route: Route | None) -> Ticket:
        """Create the ticket, then assign it (confident route) or send it to triage."""
        text = (draft.text or "").strip()
        if not text:
            raise InvalidInput("err_text_required")
        now = self.clock.now()
        ticket = Ticket(
            number=await self._next_number(now),
            submission_key=draft.submission_key,
            resident_id=resident.id,
            title=draft.title.strip()[:200],
            text=text[:MAX_TEXT],
            photos=list(draft.photos),
            attachments=list(draft.attachments),
            latitude=draft.latitude,
            longitude=draft.longitude,
            address=draft.address.strip()[:512],
            contact_phone=None if draft.phone_declined or draft.anonymous else (
                draft.contact_phone or resident.phone),
            anonymous=draft.anonymous,
            place_id=draft.place_id,
            state=S.SUBMITTED,
            category=route.category if route else None,
            routing=({"confidence": route.confidence, **route.details} if route else {}),
            channel=draft.channel,
            created_at=now,
            updated_at=now,
        )
        self.session.add(ticket)
        await self.session.flush()
        self._event(ticket, resident, A.SUBMIT, None, S.SUBMITTED)
        if route is not None and route.unit_id is not None:
            await self.assign(ticket, None, route.unit_id)
        else:
            await self.triage(ticket, None, t("triage_low_confidence"))
        return ticket

    async def triage(self, ticket: Ticket, actor: Person | None, note: str = "") -> None:
        self._check(ticket, A.TRIAGE, actor, dispatcher=True)
        await self._move(ticket, actor, A.TRIAGE, S.TRIAGE, note)
        await self.notices.triage(ticket, note, self.clock.now())

    async def assign(self, ticket: Ticket, actor: Person | None, unit_id: int,
                     assignee_id: int | None = None, note: str = "", *,
                     reroute: bool = False, router_wrong: bool = False) -> None:
        """Route to a unit (and grid worker).

        From triage a dispatcher's choice is a routing correction (learnable). Moving a
        ticket a unit already has is a deliberate re-route (`reroute`): the previous unit
        is told, and it is a correction only when the dispatcher says the router was
        wrong. An assignment nobody can receive (no bound staff of the unit, no bound
        worker of the grid) is refused to a dispatcher, and sends the router's choice to
        the dispatchers at once.
        """
        self._check(ticket, A.ASSIGN, actor, dispatcher=True)
        if actor is None and ticket.state != S.SUBMITTED:
            raise NotAllowed()
        moving = ticket.state in IN_WORK
        if moving and not reroute:  # e.g. a press on an old 【待分派】 card
            raise IllegalTransition(number=ticket.number, state=t(f"state_{ticket.state}"),
                                    action=t("action_assign"))
        unit = await self.session.get(Unit, unit_id)
        if unit is None or not unit.active:
            raise InvalidInput("err_unknown_unit")
        if assignee_id is None and ticket.place_id is not None:
            # The place's grid worker is the assignee: told, with the work buttons and the
            # ticket in 我的待办 also when the resident picked the community, not a grid.
            workers = await access.grid_worker_ids(self.session, ticket.place_id)
            assignee_id = workers[0] if workers else None
        if not await access.can_receive(self.session, unit.id, ticket.place_id, assignee_id):
            if actor is not None:
                raise InvalidInput("err_unit_nobody", unit=unit.name)
            await self.triage(ticket, None, t("triage_nobody", unit=unit.name))
            return
        now = self.clock.now()
        previous_unit, previous_assignee = ticket.unit_id, ticket.assignee_id
        corrected = actor is not None and (ticket.state == S.TRIAGE or router_wrong)
        ticket.unit_id = unit.id
        ticket.assignee_id = assignee_id
        days = self._days(ticket, unit)
        if ticket.state not in IN_WORK or previous_unit != unit.id:
            ticket.due_at = self.calendar.add_working_days(now, days)
            self._plan(ticket, now)
        if ticket.whistled_at is not None and actor is not None:
            # After a 吹哨 the chosen department must accept quickly, or it escalates again.
            ticket.accept_by = self.calendar.add_working_time(
                now, dt.timedelta(hours=self.policy.whistle_accept_hours))
        data: dict[str, Any] = {"unit_id": unit.id, "assignee_id": assignee_id,
                                "days": days}
        if moving:
            data["rerouted_from"] = previous_unit
        if corrected:
            # A dispatcher's choice differs from (or settles) the router's: learnable.
            data |= {"correction": True, "previous_unit_id": previous_unit,
                     "suggested_category": ticket.category}
        await self._move(ticket, actor, A.ASSIGN, S.ASSIGNED, note, data)
        await self.notices.assigned(ticket, unit, now, tell_resident=actor is not None)
        if moving and previous_unit not in (None, unit.id):
            await self.notices.rerouted_away(ticket, previous_unit, previous_assignee,
                                             unit, now)

    async def accept(self, ticket: Ticket, actor: Person) -> None:
        self._check(ticket, A.ACCEPT, actor, worker=True)
        if ticket.assignee_id is None:
            ticket.assignee_id = actor.id
        ticket.accept_by = ticket.whistled_at = None
        await self._move(ticket, actor, A.ACCEPT, S.ACCEPTED)
        await self.notices.accepted(ticket, self.clock.now())

    async def progress(self, ticket: Ticket, actor: Person, note: str,
                       photos: list[str] | None = None) -> None:
        """进展: a note (and photos) on the way; the resident is told."""
        self._check(ticket, A.PROGRESS, actor, worker=True)
        note, photos = (note or "").strip()[:MAX_TEXT], list(photos or [])
        if not note and not photos:
            raise InvalidInput("err_progress_required")
        await self._move(ticket, actor, A.PROGRESS, ticket.state, note, {"photos": photos})
        await self.notices.progress(ticket, note, photos, self.clock.now())

    async def transfer(self, ticket: Ticket, actor: Person, to: Person) -> None:
        """转派: hand to another worker of the same unit or grid; they must accept again."""
        self._check(ticket, A.TRANSFER, actor, worker=True)
        if to.id == ticket.assignee_id or not access.works_on(to, ticket):
            raise InvalidInput("err_transfer_target")
        previous = ticket.assignee_id
        ticket.assignee_id = to.id
        unit = await self.session.get(Unit, ticket.unit_id) if ticket.unit_id else None
        await self._move(ticket, actor, A.TRANSFER, S.ASSIGNED, "",
                         {"from": previous, "to": to.id})
        await self.notices.transferred(ticket, unit, to, self.clock.now())

    async def return_to_triage(self, ticket: Ticket, actor: Person, reason: str) -> None:
        """退单: the unit says "not ours"; the dispatcher decides again."""
        self._check(ticket, A.RETURN, actor, worker=True)
        reason = _required(reason, "err_reason_required")
        unit_id = ticket.unit_id
        ticket.assignee_id = None
        await self._move(ticket, actor, A.RETURN, S.TRIAGE, reason, {"unit_id": unit_id})
        await self.notices.returned(ticket, unit_id, reason, self.clock.now())

    async def escalate(self, ticket: Ticket, actor: Person | None, reason: str) -> None:
        """吹哨 / overdue: the state stays, the unit's leader and the intake centre are told."""
        self._check(ticket, A.ESCALATE, actor, worker=True, dispatcher=True)
        reason = _required(reason, "err_reason_required")
        now = self.clock.now()
        ticket.escalated_at = now
        ticket.escalation_count += 1
        await self._move(ticket, actor, A.ESCALATE, ticket.state, reason,
                         {"count": ticket.escalation_count})
        await self.notices.escalated(ticket, reason, now)

    async def whistle(self, ticket: Ticket, actor: Person, reason: str) -> None:
        """吹哨 by hand: the grid/community cannot solve it alone. It goes to the dispatchers
        with priority; the department they choose must accept in time or it escalates."""
        self._check(ticket, A.WHISTLE, actor, worker=True)
        reason = _required(reason, "err_reason_required")
        now = self.clock.now()
        ticket.whistled_at = now
        ticket.escalation_count += 1
        unit_id = ticket.unit_id
        await self._move(ticket, actor, A.WHISTLE, S.TRIAGE, reason, {"unit_id": unit_id})
        await self.notices.whistled(ticket, unit_id, reason, now)

    async def remind(self, ticket: Ticket, point: dt.datetime) -> None:
        """A reminder before the deadline (a sweep calls this); no state change."""
        self._check(ticket, A.REMIND, None)
        now = self.clock.now()
        ahead = [p for p in self.reminder_points(ticket.due_at) if p > point] if (
            ticket.due_at) else []
        ticket.remind_at = ahead[0] if ahead else None
        if ticket.due_at is not None and now >= ticket.due_at:
            # Sent late (the bot was down, or the reminder waited for office hours): "due at
            # 08:30" after 08:30 is wrong, and the overdue escalation says what is true.
            ticket.remind_at = None
            return
        ticket.reminders_sent += 1
        await self.notices.reminder(ticket, now)

    async def overdue(self, ticket: Ticket) -> None:
        """The deadline passed unresolved: escalate once per deadline (a sweep calls this)."""
        ticket.escalate_at = None
        await self.escalate(ticket, None, t("overdue_reason"))

    async def accept_late(self, ticket: Ticket) -> None:
        """A whistled ticket not accepted in time: escalate again, and again later."""
        ticket.accept_by = self.calendar.add_working_time(
            self.clock.now(), dt.timedelta(hours=self.policy.whistle_accept_hours))
        await self.escalate(ticket, None, t("accept_late_reason"))

    async def resolve(self, ticket: Ticket, actor: Person, result: str,
                      photos: list[str] | None = None) -> None:
        self._check(ticket, A.RESOLVE, actor, worker=True)
        result = _required(result, "err_result_required")
        now = self.clock.now()
        ticket.result_text = result[:MAX_TEXT]
        ticket.result_photos = list(photos or [])
        ticket.resolved_at = now
        # A caller without a chat (代录) cannot rate in chat: the callback is due at once.
        ticket.callback_at = now if ticket.channel != "chat" else self.calendar.add_working_days(
            now, self.policy.callback_wait_days)
        await self._move(ticket, actor, A.RESOLVE, S.RESOLVED, result,
                         {"on_time": ticket.due_at is None or now <= ticket.due_at})
        await self.notices.resolved(ticket, now)

    async def rate(self, ticket: Ticket, resident: Person, rating: Rating,
                   comment: str = "", *, solved: bool) -> None:
        """The resident's own answers to the callback questions: 问题是否解决 and 满意度."""
        self.check_rate(ticket, resident)
        await self._apply_rating(ticket, resident, A.RATE, Rating(rating), solved, comment)

    def check_rate(self, ticket: Ticket, resident: Person) -> None:
        """Refuse a rating before asking the second question (a stale or foreign button)."""
        self._check(ticket, A.RATE, resident, owner=True)

    async def follow_up(self, ticket: Ticket, resident: Person, text: str,
                        photos: list[str] | None = None) -> None:
        """The resident adds words or photos while the request is being worked on."""
        self._check(ticket, A.FOLLOW_UP, resident, owner=True)
        text, photos = (text or "").strip()[:MAX_TEXT], list(photos or [])
        if not text and not photos:
            raise InvalidInput("err_text_required")
        await self._move(ticket, resident, A.FOLLOW_UP, ticket.state, text, {"photos": photos})
        await self.notices.follow_up(ticket, text, photos, self.clock.now())

    async def mark_callback_due(self, ticket: Ticket) -> None:
        """No answer in time: callback staff must phone the resident. An anonymous request
        is rated in chat only: nobody may phone, so it closes as 未回访."""
        self._check(ticket, A.CALLBACK_DUE, None)
        if ticket.anonymous:
            await self.close(ticket, None, "no_callback", t("anonymous_no_callback"))
            return
        await self._move(ticket, None, A.CALLBACK_DUE, S.CALLBACK_DUE)
        await self.notices.callback_due(ticket, self.clock.now())
        if ticket.contact_phone:  # the message carries the full number
            audit.record(self.session, self.clock, None, "phone.sent", ticket.number,
                         "callback_due to callback staff")

    async def record_callback(self, ticket: Ticket, staff: Person, rating: Rating | None,
                              note: str = "", *, solved: bool | None = None) -> None:
        """Callback staff record the phoned answers (solved? and satisfaction); a rating of
        None means the resident was unreachable."""
        self.check_callback(ticket, staff)
        if rating is not None:
            if solved is None:
                raise InvalidInput("err_solved_required")
            await self._apply_rating(ticket, staff, A.CALLBACK, Rating(rating), solved, note)
            return
        ticket.callback_attempts += 1
        data = {"unreachable": True, "attempt": ticket.callback_attempts}
        await self._move(ticket, staff, A.CALLBACK, S.CALLBACK_DUE, note, data)
        if ticket.callback_attempts >= self.policy.max_unreachable:
            await self.close(ticket, None, "no_callback", note)

    def check_callback(self, ticket: Ticket, staff: Person) -> None:
        """Refuse a callback answer before asking the second question."""
        self._check(ticket, A.CALLBACK, staff, callback=True)

    async def close(self, ticket: Ticket, actor: Person | None, outcome: str,
                    note: str = "") -> None:
        """Close without a rating: unreachable (未回访), invalid or withdrawn requests."""
        self._check(ticket, A.CLOSE, actor, dispatcher=True)
        if outcome not in CLOSE_OUTCOMES - {"rated"}:
            raise ValueError(f"unknown outcome {outcome!r}")
        if actor is not None and outcome in ("invalid", "withdrawn"):
            note = _required(note, "err_reason_required")
        await self._finish(ticket, actor, A.CLOSE, outcome, note)
        await self.notices.closed(ticket, outcome, note, self.clock.now())

    async def deadline_days(self, ticket: Ticket) -> int:
        """The working days of the deadline this lifecycle set for the ticket's unit (the
        general policy while no unit has it yet)."""
        unit = await self.session.get(Unit, ticket.unit_id) if ticket.unit_id else None
        return (self._days(ticket, unit) if unit
                else self.policy.working_days)

    def ensure_allowed(self, ticket: Ticket, action: A | str, actor: Person) -> None:
        """Refuse a worker's action before asking them for its words (reason, result)."""
        self._check(ticket, A(action), actor, worker=True)

    # -- internals -----------------------------------------------------------------------
    async def _apply_rating(self, ticket: Ticket, actor: Person, action: A,
                            rating: Rating, solved: bool, comment: str) -> None:
        """未解决 reopens whatever the satisfaction; so does 不满意."""
        ticket.rating, ticket.solved = rating, bool(solved)
        answer = {"rating": rating.value, "solved": bool(solved)}
        if rating == Rating.UNSATISFIED or not solved:
            await self._reopen(ticket, actor, action, comment, answer)
            return
        await self._finish(ticket, actor, action, "rated", comment, answer)

    async def _reopen(self, ticket: Ticket, actor: Person, via: str, comment: str,
                      answer: dict[str, Any]) -> None:
        """退回重办: only ever reached through an answer 未解决 or 不满意."""
        now = self.clock.now()
        ticket.reopen_count += 1
        unit = await self.session.get(Unit, ticket.unit_id) if ticket.unit_id else None
        days = self._days(ticket, unit) if unit else self.policy.working_days
        ticket.due_at = self.calendar.add_working_days(now, days)
        self._plan(ticket, now)
        ticket.resolved_at = None
        ticket.callback_attempts = 0
        await self._move(ticket, actor, A.REOPEN, S.ASSIGNED, comment,
                         {**answer, "via": via, "count": ticket.reopen_count})
        await self.notices.reopened(ticket, comment, now)

    async def _finish(self, ticket: Ticket, actor: Person | None, action: A, outcome: str,
                      note: str, data: dict[str, Any] | None = None) -> None:
        ticket.outcome = outcome
        ticket.closed_at = self.clock.now()
        await self._move(ticket, actor, action, S.CLOSED, note,
                         {"outcome": outcome, **(data or {})})

    def reminder_points(self, due: dt.datetime) -> list[dt.datetime]:
        """The policy's reminder moments before `due`, always inside office hours."""
        points = []
        for spec in self.policy.reminders:
            amount, unit = float(spec[:-1]), spec[-1]
            if unit == "d":
                local = due.astimezone(self.calendar.tz).date()
                day = local
                for _ in range(int(amount)):
                    day = self.calendar.previous_workday(day)
                moment = self.calendar.clock_start(dt.datetime.combine(
                    day, due.astimezone(self.calendar.tz).timetz()))
            else:
                moment = self.calendar.working_time_before(due, dt.timedelta(hours=amount))
            points.append(moment)
        return sorted(set(points))

    def _plan(self, ticket: Ticket, now: dt.datetime) -> None:
        """A new deadline: the first reminder still ahead, and the escalation at the due."""
        assert ticket.due_at is not None
        ahead = [p for p in self.reminder_points(ticket.due_at) if p > now]
        ticket.remind_at = ahead[0] if ahead else None
        ticket.reminders_sent = 0
        ticket.escalate_at = ticket.due_at

    def _check(self, ticket: Ticket, action: A, actor: Person | None, *,
               worker: bool = False, dispatcher: bool = False, owner: bool = False,
               callback: bool = False) -> None:
        """Refuse an action by the wrong person, then from the wrong state.

        Who acts is checked first: someone who may not see the ticket learns nothing about
        it (not its number, not its state) — "未找到该工单", as for a ticket that does not
        exist. Only then the state, whose refusal names both.
        """
        if actor is not None and not self._may_act(ticket, actor, worker=worker,
                                                   dispatcher=dispatcher, owner=owner,
                                                   callback=callback):
            from services.work import may_see  # services.work reads tickets: no cycle

            raise NotAllowed() if may_see(actor, ticket) else NotFound()
        if ticket.state not in ALLOWED_FROM[action]:
            raise IllegalTransition(number=ticket.number, state=t(f"state_{ticket.state}"),
                                    action=t(f"action_{action}"))

    @staticmethod
    def _may_act(ticket: Ticket, actor: Person, *, worker: bool, dispatcher: bool,
                 owner: bool, callback: bool) -> bool:
        if not (worker or dispatcher or owner or callback):
            return True
        return ((dispatcher and access.may_dispatch(actor))
                or (worker and access.works_on(actor, ticket))
                or (owner and ticket.resident_id == actor.id)
                or (callback and (actor.has_role(Role.CALLBACK_STAFF)
                                  or access.may_dispatch(actor))))

    async def _move(self, ticket: Ticket, actor: Person | None, action: A, to: S,
                    note: str = "", data: dict[str, Any] | None = None) -> None:
        from_state = ticket.state
        ticket.state = to
        ticket.updated_at = self.clock.now()
        if to not in IN_WORK:  # nothing to remind or escalate any more
            ticket.remind_at = ticket.escalate_at = ticket.accept_by = None
        if to != S.RESOLVED:
            ticket.callback_at = None
        self._event(ticket, actor, action, from_state, to, note, data)
        try:
            await self.session.flush()
        except StaleDataError as exc:
            raise Conflict() from exc
        # The buttons on every copy of its cards change; a ticket leaving SUBMITTED was
        # created in this transaction (submit assigns or triages at once): nothing sent yet.
        if to != from_state and from_state != S.SUBMITTED:
            await self.notices.refresh_cards(ticket, self.clock.now())

    def _event(self, ticket: Ticket, actor: Person | None, action: A, from_state: S | None,
               to: S, note: str = "", data: dict[str, Any] | None = None) -> None:
        self.session.add(TicketEvent(
            ticket_id=ticket.id, actor_id=actor.id if actor else None, at=self.clock.now(),
            action=action.value, from_state=from_state, to_state=to, note=note, data=data or {},
        ))

    async def _next_number(self, now: dt.datetime) -> str:
        """MY + local date + per-day sequence; safe under concurrent submits."""
        day = now.astimezone(self.calendar.tz).strftime("%Y%m%d")
        insert = upsert_insert(self.session, TicketSequence).values(day=day, last=1)
        seq = await self.session.scalar(
            insert.on_conflict_do_update(index_elements=[TicketSequence.day],
                                         set_={"last": TicketSequence.last + 1})
            .returning(TicketSequence.last))
        return f"MY{day}-{seq:04d}"


def _required(value: str, key: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(key)
    return value
