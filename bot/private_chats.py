"""Private chats only: the bot shows tickets, phones and map pins, which must never reach
a group. The first outer middleware of the dispatcher: an update from a group, supergroup
or channel is dropped before any database work (so nobody there becomes a Person); the
first command in a group gets one sentence saying the bot works in private chat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import Chat, TelegramObject, Update

from services.texts import t

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
REMEMBER = 10_000  # chats already told, per process


class PrivateChatsOnly(BaseMiddleware):
    def __init__(self) -> None:
        self.told: set[int] = set()

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        chat: Chat | None = data.get("event_chat")
        if chat is None or chat.type == ChatType.PRIVATE:
            return await handler(event, data)
        if isinstance(event, Update):
            if event.callback_query is not None:
                await event.callback_query.answer()  # stops the spinner, posts nothing
            elif (event.message is not None and (event.message.text or "").startswith("/")
                  and chat.id not in self.told):
                if len(self.told) >= REMEMBER:
                    self.told.clear()
                self.told.add(chat.id)
                await event.message.answer(t("private_only"))
        return None
