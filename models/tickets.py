"""Tickets (民意诉求), their audit trail and the per-day number sequence."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, str_enum


class TicketState(enum.StrEnum):
    SUBMITTED = "submitted"
    TRIAGE = "triage"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    RESOLVED = "resolved"
    CALLBACK_DUE = "callback_due"
    CLOSED = "closed"


class EventAction(enum.StrEnum):
    """What a `TicketEvent` records (its `action` column), the lifecycle checks, statistics
    fold and the history shows (text key `action_<value>`). The column stays a string: a
    StrEnum compares equal to the stored value."""

    SUBMIT = "submit"
    TRIAGE = "triage"
    ASSIGN = "assign"
    ACCEPT = "accept"
    PROGRESS = "progress"  # 进展
    TRANSFER = "transfer"  # 转派
    RETURN = "return"  # 退单
    ESCALATE = "escalate"  # 督办 (overdue, or a dispatcher's)
    WHISTLE = "whistle"  # 吹哨
    RESOLVE = "resolve"
    RATE = "rate"
    FOLLOW_UP = "follow_up"  # 补充
    CALLBACK = "callback"
    REOPEN = "reopen"
    CLOSE = "close"
    # Checked by the lifecycle, never recorded as an event of their own:
    CALLBACK_DUE = "callback_due"
    REMIND = "remind"


# With a unit and not yet resolved: what is reminded, escalated, transferred, re-routed.
IN_WORK = frozenset({TicketState.ASSIGNED, TicketState.ACCEPTED})


class Rating(enum.StrEnum):
    SATISFIED = "satisfied"
    BASIC = "basically_satisfied"
    UNSATISFIED = "unsatisfied"


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (sa.Index("ix_tickets_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    # The resident's draft id: a second tap on 确认 finds this ticket instead of a new one.
    submission_key: Mapped[str | None] = mapped_column(sa.String(80), unique=True)
    resident_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200), default="")
    text: Mapped[str] = mapped_column(sa.Text)
    photos: Mapped[list[Any]] = mapped_column(default=list)  # Telegram file ids
    attachments: Mapped[list[Any]] = mapped_column(default=list)  # voice/video: {kind, file_id}
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    address: Mapped[str] = mapped_column(sa.String(512), default="")
    contact_phone: Mapped[str | None] = mapped_column(sa.String(32))
    # 匿名反映: staff never see who asked; answered and rated in chat only.
    anonymous: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    place_id: Mapped[int | None] = mapped_column(sa.ForeignKey("places.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id"), index=True)
    state: Mapped[TicketState] = mapped_column(str_enum(TicketState))
    category: Mapped[str | None] = mapped_column(sa.String(64))
    routing: Mapped[dict[str, Any]] = mapped_column(default=dict)  # services.intake.RoutingRecord
    # How the request came in: chat (the resident wrote to the bot), phone or counter
    # (a dispatcher recorded it on the caller's behalf: 代录).
    channel: Mapped[str] = mapped_column(sa.String(16), default="chat",
                                         server_default="chat")
    due_at: Mapped[dt.datetime | None]
    escalated_at: Mapped[dt.datetime | None]
    # When the sweeps must next look at this ticket (NULL: nothing planned). Indexed, so a
    # sweep reads the rows that are due, not every open ticket.
    remind_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    reminders_sent: Mapped[int] = mapped_column(default=0)
    escalate_at: Mapped[dt.datetime | None] = mapped_column(index=True)  # the deadline
    callback_at: Mapped[dt.datetime | None] = mapped_column(index=True)  # rating wait ends
    accept_by: Mapped[dt.datetime | None] = mapped_column(index=True)  # after a 吹哨
    whistled_at: Mapped[dt.datetime | None]
    escalation_count: Mapped[int] = mapped_column(default=0)
    reopen_count: Mapped[int] = mapped_column(default=0)
    callback_attempts: Mapped[int] = mapped_column(default=0)
    rating: Mapped[Rating | None] = mapped_column(str_enum(Rating))
    # 问题是否解决, asked apart from satisfaction: a closed request need not be a solved one.
    solved: Mapped[bool | None]
    outcome: Mapped[str | None] = mapped_column(sa.String(32))  # why it closed
    result_text: Mapped[str] = mapped_column(sa.Text, default="")
    result_photos: Mapped[list[Any]] = mapped_column(default=list)
    resolved_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    # The retention rule cleared the personal fields (text, phone, place, photos) here.
    purged_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    # Optimistic lock: two concurrent transitions of one ticket cannot both win.
    version: Mapped[int] = mapped_column(default=1)

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", lazy="raise"
    )

    __mapper_args__ = {"version_id_col": version}


class TicketEvent(Base):
    """One row per change: who, when, what (action), from which state to which, note."""

    __tablename__ = "ticket_events"
    __table_args__ = (sa.Index("ix_ticket_events_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id"))  # None: system
    at: Mapped[dt.datetime]
    action: Mapped[str] = mapped_column(sa.String(32))
    from_state: Mapped[TicketState | None] = mapped_column(str_enum(TicketState))
    to_state: Mapped[TicketState] = mapped_column(str_enum(TicketState))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class TicketSequence(Base):
    """Last number handed out per local day, for numbers like MY20261128-0017."""

    __tablename__ = "ticket_sequences"

    day: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)
