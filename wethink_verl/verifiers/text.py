"""``text``: short free text and OCR-like answers.

Short golds (a few words) need a normalised exact match, or the gold stated inside a short
answer ("It is a cat." for "cat"); a hedge ("cat or dog") scores 0. Longer golds use ANLS
(DocVQA's average normalised Levenshtein similarity, via rapidfuzz): similarity below the
threshold scores 0. Full-width forms fold to ASCII (NFKC). Several golds: the best one counts.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from rapidfuzz.distance import Levenshtein

from . import normalize as norm
from .registry import register
from .types import Verdict, hedged, invalid_gold, no_answer, right, wrong

_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_WS = re.compile(r"\s+")
_HEDGE = re.compile(r"\bor\b|/|或|\beither\b", re.IGNORECASE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
# list separators: "red, blue, green", "cat; dog", "red and blue", "猫、狗"
_LIST_SEP = re.compile(r"\s*(?:[,;，；、/&|\n]|\band\b|\bor\b|和|或)\s*", re.IGNORECASE)
_CONJ = re.compile(r"[;；、/&|]|\band\b|\bor\b|和|或", re.IGNORECASE)


def _strip_punct(text: str) -> str:
    return "".join(" " if unicodedata.category(ch).startswith("P") or ch in "$^`~|<>=+" else ch for ch in text)


def exact_key(text: str) -> str:
    """Lower-case, no punctuation, no English articles, single spaces."""
    t = _strip_punct(norm.basic(text).lower())
    t = _ARTICLES.sub(" ", t)
    return _WS.sub(" ", t).strip()


def anls_key(text: str) -> str:
    """ANLS compares case-insensitively with whitespace collapsed."""
    return _WS.sub(" ", norm.basic(text).lower()).strip()


def _words(key: str) -> int:
    return len(_CJK.findall(key)) + len(_CJK.sub(" ", key).split())


def _listed(answer: str, gold_exact: str, short_max_words: int) -> bool:
    """The answer is a list of short candidates and the gold is one of them ("red, blue, green"
    for "blue"): a hedge, like "A, B, C, D" for a multiple-choice question."""
    text = norm.basic(answer)
    parts = [exact_key(p) for p in _LIST_SEP.split(text)]
    parts = [p for p in parts if p]
    if len(parts) < 2 or gold_exact not in parts or len(set(parts)) < 2:
        return False
    # two parts joined by a bare comma may be a qualifier ("Paris, France"); a conjunction or
    # three and more parts is a list
    if len(parts) == 2 and not _CONJ.search(text):
        return False
    limit = max(short_max_words, _words(gold_exact))
    return all(_words(p) <= limit for p in parts)


def _contained(pred: str, gold: str) -> bool:
    if _CJK.search(gold):
        return gold.replace(" ", "") in pred.replace(" ", "")
    return f" {gold} " in f" {pred} "


@register("text")
def verify_text(
    answer: str,
    ground_truth: Any,
    *,
    mode: str = "auto",
    threshold: float = 0.5,
    short_max_words: int = 3,
    containment_slack: int = 6,
    **_: Any,
) -> Verdict:
    """Options: ``mode`` = auto | exact | anls | similarity (continuous 1 - normalised edit
    distance); ``threshold`` (ANLS cut-off, 0.5 as in DocVQA); ``short_max_words`` (golds up to
    this many words need an exact or contained match in auto mode); ``containment_slack`` (how
    many extra words a short answer may add around the gold)."""
    if mode not in ("auto", "exact", "anls", "similarity"):
        raise ValueError(f"text mode must be auto, exact, anls or similarity, not {mode!r}")
    golds = norm.as_gold_list(ground_truth)
    if not golds:
        return invalid_gold(ground_truth, "empty ground truth")
    if answer is None or not str(answer).strip():
        return no_answer()
    pred_exact, pred_anls = exact_key(str(answer)), anls_key(str(answer))
    if not pred_exact and all(exact_key(g) for g in golds):
        return no_answer("answer is only punctuation")
    best = wrong(pred_exact[:200], "no match")
    for gold in golds:
        gold_exact, gold_anls = exact_key(gold), anls_key(gold)
        if gold_exact and pred_exact == gold_exact:
            return right(pred_exact[:200], "exact match")
        short = _words(gold_exact) <= short_max_words
        if mode in ("auto", "exact") and short and gold_exact and _contained(pred_exact, gold_exact):
            if _HEDGE.search(str(answer)):
                best = hedged(pred_exact[:200], "gold stated among alternatives")
                continue
            if _listed(str(answer), gold_exact, short_max_words):
                best = hedged(pred_exact[:200], "gold listed among other candidates")
                continue
            if _words(pred_exact) <= _words(gold_exact) + containment_slack:
                return right(pred_exact[:200], "gold stated in a short answer")
        if mode == "exact" or (mode == "auto" and short):
            continue
        sim = Levenshtein.normalized_similarity(pred_anls, gold_anls)
        score = sim if mode == "similarity" else (sim if sim >= threshold else 0.0)
        if score > best.score:
            best = Verdict(round(score, 6), pred_anls[:200], f"similarity {sim:.3f}")
    return best
