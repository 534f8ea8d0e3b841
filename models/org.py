"""Org data: the place tree (county → town → community/village → grid), venues, units."""

from __future__ import annotations

import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, str_enum


class PlaceKind(enum.StrEnum):
    COUNTY = "county"
    TOWN = "town"  # 镇 / 街道 / 乡
    COMMUNITY = "community"  # 社区 / 服务区
    VILLAGE = "village"
    GRID = "grid"


# Which kind may sit under which: the four-level grid of the seed.
PLACE_PARENTS: dict[PlaceKind, tuple[PlaceKind, ...]] = {
    PlaceKind.COUNTY: (),
    PlaceKind.TOWN: (PlaceKind.COUNTY,),
    PlaceKind.COMMUNITY: (PlaceKind.TOWN,),
    PlaceKind.VILLAGE: (PlaceKind.TOWN, PlaceKind.COMMUNITY),
    PlaceKind.GRID: (PlaceKind.COMMUNITY, PlaceKind.VILLAGE),
}


class Place(Base):
    __tablename__ = "places"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    kind: Mapped[PlaceKind] = mapped_column(str_enum(PlaceKind))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("places.id"), index=True)
    # A representative point (office, village centre): shared locations snap to the nearest.
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]

    parent: Mapped[Place | None] = relationship(remote_side=[id])


class VenueKind(enum.StrEnum):
    SERVICE_CENTRE = "service_centre"  # 党群服务中心
    RED_SAIL = "red_sail"  # 红帆驿站
    OTHER = "other"


class Venue(Base):
    __tablename__ = "venues"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    kind: Mapped[VenueKind] = mapped_column(str_enum(VenueKind))
    place_id: Mapped[int] = mapped_column(sa.ForeignKey("places.id"), index=True)
    address: Mapped[str] = mapped_column(sa.String(256), default="")
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    # Appointment sessions: {"days": [5, 15, 25], "start": "09:00", "end": "11:30",
    # "slot_minutes": 30, "capacity": 3, "holiday_rule": "next_workday" | "keep",
    # "receivers": [person codes]}; empty: the venue takes no bookings.
    schedule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # 红色代办 of a 红帆驿站: {"menu": [errand names], "rota": {"mon": [volunteer codes],
    # ...}}; empty: the venue takes no errands (see services/errands.py).
    errands: Mapped[dict[str, Any]] = mapped_column(default=dict)

    place: Mapped[Place] = relationship()


class Unit(Base):
    """A responsible unit (承办单位): a county department, a town office, a utility."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"), index=True)
    place_id: Mapped[int | None] = mapped_column(sa.ForeignKey("places.id"))
    leader_name: Mapped[str] = mapped_column(sa.String(64), default="")
    leader_phone: Mapped[str] = mapped_column(sa.String(32), default="")
    active: Mapped[bool] = mapped_column(default=True)

    parent: Mapped[Unit | None] = relationship(remote_side=[id])


class Matter(Base):
    """A matter (事项) of the dispatch catalogue: routing/catalogue.py documents the fields.

    Imported by `minyi org import`; `revision` is the import that last changed the row, so
    a running bot sees a new catalogue with one cheap query (max revision, count)."""

    __tablename__ = "matters"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    unit: Mapped[str] = mapped_column(sa.String(64))  # a unit code, or 属地
    fallback: Mapped[str | None] = mapped_column(sa.String(64))
    phrases: Mapped[dict[str, Any]] = mapped_column(default=dict)
    terms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    negatives: Mapped[dict[str, Any]] = mapped_column(default=dict)
    days: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)
    revision: Mapped[int] = mapped_column(default=1)
