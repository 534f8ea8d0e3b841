"""The audit log (who, when, what): staff removed or unbound, full phone numbers shown,
residents' privacy requests, retention runs. Written in the caller's transaction, so an
entry exists exactly when the thing it records happened."""

from __future__ import annotations

import getpass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import AuditEntry, Person
from services.clock import Clock


def person_label(person: Person | None) -> str:
    """A person as the log names them: id and staff code, never name or phone."""
    if person is None:
        return "system"
    return f"person:{person.id}" + (f" ({person.code})" if person.code else "")


def cli_label() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (containers)
        return "cli"


def record(session: AsyncSession, clock: Clock, actor: Person | str | None, action: str,
           target: str = "", detail: str = "") -> AuditEntry:
    entry = AuditEntry(at=clock.now(), action=action[:32], target=target[:128],
                       actor=actor if isinstance(actor, str) else person_label(actor),
                       detail=detail)
    session.add(entry)
    return entry


async def entries(session: AsyncSession, *, limit: int = 50,
                  action: str | None = None) -> list[AuditEntry]:
    """The newest first."""
    stmt = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action))
    return list(await session.scalars(stmt))
