"""The dispatch catalogue (派单目录): the county's matters, each with its unit and words.

A matter (事项) names what residents ask about in plain words ("路灯不亮或损坏"), the unit
responsible (a unit code) or ``属地`` (the town/street unit of the request's place, with a
`fallback` unit when the place is unknown), the phrases (substrings of the text) and jieba
terms (whole tokens) that point to it with weights, negatives that point away, and
optionally its own deadline in working days. TOML, as ``[[matters]]`` rows; the header of
examples/sishui_catalogue.toml documents the keys. Rows are checked here (pure: no DB);
the org import checks unit codes against the org and reports every error with its line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PLACE_UNIT = "属地"
KEYS = frozenset({"code", "name", "unit", "fallback", "phrases", "terms", "negatives",
                  "days", "active"})


@dataclass(frozen=True)
class Matter:
    code: str
    name: str
    unit: str  # a unit code, or PLACE_UNIT
    phrases: dict[str, float] = field(default_factory=dict)
    terms: dict[str, float] = field(default_factory=dict)
    negatives: dict[str, float] = field(default_factory=dict)
    fallback: str | None = None  # 属地 only: the unit when the place's town is unknown
    days: int | None = None

    @property
    def local(self) -> bool:
        return self.unit == PLACE_UNIT

    def as_row(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "unit": self.unit,
                "fallback": self.fallback, "phrases": self.phrases, "terms": self.terms,
                "negatives": self.negatives, "days": self.days}


class CatalogueError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


def header_lines(text: str, section: str = "matters") -> list[int]:
    """The line number of each ``[[section]]`` header, in order."""
    pattern = re.compile(rf"\s*\[\[\s*{section}\s*\]\]\s*(#.*)?$")
    return [no for no, line in enumerate(text.splitlines(), start=1) if pattern.match(line)]


def _weights(raw: object, key: str, errors: list[str]) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(f"{key} 应为 {{ \"词\" = 权重 }} 的表")
        return {}
    out = {}
    for term, weight in raw.items():
        if not str(term).strip():
            errors.append(f"{key} 中有空词")
        elif not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            errors.append(f"{key}.{term}: 权重应为正数")
        else:
            out[str(term)] = float(weight)
    return out


def check_row(row: object, known_units: set[str] | None) -> tuple[Matter | None, list[str]]:
    """One ``[[matters]]`` row -> (Matter, []) or (None, the errors in Chinese)."""
    if not isinstance(row, dict):
        return None, ["应为表"]
    errors: list[str] = []
    code, name, unit = row.get("code"), row.get("name"), row.get("unit")
    for key, value in (("code", code), ("name", name), ("unit", unit)):
        if not isinstance(value, str) or not value.strip():
            errors.append(f"{key} 必填且为文本")
    unknown = set(row) - KEYS
    if unknown:
        errors.append(f"未知的键 {sorted(unknown)}")
    phrases = _weights(row.get("phrases"), "phrases", errors)
    terms = _weights(row.get("terms"), "terms", errors)
    negatives = _weights(row.get("negatives"), "negatives", errors)
    if not phrases and not terms:
        errors.append("至少需要一个 phrases 或 terms")
    fallback = row.get("fallback")
    if unit == PLACE_UNIT:
        if not isinstance(fallback, str) or not fallback:
            errors.append("属地事项需要 fallback（地点不明时的承办单位）")
    elif fallback is not None:
        errors.append("只有属地事项可以有 fallback")
    days = row.get("days")
    if days is not None and not (isinstance(days, int) and not isinstance(days, bool)
                                 and 1 <= days <= 60):
        errors.append("days 应为 1-60 的整数（工作日）")
    if known_units is not None:
        for key, value in (("unit", unit), ("fallback", fallback)):
            if isinstance(value, str) and value and value != PLACE_UNIT \
                    and value not in known_units:
                errors.append(f"{key} {value!r} 不是已有单位的代码")
    if errors:
        return None, errors
    assert isinstance(code, str) and isinstance(name, str) and isinstance(unit, str)
    return Matter(code.strip(), name.strip(), unit.strip(), phrases, terms, negatives,
                  fallback if unit == PLACE_UNIT else None, days), []


def check_rows(rows: Iterable[object], lines: list[int], known_units: set[str] | None
               ) -> tuple[list[Matter], list[str]]:
    """All rows, every error named by its line: "第12行 [[matters]] code='CG01': ..."."""
    matters: list[Matter] = []
    errors: list[str] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        where = f"第{lines[i]}行" if i < len(lines) else f"第{i + 1}条"
        code = row.get("code", "?") if isinstance(row, dict) else "?"
        matter, problems = check_row(row, known_units)
        if matter is not None and matter.code in seen:
            problems = ["code 重复"]
        errors += [f"{where} [[matters]] code={code!r}: {p}" for p in problems]
        if matter is not None and not problems:
            seen.add(matter.code)
            matters.append(matter)
    return matters, errors


def parse_catalogue(text: str, known_units: set[str] | None = None) -> list[Matter]:
    """The matters of a catalogue file, or CatalogueError listing every bad row."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError([f"派单目录不是有效的 TOML：{exc}"]) from exc
    rows = data.get("matters", [])
    if not isinstance(rows, list) or not rows:
        raise CatalogueError(["派单目录没有 [[matters]]"])
    matters, errors = check_rows(rows, header_lines(text), known_units)
    if errors:
        raise CatalogueError(errors)
    return matters


def places_of_org(text: str) -> dict[str, tuple[str | None, str]]:
    """Place name -> (the unit code of its town, its kind) from an org file's [[places]]
    and [[units]] (a unit with `place` = a town is that town's unit). Grids are left out:
    residents do not name them."""
    data = tomllib.loads(text)
    places = {p["code"]: p for p in data.get("places", []) if isinstance(p, dict)}
    town_unit = {u["place"]: u["code"] for u in data.get("units", [])
                 if isinstance(u, dict) and u.get("place")}
    out: dict[str, tuple[str | None, str]] = {}
    for p in places.values():
        if p.get("kind") == "grid":
            continue
        code, hops = p["code"], 0
        while code in places and places[code].get("kind") != "town" and hops < 10:
            code, hops = places[code].get("parent"), hops + 1
        out[p["name"]] = (town_unit.get(code), str(p.get("kind")))
    return out
