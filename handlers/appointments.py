"""预约“民意5来听”: venue → day → slot → topic → confirm; 我的预约 (the receivers' /roster:
handlers/roster.py)."""

from __future__ import annotations

import datetime as dt
import enum

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.keyboard_builder import InlineKeyboardBuilder
from handlers.keyboards import Id
from handlers.views import esc
from models import Person, Venue
from services import appointments, places
from services.context import ServiceContext
from services.errors import InvalidInput
from services.intake import check_description
from services.texts import fmt_day, fmt_moment, t


class ApptAction(enum.StrEnum):
    """A button of the booking conversation or of 我的预约 (one handler each)."""

    TOWN = "town"  # id: the town; arg: the booking being changed
    VENUE = "venue"  # id: the venue; arg: the booking being changed
    DAY = "day"  # id: the venue; arg: the day as yyyymmdd
    SLOT = "slot"  # id: the slot
    CONFIRM = "confirm"
    DROP = "drop"  # 取消 at the confirmation
    MINE = "mine"  # 我的预约
    CANCEL = "cancel"  # id: the booking
    CHANGE = "change"  # id: the booking


class ApptCb(CallbackData, prefix="ap"):
    action: ApptAction
    id: Id = 0
    arg: Id = 0  # a day as yyyymmdd, or a booking id being changed


class Book(StatesGroup):
    place = State()
    topic = State()
    confirm = State()


def _day_int(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _int_day(value: int) -> dt.date:
    try:
        return dt.date(value // 10000, value // 100 % 100, value % 100)
    except ValueError as exc:  # forged: not a day at all
        raise InvalidInput("stale_button") from exc


def _venue_buttons(venues: list[Venue], change: int) -> kb.InlineKeyboardMarkup:
    b = InlineKeyboardBuilder()
    for v in venues:
        b.button(text=v.name, callback_data=ApptCb(action=ApptAction.VENUE, id=v.id, arg=change))
    b.adjust(1)
    return b.as_markup()


async def begin(message: Message, state: FSMContext, session: AsyncSession) -> None:
    await state.clear()
    await state.set_state(Book.place)
    await message.answer(t("appt_intro"), reply_markup=kb.ask_location())
    b = InlineKeyboardBuilder()
    for town in await places.towns(session):
        b.button(text=town.name, callback_data=ApptCb(action=ApptAction.TOWN, id=town.id))
    b.button(text=t("btn_my_bookings"), callback_data=ApptCb(action=ApptAction.MINE))
    b.adjust(2)
    await message.answer(t("appt_pick_town"), reply_markup=b.as_markup())


async def on_location(message: Message, session: AsyncSession, ctx: ServiceContext) -> None:
    assert message.location is not None
    near = await appointments.venues_near(session, message.location.latitude,
                                          message.location.longitude, ctx.intake.max_km)
    await message.answer(t("appt_pick_venue"), reply_markup=_venue_buttons(
        [v for v, _ in near], 0))


async def on_town(query: CallbackQuery, callback_data: ApptCb, session: AsyncSession
                  ) -> None:
    assert isinstance(query.message, Message)
    venues = await appointments.venues_in(session, callback_data.id)
    await query.message.edit_text(t("appt_pick_venue") if venues else t("appt_no_venue"),
                                  reply_markup=_venue_buttons(venues, callback_data.arg))
    await query.answer()


async def on_venue(query: CallbackQuery, callback_data: ApptCb, state: FSMContext,
                   session: AsyncSession, ctx: ServiceContext) -> None:
    assert isinstance(query.message, Message)
    v, schedule = await appointments.venue(session, callback_data.id)
    today = ctx.clock.now().astimezone(ctx.calendar.tz).date()
    b = InlineKeyboardBuilder()
    lines = []
    for day in appointments.session_days(schedule, ctx.calendar, today):
        label = f"{day.actual.month}月{day.actual.day}日"
        if day.moved:
            lines.append(t("appt_moved", nominal=f"{day.nominal.month}月{day.nominal.day}日",
                           actual=label))
        b.button(text=label, callback_data=ApptCb(action=ApptAction.DAY, id=v.id,
                                                  arg=_day_int(day.actual)))
    b.adjust(3)
    rule = t(f"appt_rule_{schedule.holiday_rule}")
    await query.message.edit_text("\n".join([t("appt_pick_day", venue=esc(v.name, 100),
                                               address=esc(v.address, 200) or "—",
                                               rule=rule), *lines]),
                                  reply_markup=b.as_markup())
    await state.update_data(change=callback_data.arg or None)
    await query.answer()


async def on_day(query: CallbackQuery, callback_data: ApptCb, session: AsyncSession,
                 ctx: ServiceContext) -> None:
    assert isinstance(query.message, Message)
    day = _int_day(callback_data.arg)
    slots = await appointments.slots(session, ctx, callback_data.id, day)
    b = InlineKeyboardBuilder()
    for slot in slots:
        left = slot.capacity - slot.booked
        label = f"{slot.starts_at.astimezone(ctx.calendar.tz):%H:%M} " + (
            t("appt_left", left=left) if left > 0 else t("appt_full"))
        b.button(text=label, callback_data=ApptCb(action=ApptAction.SLOT, id=slot.id))
    b.adjust(2)
    await query.message.edit_text(t("appt_pick_slot") if slots else t("appt_no_slot"),
                                  reply_markup=b.as_markup())
    await query.answer()


async def on_slot(query: CallbackQuery, callback_data: ApptCb, state: FSMContext,
                  session: AsyncSession, ctx: ServiceContext, me: Person) -> None:
    """A slot: the booking being changed moves there; a new one asks for the topic."""
    assert isinstance(query.message, Message)
    msg = query.message
    data = await state.get_data()
    if data.get("change"):
        booking = await appointments.change(session, ctx, me, data["change"], callback_data.id)
        await state.clear()
        await msg.edit_text(t("appt_changed", code=booking.code, at=fmt_moment(
            booking.starts_at, ctx.calendar.tz)))
    else:
        await state.set_state(Book.topic)
        await state.update_data(slot_id=callback_data.id)
        await msg.edit_reply_markup(reply_markup=None)
        await msg.answer(t("appt_ask_topic"), reply_markup=kb.cancel_only())
    await query.answer()


async def on_mine(query: CallbackQuery, session: AsyncSession, ctx: ServiceContext,
                  me: Person) -> None:
    assert isinstance(query.message, Message)
    await _show_mine(query.message, session, ctx, me)
    await query.answer()


async def on_cancel(query: CallbackQuery, callback_data: ApptCb, session: AsyncSession,
                    ctx: ServiceContext, me: Person) -> None:
    assert isinstance(query.message, Message)
    booking = await appointments.cancel(session, ctx, me, callback_data.id)
    await query.message.edit_text(t("appt_cancelled", code=booking.code))
    await query.answer()


async def on_change(query: CallbackQuery, callback_data: ApptCb, state: FSMContext,
                    session: AsyncSession, me: Person) -> None:
    assert isinstance(query.message, Message)
    booking = await appointments.own(session, me, callback_data.id)
    await state.set_state(Book.place)
    await state.set_data({"change": booking.id})
    v, _ = await appointments.venue(session, booking.venue_id)
    await query.message.answer(t("appt_change_pick"),
                               reply_markup=_venue_buttons([v], booking.id))
    await query.answer()


async def on_topic(message: Message, state: FSMContext, session: AsyncSession,
                   ctx: ServiceContext) -> None:
    topic = check_description(message.text, ctx.intake)
    slot, v = await appointments.slot(session, (await state.get_data())["slot_id"])
    await state.update_data(topic=topic)
    await state.set_state(Book.confirm)
    b = InlineKeyboardBuilder()
    b.button(text=t("btn_confirm"), callback_data=ApptCb(action=ApptAction.CONFIRM))
    b.button(text=t("btn_cancel"), callback_data=ApptCb(action=ApptAction.DROP))
    tz = ctx.calendar.tz
    # The pickers were edited away: everything the resident chose, before 确认.
    await message.answer(t("appt_confirm", venue=esc(v.name, 100),
                           address=esc(v.address, 200) or "—",
                           at=fmt_day(slot.starts_at, tz),
                           end=f"{slot.ends_at.astimezone(tz):%H:%M}", topic=esc(topic, 500)),
                         reply_markup=b.as_markup())


async def _at_confirmation(query: CallbackQuery, state: FSMContext) -> Message | None:
    """The confirmation's message, its buttons taken away; None (answered) when stale."""
    assert isinstance(query.message, Message)
    if await state.get_state() != Book.confirm.state:
        await query.answer(t("stale_button"), show_alert=True)
        return None
    await query.message.edit_reply_markup(reply_markup=None)
    return query.message


async def on_drop(query: CallbackQuery, state: FSMContext, me: Person) -> None:
    if (message := await _at_confirmation(query, state)) is None:
        return
    await state.clear()
    await message.answer(t("cancelled"), reply_markup=kb.main_menu(me))
    await query.answer()


async def on_confirm(query: CallbackQuery, state: FSMContext, session: AsyncSession,
                     ctx: ServiceContext, me: Person) -> None:
    data = await state.get_data()
    if (message := await _at_confirmation(query, state)) is None:
        return
    booking = await appointments.book(session, ctx, ctx.router, ctx.intake, me,
                                      data["slot_id"], data["topic"],
                                      ctx.bookings.max_open)
    await state.clear()
    v, _ = await appointments.venue(session, booking.venue_id)
    await query.answer()
    await message.answer(t("appt_booked", code=booking.code, venue=esc(v.name, 100),
                           address=esc(v.address, 200) or "—",
                           at=fmt_moment(booking.starts_at, ctx.calendar.tz)),
                         reply_markup=kb.main_menu(me))


async def _show_mine(message: Message, session: AsyncSession, ctx: ServiceContext,
                     me: Person) -> None:
    bookings = await appointments.open_bookings(session, me, ctx.clock.now())
    if not bookings:
        await message.answer(t("appt_none"))
        return
    for booking in bookings:
        v, _ = await appointments.venue(session, booking.venue_id)
        b = InlineKeyboardBuilder()
        b.button(text=t("btn_appt_change"), callback_data=ApptCb(action=ApptAction.CHANGE,
                                                                 id=booking.id))
        b.button(text=t("btn_appt_cancel"), callback_data=ApptCb(action=ApptAction.CANCEL,
                                                                 id=booking.id))
        await message.answer(t("appt_item", code=booking.code, venue=esc(v.name, 100),
                               at=fmt_moment(booking.starts_at, ctx.calendar.tz),
                               topic=esc(booking.topic, 200)), reply_markup=b.as_markup())


async def on_my_bookings(message: Message, session: AsyncSession, ctx: ServiceContext,
                         me: Person) -> None:
    await _show_mine(message, session, ctx, me)


def make_router() -> Router:
    router = Router(name=__name__)
    words = F.text & ~F.text.in_(kb.menu_texts())
    router.message.register(begin, F.text == t("btn_appointment"))
    router.message.register(begin, Command("book"))
    router.message.register(on_my_bookings, Command("bookings"))
    router.message.register(on_location, Book.place, F.location)
    router.message.register(on_topic, Book.topic, words)
    for action, handler in ((ApptAction.TOWN, on_town), (ApptAction.VENUE, on_venue),
                            (ApptAction.DAY, on_day), (ApptAction.SLOT, on_slot),
                            (ApptAction.CONFIRM, on_confirm), (ApptAction.DROP, on_drop),
                            (ApptAction.MINE, on_mine), (ApptAction.CANCEL, on_cancel),
                            (ApptAction.CHANGE, on_change)):
        router.callback_query.register(handler, ApptCb.filter(F.action == action))
    router.message.register(on_unexpected, StateFilter(Book), ~F.text)
    return router


async def on_unexpected(message: Message) -> None:
    await message.answer(t("appt_unsupported"))
