"""Outer middlewares, in the order they run for each update:

0. InFlight - counts the updates being handled, so a stop lets them finish (aiogram's
   polling stop does not wait for them, and the bot's HTTP session and database engine
   are closed right after it). It runs first, before aiogram's own errors and
   user-context middlewares (the rest run after those), so an update counts until its
   error reply, if any, has been sent.
1. FloodControl - a per-user rate limit counted when the update arrives, before it waits
   for the user's lock: a burst gets one polite answer, the rest dropped. In this process,
   or in Redis (shared by every replica) when Redis is configured.
2. EventIsolation - one update at a time per user (aiogram's isolation: in-process, or a
   Redis lock shared by the replicas), held until the update's transaction has committed,
   so a double tap on 确认 sees the first tap's state.
3. DbSessionMiddleware - one AsyncSession per update; the only place that commits. The
   SQL FSM storage reads and writes through it, so a step and its state commit together.
4. aiogram's FSMContextMiddleware (state read inside the update's session).
5. CurrentPerson - the Person behind the Telegram account (created as a resident on first
   contact) as `me`, so handlers never look people up themselves.

CallbackMessage (on callback queries) answers a query without a message, gives handlers a
Message for an inaccessible one, and notes the press and its chat for an answer Telegram
refuses as too late (bot.retry.LateAnswerInChat).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.storage.base import BaseEventIsolation
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.fsm_storage import current_session
from bot.retry import pressed
from services import people
from services.context import ServiceContext
from services.texts import t

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class Verdict(enum.Enum):
    PASS = 0
    WARN = 1  # the first update over the limit: answered once
    DROP = 2


class FloodCounter(Protocol):
    async def hit(self, user_id: int) -> Verdict: ...


class LocalFlood:
    """At most `limit` updates per user in a sliding `window` (seconds), in this process."""

    def __init__(self, limit: int, window: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.monotonic = monotonic
        self.hits: dict[int, deque[float]] = {}
        self.warned: set[int] = set()

    async def hit(self, user_id: int) -> Verdict:
        now = self.monotonic()
        hits = self.hits.setdefault(user_id, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            if user_id in self.warned:
                return Verdict.DROP
            self.warned.add(user_id)
            return Verdict.WARN
        hits.append(now)
        self.warned.discard(user_id)
        if len(self.hits) > 10_000:  # forget idle users now and then
            self.hits = {k: v for k, v in self.hits.items() if v and v[-1] > now - self.window}
        return Verdict.PASS


# The same sliding window in Redis, atomic for every replica; time from the Redis server.
_FLOOD_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  if redis.call('SET', KEYS[2], '1', 'NX', 'PX', window) then return 1 end
  return 2
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('DEL', KEYS[2])
return 0
"""


class RedisFlood:
    def __init__(self, redis: Any, limit: int, window: float, prefix: str = "minyi") -> None:
        self.limit = limit
        self.window_ms = int(window * 1000)
        self.prefix = prefix
        self.script = redis.register_script(_FLOOD_LUA)

    async def hit(self, user_id: int) -> Verdict:
        key = f"{self.prefix}:flood:{user_id}"
        verdict = await self.script(keys=[key, key + ":warned"],
                                    args=[self.window_ms, self.limit, secrets.token_hex(6)])
        return Verdict(int(verdict))


class InFlight(BaseMiddleware):
    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        self.count += 1
        self.idle.clear()
        try:
            return await handler(event, data)
        finally:
            self.count -= 1
            if not self.count:
                self.idle.set()

    async def drain(self, timeout: float) -> None:
        """Until no update is being handled, or `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle.wait(), timeout)


class FloodControl(BaseMiddleware):
    def __init__(self, counter: FloodCounter) -> None:
        self.counter = counter

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        verdict = await self.counter.hit(user.id)
        if verdict is Verdict.PASS:
            return await handler(event, data)
        if verdict is Verdict.WARN:
            await _answer(event, t("flood"))
        return None


async def _answer(event: TelegramObject, text: str) -> None:
    if isinstance(event, Update):
        if event.message is not None:
            await event.message.answer(text)
        elif event.callback_query is not None:
            await event.callback_query.answer(text, show_alert=True)


class EventIsolation(BaseMiddleware):
    """aiogram's per-user lock, taken here rather than inside its FSM middleware so that
    flood control runs before it and the update's commit happens inside it."""

    def __init__(self, fsm: FSMContextMiddleware, isolation: BaseEventIsolation) -> None:
        self.fsm = fsm
        self.isolation = isolation

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        context = self.fsm.resolve_event_context(data["bot"], data)
        if context is None:
            return await handler(event, data)
        async with self.isolation.lock(key=context.key):
            return await handler(event, data)


class DbSessionMiddleware(BaseMiddleware):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        async with self.sessionmaker() as session:
            data["session"] = session
            token = current_session.set(session)  # the SQL FSM storage works through it
            try:
                result = await handler(event, data)
                # A handler that raised never gets here: the context manager rolls back.
                await session.commit()
            finally:
                current_session.reset(token)
            return result


class CommitBeforeShowing(BaseRequestMiddleware):
    """Nothing is shown before it is saved: a Bot API call made inside an update whose
    session has an open transaction commits it first (with the FSM state), so an answer
    the user sees can never be undone by a crash that follows it. Later changes of the same
    update commit at its end as usual."""

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType],
                       bot: Bot, method: TelegramMethod[TelegramType]) -> Any:
        session = current_session.get()
        if session is not None and session.in_transaction():
            await session.commit()
        return await make_request(bot, method)


class CurrentPerson(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is not None and not user.is_bot:
            ctx: ServiceContext = data["ctx"]
            data["me"] = await people.seen(data["session"], user.id, user.full_name,
                                           ctx.clock)
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
        if isinstance(event, CallbackQuery):  # where a too-late answer goes (bot.retry)
            chat = event.message.chat.id if event.message else event.from_user.id
            pressed.set((event.id, chat))  # this update's task only; not reset, so the
            # error handler's answer (after this returns) finds it too
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
