"""``number``: numeric answers with tolerance.

Reads ``1,234.5``, ``-3``, ``45%``, ``1.2e-3``, ``1.2 \\times 10^{3}``, ``3/4``, ``\\frac{3}{4}``,
units (``3 cm``), counting sentences (``There are 3 objects.``) and small number words.
Several different numbers in one answer (``3 or 4``, ``between 3 and 5``) score 0 as a hedge,
except that a final ``= x`` decides a worked line like ``3 × 4 = 12``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from . import normalize as norm
from .registry import register
from .types import Verdict, hedged, invalid_gold, no_answer, right, wrong

_SCI = r"(?:\s*[eE]([-+]?\d{1,4})|\s*(?:×|x|\*|\\times|\\cdot)\s*10\s*\^\s*\{?\s*([-+−]?\d{1,4})\s*\}?)?"
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.^/])([-+−–]?)\s?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\.\d+|\d+)(?![\d])" + _SCI + r"(\s*(?:\\?%|percent\b))?"
)
# "10^{3}", "10^-2": a bare power of ten (with a mantissa it is part of _SCI)
_POW10_TAIL = re.compile(r"\s*\^\s*\{?\s*([-+−]?\d{1,4})\s*\}?")
_FRAC = re.compile(r"([-−]?)\\[dt]?frac\s*\{\s*(-?\d+(?:\.\d+)?)\s*\}\s*\{\s*(-?\d+(?:\.\d+)?)\s*\}")
_SLASH = re.compile(r"(?<![A-Za-z0-9_.^/])([-−]?)(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)(?![A-Za-z0-9_.])")
_HEDGE = re.compile(r"\bor\b|\bbetween\b|\bto\b|~|±|\\pm|或|\bapprox", re.IGNORECASE)
_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100})
_WORD = re.compile(r"\b(" + "|".join(_WORDS) + r")\b", re.IGNORECASE)


# Chinese numerals up to 9999 ("三", "十二", "二十五", "两百"), read only when no digits or English
# number words are present
_CJK_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CJK_UNITS = {"十": 10, "百": 100, "千": 1000}
_CJK_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百千]+")


def _cjk_value(text: str) -> int | None:
    total, digit = 0, None
    for ch in text:
        if ch in _CJK_DIGITS:
            if digit is not None and digit != 0:
                return None  # "三四" (three or four): not one number
            digit = _CJK_DIGITS[ch]
        else:
            unit = _CJK_UNITS[ch]
            total += (1 if digit is None else digit) * unit
            digit = None
    return total + (digit or 0)


@dataclass(frozen=True)
class Num:
    value: float
    text: str
    decimals: int  # digits after the decimal point as written (for rounding to the gold's precision)
    percent: bool
    start: int


def _to_num(sign: str, body: str, exp1: str | None, exp2: str | None, pct: str | None, start: int) -> Num | None:
    try:
        value = float(body.replace(",", ""))
    except ValueError:
        return None
    exp = exp1 or exp2
    if exp:
        try:
            value *= 10.0 ** int(exp.replace("−", "-"))
        except OverflowError:  # "1e400": not a number a verifier can compare
            return None
    if sign in ("-", "−", "–"):
        value = -value
    decimals = len(body.split(".", 1)[1]) if "." in body and not exp else 0
    return Num(value, f"{sign}{body}", decimals, bool(pct and pct.strip()), start)


def find_numbers(text: str) -> list[Num]:
    """Every number in text, fractions combined, in order of appearance."""
    t = norm.basic(text).replace("−", "-")
    found: list[Num] = []
    taken: list[tuple[int, int]] = []
    for pattern in (_FRAC, _SLASH):  # \frac{a}{b} first, then a/b outside them
        for m in pattern.finditer(t):
            if any(a <= m.start() < b for a, b in taken):
                continue
            num, den = float(m.group(2)), float(m.group(3))
            if den != 0:
                found.append(Num((-1 if m.group(1) else 1) * num / den, m.group(0), 99, False, m.start()))
                taken.append(m.span())
    for m in _NUMBER.finditer(t):
        if any(a <= m.start() < b for a, b in taken):
            continue
        exp1, exp2 = m.group(3), m.group(4)
        if m.group(2) == "10" and not (exp1 or exp2) and not m.group(5):
            tail = _POW10_TAIL.match(t, m.end())
            if tail:
                n = _to_num(m.group(1), "1", tail.group(1), None, None, m.start())
                if n is not None and math.isfinite(n.value):
                    found.append(Num(n.value, m.group(0) + tail.group(0), 0, False, m.start()))
                taken.append((m.start(), tail.end()))  # the exponent is not a number of its own
                continue
        n = _to_num(m.group(1), m.group(2), exp1, exp2, m.group(5), m.start())
        if n is not None and math.isfinite(n.value):
            if exp1 or exp2:
                n = Num(n.value, m.group(0).strip(), n.decimals, n.percent, n.start)
            found.append(n)
    if not found:
        for m in _WORD.finditer(t):
            found.append(Num(float(_WORDS[m.group(1).lower()]), m.group(1), 0, False, m.start()))
    if not found:
        for m in _CJK_NUMBER.finditer(t):
            value = _cjk_value(m.group(0))
            if value is not None:
                found.append(Num(float(value), m.group(0), 0, False, m.start()))
    found.sort(key=lambda n: n.start)
    return found


def read_number(text: str) -> tuple[Num | None, str]:
    """(the one number text states, "") or (None, why not)."""
    nums = find_numbers(text)
    if not nums:
        return None, "no number found"
    if len({n.value for n in nums}) == 1:
        return nums[0], ""
    t = norm.basic(text)
    if _HEDGE.search(t):
        return None, "hedged between numbers " + ", ".join(n.text for n in nums[:4])
    eq = t.rfind("=")
    if eq >= 0:
        after = [n for n in find_numbers(t[eq + 1 :])]
        if len(after) == 1:
            return after[0], ""
    return None, "several different numbers: " + ", ".join(n.text for n in nums[:4])


def _round_half_up(value: float, decimals: int) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def numbers_match(pred: Num, gold: Num, rel_tol: float, abs_tol: float, round_to_gold: bool, percent_equivalence: bool) -> bool:
    candidates = [pred.value]
    if percent_equivalence and pred.percent != gold.percent:
        candidates.append(pred.value / 100 if pred.percent else pred.value * 100)
    for value in candidates:
        if math.isclose(value, gold.value, rel_tol=rel_tol, abs_tol=abs_tol):
            return True
        if round_to_gold and 0 < gold.decimals < pred.decimals:
            try:
                if _round_half_up(value, gold.decimals) == _round_half_up(gold.value, gold.decimals):
                    return True
            except InvalidOperation:
                pass
    return False


@register("number")
def verify_number(
    answer: str,
    ground_truth: Any,
    *,
    rel_tol: float = 1e-6,
    abs_tol: float = 1e-9,
    round_to_gold: bool = True,
    percent_equivalence: bool = True,
    **_: Any,
) -> Verdict:
    """Options: ``rel_tol``, ``abs_tol``; ``round_to_gold`` (2.54 matches a gold of 2.5);
    ``percent_equivalence`` (45% matches 0.45)."""
    golds = []
    for g in norm.as_gold_list(ground_truth):
        num, _ = read_number(g)
        if num is not None:
            golds.append(num)
    if not golds:
        return invalid_gold(ground_truth, "ground truth holds no single number")
    if answer is None or not str(answer).strip():
        return no_answer()
    pred, why = read_number(str(answer))
    if pred is None:
        if why.startswith("no number"):
            return no_answer(why)
        return hedged(None, why)
    for gold in golds:
        if numbers_match(pred, gold, rel_tol, abs_tol, round_to_gold, percent_equivalence):
            return right(pred.text, f"{pred.text} ≈ {gold.text}")
    return wrong(pred.text, f"{pred.text} != {golds[0].text}")
