"""Buttons of pushed messages (assignment, triage, rating, callback) and of staff views.

Services describe a keyboard abstractly (`outbox.keyboard(Keyboard.ASSIGNMENT, ticket_id=7)`)
so they never import aiogram; `render_keyboard` turns that into buttons when the outbox
sender sends the row. Every press is re-checked against the database by the handler.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup

from handlers.keyboard_builder import InlineKeyboardBuilder
from handlers.keyboards import Id
from models import EventAction, Rating, Ticket, TicketState, Unit
from services.outbox import Keyboard
from services.texts import plain, t
from services.tickets import ALLOWED_FROM


class WorkAction(enum.StrEnum):
    """A worker's button on a ticket card (one handler each in handlers/staff.py)."""

    ACCEPT = "accept"
    RETURN = "return"  # 退单: asks the reason
    WHISTLE = "whistle"  # 吹哨: asks the reason
    PROGRESS = "progress"  # 进展: asks the note
    RESOLVE = "resolve"  # 办结: asks the result
    TRANSFER = "transfer"  # 转派: shows the workers to pick
    TO = "to"  # 转派 to the picked worker (arg)
    DETAIL = "detail"


# The lifecycle action each card button starts (services/tickets.ALLOWED_FROM says from
# which states), in the order the card shows them. DETAIL comes last on every card.
CARD_ACTIONS: dict[WorkAction, EventAction] = {
    WorkAction.ACCEPT: EventAction.ACCEPT,
    WorkAction.PROGRESS: EventAction.PROGRESS,
    WorkAction.RESOLVE: EventAction.RESOLVE,
    WorkAction.RETURN: EventAction.RETURN,
    WorkAction.TRANSFER: EventAction.TRANSFER,
    WorkAction.WHISTLE: EventAction.WHISTLE,
}
# Where a card deliberately offers less than the lifecycle allows, and why. A transition
# added to ALLOWED_FROM shows up on the cards unless it is named here.
NOT_ON_CARD: dict[tuple[TicketState, WorkAction], str] = {
    (TicketState.ASSIGNED, WorkAction.TRANSFER):
        "the assignment reaches the unit's staff and the grid's workers alike: whoever "
        "can take it accepts; 转派 names one person once it is someone's",
    (TicketState.ACCEPTED, WorkAction.RETURN):
        "once accepted, the ticket is the worker's: not theirs after all is 转派 or 吹哨; "
        "退单 (a wrong unit) is decided before accepting",
}


def card_actions(state: TicketState) -> tuple[WorkAction, ...]:
    """The buttons a ticket card offers in `state`: the worker actions the lifecycle allows
    from it, less NOT_ON_CARD, then 详情; () when none is allowed."""
    actions = tuple(action for action, event in CARD_ACTIONS.items()
                    if state in ALLOWED_FROM[event] and (state, action) not in NOT_ON_CARD)
    return (*actions, WorkAction.DETAIL) if actions else ()
class WorkCb(CallbackData, prefix="wk"):
    """A grid worker's / unit's action on a ticket."""

    action: WorkAction
    id: Id
    arg: Id = 0  # transfer: the chosen person's id


class TriageAction(enum.StrEnum):
    OPEN = "open"  # a pushed 【待分派】 message: show the card
    ASSIGN = "assign"  # arg: the unit
    UNITS = "units"  # arg: the page of every active unit


class TriageCb(CallbackData, prefix="tr"):
    action: TriageAction
    id: Id
    arg: Id = 0  # unit id (assign) or page (units)


class RerouteAction(enum.StrEnum):
    UNITS = "units"  # arg: the page of units
    PICK = "pick"  # arg: the unit; asks for the confirmation
    GO = "go"  # arg: the unit; `wrong`: the router was wrong


class RerouteCb(CallbackData, prefix="rr"):
    """A dispatcher's deliberate 改派 of a ticket a unit already has."""

    action: RerouteAction
    id: Id
    arg: Id = 0  # page (units) or the chosen unit's id
    wrong: bool = False  # go: the router was wrong (a routing correction)


class RateCb(CallbackData, prefix="rt"):
    """The resident's two answers: first 已解决/未解决 (rating empty), then the satisfaction
    (carrying the first answer). Nothing is recorded before the second press."""

    id: Id
    solved: bool
    rating: Rating | None = None


class CallbackCb(CallbackData, prefix="cb"):
    """Callback staff: the same two answers as the resident's, or 无法联系."""

    id: Id
    solved: bool | None = None  # None with unreachable
    rating: Rating | None = None
    unreachable: bool = False


def work_buttons(ticket: Ticket) -> InlineKeyboardMarkup | None:
    """The buttons an assignment message shows in the ticket's current state."""
    return card_buttons(ticket.id, TicketState(ticket.state))


def card_buttons(ticket_id: int, state: TicketState) -> InlineKeyboardMarkup | None:
    """`work_buttons` from the ticket's id and state alone (the outbox sender reads no more
    than that for each card it sends or edits)."""
    kb = InlineKeyboardBuilder()
    actions = card_actions(state)
    if not actions:
        return None
    for action in actions:
        kb.button(text=t(f"btn_work_{action}"), callback_data=WorkCb(action=action,
                                                                     id=ticket_id))
    kb.adjust(2)
    return kb.as_markup()


def transfer_buttons(ticket: Ticket, people: Sequence[tuple[int, str]]
                     ) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for person_id, name in people:
        kb.button(text=name, callback_data=WorkCb(action=WorkAction.TO, id=ticket.id,
                                                       arg=person_id))
    kb.adjust(2)
    return kb.as_markup()


def triage_buttons(ticket: Ticket, suggestions: Sequence[Unit], units_page: int | None = None,
                   units: Sequence[Unit] = (), pages: int = 1,
                   nobody: Collection[int] = ()) -> InlineKeyboardMarkup:
    """`nobody`: units no one would receive the ticket in: marked, so the dispatcher is
    warned before pressing (a press is refused with the reason)."""
    kb = InlineKeyboardBuilder()
    for unit in suggestions:
        key = "btn_triage_assign_nobody" if unit.id in nobody else "btn_triage_assign"
        kb.button(text=plain(key, unit=unit.name),
                  callback_data=TriageCb(action=TriageAction.ASSIGN, id=ticket.id, arg=unit.id))
    for unit in units:
        kb.button(text=plain("btn_unit_nobody", unit=unit.name) if unit.id in nobody
                  else unit.name,
                  callback_data=TriageCb(action=TriageAction.ASSIGN, id=ticket.id, arg=unit.id))
    widths = [1] * len(suggestions) + [2] * ((len(units) + 1) // 2)
    if units_page is None:
        kb.button(text=t("btn_triage_other"),
                  callback_data=TriageCb(action=TriageAction.UNITS, id=ticket.id, arg=0))
        widths.append(1)
    else:
        nav = 0
        if units_page > 0:
            kb.button(text=t("btn_prev"), callback_data=TriageCb(
                action=TriageAction.UNITS, id=ticket.id, arg=units_page - 1))
            nav += 1
        if units_page < pages - 1:
            kb.button(text=t("btn_next"), callback_data=TriageCb(
                action=TriageAction.UNITS, id=ticket.id, arg=units_page + 1))
            nav += 1
        if nav:
            widths.append(nav)
    kb.adjust(*widths)
    return kb.as_markup()


def solved_buttons(ticket_id: int) -> InlineKeyboardMarkup:
    """问题是否解决：已解决 / 未解决 (the first of the resident's two questions)."""
    kb = InlineKeyboardBuilder()
    for solved in (True, False):
        kb.button(text=plain(f"solved_{str(solved).lower()}"),
                  callback_data=RateCb(id=ticket_id, solved=solved))
    kb.adjust(2)
    return kb.as_markup()


def satisfaction_buttons(ticket_id: int, solved: bool) -> InlineKeyboardMarkup:
    """满意度：满意 / 基本满意 / 不满意, carrying the answer to the first question."""
    kb = InlineKeyboardBuilder()
    for rating in Rating:
        kb.button(text=plain(f"rating_{rating.value}"),
                  callback_data=RateCb(id=ticket_id, solved=solved, rating=rating))
    kb.adjust(3)
    return kb.as_markup()


def callback_buttons(ticket_id: int, solved: bool | None = None) -> InlineKeyboardMarkup:
    """The callback staff's script: 已解决/未解决 (or 无法联系), then the satisfaction."""
    kb = InlineKeyboardBuilder()
    if solved is None:
        for answer in (True, False):
            kb.button(text=plain(f"solved_{str(answer).lower()}"),
                      callback_data=CallbackCb(id=ticket_id, solved=answer))
    else:
        for rating in Rating:
            kb.button(text=plain(f"rating_{rating.value}"),
                      callback_data=CallbackCb(id=ticket_id, solved=solved, rating=rating))
    kb.button(text=plain("rating_unreachable"),
              callback_data=CallbackCb(id=ticket_id, solved=solved, unreachable=True))
    kb.adjust(2 if solved is None else 3, 1)
    return kb.as_markup()


def render_keyboard(spec: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
    """The markup for an outbox row's abstract keyboard. A kind `Keyboard` does not name
    (or one that is not a keyboard) raises ValueError: the sender fails that row loudly
    rather than sending a message whose buttons silently went missing."""
    if not spec:
        return None
    kind, args = Keyboard(spec.get("kind")), spec.get("args") or {}
    ticket_id = int(args.get("ticket_id", 0))
    kb = InlineKeyboardBuilder()
    if kind == Keyboard.ASSIGNMENT:
        for action in card_actions(TicketState.ASSIGNED):
            kb.button(text=t(f"btn_work_{action}"), callback_data=WorkCb(action=action,
                                                                         id=ticket_id))
        kb.adjust(2)
        return kb.as_markup()
    if kind == Keyboard.TRIAGE:
        kb.button(text=t("btn_triage_open"), callback_data=TriageCb(action=TriageAction.OPEN,
                                                                    id=ticket_id))
        return kb.as_markup()
    if kind == Keyboard.RATING:
        return solved_buttons(ticket_id)
    if kind == Keyboard.CALLBACK:
        return callback_buttons(ticket_id)
    if kind in (Keyboard.ERRAND, Keyboard.WISH):
        from handlers import errand_keyboards

        return (errand_keyboards.render(args) if kind == Keyboard.ERRAND
                else errand_keyboards.render_wish(args))
    raise ValueError(f"outbox keyboard {kind!r} is not rendered as buttons")
