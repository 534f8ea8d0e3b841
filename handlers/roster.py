"""The receivers' /roster of 民意5来听 bookings: a day's list (or its workbook) and the
marks 已接待 / 未到 / 转为诉求 (resident booking: handlers/appointments.py)."""

from __future__ import annotations

import datetime as dt
import enum

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.keyboard_builder import InlineKeyboardBuilder
from handlers.keyboards import Id
from handlers.views import esc
from models import Booking, BookingState, Person, Venue
from services import appointments
from services.context import ServiceContext
from services.texts import t

MAX_ROSTER_DAYS = 3660  # a roster ten years away is a typing error, not a day to look up


class Mark(enum.StrEnum):
    """A receiver's mark on a booked visit (the booking's state it records)."""

    ATTENDED = BookingState.ATTENDED.value  # asks the notes
    NO_SHOW = BookingState.NO_SHOW.value  # recorded at once
    CONVERTED = BookingState.CONVERTED.value  # asks the notes; becomes a request


class MarkCb(CallbackData, prefix="mk"):
    id: Id
    outcome: Mark


class Roster(StatesGroup):
    notes = State()  # a receiver's notes for attended / converted


def mark_buttons(booking: Booking) -> InlineKeyboardMarkup | None:
    if booking.state != BookingState.BOOKED:
        return None
    b = InlineKeyboardBuilder()
    for outcome in Mark:
        b.button(text=t(f"btn_mark_{outcome}"),
                 callback_data=MarkCb(id=booking.id, outcome=outcome))
    return b.as_markup()


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
        await message.answer(_roster_item(booking, v, ctx, units),
                             reply_markup=mark_buttons(booking))


def _roster_item(booking: Booking, v: Venue, ctx: ServiceContext,
                 units: dict[str, str]) -> str:
    """`units`: unit code -> name (appointments.unit_names): the roster names a unit."""
    unit = units.get(booking.routing.get("unit") or "", t("detail_unit_pending"))
    return t("roster_item", at=f"{booking.starts_at.astimezone(ctx.calendar.tz):%H:%M}",
             venue=esc(v.name, 60), code=booking.code, topic=esc(booking.topic, 300),
             unit=esc(unit, 60), state=t(f"booking_{booking.state}"))


async def on_no_show(query: CallbackQuery, callback_data: MarkCb, session: AsyncSession,
                     ctx: ServiceContext, me: Person) -> None:
    """未到: recorded at once, the card shows it."""
    assert isinstance(query.message, Message)
    booking = await appointments.mark(session, ctx, ctx.router, me, callback_data.id,
                                      BookingState.NO_SHOW)
    v, _ = await appointments.venue(session, booking.venue_id)
    units = await appointments.unit_names(session, [booking])
    await query.message.edit_text(_roster_item(booking, v, ctx, units), reply_markup=None)
    await query.answer(t("booking_no_show"))


async def on_mark_with_notes(query: CallbackQuery, callback_data: MarkCb, state: FSMContext,
                             session: AsyncSession, me: Person) -> None:
    """已接待 / 转为诉求: the receiver's notes first."""
    assert isinstance(query.message, Message)
    await appointments.markable(session, me, callback_data.id)  # refuse stale presses now
    await state.set_state(Roster.notes)
    await state.set_data({"booking_id": callback_data.id,
                          "outcome": BookingState(callback_data.outcome).value,
                          "card": [query.message.chat.id, query.message.message_id]})
    await query.answer()
    await query.message.answer(t("roster_ask_notes"), reply_markup=kb.cancel_only())


async def on_notes(message: Message, state: FSMContext, session: AsyncSession,
                   ctx: ServiceContext, me: Person) -> None:
    data = await state.get_data()
    booking = await appointments.mark(session, ctx, ctx.router, me, data["booking_id"],
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


async def on_unexpected(message: Message) -> None:
    await message.answer(t("appt_unsupported"))


def make_router() -> Router:
    router = Router(name=__name__)
    words = F.text & ~F.text.in_(kb.menu_texts())
    router.message.register(on_notes, Roster.notes, words)
    router.message.register(on_roster, Command("roster"))
    router.message.register(on_roster, F.text == t("btn_menu_roster"))
    router.callback_query.register(on_no_show, MarkCb.filter(F.outcome == Mark.NO_SHOW))
    router.callback_query.register(on_mark_with_notes, MarkCb.filter(
        F.outcome.in_({Mark.ATTENDED, Mark.CONVERTED})))
    router.message.register(on_unexpected, Roster.notes, ~F.text)
    return router
