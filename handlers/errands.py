"""红色代办 点单: 驿站 → 事项 → 为谁 → (姓名) → 年龄 → 地址 → 电话 → 重点关爱 → 日期 → 时段 → 确认.

The draft (`ErrandDraft`) lives in FSM data, so a restart mid-order loses nothing; the
errand is written on confirm, once per draft key (a second tap finds it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import errand_keyboards as ekb
from handlers import keyboards as kb
from handlers.errand_keyboards import OrderCb, Step
from models import Person
from services import errands
from services.context import ServiceContext
from services.errands import CARE, WINDOWS, ErrandDraft
from services.errors import InvalidInput
from services.texts import Html, esc, t


class Order(StatesGroup):
    choose = State()  # an inline choice is expected
    name = State()
    age = State()
    address = State()
    phone = State()


async def _draft(state: FSMContext) -> ErrandDraft:
    data = await state.get_data()
    return ErrandDraft(**data.get("draft", {"key": ""}))


async def _save(state: FSMContext, draft: ErrandDraft, **extra: Any) -> None:
    await state.update_data(draft=dataclasses.asdict(draft), **extra)


async def start(message: Message, state: FSMContext, session: AsyncSession,
                ctx: ServiceContext, me: Person) -> None:
    found = await errands.venues(session)
    if not found:
        await message.answer(t("errand_no_venues"), reply_markup=kb.main_menu(me))
        return
    draft = ErrandDraft(key=uuid.uuid4().hex[:16])
    await state.set_state(Order.choose)
    await state.set_data({})
    await _save(state, draft)
    if len(found) > ctx.errands.town_step:  # many 驿站: the town first
        await message.answer(t("errand_intro") + "\n" + t("errand_pick_town"),
                             reply_markup=ekb.towns(await errands.by_town(session), draft.key))
        return
    await message.answer(t("errand_intro"), reply_markup=ekb.venues(found, draft.key))


async def on_town(query: CallbackQuery, callback_data: OrderCb, state: FSMContext,
                  session: AsyncSession) -> None:
    draft = await _current(query, callback_data, state)
    if draft is None:
        return
    found = await errands.in_town(session, callback_data.value)
    await _step(query, t("errand_pick_venue"), ekb.venues(found, draft.key))


async def _current(query: CallbackQuery, callback_data: OrderCb,
                   state: FSMContext) -> ErrandDraft | None:
    """The draft this button belongs to, or None (answered as out of date)."""
    draft = await _draft(state)
    if await state.get_state() != Order.choose.state or callback_data.key != draft.key:
        await query.answer(t("stale_button"), show_alert=True)
        return None
    return draft


def _pick(values: list[str] | tuple[str, ...], index: int, error: str) -> str:
    """The choice a button names; an index out of range is forged or out of date."""
    if index >= len(values):
        raise InvalidInput(error)
    return values[index]


async def _step(query: CallbackQuery, text: str,
                markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | None = None) -> None:
    await query.answer()
    assert isinstance(query.message, Message)
    await query.message.edit_reply_markup(reply_markup=None)
    await query.message.answer(text, reply_markup=markup or kb.cancel_only())


async def on_venue(query: CallbackQuery, callback_data: OrderCb, state: FSMContext,
                   session: AsyncSession) -> None:
    draft = await _current(query, callback_data, state)
    if draft is None:
        return
    venue = await errands.venue(session, callback_data.value)
    draft.venue_id = venue.id
    await _save(state, draft)
    await _step(query, t("errand_pick_item", venue=venue.name),
                ekb.items(errands.menu(venue), draft.key))


async def on_item(query: CallbackQuery, callback_data: OrderCb, state: FSMContext,
                  session: AsyncSession) -> None:
    draft = await _current(query, callback_data, state)
    if draft is None:
        return
    menu = errands.menu(await errands.venue(session, draft.venue_id or 0))
    draft.item = _pick(menu, callback_data.value, "err_errand_item")
    await _save(state, draft)
    await _step(query, t("errand_for_whom"), ekb.whom(draft.key))


async def on_whom(query: CallbackQuery, callback_data: OrderCb, state: FSMContext,
                  me: Person) -> None:
    draft = await _current(query, callback_data, state)
    if draft is None:
        return
    draft.for_other = callback_data.value == 1
    draft.name = "" if draft.for_other else (me.name or "")
    draft.phone = "" if draft.for_other else (me.phone or "")
    await _save(state, draft)
    await state.set_state(Order.name if draft.for_other else Order.age)
    await _step(query, t("errand_ask_name" if draft.for_other else "errand_ask_age_self"))


# The typed steps: (state, check, draft field, next state, next question)
TYPED = {
    Order.name.state: (errands.check_name, "name", Order.age, "errand_ask_age"),
    Order.age.state: (errands.check_age, "age", Order.address, "errand_ask_address"),
    Order.address.state: (errands.check_address, "address", Order.phone, "errand_ask_phone"),
    Order.phone.state: (errands.check_phone, "phone", Order.choose, "errand_ask_care"),
}


async def on_typed(message: Message, state: FSMContext) -> None:
    check, name, nxt, question = TYPED[await state.get_state() or ""]
    value = check(message.text or "")  # InvalidInput: answered, the step stays
    draft = await _draft(state)
    setattr(draft, name, value)
    await _save(state, draft)
    await state.set_state(nxt)
    await message.answer(t(question), reply_markup=(
        ekb.care(draft.key) if nxt == Order.choose else kb.cancel_only()))


async def on_care(query: CallbackQuery, callback_data: OrderCb, state: FSMContext,
                  ctx: ServiceContext) -> None:
    draft = await _current(query, callback_data, state)
    if draft is None:
        return
    draft.care = _pick(CARE, callback_data.value, "err_errand_incomplete")
    today = ctx.clock.now().astimezone(ctx.calendar.tz).date()
    days = errands.wanted_days(today, ctx.errands)
    await _save(state, draft, days=[d.isoformat() for d in days])
    await _step(query, t("errand_ask_day"), ekb.days(days, draft.key))


async def on_day(query: CallbackQuery, callback_data: OrderCb, state: FSMContext) -> None:
    draft = await _current(query, callback_data, state)
    if draft is None:
        return
    days = (await state.get_data()).get("days", [])
    draft.day = _pick(days, callback_data.value, "err_errand_day")
    await _save(state, draft)
    await _step(query, t("errand_ask_window"), ekb.windows(draft.key))


async def on_window(query: CallbackQuery, callback_data: OrderCb, state: FSMContext,
                    session: AsyncSession, me: Person) -> None:
    draft = await _current(query, callback_data, state)
    if draft is None:
        return
    draft.window = _pick(WINDOWS, callback_data.value, "err_errand_incomplete")
    await _save(state, draft)
    venue = await errands.venue(session, draft.venue_id or 0)
    day = dt.date.fromisoformat(draft.day)
    text = t("errand_confirm", summary=t(
        "errand_draft_summary", item=draft.item, venue=venue.name,  # no number before 确认
        day=f"{day.month}月{day.day}日", window=t(f"errand_window_{draft.window}"),
        age=draft.age, care=t("errand_care_shown", care=t(f"errand_care_{draft.care}"))
        if draft.care else ""),
        name=draft.name, phone=draft.phone, address=esc(draft.address, 300))
    if me.consent_at is None:  # 个人信息保护法: confirming is agreeing to the notice
        text = Html(text + "\n\n" + t("summary_consent"))
    await _step(query, text, ekb.confirm(draft.key))


async def on_confirm(query: CallbackQuery, callback_data: OrderCb, state: FSMContext,
                     session: AsyncSession, ctx: ServiceContext, me: Person) -> None:
    draft = await _draft(state)
    assert isinstance(query.message, Message)
    if await state.get_state() != Order.choose.state or callback_data.key != draft.key:
        done = await errands.by_key(session, callback_data.key)  # a second tap
        if done is not None and done.orderer_id == me.id:
            await query.answer(t("errand_ordered", id=done.id), show_alert=True)
        else:
            await query.answer(t("stale_button"), show_alert=True)
        return
    if callback_data.value != 0:
        await state.clear()
        await _step(query, t("cancelled"), kb.main_menu(me))
        return
    errand = await ctx.errand_lifecycle(session).order(me, draft)
    await state.clear()
    await session.commit()  # the number shown exists
    await query.answer()
    await query.message.edit_reply_markup(reply_markup=None)
    await query.message.answer(t("errand_ordered", id=errand.id), reply_markup=kb.main_menu(me))


async def my_errands(message: Message, session: AsyncSession, me: Person) -> None:
    """/errands: one's own orders (an organiser's queue is /orders)."""
    mine = await errands.mine(session, me)
    if not mine:
        await message.answer(t("errand_mine_empty"))
        return
    for errand in mine:
        await message.answer(
            t("errand_mine_line", id=errand.id, item=errand.item,
              day=f"{errand.wanted_day.month}月{errand.wanted_day.day}日",
              # 替人点单 (a 三长 for several elders): whom each is for
              served=t("errand_mine_served", name=errand.beneficiary_name)
              if errand.for_other else "",
              state=t(f"errand_state_{errand.state}")),
            reply_markup=ekb.for_errand(errand, errands.Party.ORDERER))


def make_router() -> Router:
    from aiogram.filters import Command

    router = Router(name=__name__)
    router.message.register(start, F.text == t("btn_errand"))
    router.message.register(start, Command("errand"))
    router.message.register(my_errands, Command("errands"))
    for step, handler in ((Step.TOWN, on_town), (Step.VENUE, on_venue), (Step.ITEM, on_item),
                          (Step.WHOM, on_whom), (Step.CARE, on_care), (Step.DAY, on_day),
                          (Step.WINDOW, on_window), (Step.CONFIRM, on_confirm)):
        router.callback_query.register(handler, OrderCb.filter(F.step == step))
    router.message.register(
        on_typed, StateFilter(Order.name, Order.age, Order.address, Order.phone),
        F.text, ~F.text.in_(kb.menu_texts()))
    return router

