"""A Bot session middleware: a direct reply that hits Telegram's flood limit (429) waits
`retry_after` and is sent again (twice at most, short waits only), instead of failing
the update. The outbox sender sees the 429 only when this gives up."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType

MAX_RETRIES = 2
MAX_WAIT = 5


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
