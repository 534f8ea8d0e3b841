"""Outer middlewares, in the order they run for each update:

1. FloodControl - a per-user rate limit; a burst gets one polite answer, the rest dropped.
2. DbSessionMiddleware - one AsyncSession per update; the only place that commits (the SQL
   FSM storage writes through it too, so a step and its state commit together).
3. CurrentPerson - the Person behind the Telegram account (created as a resident on first
   contact) as `me`, so handlers never look people up themselves.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.fsm_storage import current_session
from services import people
from services.context import ServiceContext
from services.texts import t

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class FloodControl(BaseMiddleware):
    """At most `limit` updates per user in a sliding `window` (seconds), in this process."""

    def __init__(self, limit: int, window: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.monotonic = monotonic
        self.hits: dict[int, deque[float]] = {}
        self.warned: set[int] = set()

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        now = self.monotonic()
        hits = self.hits.setdefault(user.id, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            if user.id not in self.warned:
                self.warned.add(user.id)
                await _answer(event, t("flood"))
            return None
        hits.append(now)
        self.warned.discard(user.id)
        if len(self.hits) > 10_000:  # forget idle users now and then
            self.hits = {k: v for k, v in self.hits.items() if v and v[-1] > now - self.window}
        return await handler(event, data)


async def _answer(event: TelegramObject, text: str) -> None:
    if isinstance(event, Update):
        if event.message is not None:
            await event.message.answer(text)
        elif event.callback_query is not None:
            await event.callback_query.answer(text, show_alert=True)


class DbSessionMiddleware(BaseMiddleware):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        async with self.sessionmaker() as session:
            data["session"] = session
            token = current_session.set(session)  # the SQL FSM storage writes through it
            try:
                result = await handler(event, data)
                # A handler that raised never gets here: the context manager rolls back.
                await session.commit()
            finally:
                current_session.reset(token)
            return result


class CurrentPerson(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is not None and not user.is_bot:
            ctx: ServiceContext = data["ctx"]
            me = await people.ensure_resident(data["session"], user.id, user.full_name,
                                              ctx.clock)
            if me.unreachable_at is not None:  # they write again: they can be reached
                me.unreachable_at, me.unreachable_reason = None, ""
            data["me"] = me
        return await handler(event, data)


class CallbackMessage(BaseMiddleware):
    """Every callback query is answered, and handlers always get a `Message` to work on.

    A query without a message (inline mode: the bot offers none) is answered as out of
    date. An `InaccessibleMessage` (Telegram no longer shows the bot that message) is
    replaced by a Message with the same chat and id, so the press is still handled and the
    answer goes to the chat; an edit Telegram refuses is then answered by the error router.
    """

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        if not isinstance(event, CallbackQuery) or isinstance(event.message, Message):
            return await handler(event, data)
        if event.message is None:
            await event.answer(t("stale_button"), show_alert=True)
            return None
        old = event.message
        message = Message(message_id=old.message_id, chat=old.chat,
                          date=dt.datetime.now(dt.UTC))
        bot = data["bot"]
        return await handler(event.model_copy(update={"message": message.as_(bot)}).as_(bot),
                             data)
