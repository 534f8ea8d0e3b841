"""Role filters for staff commands. The services check again for every action."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import TelegramObject

from handlers.menus import roles_for
from models import Person, Role
from services import access


class HasRole(Filter):
    def __init__(self, *roles: Role, dispatcher: bool = False) -> None:
        self.roles = roles
        self.dispatcher = dispatcher

    @classmethod
    def for_command(cls, command: str) -> HasRole:
        """The roles handlers/menus.py gives the command (its menu and "/" list agree)."""
        return cls(*roles_for(command))

    async def __call__(self, event: TelegramObject, me: Person | None = None) -> bool:
        if me is None:
            return False
        if self.dispatcher and access.may_dispatch(me):
            return True
        return any(me.has_role(r) for r in self.roles)
