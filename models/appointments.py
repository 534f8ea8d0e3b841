"""民意"5"来听 appointments: slots of a venue's session days, and residents' bookings."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, str_enum


class Slot(Base):
    """One bookable time of one venue on one day. `booked` never exceeds `capacity`:
    a booking takes a place with `UPDATE ... SET booked = booked + 1 WHERE booked <
    capacity`, which is atomic on both databases."""

    __tablename__ = "appointment_slots"
    __table_args__ = (sa.UniqueConstraint("venue_id", "starts_at"),
                      sa.CheckConstraint("booked >= 0 AND booked <= capacity",
                                         name="booked_within_capacity"))

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(sa.ForeignKey("venues.id"), index=True)
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    capacity: Mapped[int]
    booked: Mapped[int] = mapped_column(default=0)


class BookingState(enum.StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"
    CONVERTED = "converted"  # turned into a request (ticket_id)


class Booking(Base):
    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    resident_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), index=True)
    slot_id: Mapped[int] = mapped_column(sa.ForeignKey("appointment_slots.id"), index=True)
    venue_id: Mapped[int] = mapped_column(sa.ForeignKey("venues.id"), index=True)
    starts_at: Mapped[dt.datetime] = mapped_column(index=True)
    topic: Mapped[str] = mapped_column(sa.Text)
    routing: Mapped[dict[str, Any]] = mapped_column(default=dict)  # likely unit
    state: Mapped[BookingState] = mapped_column(str_enum(BookingState),
                                                default=BookingState.BOOKED)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id"))
    remind_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    reminders_sent: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
