"""Writing outbox rows. Sending them is the bot layer's job (the sender drains the table)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import JobRun, OutboxMessage, OutboxState, Person, Role
from models.db import skip_locked
from services import access
from services.access import Audience
from services.texts import t


@dataclass(frozen=True)
class SenderLimits:
    """How the bot layer's sender drains the outbox (config `[outbox]` bounds these)."""

    max_per_second: float = 25.0
    per_chat_seconds: float = 1.0
    max_attempts: int = 8
    backoff_cap_seconds: float = 300.0
    lease_seconds: float = 600.0
    poll_seconds: float = 0.5
    max_in_hand: int = 500
    idle_poll_seconds: float = 5.0

# Priorities: lower is sent first.
URGENT = 0
NORMAL = 5
# Session.info flag: this transaction queued rows (the bot wakes its sender on commit).
QUEUED = "outbox_queued"


class Keyboard(enum.StrEnum):
    """The `kind` of an outbox row's keyboard: the contract between the services that
    enqueue a message and the bot layer that renders its buttons
    (`handlers.staff_keyboards.render_keyboard`). A kind not listed here is an error."""

    ASSIGNMENT = "assignment"  # a ticket card: a worker's buttons for the ticket's state
    TRIAGE = "triage"  # a ticket card: 分派 while the ticket is in triage
    RATING = "rating"  # the resident's 满意/基本满意/不满意
    CALLBACK = "callback"  # the callback staff's result buttons
    EDIT = "edit"  # no message: new buttons on a card already sent (args: card, message_id)
    ERRAND = "errand"  # 红色代办: a party's buttons for the errand's state
    WISH = "wish"  # 微心愿: a party's buttons for the wish's state


# Cards: their buttons follow the ticket's state, so every sent copy is edited on a change.
CARDS = frozenset({Keyboard.ASSIGNMENT, Keyboard.TRIAGE})


def keyboard(kind: Keyboard, **args: Any) -> dict[str, Any]:
    """An abstract keyboard the bot layer renders with its CallbackData factories."""
    return {"kind": Keyboard(kind).value, "args": args}


async def refresh_copies(session: AsyncSession, card: Keyboard, ref: str, ref_id: int,
                         state: str, now: dt.datetime,
                         keeps: Callable[[int, str], bool]) -> None:
    """Every copy already sent of an errand's (wish's) messages with buttons (`card`, its
    id in the keyboard's `ref`) gets the buttons of `state` for its party, or none where
    `keeps(chat_id, party)` says that chat no longer acts on it (an offer that went to
    the next volunteer, a wish someone else claimed): one edit per copy, through the
    outbox like any push."""
    sent = await session.execute(
        sa.select(OutboxMessage.chat_id, OutboxMessage.tg_message_id, OutboxMessage.keyboard)
        .where(OutboxMessage.keyboard["kind"].as_string() == card.value,
               OutboxMessage.keyboard["args"][ref].as_integer() == ref_id,
               OutboxMessage.state == OutboxState.SENT,
               OutboxMessage.tg_message_id.is_not(None))
        .order_by(OutboxMessage.id))
    for chat_id, message_id, spec in sent:
        party = str(((spec or {}).get("args") or {}).get("party", ""))
        args: dict[str, Any] = {ref: ref_id, "party": party}
        if keeps(chat_id, party):
            args["state"] = state
        enqueue(session, [chat_id], kind="card_edit", text="", now=now, priority=URGENT,
                markup=keyboard(Keyboard.EDIT, card=card.value, message_id=message_id,
                                **args))


def enqueue(
    session: AsyncSession,
    chat_ids: Iterable[int],
    *,
    kind: str,
    text: str,
    now: dt.datetime,
    ticket_id: int | None = None,
    markup: dict[str, Any] | None = None,
    photos: Iterable[str] = (),
    priority: int = NORMAL,
    not_before: dt.datetime | None = None,
) -> list[OutboxMessage]:
    """Add one row per distinct chat to the session's transaction (no commit here)."""
    rows = []
    session.info[QUEUED] = True
    for chat_id in dict.fromkeys(chat_ids):  # de-duplicate, keep order
        row = OutboxMessage(
            chat_id=chat_id,
            kind=kind,
            text=text,
            keyboard=markup,
            photos=list(photos),
            ticket_id=ticket_id,
            priority=priority,
            not_before=not_before or now,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    return rows


# -- draining (the sender in bot/sender.py calls these; each commits its own change) ------
async def claim(session: AsyncSession, now: dt.datetime, limit: int) -> list[OutboxMessage]:
    """Mark up to `limit` due rows `sending` and return them, most urgent first.

    The UPDATE takes a row only while it is still pending, so two senders never take the
    same row; on PostgreSQL `FOR UPDATE SKIP LOCKED` lets them take different rows
    without waiting on each other. When nothing is due it only reads: an idle sender
    writes nothing.
    """
    due = (sa.select(OutboxMessage.id)
           .where(OutboxMessage.state == OutboxState.PENDING, OutboxMessage.not_before <= now)
           .order_by(OutboxMessage.priority, OutboxMessage.not_before, OutboxMessage.id)
           .limit(limit))
    # Two statements, not UPDATE ... WHERE id IN (SELECT ... LIMIT n SKIP LOCKED): PostgreSQL
    # may run such a subquery more than once and take more than `limit` rows.
    ids = list(await session.scalars(skip_locked(session, due)))
    if not ids:
        await session.rollback()
        return []
    rows = list(await session.scalars(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.state == OutboxState.PENDING)
        .values(state=OutboxState.SENDING, claimed_at=now)
        .returning(OutboxMessage),
        execution_options={"synchronize_session": False}))
    await session.commit()
    return sorted(rows, key=lambda r: (r.priority, r.not_before, r.id))


async def next_due(session: AsyncSession) -> dt.datetime | None:
    """When the earliest pending row becomes due (None: nothing pending)."""
    return await session.scalar(sa.select(sa.func.min(OutboxMessage.not_before))
                                .where(OutboxMessage.state == OutboxState.PENDING))


async def _set(session: AsyncSession, row_id: int, **values: Any) -> None:
    """Update a claimed row (only while it is still ours: state sending)."""
    await session.execute(sa.update(OutboxMessage).where(
        OutboxMessage.id == row_id, OutboxMessage.state == OutboxState.SENDING).values(**values))
    await session.commit()


async def part_sent(session: AsyncSession, row_id: int, parts: int) -> None:
    await _set(session, row_id, parts_sent=parts)


async def sent(session: AsyncSession, row_id: int, now: dt.datetime,
               message_id: int | None) -> None:
    await _set(session, row_id, state=OutboxState.SENT, sent_at=now,
               tg_message_id=message_id, last_error="")


async def retry(session: AsyncSession, row_id: int, at: dt.datetime, error: str, *,
                count: bool = True) -> None:
    """Back to pending, not before `at`. A 429 does not count as a failed attempt."""
    values: dict[str, Any] = {"state": OutboxState.PENDING, "not_before": at,
                              "last_error": error[:500], "claimed_at": None}
    if count:
        values["attempts"] = OutboxMessage.attempts + 1
    await _set(session, row_id, **values)


async def release(session: AsyncSession, row_ids: Iterable[int]) -> None:
    """Rows claimed but not started (a clean shutdown): pending again, untouched."""
    ids = list(row_ids)
    if ids:
        await session.execute(sa.update(OutboxMessage).where(
            OutboxMessage.id.in_(ids), OutboxMessage.state == OutboxState.SENDING)
            .values(state=OutboxState.PENDING, claimed_at=None))
        await session.commit()


async def failed(session: AsyncSession, row: OutboxMessage, now: dt.datetime, error: str,
                 *, unreachable: bool) -> None:
    """Give up on a row. `unreachable` (403 / chat not found): the person is flagged and
    the dispatchers are told once, in the same transaction."""
    state = OutboxState.BLOCKED if unreachable else OutboxState.FAILED
    await session.execute(sa.update(OutboxMessage).where(
        OutboxMessage.id == row.id, OutboxMessage.state == OutboxState.SENDING)
        .values(state=state, last_error=error[:500], attempts=OutboxMessage.attempts + 1))
    if unreachable:
        flagged = (await session.scalars(
            sa.update(Person)
            .where(Person.tg_user_id == row.chat_id, Person.unreachable_at.is_(None))
            .values(unreachable_at=now, unreachable_reason=error[:200])
            .returning(Person), execution_options={"synchronize_session": False})).all()
        for person in flagged:
            dispatchers = await access.chat_ids(session, Audience(Role.DISPATCHER))
            enqueue(session, [c for c in dispatchers if c != row.chat_id],
                    kind="unreachable", now=now, priority=NORMAL,
                    text=t("ob_unreachable", name=person.name or str(row.chat_id),
                           reason=error[:200]))
    await session.commit()


async def recover_stale(session: AsyncSession, now: dt.datetime, lease: dt.timedelta) -> int:
    """Rows a crashed sender claimed and never finished: pending again (at-least-once: the
    crash may have come after Telegram accepted the message)."""
    stale = (OutboxMessage.state == OutboxState.SENDING,
             OutboxMessage.claimed_at < now - lease)
    if await session.scalar(sa.select(OutboxMessage.id).where(*stale).limit(1)) is None:
        await session.rollback()
        return 0  # the usual case: look, write nothing
    result = await session.execute(sa.update(OutboxMessage).where(*stale)
                                   .values(state=OutboxState.PENDING, claimed_at=None))
    await session.commit()
    return result.rowcount or 0


async def renew(session: AsyncSession, row_ids: Iterable[int], now: dt.datetime) -> None:
    """A live sender still holds these rows: their lease starts again now."""
    await session.execute(sa.update(OutboxMessage).where(
        OutboxMessage.id.in_(list(row_ids)), OutboxMessage.state == OutboxState.SENDING)
        .values(claimed_at=now))
    await session.commit()


HALT = "outbox-halted"  # a job_runs row while Telegram refuses the token


async def halt(session: AsyncSession, now: dt.datetime, reason: str) -> None:
    await clear_halt(session, commit=False)
    session.add(JobRun(name=HALT, key=reason[:64], ran_at=now))
    await session.commit()


async def clear_halt(session: AsyncSession, *, commit: bool = True) -> None:
    await session.execute(sa.delete(JobRun).where(JobRun.name == HALT))
    if commit:
        await session.commit()


async def halted(session: AsyncSession) -> JobRun | None:
    """Why the sender stopped for good, if it did (shown by `minyi doctor`)."""
    return await session.scalar(sa.select(JobRun).where(JobRun.name == HALT))


async def status(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    counts = dict.fromkeys((s.value for s in OutboxState), 0)
    for state, n in await session.execute(
            sa.select(OutboxMessage.state, sa.func.count()).group_by(OutboxMessage.state)):
        counts[OutboxState(state).value] = n
    oldest = await session.scalar(sa.select(sa.func.min(OutboxMessage.not_before)).where(
        OutboxMessage.state == OutboxState.PENDING))
    return {"counts": counts,
            "oldest_pending_seconds": (now - oldest).total_seconds() if oldest else None}
