"""我的诉求: the resident's tickets, their detail and history, and follow-up messages."""

from __future__ import annotations

import enum
import re

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers import views
from handlers.keyboard_builder import InlineKeyboardBuilder
from handlers.keyboards import Id
from models import Person, Ticket
from services import my_requests, places, work
from services.context import ServiceContext
from services.texts import plain, t

NUMBER = re.compile(r"^\s*(MY\d{8}-\d{4,})\s*$", re.IGNORECASE)


# -- the buttons ---------------------------------------------------------------------------
class MyListCb(CallbackData, prefix="my"):
    page: Id


class TicketAction(enum.StrEnum):
    VIEW = "view"  # the detail (and history)
    FOLLOW = "follow"  # 补充: asks the words


class TicketCb(CallbackData, prefix="tk"):
    action: TicketAction
    id: Id
    page: Id = 0


def ticket_list(tickets: list[Ticket], page: int, pages: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for ticket in tickets:
        kb.button(text=plain("btn_ticket", number=ticket.number,
                             state=views.state_label(ticket)),
                  callback_data=TicketCb(action=TicketAction.VIEW, id=ticket.id, page=page))
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton(text=t("btn_prev"),
                                        callback_data=MyListCb(page=page - 1).pack()))
    if page < pages - 1:
        nav.append(InlineKeyboardButton(text=t("btn_next"),
                                        callback_data=MyListCb(page=page + 1).pack()))
    kb.adjust(1)
    if nav:
        kb.row(*nav)
    return kb.as_markup()


def ticket_detail(ticket: Ticket, page: int, can_follow_up: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if can_follow_up:
        kb.button(text=t("btn_follow_up"),
                  callback_data=TicketCb(action=TicketAction.FOLLOW, id=ticket.id, page=page))
    kb.button(text=t("btn_back_to_list"), callback_data=MyListCb(page=page))
    kb.adjust(1)
    return kb.as_markup()


class FollowUp(StatesGroup):
    text = State()


async def _render_detail(session: AsyncSession, ctx: ServiceContext, resident: Person,
                         ticket_id: int, page: int) -> tuple[str, InlineKeyboardMarkup]:
    detail = await my_requests.detail(session, resident, ticket_id)
    unit_ids = {e.data.get("unit_id") for e in detail.events} - {None}
    unit_names = await work.unit_names(session, unit_ids)
    text = views.ticket_detail(detail, await places.path(session, detail.place),
                               ctx.calendar.tz, unit_names)
    return text, ticket_detail(detail.ticket, page, detail.can_follow_up)


async def show_list(message: Message, state: FSMContext, session: AsyncSession,
                    me: Person, ctx: ServiceContext) -> None:
    await state.clear()
    page = await my_requests.page_of(session, me, 0,
                                     ctx.intake.page_size)
    await message.answer(views.ticket_page(page),
                         reply_markup=ticket_list(page.tickets, page.page, page.pages))


async def on_page(query: CallbackQuery, callback_data: MyListCb, session: AsyncSession,
                  me: Person, ctx: ServiceContext) -> None:
    assert isinstance(query.message, Message)
    page = await my_requests.page_of(session, me,
                                     callback_data.page, ctx.intake.page_size)
    await query.message.edit_text(views.ticket_page(page),
                                  reply_markup=ticket_list(page.tickets, page.page,
                                                              page.pages))
    await query.answer()


async def on_view(query: CallbackQuery, callback_data: TicketCb, session: AsyncSession,
                  ctx: ServiceContext, me: Person) -> None:
    assert isinstance(query.message, Message)
    text, markup = await _render_detail(session, ctx, me, callback_data.id,
                                        callback_data.page)
    await query.message.edit_text(text, reply_markup=markup)
    await query.answer()


async def on_follow(query: CallbackQuery, callback_data: TicketCb, state: FSMContext,
                    session: AsyncSession, me: Person) -> None:
    """补充: ask the words, while the request can still take them."""
    assert isinstance(query.message, Message)
    detail = await my_requests.detail(session, me, callback_data.id)
    if not detail.can_follow_up:
        await query.answer(t("follow_up_closed", state=t(f"state_{detail.ticket.state}")),
                           show_alert=True)
        return
    await state.set_state(FollowUp.text)
    await state.set_data({"ticket_id": detail.ticket.id})
    await query.answer()
    await query.message.answer(t("follow_up_ask", number=detail.ticket.number),
                               reply_markup=kb.cancel_only())


async def on_number(message: Message, session: AsyncSession, ctx: ServiceContext,
                    me: Person) -> None:
    """A ticket number typed or pasted: its detail, if it is the resident's own."""
    match = NUMBER.match(message.text or "")
    assert match is not None
    ticket = await my_requests.own_by_number(session, me, match.group(1))
    text, markup = await _render_detail(session, ctx, me, ticket.id, 0)
    await message.answer(text, reply_markup=markup)


async def on_follow_up(message: Message, state: FSMContext, session: AsyncSession,
                       ctx: ServiceContext, me: Person) -> None:
    data = await state.get_data()
    photos = [message.photo[-1].file_id] if message.photo else []
    ticket = await my_requests.follow_up(session, ctx, me, int(data.get("ticket_id", 0)),
                                         message.text or message.caption or "", photos)
    await state.clear()
    await message.answer(t("follow_up_sent", number=ticket.number), reply_markup=kb.main_menu(me))


async def on_follow_up_unsupported(message: Message) -> None:
    await message.answer(t("follow_up_unsupported"))


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(show_list, F.text == t("btn_my"))
    router.message.register(show_list, Command("my"))
    words = F.text & ~F.text.in_(kb.menu_texts())
    router.message.register(on_follow_up, FollowUp.text, words | F.photo)
    router.message.register(on_follow_up_unsupported, FollowUp.text, ~F.text)
    router.message.register(on_number, F.text.regexp(NUMBER))
    router.callback_query.register(on_page, MyListCb.filter())
    router.callback_query.register(on_view, TicketCb.filter(F.action == TicketAction.VIEW))
    router.callback_query.register(on_follow,
                                   TicketCb.filter(F.action == TicketAction.FOLLOW))
    return router
