"""代录 (/record): a dispatcher registers a request taken by phone or at the counter.

Steps: channel (电话/窗口) → caller's name → phone → place (typed; a place name of the org
settles it; "跳过") → the request in the caller's words → the router's matter and unit with
one-tap confirm, the other suggested units, "其他单位…", or "转人工分派" (the triage queue).
The draft lives in FSM data like the resident's; the ticket is written on the last tap.
"""

from __future__ import annotations

import enum
import uuid
from typing import TYPE_CHECKING, Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.filters import HasRole
from handlers.keyboard_builder import InlineKeyboardBuilder
from models import Person, Unit
from services import intake, places, work
from services.context import ServiceContext
from services.errors import InvalidInput
from services.intake import CallerRequest
from services.texts import esc, join, plain, t

if TYPE_CHECKING:
    from routing.decide import Decision


class Record(StatesGroup):
    channel = State()
    name = State()
    phone = State()
    place = State()
    text = State()
    confirm = State()


class RecordAction(enum.StrEnum):
    """A button of the 代录 conversation (one handler each)."""

    CHANNEL = "channel"  # arg: the index in intake.CHANNELS
    SKIP_PLACE = "skip_place"
    UNIT = "unit"  # arg: the unit the dispatcher chose
    UNITS = "units"  # arg: the page of every active unit
    TRIAGE = "triage"  # leave it in the triage queue
    CANCEL = "cancel"


class RecordCb(CallbackData, prefix="rc"):
    action: RecordAction
    arg: kb.Id = 0  # channel index, unit id or page
    key: str


def _channels(key: str) -> InlineKeyboardMarkup:
    b = InlineKeyboardBuilder()
    for i, channel in enumerate(intake.CHANNELS):
        b.button(text=plain(f"channel_{channel}"),
                 callback_data=RecordCb(action=RecordAction.CHANNEL, arg=i, key=key))
    b.button(text=plain("btn_cancel"), callback_data=RecordCb(action=RecordAction.CANCEL, key=key))
    b.adjust(2, 1)
    return b.as_markup()


def _choices(key: str, units: list[Unit], page: int | None = None,
             pages: int = 1) -> InlineKeyboardMarkup:
    b = InlineKeyboardBuilder()
    for i, unit in enumerate(units):
        text = (plain("btn_record_confirm", unit=unit.name) if i == 0 and page is None
                else unit.name)
        b.button(text=text, callback_data=RecordCb(action=RecordAction.UNIT, arg=unit.id, key=key))
    if page is None:
        b.button(text=plain("btn_triage_other"),
                 callback_data=RecordCb(action=RecordAction.UNITS, key=key))
    else:
        if page > 0:
            b.button(text=plain("btn_prev"), callback_data=RecordCb(
                action=RecordAction.UNITS, arg=page - 1, key=key))
        if page < pages - 1:
            b.button(text=plain("btn_next"), callback_data=RecordCb(
                action=RecordAction.UNITS, arg=page + 1, key=key))
    b.button(text=plain("btn_record_triage"),
             callback_data=RecordCb(action=RecordAction.TRIAGE, key=key))
    b.button(text=plain("btn_cancel"), callback_data=RecordCb(action=RecordAction.CANCEL, key=key))
    b.adjust(1)
    return b.as_markup()


async def begin(message: Message, state: FSMContext) -> None:
    await state.clear()
    await state.set_state(Record.channel)
    key = uuid.uuid4().hex[:16]
    await state.set_data({"key": key})
    await message.answer(t("record_ask_channel"), reply_markup=_channels(key))


async def on_name(message: Message, state: FSMContext) -> None:
    name = (message.text or "").strip()
    if not name:
        raise InvalidInput("err_caller_name")
    await state.update_data(name=name[:64])
    await state.set_state(Record.phone)
    await message.answer(t("record_ask_phone"))


async def on_phone(message: Message, state: FSMContext) -> None:
    phone = intake.normalise_phone(message.text)
    await state.update_data(phone=phone)
    await state.set_state(Record.place)
    data = await state.get_data()
    b = InlineKeyboardBuilder()
    b.button(text=plain("btn_record_skip_place"),
             callback_data=RecordCb(action=RecordAction.SKIP_PLACE, key=data["key"]))
    await message.answer(t("record_ask_place"), reply_markup=b.as_markup())


async def on_place(message: Message, state: FSMContext, session: AsyncSession) -> None:
    address = intake.clip_address(message.text)
    named = await places.named_in(session, address, limit=1)
    place_id = (await places.settle(session, named[0])).id if named else None
    await state.update_data(address=address, place_id=place_id)
    await state.set_state(Record.text)
    await message.answer(t("record_ask_text"))


async def on_text(message: Message, state: FSMContext, session: AsyncSession,
                  ctx: ServiceContext) -> None:
    text = intake.check_description(message.text, ctx.intake)
    await state.update_data(text=text)
    data = await state.get_data()
    decision = await ctx.router.decide(session, text, data.get("place_id"))
    units = await work.units_by_code(session, [decision.unit, *decision.top_units()])
    await state.set_state(Record.confirm)
    await message.answer(_preview(decision, units), reply_markup=_choices(data["key"], units))


def _preview(decision: Decision, units: list[Unit]) -> str:
    names = {u.code: u.name for u in units}
    if decision.routed:
        verdict = t("record_router_unit", matter=esc(decision.matter_name or decision.category
                                                     or "—", 60),
                    unit=esc(names.get(decision.unit or "", decision.unit or ""), 60),
                    rule=t(f"rule_{decision.rule}"))
    else:
        verdict = t("record_router_unsure")
    terms = "、".join(term for term, _ in decision.terms[:5])
    return join([verdict, t("record_router_terms", terms=esc(terms, 100) or "—")])


async def _pressed(query: CallbackQuery, callback_data: RecordCb, state: FSMContext,
                   step: State | None = None) -> tuple[Message, dict[str, Any]] | None:
    """The message and data of the conversation the button belongs to, at `step` (any step
    when None); None (answered) for a stale button."""
    data = await state.get_data()
    current = await state.get_state()
    if (callback_data.key != data.get("key") or not current
            or (step is not None and current != step.state)):
        await query.answer(plain("stale_button"), show_alert=True)
        return None
    assert isinstance(query.message, Message)
    return query.message, data


async def on_cancel(query: CallbackQuery, callback_data: RecordCb, state: FSMContext) -> None:
    if (pressed := await _pressed(query, callback_data, state)) is None:
        return
    await state.clear()
    await pressed[0].edit_text(t("record_cancelled"))
    await query.answer()


async def on_channel(query: CallbackQuery, callback_data: RecordCb, state: FSMContext
                     ) -> None:
    if (pressed := await _pressed(query, callback_data, state, Record.channel)) is None:
        return
    await state.update_data(channel=intake.CHANNELS[callback_data.arg % len(
        intake.CHANNELS)])
    await state.set_state(Record.name)
    await pressed[0].edit_text(t("record_ask_name"))
    await query.answer()


async def on_skip_place(query: CallbackQuery, callback_data: RecordCb, state: FSMContext
                        ) -> None:
    if (pressed := await _pressed(query, callback_data, state, Record.place)) is None:
        return
    await state.update_data(address="", place_id=None)
    await state.set_state(Record.text)
    await pressed[0].edit_text(t("record_ask_text"))
    await query.answer()


async def on_units(query: CallbackQuery, callback_data: RecordCb, state: FSMContext,
                   session: AsyncSession) -> None:
    if (pressed := await _pressed(query, callback_data, state, Record.confirm)) is None:
        return
    message, data = pressed
    units, pages = await work.units_page(session, callback_data.arg)
    await message.edit_reply_markup(reply_markup=_choices(
        data["key"], units, page=callback_data.arg, pages=pages))
    await query.answer()


async def on_record(query: CallbackQuery, callback_data: RecordCb, state: FSMContext,
                    session: AsyncSession, ctx: ServiceContext, me: Person) -> None:
    """The chosen unit (UNIT) or the triage queue (TRIAGE): the request is recorded."""
    if (pressed := await _pressed(query, callback_data, state, Record.confirm)) is None:
        return
    message, data = pressed
    req = CallerRequest(data["channel"], data["name"], data["phone"], data["text"],
                        data.get("place_id"), data.get("address", ""))
    ticket = await intake.record_on_behalf(
        session, ctx, ctx.router, me, req, ctx.intake,
        callback_data.arg if callback_data.action == RecordAction.UNIT else None)
    await session.commit()  # the dispatcher is told the number only once it exists
    await state.clear()
    unit = await work.unit(session, ticket.unit_id)
    await message.edit_text(t("record_done", number=ticket.number,
                              unit=unit.name if unit else t("record_in_triage")))
    await query.answer()


def make_router() -> Router:
    router = Router(name=__name__)
    words = F.text & ~F.text.in_(kb.menu_texts())
    router.message.register(begin, Command("record"), HasRole(dispatcher=True))
    router.message.register(on_name, Record.name, words)
    router.message.register(on_phone, Record.phone, words)
    router.message.register(on_place, Record.place, words)
    router.message.register(on_text, Record.text, words)
    dispatchers = HasRole(dispatcher=True)
    for actions, handler in (({RecordAction.CANCEL}, on_cancel),
                             ({RecordAction.CHANNEL}, on_channel),
                             ({RecordAction.SKIP_PLACE}, on_skip_place),
                             ({RecordAction.UNITS}, on_units),
                             ({RecordAction.UNIT, RecordAction.TRIAGE}, on_record)):
        router.callback_query.register(handler, RecordCb.filter(F.action.in_(actions)),
                                       dispatchers)
    return router
