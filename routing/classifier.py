"""Classify a request against a keyword table: scores, a decision, an explanation.

A target's score is its bias plus, for each of the table's terms found in the text, its
weight times (1 + log of its count), all scaled by 1/sqrt(number of matched terms) so long
texts do not shout — the features the table was learned on (routing/learn.py); phrases by
substring, unscaled; negatives subtract. Softmax over the scores is
the confidence. Below `min_confidence`, or when the runner-up is within `min_margin`,
the decision is triage: the dispatcher chooses, the router does not guess.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from routing.table import KeywordTable
from routing.text import normalise, term_value, tokens


@dataclass(frozen=True)
class Classification:
    target: str | None  # category/target name; None only when the text had nothing
    unit: str | None
    confidence: float
    runner_up: str | None
    runner_up_confidence: float
    triage: bool
    explanation: list[tuple[str, float]] = field(default_factory=list)  # term, contribution
    places: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"target": self.target, "unit": self.unit,
                "confidence": round(self.confidence, 4), "runner_up": self.runner_up,
                "runner_up_confidence": round(self.runner_up_confidence, 4),
                "triage": self.triage,
                "explanation": [[term, round(w, 4)] for term, w in self.explanation],
                "places": self.places}


class KeywordClassifier:
    """The learned keyword table as a linear classifier (categories, or units)."""

    def __init__(self, table: KeywordTable, *, min_confidence: float = 0.6,
                 min_margin: float = 0.0, place_names: Iterable[str] = ()) -> None:
        self.names = list(table.targets)
        self.units = [table.targets[n].unit for n in self.names]
        self.bias = [table.targets[n].bias for n in self.names]
        self.terms: dict[str, list[tuple[int, float]]] = {}
        self.phrases: list[tuple[str, int, float]] = []
        for i, name in enumerate(self.names):
            target = table.targets[name]
            for term, w in target.keywords.items():
                self.terms.setdefault(normalise(term), []).append((i, w))
            for term, w in target.negatives.items():
                self.terms.setdefault(normalise(term), []).append((i, -abs(w)))
            self.phrases += [(normalise(p), i, w) for p, w in target.phrases.items()]
        self.min_confidence = min_confidence
        self.min_margin = min_margin
        self.places = frozenset(normalise(p) for p in place_names if p)

    def scores(self, text: str, toks: list[str] | None = None
               ) -> tuple[list[float], list[list[tuple[str, float]]], list[str]]:
        """`toks`: the text's `routing.text.tokens`, when the caller has them already."""
        scores = list(self.bias)
        why: list[list[tuple[str, float]]] = [[] for _ in self.names]
        counts = Counter(tokens(text) if toks is None else toks)
        hits = [tok for tok in counts if tok in self.terms]
        # Long texts match many terms: scale by 1/sqrt(matches), as the table was learned.
        scale = 1.0 / math.sqrt(len(hits)) if hits else 0.0
        for tok in hits:
            value = term_value(counts[tok]) * scale
            for i, w in self.terms[tok]:
                scores[i] += w * value
                why[i].append((tok, w * value))
        places = [tok for tok in counts if tok in self.places]
        if self.phrases:
            norm = normalise(text)
            for phrase, i, w in self.phrases:
                if phrase in norm:
                    scores[i] += w
                    why[i].append((phrase, w))
        return scores, why, places

    def classify(self, text: str, toks: list[str] | None = None) -> Classification:
        scores, why, places = self.scores(text, toks)
        if not any(why):
            return Classification(None, None, 0.0, None, 0.0, True, [], places)
        top = max(scores)
        exp = [math.exp(s - top) for s in scores]
        total = sum(exp)
        probs = [e / total for e in exp]
        order = sorted(range(len(probs)), key=probs.__getitem__, reverse=True)
        best, second = order[0], order[1] if len(order) > 1 else None
        p2 = probs[second] if second is not None else 0.0
        triage = probs[best] < self.min_confidence or probs[best] - p2 < self.min_margin
        explanation = sorted(why[best], key=lambda kv: -abs(kv[1]))[:10]
        return Classification(self.names[best], self.units[best], probs[best],
                        self.names[second] if second is not None else None, p2,
                        triage, explanation, places)
