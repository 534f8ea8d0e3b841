"""The Bot API emulator: every answer parses with aiogram's own types; the rules bite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    File,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    Update,
    User,
)

from bot.emulator import Emulator, Limits
from tests.procs import until

TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz"
USER = 4242


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    emulator = Emulator()
    await emulator.start()
    emulator.user(USER, "张三")
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(emu: Emulator) -> AsyncIterator[Bot]:
    b = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base)),
            default=DefaultBotProperties(parse_mode="HTML"))
    yield b
    await b.session.close()


def keyboard(data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="按钮",
                                                                       callback_data=data)]])


async def test_every_method_answers_in_aiogram_types(emu: Emulator, bot: Bot) -> None:
    emu.limits = Limits(chat_burst=100)
    assert isinstance(await bot.get_me(), User)
    assert await bot.set_my_commands([BotCommand(command="start", description="开始")])
    text = await bot.send_message(USER, "<b>你好</b> &amp; 欢迎", reply_markup=keyboard("k:1"))
    assert isinstance(text, Message) and text.reply_markup is not None
    photo = await bot.send_photo(USER, BufferedInputFile(b"png", "a.png"), caption="照片")
    assert isinstance(photo, Message) and photo.photo
    doc = await bot.send_document(USER, BufferedInputFile(b"xlsx", "r.xlsx"), caption="表")
    assert doc.document is not None and doc.document.file_name == "r.xlsx"
    loc = await bot.send_location(USER, 35.67, 117.26)
    assert loc.location is not None and loc.location.latitude == 35.67
    album = await bot.send_media_group(USER, [InputMediaPhoto(media=photo.photo[-1].file_id),
                                              InputMediaPhoto(media=photo.photo[-1].file_id)])
    assert len(album) == 2 and all(isinstance(m, Message) for m in album)
    edited = await bot.edit_message_text("改过了", chat_id=USER, message_id=text.message_id)
    assert isinstance(edited, Message) and edited.text == "改过了"
    again = await bot.edit_message_reply_markup(chat_id=USER, message_id=text.message_id,
                                                reply_markup=keyboard("k:2"))
    assert isinstance(again, Message)
    file = await bot.get_file(photo.photo[-1].file_id)
    assert isinstance(file, File) and file.file_path
    await emu.send_text(USER, "/start")
    updates = await bot.get_updates(offset=0, timeout=1)
    assert isinstance(updates[0], Update) and updates[0].message is not None
    await emu.press(USER, text.message_id, "k:2")
    updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
    query = updates[0].callback_query
    assert query is not None and query.data == "k:2"
    assert await bot.answer_callback_query(query.id, text="好的", show_alert=True)
    assert await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="s3cret")
    assert await bot.delete_webhook()


async def test_telegram_rules_are_enforced(emu: Emulator, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="too long"):
        await bot.send_message(USER, "长" * 4097)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "x", reply_markup=keyboard("d" * 65))
    with pytest.raises(TelegramBadRequest, match="parse entities"):
        await bot.send_message(USER, "a < b")
    with pytest.raises(TelegramBadRequest, match="parse entities"):
        await bot.send_message(USER, "<script>x</script>")
    assert len(emu.violations) == 4  # recorded for the teardown check, which they fail
    emu.violations.clear()
    sent = await bot.send_message(USER, "同样")
    with pytest.raises(TelegramBadRequest, match="not modified"):
        await bot.edit_message_text("同样", chat_id=USER, message_id=sent.message_id)
    emu.blocked.add(USER)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(USER, "还在吗")
    emu.blocked.clear()
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999, "谁")
    with pytest.raises(TelegramRetryAfter) as exc:
        for _ in range(10):  # a burst to one chat: 1/s with a small burst allowance
            await bot.send_message(USER, "快")
    assert exc.value.retry_after == 1 and emu.too_many == 1


async def test_long_polling_waits_for_an_update(emu: Emulator, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(offset=0, timeout=5))
    await until(lambda: emu.waiting_polls == 1, 5)  # held open by the emulator...
    assert not poll.done()  # ...and not answered
    await emu.send_text(USER, "你好")
    updates = await asyncio.wait_for(poll, 3)
    assert updates[0].message is not None and updates[0].message.text == "你好"


async def test_a_button_press_answered_too_late_is_refused(emu: Emulator, bot: Bot) -> None:
    emu.limits = Limits(query_seconds=0.2)
    sent = await bot.send_message(USER, "选一个", reply_markup=keyboard("k:1"))
    await emu.press(USER, sent.message_id, "k:1")
    await emu.press(USER, sent.message_id, "k:1")
    first, late = (u.callback_query for u in await bot.get_updates(offset=0, timeout=1))
    assert first is not None and late is not None
    assert await bot.answer_callback_query(first.id)
    await asyncio.sleep(0.3)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(late.id, text="晚了", show_alert=True)
    assert emu.violations == []  # Telegram's answer, not a malformed request
