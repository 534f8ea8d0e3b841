"""Where a request happened: the place tree as residents walk it, and shared locations.

A request's place is ideally a grid (its worker gets the request). Where the resident
cannot say which grid, the community or village is kept and the dispatcher settles it.

The tree is read once per process, not once per update: `directory` reads every place with
one statement (the columns, no ORM objects) into frozen `PlaceRow`s, which have the
attribute names of `models.Place`, indexed by id, by parent, towns, places with a point;
every function here, the county's name included, answers from it. It is kept per database
for `PLACES_TTL` seconds. How stale it may be: an org import in this process forgets it at
once (`forget`, from services.org_import, and again when the import's transaction ends), so
the next update reads the tree anew; one run elsewhere (`minyi org import` beside the bot,
another replica) shows within `PLACES_TTL`. Places change only by an org import.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from models import Place, PlaceKind
from services.errors import InvalidInput, NotFound
from services.texts import t

EARTH_KM = 6371.0
# The finer the kind, the better a guess: a grid beats its community beats its town.
DEPTH = {PlaceKind.COUNTY: 0, PlaceKind.TOWN: 1, PlaceKind.COMMUNITY: 2,
         PlaceKind.VILLAGE: 2, PlaceKind.GRID: 3}


@dataclass(frozen=True, slots=True)
class PlaceRow:
    """A place as read once for the process: `models.Place`'s columns, no relationships."""

    id: int
    code: str
    name: str
    kind: PlaceKind
    parent_id: int | None
    latitude: float | None
    longitude: float | None


_COLUMNS = (Place.id, Place.code, Place.name, Place.kind, Place.parent_id, Place.latitude,
            Place.longitude)


class Directory:
    """The whole tree, indexed. `rows` come in the database's order of codes, so `towns` and
    `children` list places as `ORDER BY code` did."""

    def __init__(self, rows: Iterable[PlaceRow]) -> None:
        self.rows = tuple(rows)
        self.by_id = {p.id: p for p in self.rows}
        below: dict[int, list[PlaceRow]] = {}
        for p in self.rows:
            if p.parent_id is not None:
                below.setdefault(p.parent_id, []).append(p)
        self._children = {parent: tuple(kids) for parent, kids in below.items()}
        self.towns = tuple(p for p in self.rows if p.kind == PlaceKind.TOWN)
        self.in_id_order = tuple(sorted(self.rows, key=lambda p: p.id))
        self.county = next((p for p in self.in_id_order if p.kind == PlaceKind.COUNTY), None)
        self.below_county = tuple(p for p in self.in_id_order if p.kind != PlaceKind.COUNTY)
        self.pointed = tuple(p for p in self.below_county
                             if p.latitude is not None and p.longitude is not None)

    def children(self, place_id: int) -> tuple[PlaceRow, ...]:
        return self._children.get(place_id, ())


PLACES_TTL = 60.0  # seconds the tree is kept per database (see the module's docstring)
RENEW_GRACE = 5.0  # past the TTL, others use the old tree this long while one reads anew
monotonic = time.monotonic  # the clock of the TTL (tests move it)


@dataclass(frozen=True)
class _Kept:
    tree: Directory
    until: float


_kept: weakref.WeakKeyDictionary[Any, _Kept] = weakref.WeakKeyDictionary()
_generation = 0  # moved by `forget`: a tree read before it is not kept


async def directory(session: AsyncSession) -> Directory:
    """The place tree of the session's database: kept, or read with one statement."""
    bind = session.get_bind()
    kept = _kept.get(bind)
    now = monotonic()
    if kept is not None and kept.until > now:
        return kept.tree
    if kept is not None:  # one update reads the tree anew, not every update at that moment
        _kept[bind] = replace(kept, until=now + RENEW_GRACE)
    generation = _generation
    tree = Directory(PlaceRow(*row) for row in await session.execute(
        sa.select(*_COLUMNS).order_by(Place.code)))
    if generation == _generation:
        _kept[bind] = _Kept(tree, monotonic() + PLACES_TTL)
    return tree


def forget(session: AsyncSession | None = None) -> None:
    """An org import changed the places: every kept tree is dropped now and, given the
    importing session, again when its transaction ends (a tree read meanwhile has the old
    rows, or rows not yet committed)."""
    global _generation
    _generation += 1
    _kept.clear()
    if session is not None:
        for moment in ("after_commit", "after_rollback"):
            event.listen(session.sync_session, moment, lambda *_: forget(), once=True)


@dataclass(frozen=True)
class Located:
    place: PlaceRow
    km: float


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine); plenty for snapping within a county."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(math.sqrt(a))


async def find(session: AsyncSession, place_id: int | None) -> PlaceRow | None:
    """The place with this id; None without an id or when an org import removed it."""
    return (await directory(session)).by_id.get(place_id) if place_id else None


async def get(session: AsyncSession, place_id: int) -> PlaceRow:
    place = (await directory(session)).by_id.get(place_id)
    if place is None:
        raise NotFound()
    return place


async def county_name(session: AsyncSession) -> str:
    """The county's name from the org file (its one `county` place), else a generic one.
    Every /start greets with it: it comes from the kept tree."""
    county = (await directory(session)).county
    return county.name if county is not None else t("county_generic")


async def towns(session: AsyncSession) -> list[PlaceRow]:
    return list((await directory(session)).towns)


async def children(session: AsyncSession, place_id: int) -> list[PlaceRow]:
    return list((await directory(session)).children(place_id))


async def settle(session: AsyncSession, place: PlaceRow) -> PlaceRow:
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
    best: Located | None = None
    for place in (await directory(session)).pointed:
        assert place.latitude is not None and place.longitude is not None
        km = distance_km(lat, lon, place.latitude, place.longitude)
        if best is None or km < best.km:
            best = Located(place, km)
    if best is None or best.km > max_km:
        raise InvalidInput("err_location_outside")
    return Located(await settle(session, best.place), best.km)


async def named_in(session: AsyncSession, text: str, limit: int = 3) -> list[PlaceRow]:
    """Places whose name the text mentions, finest and longest names first; a place is
    left out when a place below it was found too (第1网格 makes its 社区 redundant)."""
    if not text:
        return []
    tree = await directory(session)
    found = [p for p in tree.below_county if p.name in text]
    covered: set[int] = set()
    for place in found:
        parent = tree.by_id.get(place.parent_id or 0)
        while parent is not None:
            covered.add(parent.id)
            parent = tree.by_id.get(parent.parent_id or 0)
    found = [p for p in found if p.id not in covered]
    found.sort(key=lambda p: (-DEPTH[p.kind], -len(p.name), p.code))
    return found[:limit]


async def path(session: AsyncSession, place: PlaceRow | None) -> str:
    """泗河街道 · 泗河社区 · 泗河社区第1网格 (the county left out)."""
    tree = await directory(session)
    names: list[str] = []
    while place is not None and place.kind != PlaceKind.COUNTY:
        names.append(place.name)
        place = tree.by_id.get(place.parent_id) if place.parent_id else None
    return " · ".join(reversed(names))
