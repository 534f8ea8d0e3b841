"""The yardstick of the end-to-end benchmark: a minimal aiogram bot that echoes every text.

    MINYI_BOT_TOKEN=... MINYI_API_BASE=http://127.0.0.1:PORT python -m tests.bench.echo_bot

Same aiogram, same session class, long polling, INFO logging (aiogram's handler timing).
"""

from __future__ import annotations

import asyncio
import logging
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


async def echo(message: Message) -> None:
    await message.answer(message.text or "?")


async def main() -> None:
    logging.basicConfig(level=logging.INFO)
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["MINYI_API_BASE"]))
    bot = Bot(os.environ["MINYI_BOT_TOKEN"], session=session)
    dp = Dispatcher()
    dp.message.register(echo)
    await dp.start_polling(bot, handle_signals=True)


if __name__ == "__main__":
    asyncio.run(main())
