"""Role filters for staff commands. The services check again for every action."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import TelegramObject

from models import Person, Role
from services import access


class HasRole(Filter):
    def __init__(self, *roles: Role, dispatcher: bool = False) -> None:
        self.roles = roles
        self.dispatcher = dispatcher

    async def __call__(self, event: TelegramObject, me: Person | None = None) -> bool:
        if me is None:
            return False
        if self.dispatcher and access.is_dispatcher(me):
            return True
        return any(me.has_role(r) for r in self.roles)
