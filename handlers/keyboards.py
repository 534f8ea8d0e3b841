"""CallbackData factories and keyboards of the resident's chat.

Callback data is at most 64 bytes: it carries ids and the draft key, never text. Every
handler re-checks what a button names (owner, state, draft key): buttons can be stale or
forged.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from pydantic import Field

from handlers import menus
from handlers.keyboard_builder import InlineKeyboardBuilder
from models import Person
from services.places import PlaceRow
from services.texts import TEXTS, plain, t

# A database id or page number: forged data out of range (a negative number, one too big
# for the database's integer) does not match the factory, so no handler sees it and the
# fallback answers "this button is out of date".
Id = Annotated[int, Field(ge=0, lt=2**31)]

class ReportAction(enum.StrEnum):
    """A button of the 我要反映 summary (one handler each in handlers/report.py)."""

    SUBMIT = "submit"
    EDIT_TEXT = "edit_text"
    EDIT_PLACE = "edit_place"
    EDIT_PHONE = "edit_phone"
    CANCEL = "cancel"


class ReportCb(CallbackData, prefix="rp"):
    """A button of the submit conversation; `key` ties it to one draft."""

    action: ReportAction
    key: str


class PlaceCb(CallbackData, prefix="pl"):
    """Walk the place tree: open a place (its children) or choose it (final)."""

    id: Id  # 0: back to the list of towns
    final: bool = False
    key: str


class MatterCb(CallbackData, prefix="mt"):
    """The resident's answer to "这件事更接近哪一项？": an index into the draft's offers."""

    pick: Annotated[int, Field(ge=-1, le=2)]  # 0..2: an offered matter; -1: 都不是 / 说不清
    key: str


def menu_texts() -> frozenset[str]:
    """Menu buttons win over a conversation's free-text step (they are not descriptions)."""
    return frozenset(t(k) for k in ("btn_report", "btn_my", "btn_appointment", "btn_errand",
                                     "btn_help", "btn_cancel")) | menus.button_texts()


def button_texts() -> frozenset[str]:
    """Every reply-keyboard button's words (不留电话, 取消…): typed or left over from a
    finished step, they are never a description."""
    return menu_texts() | frozenset(v for k, v in TEXTS.items()
                                    if k.startswith("btn_") and "{" not in v)


def main_menu(me: Person | None = None) -> ReplyKeyboardMarkup:
    """The persistent menu: staff get their role's buttons, everyone else the resident's."""
    if menus.is_staff(me):
        assert me is not None
        return menus.staff_menu(me)
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=t("btn_report")), KeyboardButton(text=t("btn_my"))],
                  [KeyboardButton(text=t("btn_appointment")),
                   KeyboardButton(text=t("btn_errand"))],
                  [KeyboardButton(text=t("btn_help"))]],
        resize_keyboard=True, is_persistent=True)


def cancel_only() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text=t("btn_cancel"))]],
                               resize_keyboard=True)


def ask_location() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=t("btn_send_location"), request_location=True)],
                  [KeyboardButton(text=t("btn_cancel"))]],
        resize_keyboard=True, one_time_keyboard=True)


def ask_phone(known_masked: str) -> ReplyKeyboardMarkup:
    rows = [[KeyboardButton(text=t("btn_share_contact"), request_contact=True)]]
    if known_masked:
        rows.append([KeyboardButton(text=plain("btn_use_phone", phone=known_masked))])
    rows.append([KeyboardButton(text=t("btn_no_phone")), KeyboardButton(text=t("btn_anonymous"))])
    rows.append([KeyboardButton(text=t("btn_cancel"))])
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, one_time_keyboard=True)


def place_choices(places: Sequence[PlaceRow], key: str, *,
                  suggested: Sequence[PlaceRow] = (), current: PlaceRow | None = None,
                  final_children: bool = False
                  ) -> InlineKeyboardMarkup:
    """Suggested places first (found in the description), then the level's places."""
    kb = InlineKeyboardBuilder()
    for place in suggested:
        kb.button(text=plain("btn_suggested_place", name=place.name),
                  callback_data=PlaceCb(id=place.id, final=True, key=key))
    for place in places:
        kb.button(text=place.name,
                  callback_data=PlaceCb(id=place.id, final=final_children, key=key))
    if current is not None:
        # Below a town the communities are listed: not knowing which is not "no grid".
        kb.button(text=plain("btn_place_here" if final_children else "btn_place_here_town",
                             name=current.name),
                  callback_data=PlaceCb(id=current.id, final=True, key=key))
        kb.button(text=t("btn_back"), callback_data=PlaceCb(id=0, key=key))
    widths = [1] * len(suggested) + [2] * ((len(places) + 1) // 2)
    if current is not None:
        widths += [1, 1]
    kb.adjust(*widths)
    return kb.as_markup()


def matter_choices(names: Sequence[str], key: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for i, name in enumerate(names):
        kb.button(text=name, callback_data=MatterCb(pick=i, key=key))
    kb.button(text=plain("btn_matter_none"), callback_data=MatterCb(pick=-1, key=key))
    kb.adjust(1)
    return kb.as_markup()


def confirm(key: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("btn_confirm"), callback_data=ReportCb(action=ReportAction.SUBMIT,
                                                             key=key))
    for action in (ReportAction.EDIT_TEXT, ReportAction.EDIT_PLACE, ReportAction.EDIT_PHONE):
        kb.button(text=t(f"btn_{action}"), callback_data=ReportCb(action=action, key=key))
    kb.button(text=t("btn_cancel"), callback_data=ReportCb(action=ReportAction.CANCEL,
                                                            key=key))
    kb.adjust(1, 3, 1)
    return kb.as_markup()
