"""People and their roles; one person may hold several roles (a resident is also staff)."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, str_enum


class Role(enum.StrEnum):
    RESIDENT = "resident"
    GRID_WORKER = "grid_worker"  # needs a grid
    UNIT_STAFF = "unit_staff"  # needs a unit
    UNIT_LEADER = "unit_leader"  # needs a unit
    DISPATCHER = "dispatcher"
    CALLBACK_STAFF = "callback_staff"
    REPRESENTATIVE = "representative"  # 两代表一委员; place optional
    ADMIN = "admin"
    ORGANISER = "organiser"  # 红色代办: a 红帆驿站's organiser (its 党支部); needs a venue
    VOLUNTEER = "volunteer"  # 红色代办服务队; needs a venue, unit = their 双报到 unit
    BLOCK_HEAD = "block_head"  # 三长 (小区长/楼栋长/单元长); place = their community


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Staff come from the org file before they ever open the bot: code set, tg id later.
    code: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    tg_user_id: Mapped[int | None] = mapped_column(sa.BigInteger, unique=True)
    name: Mapped[str] = mapped_column(sa.String(128), default="")
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[dt.datetime]
    # Set by the outbox sender when Telegram refuses delivery (403 blocked, chat not found);
    # cleared when the person writes to the bot again.
    unreachable_at: Mapped[dt.datetime | None]
    unreachable_reason: Mapped[str] = mapped_column(sa.String(200), default="")
    # 个人信息保护法: when the resident agreed to the privacy notice (NULL: not yet; no
    # request is stored before). Staff removed from the org file are inactive: no roles,
    # no Telegram binding, no invite works for them.
    consent_at: Mapped[dt.datetime | None]
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="person", cascade="all, delete-orphan", lazy="selectin"
    )

    def has_role(self, role: Role, *, unit_id: int | None = None,
                 place_id: int | None = None) -> bool:
        return any(
            m.role == role
            and (unit_id is None or m.unit_id == unit_id)
            and (place_id is None or m.place_id == place_id)
            for m in self.memberships
        )


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("person_id", "role", "unit_id", "place_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"), index=True)
    place_id: Mapped[int | None] = mapped_column(sa.ForeignKey("places.id"), index=True)
    # organiser / volunteer: the 红帆驿站 they serve
    venue_id: Mapped[int | None] = mapped_column(sa.ForeignKey("venues.id"), index=True)
    # block_head (三长): their 小区/楼栋/单元 as the org file's `block` ("幸福小区/3号楼")
    label: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")

    person: Mapped[Person] = relationship(back_populates="memberships")


class Invite(Base):
    """A one-time deep link that binds a Telegram account to a staff record."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"),
                                           index=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    used_by_tg_id: Mapped[int | None] = mapped_column(sa.BigInteger)

    person: Mapped[Person] = relationship()
