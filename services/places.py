"""Where a request happened: the place tree as residents walk it, and shared locations.

A request's place is ideally a grid (its worker gets the request). Where the resident
cannot say which grid, the community or village is kept and the dispatcher settles it.
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import Place, PlaceKind
from services.errors import InvalidInput, NotFound
from services.texts import t

EARTH_KM = 6371.0
# The finer the kind, the better a guess: a grid beats its community beats its town.
DEPTH = {PlaceKind.COUNTY: 0, PlaceKind.TOWN: 1, PlaceKind.COMMUNITY: 2,
         PlaceKind.VILLAGE: 2, PlaceKind.GRID: 3}


@dataclass(frozen=True)
class Located:
    place: Place
    km: float


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine); plenty for snapping within a county."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(math.sqrt(a))


async def get(session: AsyncSession, place_id: int) -> Place:
    place = await session.get(Place, place_id)
    if place is None:
        raise NotFound()
    return place


COUNTY_TTL = 300.0  # seconds a found county name is kept per database
_county_names: weakref.WeakKeyDictionary[Any, tuple[str, float]] = weakref.WeakKeyDictionary()


async def county_name(session: AsyncSession) -> str:
    """The county's name from the org file (its one `county` place), else a generic one.

    Every /start greets with it, so once read it is kept per database for `COUNTY_TTL`:
    an org import in this process forgets it at once (`forget_county`), one run elsewhere
    (`minyi org import` beside the bot) shows within that time."""
    bind = session.get_bind()
    now = time.monotonic()
    cached = _county_names.get(bind)
    if cached is not None and cached[1] > now:
        return cached[0]
    name = await session.scalar(sa.select(Place.name).where(Place.kind == PlaceKind.COUNTY)
                                .order_by(Place.id).limit(1)) or t("county_generic")
    _county_names[bind] = (name, now + COUNTY_TTL)
    return name


def forget_county() -> None:
    _county_names.clear()


async def towns(session: AsyncSession) -> list[Place]:
    return list(await session.scalars(
        sa.select(Place).where(Place.kind == PlaceKind.TOWN).order_by(Place.code)))


async def children(session: AsyncSession, place_id: int) -> list[Place]:
    return list(await session.scalars(
        sa.select(Place).where(Place.parent_id == place_id).order_by(Place.code)))


async def settle(session: AsyncSession, place: Place) -> Place:
    """A community/village with a single grid is that grid; otherwise the place stays."""
    if place.kind in (PlaceKind.COMMUNITY, PlaceKind.VILLAGE):
        grids = [p for p in await children(session, place.id) if p.kind == PlaceKind.GRID]
        if len(grids) == 1:
            return grids[0]
    return place


async def nearest(session: AsyncSession, lat: float, lon: float, max_km: float) -> Located:
    """The closest place below the county with a point; farther than max_km is outside."""
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput("err_location_outside")
    rows = await session.scalars(sa.select(Place).where(
        Place.latitude.is_not(None), Place.kind != PlaceKind.COUNTY))
    best: Located | None = None
    for place in rows:
        assert place.latitude is not None and place.longitude is not None
        km = distance_km(lat, lon, place.latitude, place.longitude)
        if best is None or km < best.km:
            best = Located(place, km)
    if best is None or best.km > max_km:
        raise InvalidInput("err_location_outside")
    return Located(await settle(session, best.place), best.km)


async def named_in(session: AsyncSession, text: str, limit: int = 3) -> list[Place]:
    """Places whose name the text mentions, finest and longest names first; a place is
    left out when a place below it was found too (第1网格 makes its 社区 redundant)."""
    if not text:
        return []
    everything = {p.id: p for p in await session.scalars(
        sa.select(Place).where(Place.kind != PlaceKind.COUNTY))}
    found = [p for p in everything.values() if p.name in text]
    covered: set[int] = set()
    for place in found:
        parent = everything.get(place.parent_id or 0)
        while parent is not None:
            covered.add(parent.id)
            parent = everything.get(parent.parent_id or 0)
    found = [p for p in found if p.id not in covered]
    found.sort(key=lambda p: (-DEPTH[p.kind], -len(p.name), p.code))
    return found[:limit]


async def path(session: AsyncSession, place: Place | None) -> str:
    """泗河街道 · 泗河社区 · 泗河社区第1网格 (the county left out)."""
    names: list[str] = []
    while place is not None and place.kind != PlaceKind.COUNTY:
        names.append(place.name)
        place = await session.get(Place, place.parent_id) if place.parent_id else None
    return " · ".join(reversed(names))
