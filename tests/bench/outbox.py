"""Outbox sender benchmark: achieved rate against the configured limit.

    python -m tests.bench.outbox [--messages 5000] [--chats 500] [--limit 25]

Queues the messages (to `--chats` chats, round-robin) in a fresh SQLite database and
drains them with the real sender through the loopback Bot API peer, which enforces
Telegram's limits (30 messages/s per bot, about 1/s per chat) and answers 429 when they
are broken. Prints the achieved rate, its ratio to the limit and the 429s the sender
provoked. Target: within 5 % of the limit, no 429.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from bot.emulator import Emulator, Limits
from bot.sender import OutboxSender, SenderLimits
from models import migrate
from models.db import make_engine, make_sessionmaker
from services import outbox
from services.clock import SystemClock

TOKEN = "123456:BENCH-token_abcdefghijklmnopqrstuvwxyz"


async def run(messages: int, chats: int, limit: float) -> dict[str, float]:
    api = Emulator(any_chat=True,
                   limits=Limits(per_second=30, chat_burst=1, chat_per_second=1 / 0.9))
    await api.start()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await migrate.upgrade(engine)
        sm = make_sessionmaker(engine)
        clock = SystemClock()
        async with sm() as session:
            for i in range(messages):
                outbox.enqueue(session, [1_000_000 + i % chats], kind="bench",
                               text=f"第{i}条", now=clock.now(), priority=i % 3 * 4)
            await session.commit()
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base)),
                  default=DefaultBotProperties(parse_mode=ParseMode.HTML))
        sender = OutboxSender(bot, sm, clock, SenderLimits(max_per_second=limit))
        t0 = time.perf_counter()
        try:
            await sender.drain(timeout=messages / limit * 3 + 60)
        finally:
            elapsed = time.perf_counter() - t0
            await bot.session.close()
            await engine.dispose()
            await api.stop()
    rate = len(api.delivered) / elapsed
    return {"messages": messages, "chats": chats, "limit": limit, "seconds": elapsed,
            "delivered": len(api.delivered), "rate": rate, "ratio": rate / limit,
            "provoked_429": api.too_many}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--chats", type=int, default=500)
    p.add_argument("--limit", type=float, default=25.0)
    args = p.parse_args()
    r = asyncio.run(run(args.messages, args.chats, args.limit))
    print(f"{r['delivered']}/{r['messages']} messages to {r['chats']} chats in "
          f"{r['seconds']:.1f} s: {r['rate']:.2f}/s against a limit of {r['limit']:.0f}/s "
          f"(ratio {r['ratio']:.3f}); 429 provoked by the sender: {r['provoked_429']}")


if __name__ == "__main__":
    main()
