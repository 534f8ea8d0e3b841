"""One routing decision, explained: catalogue matter first, learned table second, triage last.

1. **matter**: each matter of the dispatch catalogue scores the sum of the weights of its
   phrases found in the text (substrings) and of its terms among jieba's tokens, minus its
   negatives. A unit's score is its best matter's; a 属地 matter counts for the town unit
   of the request's place (`town`, else a place of the org named in the text, else the
   matter's fallback). The units' scores and a "none of these" score of 0 go through a
   softmax; when the best unit's share reaches `min_confidence` it is the decision (rule
   `matter`, or `place` for a 属地 matter resolved to a town).
2. **ask**: some matter matched but none is clear enough: the resident is offered the best
   matter of each of the top three units in plain words.
3. **learned**: no matter matched at all: the learned keyword table (categories of a
   message board mapped to units) decides when it is confident.
4. **triage**: otherwise the dispatcher decides.

The place is the request's place, never words of a typed address: callers route the
request's own text. Pure: no DB, no aiogram.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from routing.catalogue import PLACE_UNIT, Matter
from routing.classifier import KeywordClassifier
from routing.text import fold_dialect, normalise, tokens

ASK_LIMIT = 3


@dataclass(frozen=True)
class Candidate:
    """A matter offered to the resident (or the dispatcher): the best of its unit."""

    matter: str
    name: str
    unit: str | None
    share: float


@dataclass(frozen=True)
class Decision:
    rule: str  # matter | place | learned | ask | triage
    unit: str | None  # the unit code decided; None when asking or triaging
    confidence: float
    matter: str | None = None
    matter_name: str | None = None
    category: str | None = None  # the learned table's category (fallback rule)
    terms: list[tuple[str, float]] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    days: int | None = None

    @property
    def routed(self) -> bool:
        return self.unit is not None

    @property
    def ask(self) -> bool:
        return self.rule == "ask"

    def top_units(self) -> list[str]:
        return [c.unit for c in self.candidates if c.unit]

    def as_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "unit": self.unit, "matter": self.matter,
                "matter_name": self.matter_name, "category": self.category,
                "confidence": round(self.confidence, 4),
                "terms": [[t, round(w, 4)] for t, w in self.terms],
                "candidates": [{"matter": c.matter, "name": c.name, "unit": c.unit,
                                "share": round(c.share, 4)} for c in self.candidates],
                "places": self.places}


# What a named place says about the request: its kind, never its name (金庄村 -> 村里).
PLACE_WORDS = {"village": "村里", "community": "社区"}


class Decider:
    def __init__(self, matters: Sequence[Matter], classifier: KeywordClassifier | None, *,
                 min_confidence: float = 0.65,
                 places: Mapping[str, tuple[str | None, str]] | None = None,
                 learned_confidence: float | None = None) -> None:
        """`places`: place name -> (its town's unit code, its kind), for places named in
        the text: the town settles 属地 matters, the kind replaces the name."""
        self.matters = list(matters)
        self.by_code = {m.code: m for m in self.matters}
        self.classifier = classifier
        self.min_confidence = min_confidence
        self.learned_confidence = learned_confidence or min_confidence
        self.places = {normalise(k): v for k, v in (places or {}).items() if len(k) >= 2}
        self.place_lengths = sorted({len(p) for p in self.places}, reverse=True)
        # phrase or term text -> [(matter index, weight, is_term)]; negatives weigh < 0
        self.index: dict[str, list[tuple[int, float, bool]]] = {}
        for i, m in enumerate(self.matters):
            for words, sign, is_term in ((m.phrases, 1, False), (m.negatives, -1, False),
                                         (m.terms, 1, True)):
                for p, w in words.items():
                    self.index.setdefault(normalise(p), []).append((i, sign * w, is_term))
        self.lengths = sorted({len(p) for p in self.index})

    def _places(self, norm: str) -> tuple[str, list[str], str | None]:
        """The text with each named place replaced by the word for its kind, the places
        found, and the town unit of the most specific one."""
        out: list[str] = []
        found: list[str] = []
        town, rank = None, -1
        i, n = 0, len(norm)
        while i < n:
            for length in self.place_lengths:
                piece = norm[i:i + length]
                if len(piece) == length and piece in self.places:
                    unit, kind = self.places[piece]
                    found.append(piece)
                    out.append(PLACE_WORDS.get(kind, " "))
                    if unit and len(piece) > rank:
                        town, rank = unit, len(piece)
                    i += length
                    break
            else:
                out.append(norm[i])
                i += 1
        return "".join(out), found, town

    def _found(self, scan: str) -> set[str]:
        """Phrases and terms occurring in the text: every substring of a length some
        phrase has, looked up in a dict (cheaper than testing each phrase)."""
        found: set[str] = set()
        n = len(scan)
        for i in range(n):
            for length in self.lengths:
                if i + length > n:
                    break
                piece = scan[i:i + length]
                if piece in self.index:
                    found.add(piece)
        return found

    def unit_of(self, matter: Matter, town: str | None) -> str | None:
        return (town or matter.fallback) if matter.local else matter.unit

    def decide(self, text: str, town: str | None = None) -> Decision:
        """`town`: the town unit code of the request's place, when it is known."""
        scan, places, named_town = self._places(fold_dialect(normalise(text)))
        town = town or named_town
        found = self._found(scan)
        toks: list[str] | None = None
        if any(term for piece in found for *_, term in self.index[piece]):
            toks = tokens(scan)  # jieba only when a term might be a token of the text
        token_set = set(toks or ())
        scores: dict[int, float] = {}
        why: dict[int, list[tuple[str, float]]] = {}
        for piece in found:
            for i, w, is_term in self.index[piece]:
                if is_term and piece not in token_set:
                    continue
                scores[i] = scores.get(i, 0.0) + w
                why.setdefault(i, []).append((piece, w))
        # unit -> (score, matter index). Without a town, the 属地 matters compete as one
        # group (their fallbacks differ, their evidence - "in the village" - is shared).
        best: dict[str, tuple[float, int]] = {}
        for i, s in scores.items():
            m = self.matters[i]
            key = town if m.local and town else (PLACE_UNIT if m.local else m.unit)
            if s > 0 and key and (key not in best or s > best[key][0]):
                best[key] = (s, i)
        if not best:
            return self._learned(scan, toks, places)
        top = max(s for s, _ in best.values())
        total = math.exp(-top) + sum(math.exp(s - top) for s, _ in best.values())
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
        candidates = [Candidate(self.matters[i].code, self.matters[i].name,
                                self.unit_of(self.matters[i], town),
                                math.exp(s - top) / total)
                      for _, (s, i) in ranked[:ASK_LIMIT]]
        _, (_, i) = ranked[0]
        matter = self.matters[i]
        unit = candidates[0].unit
        share = candidates[0].share
        terms = sorted(why[i], key=lambda kv: -kv[1])
        if share < self.min_confidence:
            return Decision("ask", None, share, matter.code, matter.name, None, terms,
                            candidates, places)
        return Decision("place" if matter.local and unit == town else "matter", unit,
                        share, matter.code, matter.name, None, terms, candidates, places,
                        matter.days)

    def _learned(self, scan: str, toks: list[str] | None, places: list[str]) -> Decision:
        if self.classifier is None:
            return Decision("triage", None, 0.0, places=places)
        c = self.classifier.classify(scan, tokens(scan) if toks is None else toks)
        if c.target is None or not c.unit or c.confidence < self.learned_confidence:
            return Decision("triage", None, c.confidence, category=c.target,
                            terms=c.explanation, places=places)
        return Decision("learned", c.unit, c.confidence, category=c.target,
                        terms=c.explanation, places=places)

    def choose(self, matter_code: str, town: str | None = None) -> Decision:
        """The resident picked a matter: it decides (KeyError for an unknown code)."""
        matter = self.by_code[matter_code]
        return Decision("resident", self.unit_of(matter, town), 1.0, matter.code,
                        matter.name, days=matter.days)
