"""What each person may use: the persistent menu and Telegram's "/" command list per role.

One table says which roles may use each staff command; the role filters of the routers,
the menu buttons, the chat-scoped command list (`setMyCommands`) and the answer to someone
without the role ("/triage 仅供…使用") are all derived from it, so they cannot disagree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, KeyboardButton, ReplyKeyboardMarkup

from models import Person, Role
from services import access, errands
from services.texts import t

log = logging.getLogger(__name__)

ERRAND_ROLES = (Role.ORGANISER, Role.VOLUNTEER)  # 红色代办 staff: no 诉求 tickets
WORKERS = access.WORK_ROLES
DISPATCH = access.DISPATCH_ROLES
# Any role but resident and 三长 (who order errands for neighbours as residents do):
# who sees the staff menu (`is_staff`). Not to be confused with
# DISPATCH, the roles that may dispatch (`access.may_dispatch`).
STAFF_ROLES = tuple(r for r in Role if r not in (Role.RESIDENT, Role.BLOCK_HEAD))
TICKET_ROLES = tuple(r for r in STAFF_ROLES if r not in ERRAND_ROLES)


@dataclass(frozen=True)
class StaffCommand:
    name: str
    roles: tuple[Role, ...]
    button: str | None  # text key of its menu button; None: command only


STAFF_COMMANDS = (
    StaffCommand("queue", WORKERS, "btn_menu_queue"),
    StaffCommand("triage", DISPATCH, "btn_menu_triage"),
    StaffCommand("callbacks", (Role.CALLBACK_STAFF, *DISPATCH), "btn_menu_callbacks"),
    StaffCommand("stats", (Role.UNIT_LEADER, *DISPATCH), "btn_menu_stats"),
    StaffCommand("roster", (Role.REPRESENTATIVE, *DISPATCH), "btn_menu_roster"),
    StaffCommand("orders", (Role.ORGANISER,), "btn_menu_orders"),
    StaffCommand("errandstats", (Role.ORGANISER, Role.ADMIN), "btn_menu_errandstats"),
    StaffCommand("volunteer", (Role.VOLUNTEER,), "btn_menu_volunteer"),
    StaffCommand("ticket", TICKET_ROLES, None),
)
BY_NAME = {c.name: c for c in STAFF_COMMANDS}
# Commands whose routers filter by role, so someone without it falls through to the
# "仅供…使用" answer. /roster is answered for anyone: the service decides whose roster.
ROLE_FILTERED = tuple(name for name in BY_NAME if name != "roster")


def roles_for(command: str) -> tuple[Role, ...]:
    return BY_NAME[command].roles


def may_use(me: Person | None, command: str) -> bool:
    return me is not None and any(me.has_role(r) for r in roles_for(command))


def is_staff(me: Person | None) -> bool:
    return me is not None and any(me.has_role(r) for r in STAFF_ROLES)


def role_names(me: Person) -> str:
    """This person's staff roles in words, each once: 网格员、承办单位工作人员 (a 三长 with
    their 小区/楼栋/单元)."""
    return "、".join(dict.fromkeys(
        errands.block_title(m.label) if m.role == Role.BLOCK_HEAD else t(f"role_{m.role}")
        for m in me.memberships if m.role != Role.RESIDENT))  # a 三长: 幸福小区3号楼楼栋长


def who_may(command: str) -> str:
    """The roles in words: 网格员、承办单位工作人员或单位负责人."""
    names = [t(f"role_{r}") for r in roles_for(command)]
    return names[0] if len(names) == 1 else "、".join(names[:-1]) + "或" + names[-1]


def staff_only_text(command: str) -> str:
    return t("staff_only", command=f"/{command}", roles=who_may(command))


def button_texts() -> frozenset[str]:
    return frozenset(t(c.button) for c in STAFF_COMMANDS if c.button)


def staff_menu(me: Person) -> ReplyKeyboardMarkup:
    """This person's buttons (two a row), then 帮助."""
    buttons = [KeyboardButton(text=t(c.button)) for c in STAFF_COMMANDS
               if c.button and may_use(me, c.name)]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    rows.append([KeyboardButton(text=t("btn_help"))])
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, is_persistent=True)


def resident_commands() -> list[BotCommand]:
    return [BotCommand(command="start", description=t("cmd_start")),
            BotCommand(command="report", description=t("btn_report")),
            BotCommand(command="my", description=t("btn_my")),
            BotCommand(command="book", description=t("cmd_book")),
            BotCommand(command="errand", description=t("btn_errand")),
            BotCommand(command="errands", description=t("cmd_errands")),
            BotCommand(command="wish", description=t("cmd_wish")),
            BotCommand(command="help", description=t("cmd_help")),
            BotCommand(command="cancel", description=t("cmd_cancel")),
            BotCommand(command="myinfo", description=t("btn_myinfo")),
            BotCommand(command="deleteme", description=t("btn_deleteme"))]


def commands_for(me: Person | None) -> list[BotCommand]:
    if not is_staff(me):
        return resident_commands()
    own = [BotCommand(command=c.name, description=t(f"cmd_{c.name}"))
           for c in STAFF_COMMANDS if may_use(me, c.name)]
    return [BotCommand(command="start", description=t("cmd_start")), *own,
            BotCommand(command="help", description=t("cmd_help")),
            BotCommand(command="cancel", description=t("cmd_cancel"))]


def help_text(me: Person | None) -> str:
    if not is_staff(me):
        return t("help")
    lines = [t("help_staff")]
    lines += [f"/{c.name} {t(f'cmd_{c.name}')}" for c in STAFF_COMMANDS if may_use(me, c.name)]
    return "\n".join(lines)


async def set_commands(bot: Bot, me: Person) -> None:
    """Telegram's "/" menu for this person's chat; a failure must not break the reply."""
    if me.tg_user_id is None:
        return
    try:
        await bot.set_my_commands(commands_for(me),
                                  scope=BotCommandScopeChat(chat_id=me.tg_user_id))
    except TelegramAPIError as exc:
        log.warning("setMyCommands for chat %s failed: %s", me.tg_user_id, exc)
