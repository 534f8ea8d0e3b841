"""Normalising and segmenting request text with jieba.

jieba's dictionary is loaded once per process (`load_dictionary`), with the domain terms
and the org's place names added as a user dictionary, so no message pays for it.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Iterable

import jieba

DOMAIN_TERMS = ("红帆驿站", "网格员", "化粪池", "物业费", "党群服务中心", "民意快车",
                "接诉即办", "退回重办", "吹哨", "楼栋长", "单元长", "小区长", "红色代办")
# Frequent words that say nothing about who should act.
STOP_WORDS = frozenset("""
的 了 是 在 我 我们 你们 他们 有 和 与 及 也 都 就 还 又 被 把 对 从 给 让 这 那 这个 那个
一个 没有 什么 怎么 如何 请问 您好 你好 尊敬 领导 政府 市政府 谢谢 感谢 希望 问题 情况
反映 现在 已经 进行 目前 相关 部门 要求 能否 是否 可以 因为 所以 但是 而且 如果 这样 自己
以及 由于 对于 关于 非常 一直 没 不 很 多 后 前 中 上 下 年 月 日 号 时 为 以 等 或 而
""".split())  # noqa: SIM905 - a word list reads better as text
_NOISE = re.compile(r"^[\W\d_]+$")
_initialised = False


def load_dictionary(extra_terms: Iterable[str] = ()) -> None:
    """Load jieba (from its cache) and add domain terms and place names. Idempotent."""
    global _initialised
    if not _initialised:
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        for term in DOMAIN_TERMS:
            jieba.add_word(term, freq=20000)
        _initialised = True
    for term in extra_terms:
        if term and len(term) >= 2:
            jieba.add_word(term, freq=20000)


def normalise(text: str) -> str:
    """NFKC folds full-width letters, digits and punctuation; lower-case for Latin."""
    return unicodedata.normalize("NFKC", text or "").lower()


# Spellings residents type for common words (dialect, pinyin-input slips), folded before
# the catalogue is matched, as NFKC folds full-width letters.
DIALECT = (("木有", "没有"), ("冇", "没"), ("莫得", "没有"), ("没得", "没有"),
           ("路等", "路灯"), ("暖器", "暖气"))


def fold_dialect(text: str) -> str:
    for variant, word in DIALECT:
        if variant in text:
            text = text.replace(variant, word)
    return text


def term_value(count: int) -> float:
    """A term's feature before scaling: sublinear in its count (1 + log count), as TF-IDF's
    sublinear tf; shared by learning and routing so both compute the same thing."""
    return 1.0 + math.log(count)


def tokens(text: str) -> list[str]:
    """Meaningful jieba tokens: no stop words, punctuation, numbers or single characters."""
    return [tok for tok in jieba.lcut(normalise(text))
            if len(tok) >= 2 and tok not in STOP_WORDS and not _NOISE.match(tok)]
