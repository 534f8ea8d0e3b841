"""Bot session middlewares (every API call of the bot goes through them):

- RetryAfterMiddleware: a direct reply that hits Telegram's flood limit (429) waits
  `retry_after` and is sent again (twice at most, short waits only), instead of failing
  the update. The outbox sender sees the 429 only when this gives up.
- NotModifiedIsDone: an edit Telegram answers "message is not modified" (a double tap, a
  second copy of the same card) already shows what it asked for: it is done, not an error.
  One place for every edit path.
- LateAnswerInChat: an answer to a button press that Telegram refuses as "query is too old"
  (it takes them for some 10-20 s: an update retried on another replica after a crash, a
  slow step, a second answer to one press) can no longer show its alert; its text goes to
  the chat as a message instead, and an answer without text (it only stops the spinner)
  is done. Without this the handler failed after its work was committed, and the user got
  "抱歉，系统出了点问题" instead of, say, their request's number.
- KeepResponseTypes: aiogram parses every answer as `Response[method.__returning__]`, a
  pydantic generic class that pydantic caches only weakly; in the running bot the garbage
  collector kept freeing it, and each getUpdates/sendMessage built it again (5-100 ms,
  the schema of Update is large: 5 % of the bot's CPU in the e2e benchmark's profile).
  Holding each one used keeps it built once.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageCaption,
    EditMessageReplyMarkup,
    EditMessageText,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType

MAX_RETRIES = 2
MAX_WAIT = 5
TOO_OLD = "query is too old"
# The button press being handled, as (callback query id, chat id): set by the update's
# CallbackMessage middleware, read by LateAnswerInChat.
pressed: ContextVar[tuple[str, int] | None] = ContextVar("pressed", default=None)


class RetryAfterMiddleware(BaseRequestMiddleware):
    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Any:
        for attempt in range(MAX_RETRIES + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == MAX_RETRIES or exc.retry_after > MAX_WAIT:
                    raise
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")


EDITS = (EditMessageText, EditMessageReplyMarkup, EditMessageCaption)


class NotModifiedIsDone(BaseRequestMiddleware):
    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Any:
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as exc:
            if isinstance(method, EDITS) and "message is not modified" in exc.message:
                return True  # what an edit of an inline message returns; callers ignore it
            raise


class LateAnswerInChat(BaseRequestMiddleware):
    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Any:
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as exc:
            if not isinstance(method, AnswerCallbackQuery) or TOO_OLD not in exc.message:
                raise
            press = pressed.get()
            if method.text and press is not None and press[0] == method.callback_query_id:
                await bot.send_message(press[1], method.text)
            return True  # what answerCallbackQuery returns; callers ignore it


class KeepResponseTypes(BaseRequestMiddleware):
    def __init__(self) -> None:
        self.kept: dict[Any, type] = {}

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType],
                       bot: Bot, method: TelegramMethod[TelegramType]) -> Any:
        returning = method.__returning__
        if returning not in self.kept:
            self.kept[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)


def session_middlewares() -> list[BaseRequestMiddleware]:
    """What every Bot session gets (the app's, and the tests' recording session)."""
    from bot.middlewares import CommitBeforeShowing

    return [KeepResponseTypes(), CommitBeforeShowing(), NotModifiedIsDone(),
            LateAnswerInChat(), RetryAfterMiddleware()]
