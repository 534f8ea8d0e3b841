"""/start, /help, /cancel and the main menu; the last-resort fallback is its own Router."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import BaseFilter, Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers import menus, privacy, report
from models import Person
from services import invites, places
from services.context import ServiceContext
from services.texts import t


async def start(message: Message, state: FSMContext, session: AsyncSession,
                ctx: ServiceContext, me: Person, bot: Bot) -> None:
    """The menu of this person's role; staff also get their own "/" command list."""
    await state.clear()
    # Everything read before anything is shown: showing commits (CommitBeforeShowing), so
    # a read after it would open a second transaction.
    staff = menus.is_staff(me)
    if staff:  # their own greeting and commands; the resident notice is not theirs
        greeting = t("start_staff", county=await places.county_name(session),
                     name=me.name or "", roles=menus.role_names(me)) + "\n" + menus.help_text(me)
    else:
        greeting = await start_text(session, ctx)
    if me.consent_at is None and not staff:  # 个人信息保护法: the notice comes first
        await privacy.show_notice(message, me, ctx)
    if staff:
        await menus.set_commands(bot, me)
    await message.answer(greeting, reply_markup=kb.main_menu(me))


async def start_text(session: AsyncSession, ctx: ServiceContext) -> str:
    """The greeting names the county of the org file and the configured working days."""
    return t("start", county=await places.county_name(session),
             days=ctx.policy.working_days)


async def start_invite(message: Message, command: CommandObject, state: FSMContext,
                       session: AsyncSession, ctx: ServiceContext, bot: Bot) -> None:
    """/start TOKEN from a staff invite link binds this account to the staff record."""
    assert message.from_user is not None
    await state.clear()
    staff = await invites.redeem(session, command.args or "", message.from_user.id, ctx.clock)
    roles = menus.role_names(staff)
    await menus.set_commands(bot, staff)
    await message.answer(t("invite_welcome", name=staff.name, roles=roles),
                         reply_markup=kb.main_menu(staff))


async def help_(message: Message, me: Person) -> None:
    await message.answer(menus.help_text(me), reply_markup=kb.main_menu(me))


async def cancel(message: Message, state: FSMContext, me: Person) -> None:
    """Works at every step: the draft is dropped, nothing was written yet."""
    had_state = await state.get_state() is not None
    await state.clear()
    await message.answer(t("cancelled" if had_state else "nothing_to_cancel"),
                         reply_markup=kb.main_menu(me))


async def staff_only(message: Message, command: CommandObject) -> None:
    """A staff command from someone without the role (role filters let it fall here):
    say who may use it."""
    await message.answer(menus.staff_only_text(command.command))


async def fallback(message: Message, me: Person) -> None:
    await message.answer(t("unknown_input"), reply_markup=kb.main_menu(me))


async def fallback_button(query: CallbackQuery) -> None:
    """A button no handler takes (forged, or from an older version): answer it, so the
    user's spinner stops, and say the button is out of date."""
    await query.answer(t("stale_button"), show_alert=True)


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(start_invite, CommandStart(deep_link=True))
    router.message.register(start, CommandStart())
    router.message.register(cancel, Command("cancel"))
    router.message.register(cancel, F.text == t("btn_cancel"))
    router.message.register(help_, Command("help"))
    router.message.register(help_, F.text == t("btn_help"))
    return router


class IsStaff(BaseFilter):
    async def __call__(self, message: Message, me: Person | None = None) -> bool:
        return menus.is_staff(me)


def make_fallback_router() -> Router:
    router = Router(name=f"{__name__}.fallback")
    router.message.register(staff_only, Command(*menus.ROLE_FILTERED))
    # A resident's words outside any conversation start 我要反映 (not commands, not the
    # text of a button left over from a finished step, not staff: their menu is the work).
    router.message.register(report.begin_with_text, StateFilter(None), F.text,
                            ~F.text.startswith("/"), ~F.text.in_(kb.button_texts()),
                            ~IsStaff())
    router.message.register(fallback)
    router.callback_query.register(fallback_button)
    return router
