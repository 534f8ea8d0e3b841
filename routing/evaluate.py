"""Figures for a router on labelled requests: accuracy, macro-F1, triage, throughput.

Two kinds of labelled file: ``id,title,text,label`` (message-board texts with a category:
`figures`, by category) and ``text,units`` (requests as typed in chat, each with every
acceptable unit code separated by ``|``: `unit_figures`, by unit).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jieba

from routing.classifier import Classification
from routing.decide import Decision
from routing.learn import Example


def read_labelled(path: Path) -> list[Example]:
    """CSV with columns title (optional), text, label; title and text are joined."""
    with path.open(encoding="utf-8", newline="") as f:
        return [Example(f"{row.get('title') or ''}\n{row['text']}".strip(), row["label"],
                        (row.get("title") or "").strip())
                for row in csv.DictReader(f) if row.get("label")]


def figures(decisions: Sequence[Classification], gold: Sequence[str]) -> dict[str, Any]:
    labels = sorted(set(gold) | {d.target for d in decisions if d.target})
    confusion = {g: dict.fromkeys(labels + ["(none)"], 0) for g in labels}
    for d, g in zip(decisions, gold, strict=True):
        confusion[g][d.target or "(none)"] += 1
    per: dict[str, dict[str, float]] = {}
    for lab in labels:
        tp = confusion[lab][lab]
        predicted = sum(confusion[g][lab] for g in labels)
        actual = sum(confusion[lab].values())
        p = tp / predicted if predicted else 0.0
        r = tp / actual if actual else 0.0
        per[lab] = {"precision": p, "recall": r,
                    "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": actual}
    n = len(gold)
    routed = [(d, g) for d, g in zip(decisions, gold, strict=True) if not d.triage]
    return {
        "n": n,
        "accuracy": sum(d.target == g for d, g in zip(decisions, gold, strict=True)) / n,
        "macro_f1": sum(v["f1"] for v in per.values()) / len(per),
        "triage_rate": 1 - len(routed) / n,
        "accuracy_routed": (sum(d.target == g for d, g in routed) / len(routed)
                            if routed else 0.0),
        "per_category": per,
        "confusion": confusion,
    }


def is_unit_file(path: Path) -> bool:
    """A ``text,units`` file (by unit) rather than ``id,title,text,label`` (by category)."""
    with path.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f), [])
    return "units" in header and "label" not in header


def read_units(path: Path) -> list[tuple[str, frozenset[str]]]:
    """``text,units`` rows: the request and every acceptable unit code."""
    with path.open(encoding="utf-8", newline="") as f:
        return [(row["text"], frozenset(u.strip() for u in row["units"].split("|")
                                        if u.strip()))
                for row in csv.DictReader(f) if row.get("text") and row.get("units")]


def unit_figures(decisions: Sequence[Decision], gold: Sequence[frozenset[str]]
                 ) -> dict[str, Any]:
    """accuracy: routed to an acceptable unit (asked or triaged counts as wrong);
    triage_rate: asked or triaged; accuracy_routed: over the routed; in_top3: an acceptable
    unit among the (up to) three offered, over the asked; per_unit: precision (of the
    routed to the unit), recall (of the requests whose first label is the unit)."""
    pairs = list(zip(decisions, gold, strict=True))
    n = len(pairs)
    routed = [(d, g) for d, g in pairs if d.routed]
    asked = [(d, g) for d, g in pairs if d.ask]
    right = sum(d.unit in g for d, g in routed)
    units = sorted({u for g in gold for u in g} | {d.unit for d, _ in routed if d.unit})
    per: dict[str, dict[str, float]] = {}
    for unit in units:
        to_unit = [g for d, g in routed if d.unit == unit]
        support = [d for d, g in pairs if unit in g]
        per[unit] = {
            "precision": sum(unit in g for g in to_unit) / len(to_unit) if to_unit else 0.0,
            "recall": sum(d.unit == unit for d in support) / len(support) if support else 0.0,
            "support": len(support)}
    return {
        "n": n,
        "accuracy": right / n if n else 0.0,
        "triage_rate": 1 - len(routed) / n if n else 0.0,
        "asked_rate": len(asked) / n if n else 0.0,
        "accuracy_routed": right / len(routed) if routed else 0.0,
        "in_top3": (sum(bool(set(d.top_units()) & g) for d, g in asked) / len(asked)
                    if asked else 1.0),
        "rules": {rule: sum(d.rule == rule for d in decisions)
                  for rule in ("matter", "place", "learned", "ask", "triage")},
        "per_unit": per,
    }


def throughput(route: Callable[[str], object], texts: Sequence[str]) -> dict[str, float]:
    """Routing time against plain jieba.lcut on the same texts, in the same run."""
    for t in texts[:20]:  # warm both paths
        jieba.lcut(t)
        route(t)
    start = time.perf_counter()
    for t in texts:
        jieba.lcut(t)
    lcut = time.perf_counter() - start
    start = time.perf_counter()
    for t in texts:
        route(t)
    spent = time.perf_counter() - start
    return {"per_second": len(texts) / spent, "lcut_ratio": spent / lcut,
            "seconds": spent, "lcut_seconds": lcut}
