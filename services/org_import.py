"""Import org data (places, venues, units, staff, dispatch catalogue) from a TOML file.

Idempotent: rows are matched by `code` and updated in place. All rows are validated first;
any error aborts the whole import (nothing half-imported) and each error names the line
of its ``[[section]]`` header in the file.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import Matter, Membership, Person, Place, PlaceKind, Role, Unit, Venue, VenueKind
from models.org import PLACE_PARENTS
from routing import catalogue
from services import staff_admin
from services.clock import Clock
from services.errands import WEEKDAY_KEYS
from services.places import forget as forget_places

SECTIONS = ("places", "venues", "units", "people")
REPORTED = (*SECTIONS, "matters")
UNIT_ROLES = (Role.UNIT_STAFF, Role.UNIT_LEADER)
IMPORTED_ROLES = frozenset(Role) - {Role.RESIDENT}


class OrgImportError(Exception):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass
class ImportReport:
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REPORTED, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REPORTED, 0))
    deactivated: list[str] = field(default_factory=list)  # `active = false` applied now
    # Active staff in the database the file does not mention: they keep their roles until
    # `active = false` or `minyi staff remove CODE` (a partial file removes nobody).
    not_in_file: list[str] = field(default_factory=list)
    matters_deactivated: int = 0  # catalogue matters the file no longer has


def _header_lines(text: str) -> dict[str, list[int]]:
    """Line number of each ``[[section]]`` header, in order, per section."""
    lines: dict[str, list[int]] = {s: [] for s in SECTIONS}
    for no, line in enumerate(text.splitlines(), start=1):
        m = re.match(r"\s*\[\[\s*(\w+)\s*\]\]\s*(#.*)?$", line)
        if m and m.group(1) in lines:
            lines[m.group(1)].append(no)
    return lines


class _Checker:
    def __init__(self, text: str) -> None:
        self.lines = _header_lines(text)
        self.errors: list[str] = []

    def where(self, section: str, index: int, row: dict[str, Any]) -> str:
        lines = self.lines[section]
        pos = f"第{lines[index]}行" if index < len(lines) else f"第{index + 1}条"
        return f"{pos} [[{section}]] code={row.get('code', '?')!r}"

    def error(self, section: str, index: int, row: dict[str, Any], msg: str) -> None:
        self.errors.append(f"{self.where(section, index, row)}: {msg}")


def _text(row: dict[str, Any], key: str) -> str | None:
    """A non-blank string value, or None."""
    value = row.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _check_point(row: dict[str, Any], i: int, section: str, chk: _Checker) -> None:
    """latitude/longitude are optional, but both or neither, and on the globe."""
    lat, lon = row.get("latitude"), row.get("longitude")
    if lat is None and lon is None:
        return
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon)):
        chk.error(section, i, row, "latitude 和 longitude 须同时给出且为数字")
    elif not (-90 <= lat <= 90 and -180 <= lon <= 180):
        chk.error(section, i, row, "latitude/longitude 超出范围")


def _schedule_errors(raw: object, people: set[str | None]) -> list[str]:
    """A venue's appointment sessions (see services/appointments.py)."""
    if not isinstance(raw, dict):
        return ["应为表，如 {days = [5, 25], start = \"09:00\", ...}"]
    errors = []
    days = raw.get("days", [5, 15, 25])
    if not (isinstance(days, list) and days
            and all(isinstance(d, int) and 1 <= d <= 31 for d in days)):
        errors.append("days 应为 1-31 的整数列表")
    times = []
    for key, default in (("start", "09:00"), ("end", "11:30")):
        try:
            times.append(dt.time.fromisoformat(str(raw.get(key, default))))
        except ValueError:
            errors.append(f"{key} 应为 HH:MM")
    if len(times) == 2 and times[0] >= times[1]:
        errors.append("start 应早于 end")
    for key, lo, hi in (("slot_minutes", 5, 240), ("capacity", 1, 200)):
        value = raw.get(key, lo if key == "capacity" else 30)
        if not (isinstance(value, int) and lo <= value <= hi):
            errors.append(f"{key} 应为 {lo}-{hi} 的整数")
    if raw.get("holiday_rule", "next_workday") not in ("next_workday", "keep"):
        errors.append("holiday_rule 应为 next_workday 或 keep")
    for code in raw.get("receivers", []):
        if code not in people:
            errors.append(f"receivers 中的人员 {code!r} 不存在")
    unknown = set(raw) - {"days", "start", "end", "slot_minutes", "capacity",
                          "holiday_rule", "receivers"}
    if unknown:
        errors.append(f"未知的键 {sorted(unknown)}")
    return errors


def _errand_errors(raw: object, venue: dict[str, Any],
                   people: list[dict[str, Any]]) -> list[str]:
    """A 红帆驿站's 红色代办: its menu and its rota of volunteers per weekday."""
    if not isinstance(raw, dict):
        return ["应为表，如 {menu = [\"代购药品\"], rota = {mon = [\"vol-1\"]}}"]
    errors = []
    if venue.get("kind") != VenueKind.RED_SAIL.value:
        errors.append("只有 red_sail（红帆驿站）开展红色代办")
    menu = raw.get("menu")
    if not (isinstance(menu, list) and menu and all(
            isinstance(m, str) and 1 <= len(m.strip()) <= 32 for m in menu)
            and len(set(menu)) == len(menu) and len(menu) <= 20):
        errors.append("menu 应为1-20个不重复的事项名称（每个不超过32字）")
    rota = raw.get("rota", {})
    volunteers = {p.get("code") for p in people
                  if "volunteer" in (p.get("roles") or []) and p.get("venue") == venue.get("code")}
    if not isinstance(rota, dict):
        errors.append("rota 应为表，如 {mon = [\"vol-1\"], tue = [...]}")
        rota = {}
    for day, codes in rota.items():
        if day not in WEEKDAY_KEYS:
            errors.append(f"rota 的键 {day!r} 应为 {list(WEEKDAY_KEYS)} 之一")
        elif not isinstance(codes, list):
            errors.append(f"rota.{day} 应为人员 code 列表")
        else:
            errors += [f"rota.{day} 中的 {c!r} 不是本驿站的志愿者" for c in codes
                       if c not in volunteers]
    unknown = set(raw) - {"menu", "rota"}
    if unknown:
        errors.append(f"未知的键 {sorted(unknown)}")
    return errors


def _validate(data: dict[str, Any], chk: _Checker, known: dict[str, set[str]]) -> None:
    codes: dict[str, set[str]] = {s: set() for s in SECTIONS}
    kinds: dict[str, PlaceKind] = {}
    for section in SECTIONS:
        rows = data.get(section, [])
        if not isinstance(rows, list):
            chk.errors.append(f"[[{section}]] 应为表数组")
            data[section] = []
            continue
        for i, row in enumerate(rows):
            code, name = _text(row, "code"), _text(row, "name")
            if not code or not name:
                chk.error(section, i, row, "code 和 name 必填且为文本")
            elif code in codes[section]:
                chk.error(section, i, row, "code 重复")
            codes[section].add(code or "")
            if section in ("places", "venues"):
                _check_point(row, i, section, chk)
            if section == "places":
                try:
                    kinds[code or ""] = PlaceKind(row.get("kind"))
                except ValueError:
                    chk.error(section, i, row, f"kind 应为 {[k.value for k in PlaceKind]}")
    places = codes["places"] | known["places"]
    units = codes["units"] | known["units"]
    for i, row in enumerate(data.get("places", [])):
        parent, kind = row.get("parent"), kinds.get(row.get("code", ""))
        if kind is None:
            continue
        if not parent and kind != PlaceKind.COUNTY:
            chk.error("places", i, row, "缺少 parent")
        elif parent and parent not in places:
            chk.error("places", i, row, f"parent {parent!r} 不存在")
        elif parent in kinds and kinds[parent] not in PLACE_PARENTS[kind]:
            chk.error("places", i, row, f"{kind.value} 不能属于 {kinds[parent].value}")
    people: set[str | None] = {p.get("code") for p in data.get("people", [])}
    people |= known.get("people", set())
    for i, row in enumerate(data.get("venues", [])):
        if row.get("place") not in places:
            chk.error("venues", i, row, f"place {row.get('place')!r} 不存在")
        if "schedule" in row:
            for msg in _schedule_errors(row["schedule"], people):
                chk.error("venues", i, row, f"schedule: {msg}")
        try:
            VenueKind(row.get("kind", "other"))
        except ValueError:
            chk.error("venues", i, row, f"kind 应为 {[k.value for k in VenueKind]}")
        if "errands" in row:
            for msg in _errand_errors(row["errands"], row, data.get("people", [])):
                chk.error("venues", i, row, f"errands: {msg}")
    for i, row in enumerate(data.get("units", [])):
        if row.get("parent") and row["parent"] not in units:
            chk.error("units", i, row, f"parent {row['parent']!r} 不存在")
        if row.get("place") and row["place"] not in places:
            chk.error("units", i, row, f"place {row['place']!r} 不存在")
    venues = codes["venues"] | known.get("venues", set())
    for i, row in enumerate(data.get("people", [])):
        _validate_person(row, i, chk, places, units, kinds)
        roles = row.get("roles") if isinstance(row.get("roles"), list) else []
        if ({"organiser", "volunteer"} & set(roles)) and row.get("venue") not in venues:
            chk.error("people", i, row, "organiser/volunteer 需要有效的 venue（红帆驿站 code）")
        if "volunteer" in roles and row.get("unit") and row["unit"] not in units:
            chk.error("people", i, row, f"双报到单位 unit {row['unit']!r} 不存在")
        if "block_head" in roles and row.get("place") not in places:
            chk.error("people", i, row, "block_head 需要有效的 place（所在社区）")
        if "block" in row and not _is_block(row["block"]):
            chk.error("people", i, row, "block 应为“小区/楼栋/单元”（1到3级，用 / 分隔，"
                      "每级不超过20字，例如 \"幸福小区/3号楼\"）")


def _is_block(value: object) -> bool:
    """A 三长's 小区, 小区/楼栋 or 小区/楼栋/单元."""
    if not isinstance(value, str) or len(value) > 64:
        return False
    parts = value.split("/")
    return 1 <= len(parts) <= 3 and all(1 <= len(p.strip()) <= 20 for p in parts)


def _validate_person(row: dict[str, Any], i: int, chk: _Checker, places: set[str],
                     units: set[str], kinds: dict[str, PlaceKind]) -> None:
    if not isinstance(row.get("active", True), bool):
        chk.error("people", i, row, "active 应为 true 或 false")
    tg = row.get("telegram_id")
    if tg is not None and (not isinstance(tg, int) or isinstance(tg, bool) or tg <= 0):
        chk.error("people", i, row, "telegram_id 应为正整数")
    roles = row.get("roles", [])
    if not isinstance(roles, list) or not roles:
        chk.error("people", i, row, "roles 必填（列表）")
        return
    for role in roles:
        try:
            r = Role(role)
        except ValueError:
            chk.error("people", i, row, f"未知角色 {role!r}")
            continue
        if r in UNIT_ROLES and row.get("unit") not in units:
            chk.error("people", i, row, f"{r.value} 需要有效的 unit")
        if r == Role.GRID_WORKER:
            grids = row.get("grids") or []
            if not grids:
                chk.error("people", i, row, "grid_worker 需要 grids")
            for g in grids:
                if g not in places or (g in kinds and kinds[g] != PlaceKind.GRID):
                    chk.error("people", i, row, f"网格 {g!r} 不存在")


async def _codes(session: AsyncSession, model: Any) -> dict[str, Any]:
    return {row.code: row for row in await session.scalars(sa.select(model))}


def _upsert(existing: dict[str, Any], model: Any, code: str, values: dict[str, Any],
            session: AsyncSession, report: ImportReport, section: str) -> Any:
    obj = existing.get(code)
    if obj is None:
        obj = model(code=code, **values)
        session.add(obj)
        existing[code] = obj
        report.created[section] += 1
    else:
        changed = any(getattr(obj, k) != v for k, v in values.items())
        for k, v in values.items():
            setattr(obj, k, v)
        report.updated[section] += changed
    return obj


def _tree_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents before children, whatever order the file uses (validated acyclic enough)."""
    in_file = {r["code"] for r in rows}
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []
    pending = list(rows)
    while pending:
        ready = [r for r in pending
                 if not r.get("parent") or r["parent"] not in in_file or r["parent"] in done]
        if not ready:
            raise OrgImportError([f"parent 循环引用：{[r['code'] for r in pending]}"])
        for r in ready:
            done.add(r["code"])
            ordered.append(r)
        pending = [r for r in pending if r["code"] not in done]
    return ordered


async def import_org(session: AsyncSession, text: str, clock: Clock,
                     actor: str = "org import") -> ImportReport:
    """Validate and apply the TOML `text`; flushes, the caller commits."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OrgImportError([f"TOML 语法错误：{exc}"]) from exc
    places = await _codes(session, Place)
    units = await _codes(session, Unit)
    chk = _Checker(text)
    people = set(await session.scalars(sa.select(Person.code).where(Person.code.is_not(None))))
    venue_codes = set(await session.scalars(sa.select(Venue.code)))
    _validate(data, chk, {"places": set(places), "units": set(units), "people": people,
                          "venues": venue_codes})
    matters: list[catalogue.Matter] = []
    if "matters" in data:
        rows = data["matters"] if isinstance(data["matters"], list) else [data["matters"]]
        known = set(units) | {_text(u, "code") for u in data.get("units", [])
                              if isinstance(u, dict)} - {None}
        matters, errors = catalogue.check_rows(rows, catalogue.header_lines(text), known)
        chk.errors += errors
    if chk.errors:
        raise OrgImportError(chk.errors)
    report = ImportReport()
    await _apply(session, data, places, units, report, clock, actor)
    if "matters" in data:
        await _apply_matters(session, matters, report)
    forget_places(session)  # the next update sees the new tree (services.places)
    return report


async def _apply_matters(session: AsyncSession, matters: list[catalogue.Matter],
                         report: ImportReport) -> None:
    """The file is the whole catalogue: its rows are upserted by code, matters missing
    from it are deactivated, and every changed row gets the next revision."""
    existing = await _codes(session, Matter)
    revision = (await session.scalar(sa.select(sa.func.max(Matter.revision))) or 0) + 1
    for m in matters:
        values = {"name": m.name, "unit": m.unit, "fallback": m.fallback,
                  "phrases": m.phrases, "terms": m.terms, "negatives": m.negatives,
                  "days": m.days, "active": True}
        row = existing.get(m.code)
        if row is None or any(getattr(row, k) != v for k, v in values.items()):
            _upsert(existing, Matter, m.code, values | {"revision": revision}, session,
                    report, "matters")
    wanted = {m.code for m in matters}
    for code, row in existing.items():
        if code not in wanted and row.active:
            row.active, row.revision = False, revision
            report.matters_deactivated += 1
    await session.flush()


async def _apply(session: AsyncSession, data: dict[str, Any], places: dict[str, Place],
                 units: dict[str, Unit], report: ImportReport, clock: Clock,
                 actor: str) -> None:
    def ids(table: dict[str, Any]) -> Callable[[str | None], int | None]:
        return lambda code: table[code].id if code else None

    place_id, unit_id = ids(places), ids(units)
    for row in _tree_order(data.get("places", [])):
        _upsert(places, Place, row["code"], {
            "name": row["name"], "kind": PlaceKind(row["kind"]),
            "parent_id": place_id(row.get("parent")),
            "latitude": row.get("latitude"), "longitude": row.get("longitude")},
            session, report, "places")
        await session.flush()
    venues = await _codes(session, Venue)
    for row in data.get("venues", []):
        _upsert(venues, Venue, row["code"], {
            "name": row["name"], "kind": VenueKind(row.get("kind", "other")),
            "place_id": place_id(row["place"]), "address": row.get("address", ""),
            "latitude": row.get("latitude"), "longitude": row.get("longitude"),
            "schedule": dict(row.get("schedule", {})),
            "errands": dict(row.get("errands", {}))},
            session, report, "venues")
    for row in _tree_order(data.get("units", [])):
        _upsert(units, Unit, row["code"], {
            "name": row["name"], "parent_id": unit_id(row.get("parent")),
            "place_id": place_id(row.get("place")),
            "leader_name": row.get("leader_name", ""),
            "leader_phone": str(row.get("leader_phone", "")),
            "active": bool(row.get("active", True))}, session, report, "units")
        await session.flush()
    people = await _codes(session, Person)
    for row in data.get("people", []):
        values: dict[str, Any] = {"name": row["name"], "phone": row.get("phone")}
        if row.get("telegram_id") and row.get("active", True):
            values["tg_user_id"] = row["telegram_id"]
        is_new = row["code"] not in people
        if is_new:
            values |= {"created_at": clock.now(), "memberships": []}
        counted = report.updated["people"]
        person = _upsert(people, Person, row["code"], values, session, report, "people")
        await session.flush()
        if not row.get("active", True):
            if person.active or person.tg_user_id is not None or is_new:
                await staff_admin.deactivate(session, person, clock, actor, "staff.deactivate")
                report.deactivated.append(row["code"])
            continue
        person.active = True
        roles_changed = _set_memberships(person, row, place_id, unit_id, ids(venues))
        if roles_changed and not is_new and report.updated["people"] == counted:
            report.updated["people"] += 1
    await session.flush()
    if "people" not in data:  # a file without staff (a catalogue) says nothing about them
        return
    listed = {row["code"] for row in data.get("people", [])}
    report.not_in_file = sorted(
        code for code, p in people.items()
        if code is not None and code not in listed and p.active and any(m.role in IMPORTED_ROLES
                                                   for m in p.memberships))


def _set_memberships(person: Person, row: dict[str, Any],
                     place_id: Callable[[str | None], int | None],
                     unit_id: Callable[[str | None], int | None],
                     venue_id: Callable[[str | None], int | None]) -> bool:
    """The file is the truth for staff roles; a resident membership is kept.

    Returns whether the person's roles changed.
    """
    wanted: set[tuple[Role, int | None, int | None, int | None]] = set()
    for role in map(Role, row["roles"]):
        if role in (Role.ORGANISER, Role.VOLUNTEER):  # unit: a volunteer's 双报到 unit
            wanted.add((role, unit_id(row.get("unit")) if role == Role.VOLUNTEER else None,
                        None, venue_id(row["venue"])))
        elif role == Role.BLOCK_HEAD:
            wanted.add((role, None, place_id(row["place"]), None))
        elif role in UNIT_ROLES:
            wanted.add((role, unit_id(row["unit"]), None, None))
        elif role == Role.GRID_WORKER:
            wanted.update((role, None, place_id(g), None) for g in row["grids"])
        elif role == Role.REPRESENTATIVE:
            wanted.add((role, None, place_id(row.get("place")), None))
        else:
            wanted.add((role, None, None, None))
    keep = []
    for m in person.memberships:
        key = (m.role, m.unit_id, m.place_id, m.venue_id)
        if m.role not in IMPORTED_ROLES or key in wanted:
            keep.append(m)
            wanted.discard(key)
    changed = bool(wanted) or len(keep) != len(person.memberships)
    person.memberships = keep + [
        Membership(role=r, unit_id=u, place_id=p, venue_id=v)
        for r, u, p, v in sorted(wanted, key=str)]
    block = "/".join(p.strip() for p in str(row.get("block", "")).split("/") if p.strip())
    for m in person.memberships:  # a 三长's 小区/楼栋/单元
        if m.role == Role.BLOCK_HEAD and m.label != block:
            m.label, changed = block, True
    return changed
