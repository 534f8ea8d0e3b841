"""代录 (/record): a dispatcher registers a request taken by phone or at the counter.

Steps: channel (电话/窗口) → caller's name → phone → place (typed; a place name of the org
settles it; "跳过") → the request in the caller's words → the router's matter and unit with
one-tap confirm, the other suggested units, "其他单位…", or "转人工分派" (the triage queue).
The draft lives in FSM data like the resident's; the ticket is written on the last tap.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Literal

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.filters import HasRole
from models import Person, Unit
from services import intake, places, work
from services.context import ServiceContext
from services.errors import InvalidInput
from services.intake import CallerRequest, RequestRouter
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


class RecordCb(CallbackData, prefix="rc"):
    action: Literal["channel", "skip_place", "unit", "units", "triage", "cancel"]
    arg: kb.Id = 0  # channel index, unit id or page
    key: str


def _channels(key: str) -> InlineKeyboardMarkup:
    b = InlineKeyboardBuilder()
    for i, channel in enumerate(intake.CHANNELS):
        b.button(text=plain(f"channel_{channel}"),
                 callback_data=RecordCb(action="channel", arg=i, key=key))
    b.button(text=plain("btn_cancel"), callback_data=RecordCb(action="cancel", key=key))
    b.adjust(2, 1)
    return b.as_markup()


def _choices(key: str, units: list[Unit], page: int | None = None,
             pages: int = 1) -> InlineKeyboardMarkup:
    b = InlineKeyboardBuilder()
    for i, unit in enumerate(units):
        text = (plain("btn_record_confirm", unit=unit.name) if i == 0 and page is None
                else unit.name)
        b.button(text=text, callback_data=RecordCb(action="unit", arg=unit.id, key=key))
    if page is None:
        b.button(text=plain("btn_triage_other"),
                 callback_data=RecordCb(action="units", key=key))
    else:
        if page > 0:
            b.button(text=plain("btn_prev"), callback_data=RecordCb(action="units", arg=page - 1,
                                                                key=key))
        if page < pages - 1:
            b.button(text=plain("btn_next"), callback_data=RecordCb(action="units", arg=page + 1,
                                                                key=key))
    b.button(text=plain("btn_record_triage"),
             callback_data=RecordCb(action="triage", key=key))
    b.button(text=plain("btn_cancel"), callback_data=RecordCb(action="cancel", key=key))
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
             callback_data=RecordCb(action="skip_place", key=data["key"]))
    await message.answer(t("record_ask_place"), reply_markup=b.as_markup())


async def on_place(message: Message, state: FSMContext, session: AsyncSession) -> None:
    address = (message.text or "").strip()[:300]
    named = await places.named_in(session, address, limit=1)
    place_id = (await places.settle(session, named[0])).id if named else None
    await state.update_data(address=address, place_id=place_id)
    await state.set_state(Record.text)
    await message.answer(t("record_ask_text"))


async def on_text(message: Message, state: FSMContext, session: AsyncSession,
                  request_router: RequestRouter, ctx: ServiceContext) -> None:
    text = intake.check_description(message.text, ctx.intake)
    await state.update_data(text=text)
    data = await state.get_data()
    decision = await request_router.decide(session, text, data.get("place_id"))
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


async def on_button(query: CallbackQuery, callback_data: RecordCb, state: FSMContext,
                    session: AsyncSession, ctx: ServiceContext, me: Person,
                    request_router: RequestRouter) -> None:
    data = await state.get_data()
    assert isinstance(query.message, Message)
    if callback_data.key != data.get("key") or not await state.get_state():
        await query.answer(plain("stale_button"), show_alert=True)
        return
    action = callback_data.action
    if action == "cancel":
        await state.clear()
        await query.message.edit_text(t("record_cancelled"))
    elif action == "channel" and await state.get_state() == Record.channel.state:
        await state.update_data(channel=intake.CHANNELS[callback_data.arg % len(
            intake.CHANNELS)])
        await state.set_state(Record.name)
        await query.message.edit_text(t("record_ask_name"))
    elif action == "skip_place" and await state.get_state() == Record.place.state:
        await state.update_data(address="", place_id=None)
        await state.set_state(Record.text)
        await query.message.edit_text(t("record_ask_text"))
    elif action == "units" and await state.get_state() == Record.confirm.state:
        units, pages = await work.units_page(session, callback_data.arg)
        await query.message.edit_reply_markup(reply_markup=_choices(
            data["key"], units, page=callback_data.arg, pages=pages))
    elif action in ("unit", "triage") and await state.get_state() == Record.confirm.state:
        req = CallerRequest(data["channel"], data["name"], data["phone"], data["text"],
                            data.get("place_id"), data.get("address", ""))
        ticket = await intake.record_on_behalf(
            session, ctx, request_router, me, req, ctx.intake,
            callback_data.arg if action == "unit" else None)
        await session.commit()  # the dispatcher is told the number only once it exists
        await state.clear()
        unit = await session.get(Unit, ticket.unit_id) if ticket.unit_id else None
        await query.message.edit_text(t("record_done", number=ticket.number,
                                        unit=unit.name if unit else t("record_in_triage")))
    else:
        await query.answer(plain("stale_button"), show_alert=True)
        return
    await query.answer()


def make_router() -> Router:
    router = Router(name=__name__)
    words = F.text & ~F.text.in_(kb.menu_texts())
    router.message.register(begin, Command("record"), HasRole(dispatcher=True))
    router.message.register(on_name, Record.name, words)
    router.message.register(on_phone, Record.phone, words)
    router.message.register(on_place, Record.place, words)
    router.message.register(on_text, Record.text, words)
    router.callback_query.register(on_button, RecordCb.filter(), HasRole(dispatcher=True))
    return router
