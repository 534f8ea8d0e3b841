"""The outbox messages each lifecycle transition causes: who is told what."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import OutboxMessage, OutboxState, Person, Role, Ticket, TicketState, Unit
from services import access, places
from services.access import Audience
from services.outbox import CARDS, NORMAL, URGENT, Keyboard, enqueue, keyboard
from services.texts import answer_words, esc, fmt_moment, t

# Each user-written part is clipped on its own, so no message exceeds Telegram's 4,096
# characters and none is ever cut as a whole.
TEXT, REASON = 2400, 1000

DISPATCH = Audience(Role.DISPATCHER)


class Notices:
    def __init__(self, session: AsyncSession, tz: ZoneInfo) -> None:
        self.session = session
        self.tz = tz
        self._chats: dict[tuple[Audience, ...], list[int]] = {}

    async def _chat_ids(self, *queries: Audience) -> list[int]:
        """access.chat_ids, remembered for this transaction (a sweep tells one unit's
        staff about many tickets)."""
        if queries not in self._chats:
            self._chats[queries] = await access.chat_ids(self.session, *queries)
        return list(self._chats[queries])

    async def _unit_name(self, unit_id: int | None) -> str:
        unit = await self.session.get(Unit, unit_id) if unit_id else None
        return unit.name if unit else "—"

    async def _place_name(self, place_id: int | None) -> str:
        place = await places.find(self.session, place_id)
        return place.name if place else t("no_grid")

    async def _resident_chat(self, ticket: Ticket) -> list[int]:
        chat = await access.chat_of(self.session, ticket.resident_id)
        return [chat] if chat is not None else []

    def _due(self, ticket: Ticket) -> str:
        return fmt_moment(ticket.due_at, self.tz)

    async def _workers(self, ticket: Ticket, *, leaders: bool = False) -> list[int]:
        queries = [Audience(Role.UNIT_STAFF, unit_id=ticket.unit_id),
                   Audience(Role.GRID_WORKER, place_id=ticket.place_id)]
        if leaders:
            queries.append(Audience(Role.UNIT_LEADER, unit_id=ticket.unit_id))
        chats = await self._chat_ids(*queries)
        assignee = await access.chat_of(self.session, ticket.assignee_id)
        if assignee is not None and assignee not in chats:
            chats.append(assignee)
        return chats

    async def assigned(self, ticket: Ticket, unit: Unit, now: dt.datetime, *,
                       tell_resident: bool) -> None:
        text = t("ob_assignment", number=ticket.number, unit=unit.name,
                 place=await self._place_name(ticket.place_id), due=self._due(ticket),
                 text=esc(ticket.text, TEXT))
        enqueue(self.session, await self._workers(ticket), kind="assignment", text=text,
                now=now, ticket_id=ticket.id, photos=ticket.photos, priority=URGENT,
                markup=keyboard(Keyboard.ASSIGNMENT, ticket_id=ticket.id))
        if tell_resident:
            enqueue(self.session, await self._resident_chat(ticket), kind="reassigned",
                    text=t("ob_reassigned_resident", number=ticket.number, unit=unit.name,
                           due=self._due(ticket)), now=now, ticket_id=ticket.id)

    async def rerouted_away(self, ticket: Ticket, previous_unit_id: int,
                            previous_assignee_id: int | None, unit: Unit,
                            now: dt.datetime) -> None:
        """The unit a dispatcher moved the ticket away from: it need not work on it."""
        chats = await self._chat_ids(Audience(Role.UNIT_STAFF, unit_id=previous_unit_id),
                                     Audience(Role.UNIT_LEADER, unit_id=previous_unit_id))
        if previous_assignee_id and previous_assignee_id != ticket.assignee_id:
            assignee = await access.chat_of(self.session, previous_assignee_id)
            if assignee is not None:
                chats.append(assignee)
        enqueue(self.session, chats, kind="rerouted", now=now, ticket_id=ticket.id,
                priority=URGENT,
                text=t("ob_rerouted_away", number=ticket.number, unit=unit.name,
                       previous=await self._unit_name(previous_unit_id)))

    async def refresh_cards(self, ticket: Ticket, now: dt.datetime) -> None:
        """Every copy of the ticket's cards already sent (assignments, reminders with
        buttons, 【待分派】) gets the buttons of the ticket's new state: one edit per copy,
        through the outbox like any push."""
        sent = await self.session.execute(
            sa.select(OutboxMessage.chat_id, OutboxMessage.tg_message_id,
                      OutboxMessage.keyboard)
            .where(OutboxMessage.ticket_id == ticket.id,
                   OutboxMessage.state == OutboxState.SENT,
                   OutboxMessage.tg_message_id.is_not(None))
            .order_by(OutboxMessage.id))
        for chat_id, message_id, spec in sent:
            card = (spec or {}).get("kind")
            if card in CARDS:
                enqueue(self.session, [chat_id], kind="card_edit", text="", now=now,
                        ticket_id=ticket.id, priority=URGENT,
                        markup=keyboard(Keyboard.EDIT, card=card, ticket_id=ticket.id,
                                        message_id=message_id))

    async def triage(self, ticket: Ticket, reason: str, now: dt.datetime) -> None:
        enqueue(self.session, await self._chat_ids(DISPATCH), kind="triage",
                text=t("ob_triage", number=ticket.number, reason=esc(reason, REASON),
                       text=esc(ticket.text, TEXT)),
                now=now, ticket_id=ticket.id,
                markup=keyboard(Keyboard.TRIAGE, ticket_id=ticket.id))

    async def accepted(self, ticket: Ticket, now: dt.datetime) -> None:
        enqueue(self.session, await self._resident_chat(ticket), kind="accepted",
                text=t("ob_accepted", number=ticket.number,
                       unit=await self._unit_name(ticket.unit_id), due=self._due(ticket)),
                now=now, ticket_id=ticket.id)

    async def returned(self, ticket: Ticket, unit_id: int | None, reason: str,
                       now: dt.datetime) -> None:
        enqueue(self.session, await self._chat_ids(DISPATCH), kind="returned",
                text=t("ob_returned", number=ticket.number,
                       unit=await self._unit_name(unit_id), reason=esc(reason, REASON),
                       text=esc(ticket.text, TEXT)),
                now=now, ticket_id=ticket.id,
                markup=keyboard(Keyboard.TRIAGE, ticket_id=ticket.id))

    async def escalated(self, ticket: Ticket, reason: str, now: dt.datetime) -> None:
        chats = await self._chat_ids(Audience(Role.UNIT_LEADER, unit_id=ticket.unit_id),
                                      DISPATCH)
        enqueue(self.session, chats, kind="escalation", priority=URGENT,
                text=t("ob_escalated", number=ticket.number,
                       unit=await self._unit_name(ticket.unit_id), reason=esc(reason, REASON),
                       due=self._due(ticket)),
                now=now, ticket_id=ticket.id)

    async def resolved(self, ticket: Ticket, now: dt.datetime) -> None:
        enqueue(self.session, await self._resident_chat(ticket), kind="result",
                text=t("ob_resolved", number=ticket.number,
                       result=esc(ticket.result_text, 3000)),
                photos=ticket.result_photos, now=now, ticket_id=ticket.id,
                markup=keyboard(Keyboard.RATING, ticket_id=ticket.id))

    async def reopened(self, ticket: Ticket, comment: str, now: dt.datetime) -> None:
        enqueue(self.session, await self._workers(ticket, leaders=True), kind="reopened",
                text=t("ob_reopened", number=ticket.number, count=ticket.reopen_count,
                       answer=answer_words(ticket.solved, ticket.rating),
                       comment=t("ob_reopened_comment", comment=esc(comment, REASON))
                       if comment else "", due=self._due(ticket)),
                now=now, ticket_id=ticket.id, priority=URGENT,
                markup=keyboard(Keyboard.ASSIGNMENT, ticket_id=ticket.id))
        enqueue(self.session, await self._resident_chat(ticket), kind="reopened_resident",
                text=t("ob_reopened_resident", number=ticket.number,
                       unit=await self._unit_name(ticket.unit_id), due=self._due(ticket)),
                now=now, ticket_id=ticket.id)

    async def progress(self, ticket: Ticket, note: str, photos: list[str],
                       now: dt.datetime) -> None:
        enqueue(self.session, await self._resident_chat(ticket), kind="progress",
                photos=photos, now=now, ticket_id=ticket.id,
                text=t("ob_progress", number=ticket.number,
                       unit=await self._unit_name(ticket.unit_id),
                       note=esc(note, 3000) or t("photo_only")))

    async def transferred(self, ticket: Ticket, unit: Unit | None, to: Person,
                          now: dt.datetime) -> None:
        if not to.tg_user_id:
            return
        text = t("ob_assignment", number=ticket.number, unit=unit.name if unit else "—",
                 place=await self._place_name(ticket.place_id), due=self._due(ticket),
                 text=esc(ticket.text, TEXT))
        enqueue(self.session, [to.tg_user_id], kind="assignment", now=now,
                text=t("ob_transferred") + "\n" + text, ticket_id=ticket.id,
                photos=ticket.photos, priority=URGENT,
                markup=keyboard(Keyboard.ASSIGNMENT, ticket_id=ticket.id))

    async def whistled(self, ticket: Ticket, unit_id: int | None, reason: str,
                       now: dt.datetime) -> None:
        enqueue(self.session, await self._chat_ids(DISPATCH), kind="whistle",
                priority=URGENT, now=now, ticket_id=ticket.id,
                markup=keyboard(Keyboard.TRIAGE, ticket_id=ticket.id),
                text=t("ob_whistle", number=ticket.number,
                       unit=await self._unit_name(unit_id), reason=esc(reason, REASON),
                       text=esc(ticket.text, TEXT)))

    async def reminder(self, ticket: Ticket, now: dt.datetime) -> None:
        queries = [Audience(Role.UNIT_STAFF, unit_id=ticket.unit_id)]
        chats = await self._chat_ids(*queries)
        assignee = await access.chat_of(self.session, ticket.assignee_id)
        if assignee is not None:
            chats = [assignee, *chats]
        enqueue(self.session, chats, kind="reminder", priority=NORMAL, now=now,
                ticket_id=ticket.id, markup=keyboard(Keyboard.ASSIGNMENT, ticket_id=ticket.id)
                if ticket.state == TicketState.ASSIGNED else None,
                text=t("ob_reminder", number=ticket.number, due=self._due(ticket),
                       state=t(f"state_{ticket.state}"), text=esc(ticket.text, 200)))

    async def follow_up(self, ticket: Ticket, text: str, photos: list[str],
                        now: dt.datetime) -> None:
        """To whoever holds the ticket now: its workers, or the dispatchers in triage."""
        chats = (await self._chat_ids(DISPATCH) if ticket.unit_id is None
                 or ticket.state == TicketState.TRIAGE else await self._workers(ticket))
        enqueue(self.session, chats, kind="follow_up", photos=photos, now=now,
                ticket_id=ticket.id,
                text=t("ob_follow_up", number=ticket.number,
                       text=esc(text, 3000) or t("photo_only")))

    async def callback_due(self, ticket: Ticket, now: dt.datetime) -> None:
        chats = await self._chat_ids(Audience(Role.CALLBACK_STAFF))
        enqueue(self.session, chats, kind="callback_due", priority=NORMAL,
                text=t("ob_callback_due", number=ticket.number,
                       phone=ticket.contact_phone or t("no_phone")),
                now=now, ticket_id=ticket.id,
                markup=keyboard(Keyboard.CALLBACK, ticket_id=ticket.id))

    async def closed(self, ticket: Ticket, outcome: str, note: str, now: dt.datetime) -> None:
        enqueue(self.session, await self._resident_chat(ticket), kind="closed",
                # Unreachable for the callback: the work was done, so 已办结, not 已关闭.
                text=t("ob_closed_no_callback" if outcome == "no_callback"
                       else "ob_closed_resident", number=ticket.number,
                       outcome=t(f"outcome_{outcome}"), note=esc(note, REASON)),
                now=now, ticket_id=ticket.id)
