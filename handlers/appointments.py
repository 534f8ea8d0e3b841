"""预约“民意5来听”: venue → day → slot → topic → confirm; 我的预约; the receivers' /roster."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.keyboards import Id
from handlers.views import esc
from models import Booking, BookingState, Person, Venue
from services import appointments, places
from services.context import ServiceContext
from services.errors import InvalidInput
from services.intake import RequestRouter, check_description
from services.texts import fmt_day, fmt_moment, t


class ApptCb(CallbackData, prefix="ap"):
    action: Literal["town", "venue", "day", "slot", "confirm", "drop", "mine", "cancel",
                    "change"]
    id: Id = 0
    arg: Id = 0  # a day as yyyymmdd, or a booking id being changed


class MarkCb(CallbackData, prefix="mk"):
    id: Id
    outcome: Literal["attended", "no_show", "converted"]


MAX_ROSTER_DAYS = 3660  # a roster ten years away is a typing error, not a day to look up


class Book(StatesGroup):
    place = State()
    topic = State()
    confirm = State()
    notes = State()  # a receiver's notes for attended / converted


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
        b.button(text=v.name, callback_data=ApptCb(action="venue", id=v.id, arg=change))
    b.adjust(1)
    return b.as_markup()


async def begin(message: Message, state: FSMContext, session: AsyncSession) -> None:
    await state.clear()
    await state.set_state(Book.place)
    await message.answer(t("appt_intro"), reply_markup=kb.ask_location())
    b = InlineKeyboardBuilder()
    for town in await places.towns(session):
        b.button(text=town.name, callback_data=ApptCb(action="town", id=town.id))
    b.button(text=t("btn_my_bookings"), callback_data=ApptCb(action="mine"))
    b.adjust(2)
    await message.answer(t("appt_pick_town"), reply_markup=b.as_markup())


async def on_location(message: Message, session: AsyncSession, ctx: ServiceContext) -> None:
    assert message.location is not None
    near = await appointments.venues_near(session, message.location.latitude,
                                          message.location.longitude, ctx.intake.max_km)
    await message.answer(t("appt_pick_venue"), reply_markup=_venue_buttons(
        [v for v, _ in near], 0))


async def on_button(query: CallbackQuery, callback_data: ApptCb, state: FSMContext,
                    session: AsyncSession, ctx: ServiceContext, me: Person) -> None:
    assert isinstance(query.message, Message)
    action, msg = callback_data.action, query.message
    if action == "town":
        venues = await appointments.venues_in(session, callback_data.id)
        await msg.edit_text(t("appt_pick_venue") if venues else t("appt_no_venue"),
                            reply_markup=_venue_buttons(venues, callback_data.arg))
    elif action == "venue":
        v, schedule = await appointments.venue(session, callback_data.id)
        today = ctx.clock.now().astimezone(ctx.calendar.tz).date()
        b = InlineKeyboardBuilder()
        lines = []
        for day in appointments.session_days(schedule, ctx.calendar, today):
            label = f"{day.actual.month}月{day.actual.day}日"
            if day.moved:
                lines.append(t("appt_moved", nominal=f"{day.nominal.month}月{day.nominal.day}日",
                               actual=label))
            b.button(text=label, callback_data=ApptCb(action="day", id=v.id,
                                                      arg=_day_int(day.actual)))
        b.adjust(3)
        rule = t(f"appt_rule_{schedule.holiday_rule}")
        await msg.edit_text("\n".join([t("appt_pick_day", venue=esc(v.name, 100),
                                         address=esc(v.address, 200) or "—", rule=rule),
                                       *lines]), reply_markup=b.as_markup())
        await state.update_data(change=callback_data.arg or None)
    elif action == "day":
        day = _int_day(callback_data.arg)
        slots = await appointments.slots(session, ctx, callback_data.id, day)
        b = InlineKeyboardBuilder()
        for slot in slots:
            left = slot.capacity - slot.booked
            label = f"{slot.starts_at.astimezone(ctx.calendar.tz):%H:%M} " + (
                t("appt_left", left=left) if left > 0 else t("appt_full"))
            b.button(text=label, callback_data=ApptCb(action="slot", id=slot.id))
        b.adjust(2)
        await msg.edit_text(t("appt_pick_slot") if slots else t("appt_no_slot"),
                            reply_markup=b.as_markup())
    elif action == "slot":
        data = await state.get_data()
        if data.get("change"):
            booking = await appointments.change(session, ctx, me, data["change"],
                                                callback_data.id)
            await state.clear()
            await msg.edit_text(t("appt_changed", code=booking.code, at=fmt_moment(
                booking.starts_at, ctx.calendar.tz)))
        else:
            await state.set_state(Book.topic)
            await state.update_data(slot_id=callback_data.id)
            await msg.edit_reply_markup(reply_markup=None)
            await msg.answer(t("appt_ask_topic"), reply_markup=kb.cancel_only())
    elif action == "mine":
        await _show_mine(msg, session, ctx, me)
    elif action == "cancel":
        booking = await appointments.cancel(session, ctx, me, callback_data.id)
        await msg.edit_text(t("appt_cancelled", code=booking.code))
    elif action == "change":
        booking = await appointments.own(session, me, callback_data.id)
        await state.set_state(Book.place)
        await state.set_data({"change": booking.id})
        v, _ = await appointments.venue(session, booking.venue_id)
        await msg.answer(t("appt_change_pick"), reply_markup=_venue_buttons([v], booking.id))
    await query.answer()


async def on_topic(message: Message, state: FSMContext, session: AsyncSession,
                   ctx: ServiceContext) -> None:
    topic = check_description(message.text, ctx.intake)
    slot, v = await appointments.slot(session, (await state.get_data())["slot_id"])
    await state.update_data(topic=topic)
    await state.set_state(Book.confirm)
    b = InlineKeyboardBuilder()
    b.button(text=t("btn_confirm"), callback_data=ApptCb(action="confirm"))
    b.button(text=t("btn_cancel"), callback_data=ApptCb(action="drop"))
    tz = ctx.calendar.tz
    # The pickers were edited away: everything the resident chose, before 确认.
    await message.answer(t("appt_confirm", venue=esc(v.name, 100),
                           address=esc(v.address, 200) or "—",
                           at=fmt_day(slot.starts_at, tz),
                           end=f"{slot.ends_at.astimezone(tz):%H:%M}", topic=esc(topic, 500)),
                         reply_markup=b.as_markup())


async def on_confirm(query: CallbackQuery, callback_data: ApptCb, state: FSMContext,
                     session: AsyncSession, ctx: ServiceContext, me: Person,
                     request_router: RequestRouter) -> None:
    assert isinstance(query.message, Message)
    data = await state.get_data()
    if await state.get_state() != Book.confirm.state:
        await query.answer(t("stale_button"), show_alert=True)
        return
    await query.message.edit_reply_markup(reply_markup=None)
    if callback_data.action == "drop":
        await state.clear()
        await query.message.answer(t("cancelled"), reply_markup=kb.main_menu(me))
        await query.answer()
        return
    booking = await appointments.book(session, ctx, request_router, ctx.intake, me,
                                      data["slot_id"], data["topic"],
                                      ctx.bookings.max_open)
    await state.clear()
    v, _ = await appointments.venue(session, booking.venue_id)
    await query.answer()
    await query.message.answer(t("appt_booked", code=booking.code, venue=esc(v.name, 100),
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
        b.button(text=t("btn_appt_change"), callback_data=ApptCb(action="change",
                                                                 id=booking.id))
        b.button(text=t("btn_appt_cancel"), callback_data=ApptCb(action="cancel",
                                                                 id=booking.id))
        await message.answer(t("appt_item", code=booking.code, venue=esc(v.name, 100),
                               at=fmt_moment(booking.starts_at, ctx.calendar.tz),
                               topic=esc(booking.topic, 200)), reply_markup=b.as_markup())


async def on_my_bookings(message: Message, session: AsyncSession, ctx: ServiceContext,
                         me: Person) -> None:
    await _show_mine(message, session, ctx, me)


# -- receivers -------------------------------------------------------------------------
async def on_roster(message: Message, session: AsyncSession, ctx: ServiceContext,
                    me: Person, command: CommandObject | None = None) -> None:
    args = (command.args or "").split() if command else []  # the menu button: today
    export = bool(args) and args[0] == "export"
    args = args[1:] if export else args
    today = ctx.clock.now().astimezone(ctx.calendar.tz).date()
    try:
        day = dt.date.fromisoformat(args[0]) if args else today
    except ValueError:
        day = None
    if day is None or abs((day - today).days) > MAX_ROSTER_DAYS:
        await message.answer(t("roster_usage"))
        return
    rows = await appointments.roster(session, me, day, ctx.calendar.tz,
                                     args[1] if len(args) > 1 else None)
    units = await appointments.unit_names(session, [b for b, _ in rows])
    if export:
        data = await appointments.roster_workbook(rows, units, ctx.calendar.tz)
        await message.answer_document(
            BufferedInputFile(data, filename=f"roster-{day.isoformat()}.xlsx"),
            caption=t("roster_export", day=day.isoformat(), count=len(rows)))
        return
    if not rows:
        await message.answer(t("roster_empty", day=day.isoformat()))
        return
    await message.answer(t("roster_header", day=day.isoformat(), count=len(rows)))
    for booking, v in rows:
        b = InlineKeyboardBuilder()
        if booking.state == BookingState.BOOKED:
            for outcome in ("attended", "no_show", "converted"):
                b.button(text=t(f"btn_mark_{outcome}"),
                         callback_data=MarkCb(id=booking.id, outcome=outcome))
        await message.answer(
            _roster_item(booking, v, ctx, units),
            reply_markup=b.as_markup() if booking.state == BookingState.BOOKED else None)


def _roster_item(booking: Booking, v: Venue, ctx: ServiceContext,
                 units: dict[str, str]) -> str:
    """`units`: unit code -> name (appointments.unit_names): the roster names a unit."""
    unit = units.get(booking.routing.get("unit") or "", t("detail_unit_pending"))
    return t("roster_item", at=f"{booking.starts_at.astimezone(ctx.calendar.tz):%H:%M}",
             venue=esc(v.name, 60), code=booking.code, topic=esc(booking.topic, 300),
             unit=esc(unit, 60), state=t(f"booking_{booking.state}"))


async def on_mark(query: CallbackQuery, callback_data: MarkCb, state: FSMContext,
                  session: AsyncSession, ctx: ServiceContext, me: Person,
                  request_router: RequestRouter) -> None:
    assert isinstance(query.message, Message)
    outcome = BookingState(callback_data.outcome)
    await appointments.markable(session, me, callback_data.id)  # refuse stale presses now
    if outcome == BookingState.NO_SHOW:
        booking = await appointments.mark(session, ctx, request_router, me, callback_data.id,
                                          outcome)
        v, _ = await appointments.venue(session, booking.venue_id)
        units = await appointments.unit_names(session, [booking])
        await query.message.edit_text(_roster_item(booking, v, ctx, units), reply_markup=None)
        await query.answer(t("booking_no_show"))
        return
    await state.set_state(Book.notes)
    await state.set_data({"booking_id": callback_data.id, "outcome": outcome.value,
                          "card": [query.message.chat.id, query.message.message_id]})
    await query.answer()
    await query.message.answer(t("roster_ask_notes"), reply_markup=kb.cancel_only())


async def on_notes(message: Message, state: FSMContext, session: AsyncSession,
                   ctx: ServiceContext, me: Person, request_router: RequestRouter) -> None:
    data = await state.get_data()
    booking = await appointments.mark(session, ctx, request_router, me, data["booking_id"],
                                      BookingState(data["outcome"]), message.text or "")
    await state.clear()
    if data.get("card") and message.bot is not None:  # the roster card: its new state
        v, _ = await appointments.venue(session, booking.venue_id)
        chat_id, message_id = data["card"]
        units = await appointments.unit_names(session, [booking])
        await message.bot.edit_message_text(_roster_item(booking, v, ctx, units),
                                            chat_id=chat_id, message_id=message_id,
                                            reply_markup=None)
    await message.answer(t("roster_marked", code=booking.code,
                           state=t(f"booking_{booking.state}")), reply_markup=kb.main_menu(me))


def make_router() -> Router:
    router = Router(name=__name__)
    words = F.text & ~F.text.in_(kb.menu_texts())
    router.message.register(begin, F.text == t("btn_appointment"))
    router.message.register(begin, Command("book"))
    router.message.register(on_my_bookings, Command("bookings"))
    router.message.register(on_location, Book.place, F.location)
    router.message.register(on_topic, Book.topic, words)
    router.message.register(on_notes, Book.notes, words)
    router.message.register(on_roster, Command("roster"))
    router.message.register(on_roster, F.text == t("btn_menu_roster"))
    router.callback_query.register(on_confirm, ApptCb.filter(F.action.in_({"confirm",
                                                                           "drop"})))
    router.callback_query.register(on_button, ApptCb.filter())
    router.callback_query.register(on_mark, MarkCb.filter())
    router.message.register(on_unexpected, StateFilter(Book), ~F.text)
    return router


async def on_unexpected(message: Message) -> None:
    await message.answer(t("appt_unsupported"))
