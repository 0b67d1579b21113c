"""``text`` and ``ocr``: short free text and OCR answers.

Both compare normalised text: case, punctuation, English articles, full-width forms (NFKC) and
number words (``twelve`` = ``12``) do not matter. A normalised exact match, or the gold stated
inside a short answer ("It is a cat." for "cat"), scores 1; a hedge ("cat or dog", "red, blue,
green") scores 0. Several golds: the best one counts.

Partial credit is ANLS (DocVQA's normalised Levenshtein similarity, via rapidfuzz; 0 below
``threshold``), and the policy differs by name:

- ``text`` (``mode="auto"``): golds of up to ``short_max_words`` (3) words need an exact or
  contained match - "bathroom" is not 0.75 right for "bedroom"; longer golds get ANLS.
- ``ocr`` (``mode="anls"``): ANLS for every gold of at least ``anls_min_chars`` (5) characters
  ("Jonh Smith" is 0.8 right for "John Smith"), as DocVQA and InfoVQA score; one short word
  (``STOP``) still needs an exact or contained match.

In every mode similarity never pays a changed number (``digits_must_match``): a time, a price, a
date or an id whose digits differ from the gold's ("10:31" for "10:30") scores 0.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, ClassVar

from rapidfuzz.distance import Levenshtein

from . import normalize as norm
from ._number_words import word_numbers
from .options import BOOL, OneOf, Range, VerifierOptions, option
from .registry import register
from .types import Verdict, hedged, invalid_gold, no_answer, right, wrong

_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_WS = re.compile(r"\s+")
# "/" offers alternatives between words ("red/blue"), not inside a date or a fraction ("10/12/2020")
_HEDGE = re.compile(r"\bor\b|[^\W\d_]\s?/\s?[^\W\d_]|或|\beither\b", re.IGNORECASE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
# list separators: "red, blue, green", "cat; dog", "red and blue", "猫、狗"
_LIST_SEP = re.compile(r"\s*(?:[,;，；、/&|\n]|\band\b|\bor\b|和|或)\s*", re.IGNORECASE)
_CONJ = re.compile(r"[;；、/&|]|\band\b|\bor\b|和|或", re.IGNORECASE)
_DECIMAL = re.compile(r"\d+\.\d+")
_HAS_NUMBER_WORD = re.compile(
    r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|twenty|thirty|forty|fifty|"
    r"sixty|seventy|eighty|ninety|hundred|thousand|dozen)\b"
)


def _strip_punct(text: str) -> str:
    return "".join(" " if unicodedata.category(ch).startswith("P") or ch in "$^`~|<>=+" else ch for ch in text)


def _digits_for_words(t: str) -> str:
    """English number words as digits ("twenty five apples" -> "25 apples")."""
    if not _HAS_NUMBER_WORD.search(t):
        return t
    out, last = [], 0
    for value, a, b in word_numbers(t):
        out += [t[last:a], str(int(value))]
        last = b
    return "".join(out) + t[last:]


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


# punctuation inside a word: "P.O.", "I.T.C.", "Coca-Cola" (never between digits: 3.5 is not 35)
_IN_WORD = re.compile(r"(?<=[^\W\d_])[.\-'’·](?=[^\W\d_])")


def joined_key(text: str) -> str:
    """exact_key with punctuation inside words dropped instead of spaced: "P.O. Box" -> "po box"."""
    return exact_key(_IN_WORD.sub("", norm.basic(text)))


@norm.memo()
def exact_key(text: str) -> str:
    """Lower-case, no punctuation, no English articles, number words as digits, single spaces
    ("$1,234.56" and "1234.56" give the same key)."""
    t = _strip_punct(_THOUSANDS.sub("", norm.basic(text).lower()))
    t = _digits_for_words(t)
    t = _ARTICLES.sub(" ", t)
    return _WS.sub(" ", t).strip()


@norm.memo()
def anls_key(text: str) -> str:
    """ANLS compares case-insensitively with whitespace collapsed."""
    return _WS.sub(" ", norm.basic(text).lower()).strip()


def _words(key: str) -> int:
    return len(_CJK.findall(key)) + len(_CJK.sub(" ", key).split())


def _qualifies(part: str, gold_exact: str) -> bool:
    """A name or abbreviation after the gold ("France", "D.C.", "NY"), not another reading of it
    ("Invoice 4522", "STOR" for "STOP")."""
    key = exact_key(part)
    return (
        part[:1].isupper()
        and not set(key.split()) & set(gold_exact.split())
        and Levenshtein.normalized_similarity(key, gold_exact) < 0.5
    )


def _listed(answer: str, gold_exact: str, short_max_words: int) -> bool:
    """The answer is a list of short candidates and the gold is one of them ("red, blue, green"
    for "blue"): a hedge, like "A, B, C, D" for a multiple-choice question."""
    text = norm.basic(answer)
    keyed = [(p.strip(), exact_key(p)) for p in _LIST_SEP.split(text)]
    raw = [p for p, k in keyed if k]
    parts = [k for _, k in keyed if k]
    # alternatives: parts that neither restate the gold ("blue, clearly blue") nor rule themselves out ("not red")
    others = [p for p in parts if not _contained(p, gold_exact) and p.split()[0].replace("'", "") not in norm.NEGATORS]
    if len(parts) < 2 or gold_exact not in parts or not others:
        return False
    # two parts joined by a bare comma are a qualifier when the gold comes first and the rest is a
    # name or an abbreviation ("Paris, France", "Washington, D.C.", "New York, NY"); otherwise
    # ("orange, blue", "blue, orange", and any conjunction or three parts) a list
    if len(parts) == 2 and not _CONJ.search(text) and parts[0] == gold_exact and _qualifies(raw[1], gold_exact):
        return False
    limit = max(short_max_words, _words(gold_exact))
    return all(_words(p) <= limit for p in parts)


def _contained(pred: str, gold: str) -> bool:
    if _CJK.search(gold):
        return gold.replace(" ", "") in pred.replace(" ", "")
    return f" {gold} " in f" {pred} "


@dataclass(frozen=True)
class TextOptions(VerifierOptions):
    verifier: ClassVar[str] = "text"
    mode: str = option("auto", OneOf(("auto", "exact", "anls", "similarity")))
    threshold: float = option(0.5, Range(0.0, 1.0), "ANLS cut-off")
    short_max_words: int = option(3, Range(0, 1000, integer=True))
    containment_slack: int = option(6, Range(0, 1000, integer=True))
    anls_min_chars: int = option(5, Range(0, 10_000, integer=True))
    digits_must_match: bool = option(True, BOOL)


@dataclass(frozen=True)
class OcrOptions(TextOptions):
    verifier: ClassVar[str] = "ocr"
    mode: str = option("anls", OneOf(("auto", "exact", "anls", "similarity")))


def _numbers_in(text: str) -> list[str]:
    """The words of text that hold a digit, as written but for thousands commas and trailing
    decimal zeros: "$42.00" and "$42" both give ["42"]; "$42.0O" gives ["42.0o"]."""
    out = []
    for word in text.split():
        if any(ch.isdigit() for ch in word):
            w = word.strip(".,;:!?$€£¥%()[]\"'").replace(",", "")
            out.append(w.rstrip("0").rstrip(".") if _DECIMAL.fullmatch(w) else w)
    return out


def _partial_credit(pred_anls: str, gold_anls: str, gold_exact: str, short: bool, opts: TextOptions) -> float | None:
    """The similarity credit the mode gives, or None when it gives none for this gold."""
    if opts.mode == "exact" or (opts.mode == "auto" and short):
        return None
    if opts.mode == "anls" and len(gold_anls) < opts.anls_min_chars:
        return None
    if opts.digits_must_match and _numbers_in(pred_anls) != _numbers_in(gold_anls):
        return 0.0
    sim = Levenshtein.normalized_similarity(pred_anls, gold_anls)
    return sim if opts.mode == "similarity" or sim >= opts.threshold else 0.0


def _verify(answer: str, ground_truth: Any, opts: TextOptions) -> Verdict:
    golds = norm.as_gold_list(ground_truth)
    if not golds:
        return invalid_gold(ground_truth, "empty ground truth")
    if answer is None or not str(answer).strip():
        return no_answer()
    pred_exact, pred_anls = exact_key(str(answer)), anls_key(str(answer))
    pred_joined = joined_key(str(answer)) if _IN_WORD.search(str(answer)) else pred_exact
    if not pred_exact and all(exact_key(g) for g in golds):
        return no_answer("answer is only punctuation")
    best = wrong(pred_exact[:200], "no match")
    for gold in golds:
        gold_exact, gold_anls = exact_key(gold), anls_key(gold)
        gold_joined = joined_key(gold) if _IN_WORD.search(gold) else gold_exact
        if gold_exact and (pred_exact == gold_exact or pred_joined == gold_joined):
            return right(pred_exact[:200], "exact match")
        short = _words(gold_exact) <= opts.short_max_words
        contained = bool(gold_exact) and _contained(pred_exact, gold_exact)
        if contained and norm.ruled_out(norm.basic(str(answer)), gold_exact, exact_key):
            continue  # "not blue", "It isn't 2019-05-12.": the gold ruled out earns nothing, not even similarity
        if opts.mode != "similarity" and (short or opts.mode == "anls") and contained:
            if _HEDGE.search(str(answer)):
                best = hedged(pred_exact[:200], "gold stated among alternatives")
                continue
            if _listed(str(answer), gold_exact, opts.short_max_words):
                best = hedged(pred_exact[:200], "gold listed among other candidates")
                continue
            if _words(pred_exact) <= _words(gold_exact) + opts.containment_slack:
                return right(pred_exact[:200], "gold stated in a short answer")
        score = _partial_credit(pred_anls, gold_anls, gold_exact, short, opts)
        if score is not None and score > best.score:
            best = Verdict(round(score, 6), pred_anls[:200], f"similarity {score:.3f}")
    return best


@register("text", options=TextOptions)
def verify_text(answer: str, ground_truth: Any, **options: Any) -> Verdict:
    """Options (``TextOptions``): ``mode`` = auto | exact | anls | similarity (continuous 1 -
    normalised edit distance); ``threshold`` (ANLS cut-off, 0.5 as in DocVQA); ``short_max_words``
    (3: golds up to this many words need an exact or contained match in auto mode);
    ``containment_slack`` (6: extra words a short answer may add around the gold); ``anls_min_chars``
    (5: in anls mode, shorter golds need an exact or contained match); ``digits_must_match`` (true)."""
    return _verify(answer, ground_truth, TextOptions.of(options))


@register("ocr", options=OcrOptions)
def verify_ocr(answer: str, ground_truth: Any, **options: Any) -> Verdict:
    """``text`` with OCR's policy: ``mode="anls"`` (partial credit for near misses of golds of
    ``anls_min_chars`` or more); the same options as ``text``."""
    return _verify(answer, ground_truth, OcrOptions.of(options))
