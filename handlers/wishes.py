"""微心愿 in chat: /wish (驿站 → 心愿 → 价值), then 发布 / 不予发布 by the organiser, 认领 and
已实现 (a photo) by a representative or volunteer. One handler per action."""

from __future__ import annotations

import uuid

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import errand_keyboards as ekb
from handlers import keyboards as kb
from handlers.errand_keyboards import WishCb, WishVenueCb
from models import Person
from services import errands, wishes
from services.context import ServiceContext
from services.texts import t
from services.wishes import WishAction, WishParty

W = WishAction


class WishForm(StatesGroup):
    venue = State()
    text = State()
    value = State()
    photo = State()  # the helper's 已实现 photo


async def start(message: Message, state: FSMContext, session: AsyncSession,
                ctx: ServiceContext) -> None:
    found = await errands.venues(session)
    if not found:
        await message.answer(t("errand_no_venues"))
        return
    key = uuid.uuid4().hex[:16]
    await state.set_state(WishForm.venue)
    await state.set_data({"key": key})
    if len(found) > ctx.errands.town_step:  # many 驿站: the town first
        await message.answer(t("wish_intro", limit=ctx.errands.wish_value_limit) + "\n"
                             + t("errand_pick_town"),
                             reply_markup=ekb.wish_towns(await errands.by_town(session), key))
        return
    await message.answer(t("wish_intro", limit=ctx.errands.wish_value_limit),
                         reply_markup=ekb.wish_venues(found, key))


async def on_venue(query: CallbackQuery, callback_data: WishVenueCb, state: FSMContext,
                   session: AsyncSession) -> None:
    data = await state.get_data()
    if await state.get_state() != WishForm.venue.state or data.get("key") != callback_data.key:
        await query.answer(t("stale_button"), show_alert=True)
        return
    if callback_data.town:  # the town's 驿站
        found = await errands.in_town(session, callback_data.id)
        await query.answer()
        assert isinstance(query.message, Message)
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(t("errand_pick_venue"),
                                   reply_markup=ekb.wish_venues(found, callback_data.key))
        return
    venue = await errands.venue(session, callback_data.id)
    await state.update_data(venue_id=venue.id)
    await state.set_state(WishForm.text)
    await query.answer()
    assert isinstance(query.message, Message)
    await query.message.edit_reply_markup(reply_markup=None)
    await query.message.answer(t("wish_ask_text"), reply_markup=kb.cancel_only())


async def on_text(message: Message, state: FSMContext, ctx: ServiceContext) -> None:
    await state.update_data(text=wishes.check_text(message.text or ""))
    await state.set_state(WishForm.value)
    await message.answer(t("wish_ask_value", limit=ctx.errands.wish_value_limit))


async def on_value(message: Message, state: FSMContext, session: AsyncSession,
                   ctx: ServiceContext, me: Person) -> None:
    value = wishes.check_value(message.text or "", ctx.errands.wish_value_limit)
    data = await state.get_data()
    wish = await ctx.wish_lifecycle(session).submit(me, data["key"], data["venue_id"],
                                                    data["text"], value)
    await state.clear()
    await session.commit()
    await message.answer(t("wish_submitted", id=wish.id), reply_markup=kb.main_menu(me))


async def _answer(query: CallbackQuery, session: AsyncSession, text: str,
                  markup: object = None) -> None:
    await session.commit()
    await query.answer()
    assert isinstance(query.message, Message)
    await query.message.edit_reply_markup(reply_markup=markup)  # type: ignore[arg-type]
    await query.message.answer(text)


async def on_publish(query: CallbackQuery, callback_data: WishCb, session: AsyncSession,
                     ctx: ServiceContext, me: Person) -> None:
    wish = await wishes.for_organiser(session, me, callback_data.id)
    await ctx.wish_lifecycle(session).publish(wish, me)
    await _answer(query, session, t("wish_published_you", id=wish.id))


async def on_reject(query: CallbackQuery, callback_data: WishCb, session: AsyncSession,
                    ctx: ServiceContext, me: Person) -> None:
    wish = await wishes.for_organiser(session, me, callback_data.id)
    await ctx.wish_lifecycle(session).reject(wish, me)
    await _answer(query, session, t("wish_rejected_you", id=wish.id))


async def on_claim(query: CallbackQuery, callback_data: WishCb, session: AsyncSession,
                   ctx: ServiceContext, me: Person) -> None:
    wish = await wishes.for_helper(session, me, callback_data.id)
    await ctx.wish_lifecycle(session).claim(wish, me)
    await _answer(query, session, t("wish_claimed_you", id=wish.id),
                  ekb.wish_actions(wish.id, wish.state, WishParty.HELPER))


async def on_fulfil(query: CallbackQuery, callback_data: WishCb, state: FSMContext,
                    session: AsyncSession, me: Person) -> None:
    wish = await wishes.for_helper(session, me, callback_data.id)
    if wish.state not in wishes.TRANSITIONS[W.FULFIL].sources or wish.claimer_id != me.id:
        from services.errors import IllegalTransition

        raise IllegalTransition()
    await state.set_state(WishForm.photo)
    await state.set_data({"wish_id": wish.id})
    await query.answer()
    assert isinstance(query.message, Message)
    await query.message.answer(t("wish_ask_photo"), reply_markup=kb.cancel_only())


async def on_photo(message: Message, state: FSMContext, session: AsyncSession,
                   ctx: ServiceContext, me: Person) -> None:
    wish = await wishes.for_helper(session, me, (await state.get_data())["wish_id"])
    photo = message.photo[-1].file_id if message.photo else None
    await ctx.wish_lifecycle(session).fulfil(wish, me, photo)
    await state.clear()
    await session.commit()
    await message.answer(t("wish_fulfilled_you", id=wish.id), reply_markup=kb.main_menu(me))


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(start, Command("wish"))
    router.callback_query.register(on_venue, WishVenueCb.filter())
    for action, handler in ((W.PUBLISH, on_publish), (W.REJECT, on_reject),
                            (W.CLAIM, on_claim), (W.FULFIL, on_fulfil)):
        router.callback_query.register(handler, WishCb.filter(F.action == action))
    menu = ~F.text.in_(kb.menu_texts())
    router.message.register(on_text, StateFilter(WishForm.text), F.text, menu)
    router.message.register(on_value, StateFilter(WishForm.value), F.text, menu)
    router.message.register(on_photo, StateFilter(WishForm.photo), F.text | F.photo, menu)
    return router
