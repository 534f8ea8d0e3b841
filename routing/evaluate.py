"""Figures for a router on labelled requests: accuracy, macro-F1, triage, throughput."""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jieba

from routing.classifier import Decision, Router
from routing.learn import Example


def read_labelled(path: Path) -> list[Example]:
    """CSV with columns title (optional), text, label; title and text are joined."""
    with path.open(encoding="utf-8", newline="") as f:
        return [Example(f"{row.get('title') or ''}\n{row['text']}".strip(), row["label"])
                for row in csv.DictReader(f) if row.get("label")]


def figures(decisions: Sequence[Decision], gold: Sequence[str]) -> dict[str, Any]:
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


def throughput(router: Router, texts: Sequence[str]) -> dict[str, float]:
    """Routing time against plain jieba.lcut on the same texts, in the same run."""
    for t in texts[:20]:  # warm both paths
        jieba.lcut(t)
        router.classify(t)
    start = time.perf_counter()
    for t in texts:
        jieba.lcut(t)
    lcut = time.perf_counter() - start
    start = time.perf_counter()
    for t in texts:
        router.classify(t)
    route = time.perf_counter() - start
    return {"per_second": len(texts) / route, "lcut_ratio": route / lcut,
            "seconds": route, "lcut_seconds": lcut}
