"""Drive the real Dispatcher with real `Update`s; a Bot session records every API call.

This is aiogram's documented way to test handlers without the network: the Bot gets a
session whose `make_request` records the method and returns what Telegram would. The
recorder keeps each chat's messages (with later edits applied), so a test can press the
buttons a user actually sees, including stale ones.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendLocation,
    SendMediaGroup,
    TelegramMethod,
)
from aiogram.types import (
    CallbackQuery,
    Chat,
    Contact,
    InlineKeyboardMarkup,
    Location,
    Message,
    PhotoSize,
    ReplyKeyboardMarkup,
    Sticker,
    Update,
    User,
)

from bot.emulator import ApiError, check_html

TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz"
BOT_USER = User(id=123456, is_bot=True, first_name="民意快车", username="minyi_test_bot")
NOW = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)


@dataclass
class Sent:
    """A message as the user's chat shows it now (edits applied)."""

    message_id: int
    chat_id: int
    text: str
    markup: Any = None
    photo: str | None = None

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of the inline keyboard."""
        if not isinstance(self.markup, InlineKeyboardMarkup):
            return []
        return [(b.text, b.callback_data or "") for row in self.markup.inline_keyboard
                for b in row]

    @property
    def reply_buttons(self) -> list[str]:
        if not isinstance(self.markup, ReplyKeyboardMarkup):
            return []
        return [b.text for row in self.markup.keyboard for b in row]


@dataclass
class RecordingSession(BaseSession):
    calls: list[TelegramMethod[Any]] = field(default_factory=list)
    chats: dict[int, list[Sent]] = field(default_factory=dict)
    alerts: list[tuple[str, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1000)

    async def close(self) -> None:
        pass

    async def stream_content(self, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def _find(self, chat_id: int, message_id: int) -> Sent:
        for sent in self.chats.get(chat_id, []):
            if sent.message_id == message_id:
                return sent
        raise AssertionError(f"no message {message_id} in chat {chat_id}")

    async def make_request(self, bot: Bot, method: TelegramMethod[Any],
                           timeout: int | None = None) -> Any:
        self.calls.append(method)
        text = getattr(method, "text", None) or getattr(method, "caption", None) or ""
        if text:
            assert len(text) <= 4096, f"{type(method).__name__} text too long: {len(text)}"
            try:  # the emulator's rule: Telegram's HTML subset, everything else escaped
                check_html(text)
            except ApiError as exc:
                raise AssertionError(f"{exc.description}: {text!r}") from exc
        for row in getattr(getattr(method, "reply_markup", None), "inline_keyboard", []):
            for button in row:
                data = button.callback_data or ""
                assert len(data.encode()) <= 64, f"callback data too long: {data!r}"
        if isinstance(method, GetMe):
            return BOT_USER
        if isinstance(method, AnswerCallbackQuery):
            self.alerts.append((method.text or "", bool(method.show_alert)))
            return True
        if isinstance(method, EditMessageText | EditMessageReplyMarkup):
            assert method.chat_id is not None and method.message_id is not None
            sent = self._find(int(method.chat_id), method.message_id)
            if isinstance(method, EditMessageText):
                sent.text = method.text
            sent.markup = method.reply_markup
            return self._message(sent)
        chat_id = getattr(method, "chat_id", None)
        if chat_id is None:
            return True
        if isinstance(method, SendMediaGroup):
            album = []
            for media in method.media:
                sent = Sent(next(self._ids), int(chat_id), "", None, str(media.media))
                self.chats.setdefault(sent.chat_id, []).append(sent)
                album.append(self._message(sent))
            return album
        if isinstance(method, SendLocation):
            text = f"[位置 {method.latitude},{method.longitude}]"
        photo = getattr(method, "photo", None)
        sent = Sent(next(self._ids), int(chat_id), text, getattr(method, "reply_markup", None),
                    photo if isinstance(photo, str) else None)
        self.chats.setdefault(sent.chat_id, []).append(sent)
        return self._message(sent)

    @staticmethod
    def _message(sent: Sent) -> Message:
        markup = sent.markup if isinstance(sent.markup, InlineKeyboardMarkup) else None
        return Message(message_id=sent.message_id, date=NOW, from_user=BOT_USER,
                       chat=Chat(id=sent.chat_id, type="private"), text=sent.text or None,
                       reply_markup=markup)


class Chatter:
    """One Telegram user talking to the bot through a dispatcher."""

    _update_ids = itertools.count(1)
    _message_ids = itertools.count(1)

    def __init__(self, dp: Dispatcher, bot: Bot, recorder: RecordingSession,
                 user_id: int, name: str = "张三") -> None:
        self.dp, self.bot, self.recorder = dp, bot, recorder
        self.user = User(id=user_id, is_bot=False, first_name=name, language_code="zh-hans")
        self.chat = Chat(id=user_id, type="private")

    # -- what the user sees -------------------------------------------------------------
    @property
    def inbox(self) -> list[Sent]:
        return self.recorder.chats.get(self.user.id, [])

    @property
    def last(self) -> Sent:
        assert self.inbox, "the bot sent nothing to this chat"
        return self.inbox[-1]

    def texts_since(self, mark: int) -> list[str]:
        return [s.text for s in self.inbox[mark:]]

    def last_with_buttons(self) -> Sent:
        for sent in reversed(self.inbox):
            if sent.buttons:
                return sent
        raise AssertionError("no message with inline buttons")

    # -- what the user does -------------------------------------------------------------
    async def feed(self, **content: Any) -> Any:
        message = Message(message_id=next(self._message_ids), date=NOW, chat=self.chat,
                          from_user=self.user, **content)
        return await self.dp.feed_update(
            self.bot, Update(update_id=next(self._update_ids), message=message))

    async def say(self, text: str) -> Any:
        return await self.feed(text=text)

    async def photo(self, file_id: str, caption: str | None = None,
                    media_group_id: str | None = None) -> Any:
        sizes = [PhotoSize(file_id=f"{file_id}-s", file_unique_id=f"{file_id}-us", width=90,
                           height=90),
                 PhotoSize(file_id=file_id, file_unique_id=f"u{file_id}", width=1280,
                           height=960)]
        return await self.feed(photo=sizes, caption=caption, media_group_id=media_group_id)

    async def location(self, lat: float, lon: float) -> Any:
        return await self.feed(location=Location(latitude=lat, longitude=lon))

    async def contact(self, phone: str) -> Any:
        return await self.feed(contact=Contact(phone_number=phone, first_name="张三",
                                               user_id=self.user.id))

    async def sticker(self) -> Any:
        return await self.feed(sticker=Sticker(
            file_id="stk", file_unique_id="ustk", type="regular", width=512, height=512,
            is_animated=False, is_video=False))

    async def press(self, label: str, sent: Sent | None = None) -> Any:
        """Press the inline button whose label contains `label` (latest keyboard by default)."""
        sent = sent or self.last_with_buttons()
        matches = [data for text, data in sent.buttons if label in text]
        assert matches, f"no button {label!r} in {sent.buttons}"
        return await self.press_data(matches[0], sent)

    async def press_data(self, data: str, sent: Sent | None = None) -> Any:
        sent = sent or self.last_with_buttons()
        query = CallbackQuery(id=str(next(self._update_ids)), from_user=self.user,
                              chat_instance="ci", data=data,
                              message=RecordingSession._message(sent))
        return await self.dp.feed_update(
            self.bot, Update(update_id=next(self._update_ids), callback_query=query))

    def last_alert(self) -> str:
        return self.recorder.alerts[-1][0] if self.recorder.alerts else ""


class Harness:
    """The bot's real Dispatcher over a test database; `restart()` builds a new one (a new
    process, as far as the bot can tell) while the chats' history is kept."""

    def __init__(self, config: Any, sessionmaker: Any, ctx: Any, request_router: Any) -> None:
        from bot.app import make_dispatcher

        self.config = config
        self.ctx = ctx
        self._make = lambda: make_dispatcher(self.config, sessionmaker, ctx, request_router)
        self.sessionmaker = sessionmaker
        self.recorder = RecordingSession()
        self.bot = Bot(TOKEN, session=self.recorder,
                       default=DefaultBotProperties(parse_mode=ParseMode.HTML))
        self.dp: Dispatcher = self._make()
        self.chatters: list[Chatter] = []

    def user(self, user_id: int, name: str = "张三") -> Chatter:
        chatter = Chatter(self.dp, self.bot, self.recorder, user_id, name)
        self.chatters.append(chatter)
        return chatter

    async def deliver(self) -> int:
        """Run the real outbox sender once over everything due (through the recorder)."""
        from bot.sender import OutboxSender, SenderLimits

        sender = OutboxSender(self.bot, self.sessionmaker, self.ctx.clock,
                              SenderLimits(max_per_second=1000, per_chat_seconds=0.0))
        await sender.drain()
        return sender.sent

    def restart(self, config: Any = None) -> None:
        self.config = config or self.config
        self.dp = self._make()
        for chatter in self.chatters:
            chatter.dp = self.dp
