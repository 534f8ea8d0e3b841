"""Learning a keyword table from labelled requests.

How terms are chosen and weighted: a plain "top log-odds terms, summed" table scores far
below a linear model, because frequent, shared terms get weights that ignore each other.
So the table IS a linear model: multinomial logistic regression over jieba-token features
(1 + log count) x idf, divided by sqrt(number of the table's terms in the text), trained
with L2 by full-batch Adam — the TF-IDF recipe, kept computable from the table alone: the
idf is folded into the stored weights. Candidates are the tokens with document frequency
>= `min_df`, pre-selected per category by chi-square. After training, each category keeps
its `max_terms` strongest weights (positive ones become keywords, negative ones
negatives) and training continues with only those, so the pruned table is itself fitted,
not just truncated. Softmax over the table's scores then is the model's probability,
which is what the triage threshold is set on. (Binary features without idf scored about
1.5 points lower. l2 = 1e-3 had the best 4-fold cross-validated accuracy on the training
part among 2e-4, 3e-4, 5e-4 and 1e-3 — though all four were within half a point.)
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from routing.table import MAX_TERMS, KeywordTable, Target
from routing.text import term_value

# The labelled data's first-level categories -> unit codes of examples/sishui.toml.
DEFAULT_CATEGORY_UNITS = {
    "城乡建设": "ZJ",
    "劳动和社会保障": "RS",
    "教育文体": "JY",
    "商贸旅游": "SW2",
    "卫生计生": "WJ",
    "环境保护": "STHJ",
    "交通运输": "JT",
}


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    title: str = ""  # the message board's title: a short request, like chat


def with_titles(examples: Sequence[Example]) -> list[Example]:
    """The examples plus each one's title as a short example of the same label: residents
    in chat write a title's length, not a letter's."""
    return [*examples, *(Example(e.title, e.label) for e in examples if e.title)]


def split(examples: Sequence[Example], holdout: float, seed: int
          ) -> tuple[list[Example], list[Example]]:
    """A stratified split with a fixed seed: the same seed gives the same parts."""
    rng = random.Random(seed)
    by_label: dict[str, list[Example]] = {}
    for ex in examples:
        by_label.setdefault(ex.label, []).append(ex)
    train, test = [], []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        cut = round(len(group) * holdout)
        test += group[:cut]
        train += group[cut:]
    return train, test


def _chi2_candidates(docs: list[set[str]], y: np.ndarray, labels: list[str],
                     min_df: int, per_class: int) -> list[str]:
    df = Counter(t for d in docs for t in d)
    # Sorted, and stable sorts below: the same data gives the same table in every process
    # (set iteration order follows Python's per-process string hashing).
    vocab = sorted(t for t, c in df.items() if c >= min_df)
    index = {t: i for i, t in enumerate(vocab)}
    counts = np.zeros((len(labels), len(vocab)))
    for d, label in zip(docs, y, strict=True):
        for t in d:
            j = index.get(t)
            if j is not None:
                counts[label, j] += 1
    n = len(docs)
    class_n = np.bincount(y, minlength=len(labels))[:, None].astype(float)
    term_n = counts.sum(axis=0, keepdims=True)
    expected = class_n * term_n / n
    chi2 = (counts - expected) ** 2 / np.maximum(expected, 1e-9)
    keep: set[int] = set()
    for c in range(len(labels)):
        keep.update(np.argsort(-chi2[c], kind="stable")[:per_class].tolist())
    return [vocab[j] for j in sorted(keep)]


def _train(x: np.ndarray, y: np.ndarray, k: int, mask: np.ndarray | None, l2: float,
           steps: int, w: np.ndarray | None = None, b: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    n, d = x.shape
    xt = np.ascontiguousarray(x.T)
    w = np.zeros((d, k), dtype=np.float32) if w is None else w.astype(np.float32)
    b = np.zeros(k, dtype=np.float32) if b is None else b.astype(np.float32)
    onehot = np.eye(k, dtype=np.float32)[y]
    m_w, v_w, m_b, v_b = (np.zeros_like(w), np.zeros_like(w), np.zeros_like(b),
                          np.zeros_like(b))
    lr, beta1, beta2 = 0.05, 0.9, 0.999
    for step in range(1, steps + 1):
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = p - onehot
        gw = xt @ g / n + l2 * w
        gb = g.mean(axis=0)
        if mask is not None:
            gw *= mask
        m_w = beta1 * m_w + (1 - beta1) * gw
        v_w = beta2 * v_w + (1 - beta2) * gw * gw
        m_b = beta1 * m_b + (1 - beta1) * gb
        v_b = beta2 * v_b + (1 - beta2) * gb * gb
        corr = np.sqrt(1 - beta2**step) / (1 - beta1**step)
        w -= lr * corr * m_w / (np.sqrt(v_w) + 1e-8)
        b -= lr * corr * m_b / (np.sqrt(v_b) + 1e-8)
        if mask is not None:
            w *= mask
    return w, b


def _features(docs: list[Counter[str]], vocab: list[str], idf: np.ndarray) -> np.ndarray:
    """(1 + log count) x idf, divided by sqrt(number of vocabulary terms present): the
    router computes the same from the table (idf folded into the weights)."""
    index = {t: i for i, t in enumerate(vocab)}
    x = np.zeros((len(docs), len(vocab)), dtype=np.float32)
    for r, d in enumerate(docs):
        hits = [(index[t], c) for t, c in d.items() if t in index]
        if hits:
            norm = 1.0 / math.sqrt(len(hits))
            for j, c in hits:
                x[r, j] = term_value(c) * norm
    return x * idf[None, :]


def _idf(docs: list[Counter[str]], vocab: list[str]) -> np.ndarray:
    """Smoothed inverse document frequency, as scikit-learn's TfidfVectorizer."""
    df = Counter(t for d in docs for t in d)
    n = len(docs)
    return np.array([math.log((1 + n) / (1 + df[t])) + 1 for t in vocab], dtype=np.float32)


def learn_table(token_docs: Sequence[Sequence[str]], labels: Sequence[str],
                units: dict[str, str], *, max_terms: int = MAX_TERMS, min_df: int = 3,
                l2: float = 1e-3, steps: int = 400) -> KeywordTable:
    """A table with at most `max_terms` weighted terms per category."""
    names = sorted(set(labels))
    y = np.array([names.index(label) for label in labels])
    docs = [Counter(d) for d in token_docs]
    vocab = _chi2_candidates([set(d) for d in docs], y, names, min_df,
                             per_class=max(4 * max_terms, 1000))
    idf = _idf(docs, vocab)
    w, b = _train(_features(docs, vocab, idf), y, len(names), None, l2, steps)
    mask = np.zeros_like(w)
    for c in range(len(names)):
        mask[np.argsort(-np.abs(w[:, c]), kind="stable")[:max_terms], c] = 1.0
    # Refit on the kept terms only, normalised over them exactly as the router will be.
    keep = np.nonzero(mask.any(axis=1))[0]
    vocab, mask, w, idf = [vocab[j] for j in keep], mask[keep], w[keep], idf[keep]
    w, b = _train(_features(docs, vocab, idf), y, len(names), mask, l2, steps // 2,
                  w * mask, b)
    w = w * idf[:, None]  # the router has no idf table: it is folded into the weights
    table = KeywordTable()
    for c, name in enumerate(names):
        kept = np.nonzero(mask[:, c])[0]
        table.targets[name] = Target(
            name=name, unit=units.get(name, ""), bias=float(b[c]),
            keywords={vocab[j]: float(w[j, c]) for j in kept if w[j, c] > 1e-4},
            negatives={vocab[j]: float(-w[j, c]) for j in kept if w[j, c] < -1e-4},
            comment=f"学习自 {int((y == c).sum())} 条已标注诉求")
    return table
