"""红色代办: errands a resident orders from a 红帆驿站, and their events (the audit trail)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, str_enum


class ErrandState(enum.StrEnum):
    ORDERED = "ordered"  # 点单: waiting for the organiser (下单)
    OFFERED = "offered"  # offered to one volunteer, waiting for 接单
    ACCEPTED = "accepted"  # 接单
    VISITED = "visited"  # 已上门
    DONE = "done"  # 已完成: waiting for the orderer's confirmation
    CLOSED = "closed"  # confirmed and rated, or closed 未评价 by the confirmation timeout
    CANCELLED = "cancelled"


class Errand(Base):
    __tablename__ = "errands"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_key: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    venue_id: Mapped[int] = mapped_column(sa.ForeignKey("venues.id"), index=True)
    orderer_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), index=True)
    item: Mapped[str] = mapped_column(sa.String(64))
    for_other: Mapped[bool] = mapped_column(default=False)  # 替人点单
    beneficiary_name: Mapped[str] = mapped_column(sa.String(64))
    beneficiary_age: Mapped[int]
    address: Mapped[str] = mapped_column(sa.String(256))
    phone: Mapped[str] = mapped_column(sa.String(32))
    care: Mapped[str] = mapped_column(sa.String(16), default="")  # 重点关爱: orphan, ...
    priority: Mapped[bool] = mapped_column(default=False)  # over 70 or 重点关爱
    wanted_day: Mapped[dt.date]
    window: Mapped[str] = mapped_column(sa.String(16))  # morning | afternoon | any
    note: Mapped[str] = mapped_column(sa.Text, default="")
    state: Mapped[ErrandState] = mapped_column(str_enum(ErrandState), index=True)
    volunteer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id"), index=True)
    # Volunteers already offered this errand (in order); the next offer skips them.
    offered: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    # The offer lapses at this moment (office hours counted): the sweep offers the next.
    offer_until: Mapped[dt.datetime | None] = mapped_column(index=True)
    # Done, waiting for whoever ordered to confirm: the reminder is due at `remind_at`,
    # and at `close_at` the errand closes 未评价 (the sweeps; NULL when nothing is planned).
    remind_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    close_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    result_note: Mapped[str] = mapped_column(sa.Text, default="")
    result_photo: Mapped[str | None] = mapped_column(sa.String(256))
    rating: Mapped[str | None] = mapped_column(sa.String(32))
    hours: Mapped[float] = mapped_column(default=0.0)
    points: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    accepted_at: Mapped[dt.datetime | None]
    done_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class ErrandEvent(Base):
    __tablename__ = "errand_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    errand_id: Mapped[int] = mapped_column(sa.ForeignKey("errands.id", ondelete="CASCADE"),
                                           index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id"))
    action: Mapped[str] = mapped_column(sa.String(32))
    from_state: Mapped[str | None] = mapped_column(sa.String(32))
    to_state: Mapped[str] = mapped_column(sa.String(32))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[dt.datetime] = mapped_column(index=True)


class WishState(enum.StrEnum):
    SUBMITTED = "submitted"  # the resident's wish, waiting for the 驿站 to post it
    PUBLISHED = "published"  # posted: representatives and volunteers may claim it
    CLAIMED = "claimed"
    FULFILLED = "fulfilled"
    REJECTED = "rejected"


class Wish(Base):
    """微心愿: a resident's small wish, posted by the 驿站, claimed by a 两代表一委员 or a
    volunteer, fulfilled with a photo."""

    __tablename__ = "wishes"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_key: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    venue_id: Mapped[int] = mapped_column(sa.ForeignKey("venues.id"), index=True)
    resident_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), index=True)
    text: Mapped[str] = mapped_column(sa.String(400))
    value: Mapped[int]  # yuan, at most errands.wish_value_limit
    state: Mapped[WishState] = mapped_column(str_enum(WishState), index=True)
    claimer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id"), index=True)
    photo: Mapped[str | None] = mapped_column(sa.String(256))
    created_at: Mapped[dt.datetime]
    claimed_at: Mapped[dt.datetime | None]
    fulfilled_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class WishEvent(Base):
    __tablename__ = "wish_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    wish_id: Mapped[int] = mapped_column(sa.ForeignKey("wishes.id", ondelete="CASCADE"),
                                         index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id"))
    action: Mapped[str] = mapped_column(sa.String(32))
    from_state: Mapped[str | None] = mapped_column(sa.String(32))
    to_state: Mapped[str] = mapped_column(sa.String(32))
    at: Mapped[dt.datetime] = mapped_column(index=True)
