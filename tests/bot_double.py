"""Drive the real Dispatcher with real `Update`s; a Bot session records every API call.

This is aiogram's documented way to test handlers without the network: the Bot gets a
session whose `make_request` records the method and returns what Telegram would. The
recorder keeps each chat's messages (with later edits applied), so a test can press the
buttons a user actually sees, including stale ones.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
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
    # Requests Telegram would refuse as malformed: answered with its error like Telegram
    # does, and recorded so the test fails at teardown even if the code caught the error.
    violations: list[str] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)
    pressed: set[str] = field(default_factory=set)
    # A test's fault: called with each method, returns the exception to raise (or None).
    fault: Any = None

    def problems(self) -> list[str]:
        """Violations, and callback queries never answered (the user's spinner keeps
        turning): the teardown check of tests/conftest.py."""
        return [*self.violations,
                *(f"callback query {q} never answered" for q in self.pressed - self.answered)]

    def __post_init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1000)

    async def close(self) -> None:
        pass

    async def stream_content(self, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def _find(self, chat_id: int, message_id: int) -> Sent | None:
        for sent in self.chats.get(chat_id, []):
            if sent.message_id == message_id:
                return sent
        return None

    def _refuse(self, method: TelegramMethod[Any], description: str) -> TelegramBadRequest:
        self.violations.append(f"{type(method).__name__}: {description}")
        return TelegramBadRequest(method=method, message=description)

    def _check(self, method: TelegramMethod[Any]) -> None:
        text = getattr(method, "text", None) or getattr(method, "caption", None) or ""
        limit = 1024 if getattr(method, "caption", None) else 4096
        if len(text) > limit:
            raise self._refuse(method, f"Bad Request: message is too long ({len(text)})")
        if re.search(r"&amp;(amp|lt|gt|quot|#\d+);", text):
            raise self._refuse(method, f"double-escaped HTML: {text!r}")
        if text:
            try:  # the emulator's rule: Telegram's HTML subset, everything else escaped
                check_html(text)
            except ApiError as exc:
                raise self._refuse(method, f"{exc.description}: {text!r}") from exc
        for row in getattr(getattr(method, "reply_markup", None), "inline_keyboard", []):
            for button in row:
                data = button.callback_data or ""
                if not 1 <= len(data.encode()) <= 64:
                    raise self._refuse(method, f"BUTTON_DATA_INVALID {data!r}")

    async def make_request(self, bot: Bot, method: TelegramMethod[Any],
                           timeout: int | None = None) -> Any:
        self.calls.append(method)
        self._check(method)
        if self.fault is not None and (exc := self.fault(method)) is not None:
            raise exc
        if isinstance(method, GetMe):
            return BOT_USER
        if isinstance(method, AnswerCallbackQuery):
            if method.callback_query_id in self.answered:  # Telegram's answer; the error
                # handler falls back to a message, so this alone is not a violation
                raise TelegramBadRequest(method=method, message=(
                    "Bad Request: query is too old and response timeout expired or query "
                    "ID is invalid"))
            self.answered.add(method.callback_query_id)
            self.alerts.append((method.text or "", bool(method.show_alert)))
            return True
        if isinstance(method, EditMessageText | EditMessageReplyMarkup):
            assert method.chat_id is not None and method.message_id is not None
            sent = self._find(int(method.chat_id), method.message_id)
            if sent is None:
                raise self._refuse(method, "Bad Request: message to edit not found")
            new_text = method.text if isinstance(method, EditMessageText) else sent.text
            if new_text == sent.text and _same_markup(method.reply_markup, sent.markup):
                raise TelegramBadRequest(method=method, message=(
                    "Bad Request: message is not modified: specified new message content "
                    "and reply markup are exactly the same as a current content and reply "
                    "markup of the message"))
            sent.text = new_text
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
        text = getattr(method, "text", None) or getattr(method, "caption", None) or ""
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


def _same_markup(new: Any, old: Any) -> bool:
    """As Telegram compares them: no inline keyboard equals no inline keyboard."""
    def norm(markup: Any) -> Any:
        return markup.model_dump() if isinstance(markup, InlineKeyboardMarkup) else None
    return bool(norm(new) == norm(old))


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
        query_id = str(next(self._update_ids))
        self.recorder.pressed.add(query_id)
        query = CallbackQuery(id=query_id, from_user=self.user,
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
        from bot.retry import session_middlewares

        for middleware in session_middlewares():  # as bot.app.make_bot does
            self.recorder.middleware(middleware)
        self.bot = Bot(TOKEN, session=self.recorder,
                       default=DefaultBotProperties(parse_mode=ParseMode.HTML))
        self.dp: Dispatcher = self._make()
        self.chatters: list[Chatter] = []

    def user(self, user_id: int, name: str = "张三") -> Chatter:
        chatter = Chatter(self.dp, self.bot, self.recorder, user_id, name)
        self.chatters.append(chatter)
        return chatter

    async def deliver(self, *, failures: int = 0) -> int:
        """Run the real outbox sender once over everything due (through the recorder) and
        check that every due row was delivered: delivered == enqueued, unless the test
        expects `failures` rows to be given up."""
        from bot.sender import OutboxSender, SenderLimits
        from models import OutboxMessage, OutboxState

        async with self.sessionmaker() as session:
            due = await session.scalar(sa.select(sa.func.count()).where(
                OutboxMessage.state == OutboxState.PENDING,
                OutboxMessage.not_before <= self.ctx.clock.now()))
        sender = OutboxSender(self.bot, self.sessionmaker, self.ctx.clock,
                              SenderLimits(max_per_second=1000, per_chat_seconds=0.0))
        await sender.drain()
        assert len(sender.gave_up) == failures, f"outbox rows not delivered: {sender.gave_up}"
        assert sender.sent + failures >= (due or 0), (sender.sent, due)
        return sender.sent

    def restart(self, config: Any = None) -> None:
        self.config = config or self.config
        self.dp = self._make()
        for chatter in self.chatters:
            chatter.dp = self.dp
