"""个人信息保护法 in chat: the notice and consent (/privacy, first /start), 我的信息
(/myinfo: everything stored about the resident, as a JSON file) and 删除我的信息
(/deleteme, confirmed with a button). The rules live in services/privacy.py."""

from __future__ import annotations

import enum
import json

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.keyboard_builder import InlineKeyboardBuilder
from models import Person
from services import audit, privacy
from services.context import ServiceContext
from services.texts import t


# -- the buttons ---------------------------------------------------------------------------
class PrivacyAction(enum.StrEnum):
    AGREE = "agree"  # the notice: 同意
    DECLINE = "decline"  # 不同意
    ERASE = "erase"  # 删除我的信息: confirmed
    KEEP = "keep"  # 删除我的信息: not now


class PrivacyCb(CallbackData, prefix="pv"):
    action: PrivacyAction


def consent_buttons() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("btn_consent"), callback_data=PrivacyCb(action=PrivacyAction.AGREE))
    kb.button(text=t("btn_consent_decline"), callback_data=PrivacyCb(action=PrivacyAction.DECLINE))
    return kb.as_markup()


def erase_buttons() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("btn_deleteme_confirm"), callback_data=PrivacyCb(action=PrivacyAction.ERASE))
    kb.button(text=t("btn_deleteme_keep"), callback_data=PrivacyCb(action=PrivacyAction.KEEP))
    return kb.as_markup()


def notice_text(ctx: ServiceContext) -> str:
    return t("privacy_notice", days=ctx.privacy.retention_days, hours=ctx.privacy.draft_hours)


async def show_notice(message: Message, me: Person, ctx: ServiceContext) -> None:
    """The notice; with 同意 / 不同意 while the resident has not agreed yet."""
    await message.answer(notice_text(ctx),
                         reply_markup=consent_buttons() if me.consent_at is None else None)


async def _close_notice(query: CallbackQuery) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)


async def on_agree(query: CallbackQuery, me: Person, ctx: ServiceContext) -> None:
    await _close_notice(query)
    privacy.consent(me, ctx.clock)
    await query.answer(t("consent_thanks"))


async def on_decline(query: CallbackQuery, ctx: ServiceContext) -> None:
    """Nothing is kept against the resident's will: a request is kept only on 确认提交,
    whose summary says that it is the consent (the decline says so too)."""
    await _close_notice(query)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("consent_declined", hours=ctx.privacy.draft_hours))


async def my_info(message: Message, state: FSMContext, session: AsyncSession, me: Person,
                  ctx: ServiceContext) -> None:
    data = await privacy.export(session, me, await state.get_data())
    audit.record(session, ctx.clock, me, "privacy.export", audit.person_label(me))
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    await message.answer_document(BufferedInputFile(body, filename="my-info.json"),
                                  caption=t("myinfo_caption"))


async def delete_me(message: Message, ctx: ServiceContext) -> None:
    await message.answer(t("deleteme_confirm", days=ctx.privacy.retention_days),
                         reply_markup=erase_buttons())


async def on_keep(query: CallbackQuery) -> None:
    assert isinstance(query.message, Message)
    await query.message.edit_text(t("deleteme_kept"))
    await query.answer()


async def on_erase(query: CallbackQuery, state: FSMContext, session: AsyncSession, me: Person,
                   ctx: ServiceContext) -> None:
    assert isinstance(query.message, Message)
    kept = await privacy.erase(session, me, ctx.clock)
    await state.clear()  # the draft, if any
    await query.message.edit_text(t("deleteme_done", tickets=kept))
    await query.answer()


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(show_notice, Command("privacy"))
    router.message.register(my_info, Command("myinfo"))
    router.message.register(my_info, F.text == t("btn_myinfo"))
    router.message.register(delete_me, Command("deleteme"))
    router.message.register(delete_me, F.text == t("btn_deleteme"))
    for action, handler in ((PrivacyAction.AGREE, on_agree),
                            (PrivacyAction.DECLINE, on_decline),
                            (PrivacyAction.ERASE, on_erase), (PrivacyAction.KEEP, on_keep)):
        router.callback_query.register(handler, PrivacyCb.filter(F.action == action))
    return router
