"""Every CallbackData and keyboard of 红色代办, in one module.

The buttons on an errand are derived from the lifecycle's transition table
(`errands.actions_for(state, party)`), never listed again here. Callback data carry ids
and the draft key only; every press is re-checked (who, which errand, which state).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup

from handlers.keyboard_builder import InlineKeyboardBuilder
from handlers.keyboards import Id
from models import Errand, ErrandState, Person, Place, Venue, WishState
from services import wishes
from services.errands import CARE, WINDOWS, ErrandAction, Party, actions_for
from services.texts import WEEKDAYS, plain
from services.wishes import WishAction, WishParty


class ErrandCb(CallbackData, prefix="er"):
    """A press on an errand by its orderer, organiser or volunteer."""

    action: ErrandAction
    id: Id
    arg: Id = 0  # ASSIGN: the chosen volunteer (0: show the day's rota)


class Step(enum.StrEnum):
    TOWN = "town"  # many 驿站: the town first
    VENUE = "venue"
    ITEM = "item"
    WHOM = "whom"
    CARE = "care"
    DAY = "day"
    WINDOW = "window"
    CONFIRM = "confirm"


class OrderCb(CallbackData, prefix="eo"):
    """A choice in the 点单 conversation; `key` ties it to one draft."""

    step: Step
    value: Id  # index into the offered choices, or a venue id
    key: str


def _choices(labels: list[str], step: Step, key: str, width: int = 2) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for i, label in enumerate(labels):
        kb.button(text=label, callback_data=OrderCb(step=step, value=i, key=key))
    kb.adjust(width)
    return kb.as_markup()


def towns(found: list[tuple[Place, list[Venue]]], key: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for town, venues_there in found:
        kb.button(text=plain("errand_town_button", town=town.name, n=len(venues_there)),
                  callback_data=OrderCb(step=Step.TOWN, value=town.id, key=key))
    kb.adjust(2)
    return kb.as_markup()


def venues(found: list[Venue], key: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for venue in found:
        kb.button(text=venue.name, callback_data=OrderCb(step=Step.VENUE, value=venue.id,
                                                         key=key))
    kb.adjust(1)
    return kb.as_markup()


def items(menu: list[str], key: str) -> InlineKeyboardMarkup:
    return _choices(menu, Step.ITEM, key)


WHOM = ("btn_errand_self", "btn_errand_other")


def whom(key: str) -> InlineKeyboardMarkup:
    return _choices([plain(k) for k in WHOM], Step.WHOM, key)


def care(key: str) -> InlineKeyboardMarkup:
    return _choices([plain(f"errand_care_{c}") for c in CARE], Step.CARE, key)


def day_label(day: dt.date) -> str:
    return f"{day.month}月{day.day}日 周{WEEKDAYS[day.weekday()]}"


def days(choices: list[dt.date], key: str) -> InlineKeyboardMarkup:
    return _choices([day_label(d) for d in choices], Step.DAY, key, width=3)


def windows(key: str) -> InlineKeyboardMarkup:
    return _choices([plain(f"errand_window_{w}") for w in WINDOWS], Step.WINDOW, key, 3)


def confirm(key: str) -> InlineKeyboardMarkup:
    return _choices([plain("btn_errand_confirm"), plain("btn_cancel")], Step.CONFIRM, key)


def actions(errand_id: int, state: ErrandState, party: Party) -> InlineKeyboardMarkup | None:
    """The buttons `party` has on an errand in `state`, from the transition table."""
    allowed = actions_for(state, party)
    if not allowed:
        return None
    kb = InlineKeyboardBuilder()
    for action in allowed:
        kb.button(text=plain(f"btn_errand_{action}"),
                  callback_data=ErrandCb(action=action, id=errand_id))
    kb.adjust(3 if party == Party.ORDERER else 2)
    return kb.as_markup()


def for_errand(errand: Errand, party: Party) -> InlineKeyboardMarkup | None:
    return actions(errand.id, errand.state, party)


def rota(errand_id: int, people: list[Person], held: dict[int, int],
         capacity: int) -> InlineKeyboardMarkup:
    """The day's rota, each with the errands they hold (of `capacity`, when there is one)."""
    kb = InlineKeyboardBuilder()
    for person in people:
        name = person.name or str(person.id)
        kb.button(text=plain("errand_rota_load", name=name, held=held.get(person.id, 0),
                             limit=capacity) if capacity else name,
                  callback_data=ErrandCb(action=ErrandAction.ASSIGN, id=errand_id,
                                         arg=person.id))
    kb.adjust(2)
    return kb.as_markup()


def render(args: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """An outbox row's abstract errand keyboard ({errand_id, party, state})."""
    return actions(int(args["errand_id"]), ErrandState(args["state"]), Party(args["party"]))


# -- 微心愿 -----------------------------------------------------------------------------
class WishCb(CallbackData, prefix="wi"):
    action: WishAction
    id: Id


class WishVenueCb(CallbackData, prefix="wv"):
    """The 驿站 (or, with many, first its town) chosen for a new wish; `key` ties it to
    one draft."""

    id: Id
    key: str
    town: bool = False


def wish_venues(found: list[Venue], key: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for venue in found:
        kb.button(text=venue.name, callback_data=WishVenueCb(id=venue.id, key=key))
    kb.adjust(1)
    return kb.as_markup()


def wish_towns(found: list[tuple[Place, list[Venue]]], key: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for town, venues_there in found:
        kb.button(text=plain("errand_town_button", town=town.name, n=len(venues_there)),
                  callback_data=WishVenueCb(id=town.id, key=key, town=True))
    kb.adjust(2)
    return kb.as_markup()


def wish_actions(wish_id: int, state: WishState,
                 party: WishParty) -> InlineKeyboardMarkup | None:
    """The buttons `party` has on a wish in `state`, from the wish transition table."""
    allowed = wishes.actions_for(state, party)
    if not allowed:
        return None
    kb = InlineKeyboardBuilder()
    for action in allowed:
        kb.button(text=plain(f"btn_wish_{action}"), callback_data=WishCb(action=action,
                                                                         id=wish_id))
    kb.adjust(2)
    return kb.as_markup()


def render_wish(args: dict[str, Any]) -> InlineKeyboardMarkup | None:
    return wish_actions(int(args["wish_id"]), WishState(args["state"]), WishParty(args["party"]))
