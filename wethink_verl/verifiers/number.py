"""``number``: numeric answers, with units and a tolerance measured against the gold.

Reads ``1,234.5``, ``-3``, ``45%``, ``1.2e-3``, ``1.2 \\times 10^{3}``, ``3/4``, ``\\frac{3}{4}``,
``1.2 million``, ``5k``, number words (``twelve``, ``twenty-five``, ``a dozen``), Chinese numerals,
counting sentences (``There are 3 objects.``; ``No apples are on the table.`` is 0).

Units (``units``, default on) are read from a small table and converted with pint: ``20 mm`` is
right for ``2 cm``; ``90 mph`` for ``90 km/h``, ``12.5 g`` for ``12.5 kg`` or ``5 kg`` for ``5 m``
are wrong. A unit on one side only is ignored (``12.5`` for ``12.5 kg``, ``3 cm`` for ``3``).

Tolerance (``rel_tol``, ``abs_tol``) is measured against the gold, as ChartQA's relaxed accuracy:
``|pred - gold| <= max(rel_tol * |gold|, abs_tol)``. It never turns one integer into another
(``integer_exact``, default on): with ``rel_tol=0.05`` a gold of ``1997`` (a year, a count, an id)
still needs ``1997``; ``44.8`` may still be right for ``45``. ``round_to_gold``: ``2.54`` is right
for a gold written ``2.5``. ``percent_equivalence``: ``45%`` is right for ``0.45``.

Several different numbers score 0 as a hedge (``3 or 4``, ``between 3 and 5``, ``I count 2 cups
and 1 plate.``) unless a conclusion names one: ``3 × 4 = 12``, ``…, so 2 cups.``, ``the answer is 7``.

>>> verify_number("20 mm", "2 cm").score, verify_number("1998", "1997", rel_tol=0.05).score
(1.0, 0.0)
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar

from . import normalize as norm
from .options import BOOL, Range, VerifierOptions, option
from .registry import register
from .types import Verdict, hedged, invalid_gold, no_answer, right, wrong
from .units import convert, read_unit

_SCI = r"(?:\s*[eE]([-+]?\d{1,4})|\s*(?:×|x|\*|\\times|\\cdot)\s*10\s*\^\s*\{?\s*([-+−]?\d{1,4})\s*\}?)?"
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.^/])([-+−–]?)\s?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\.\d+|\d+)(?![\d])" + _SCI + r"(\s*(?:\\?%|percent\b))?"
)
# "10^{3}", "10^-2": a bare power of ten (with a mantissa it is part of _SCI)
_POW10_TAIL = re.compile(r"\s*\^\s*\{?\s*([-+−]?\d{1,4})\s*\}?")
_FRAC = re.compile(r"([-−]?)\\[dt]?frac\s*\{\s*(-?\d+(?:\.\d+)?)\s*\}\s*\{\s*(-?\d+(?:\.\d+)?)\s*\}")
_SLASH = re.compile(r"(?<![A-Za-z0-9_.^/])([-−]?)(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)(?![A-Za-z0-9_.])")
_HEDGE = re.compile(r"\bor\b|\bbetween\b|\bto\b|~|±|\\pm|或|\bapprox", re.IGNORECASE)
# the last of these names the answer: "…, so 2 cups", "3 × 4 = 12", "the answer is 7"
_CONCLUSION = re.compile(
    r"=|\b(?:so|therefore|thus|hence|altogether|in total|in all|total(?: is| of)?|answer(?: is|:)?|result(?: is)?|that makes|makes|gives)\b",
    re.IGNORECASE,
)
_QUALIFIER = re.compile(
    r"\b(?:above|below|over|under|than|exceeding|beyond|at\s+least|at\s+most|up\s+to|older|younger|taller)\s+(?:\$\s?)?$",
    re.IGNORECASE,
)
_SCALE = re.compile(r"\s?(thousand|million|billion|trillion|bn)\b|([kK])\b", re.IGNORECASE)
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "bn": 1e9, "k": 1e3}

_UNITS_WORDS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS_WORDS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SMALL = {w: i for i, w in enumerate(_UNITS_WORDS)}
_WORD_TOKEN = re.compile(r"[A-Za-z]+")
# a count of zero said in words: "No apples", "none", "not one bird", "there aren't any", "nobody"
_ZERO = re.compile(
    r"\b(?:none|nothing|nobody|no\s+one|not\s+(?:a\s+single|one|any)|zero)\b|n't\s+(?:a\s+single|one|any)\b|\bno\s+(?=[a-z])",
    re.IGNORECASE,
)


_MULTIPLIERS = {"hundred": 100, "thousand": 1000, "dozen": 12}


def _word_numbers(text: str) -> list[tuple[float, int, int]]:
    """(value, start, end) of each number written in English words; multi-word numbers are one
    ("twenty-five", "one hundred and five", "a dozen"), "three four" is two."""
    tokens = [(m.group(0).lower(), m.start(), m.end()) for m in _WORD_TOKEN.finditer(text)]
    out: list[tuple[float, int, int]] = []
    total = current = 0
    begin, end, prev = -1, -1, ""

    def emit():
        nonlocal total, current, begin, prev
        if begin >= 0:
            out.append((float(total + current), begin, end))
        total = current = 0
        begin, prev = -1, ""

    for i, (w, s, e) in enumerate(tokens):
        if begin >= 0 and text[end:s].strip() not in ("", "-"):
            emit()
        nxt = tokens[i + 1][0] if i + 1 < len(tokens) else ""
        if w in ("a", "an") and nxt in _MULTIPLIERS:
            emit()
            begin, end, current, prev = s, e, 1, "small"
        elif w == "and" and prev in ("hundred", "thousand") and (nxt in _SMALL or nxt in _TENS_WORDS):
            end = e
        elif w in _SMALL or w in _TENS_WORDS:
            kind = "tens" if w in _TENS_WORDS else "small"
            if prev == "small" or (prev == "tens" and (kind == "tens" or _SMALL.get(w, 0) >= 10 or w == "zero")):
                emit()
            if begin < 0:
                begin = s
            current += _SMALL.get(w, _TENS_WORDS.get(w, 0))
            end, prev = e, kind
        elif w in _MULTIPLIERS and (prev in ("small", "tens") or (w == "thousand" and prev == "hundred")):
            if w == "thousand":
                total, current = (total + current) * 1000, 0
            else:
                current *= _MULTIPLIERS[w]
            end, prev = e, w
        else:
            emit()
    emit()
    return out


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
    value: float  # as written, times its scale ("1.2 million" -> 1.2e6)
    text: str
    decimals: int  # digits after the decimal point as written (for rounding to the gold's precision)
    percent: bool
    start: int
    unit: str | None = None  # a pint unit written after it ("km/h" -> "(kilometer) / (hour)")
    scale: float = 1.0  # "thousand", "million", "k" …

    @property
    def integer(self) -> bool:
        """Written as a whole number (a year, a count, an id): no decimals, no fraction."""
        return self.decimals == 0 and float(self.value).is_integer()


@dataclass(frozen=True)
class NumberOptions(VerifierOptions):
    verifier: ClassVar[str] = "number"
    rel_tol: float = option(1e-6, Range(0.0, 1.0, hi_open=True), "relative to the gold")
    abs_tol: float = option(1e-9, Range(0.0))
    round_to_gold: bool = option(True, BOOL)
    percent_equivalence: bool = option(True, BOOL)
    integer_exact: bool = option(True, BOOL)
    units: bool = option(True, BOOL)


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


def _power(sign: str, base: str, exp: str, start: int) -> Num | None:
    try:
        value = float(base.replace(",", "")) ** int(exp.replace("−", "-"))
    except (OverflowError, ZeroDivisionError, ValueError):
        return None
    if not math.isfinite(value) or abs(int(exp.replace("−", "-"))) > 400:
        return None
    return Num(-value if sign in ("-", "−", "–") else value, base, 0, False, start)


def _with_tail(n: Num, t: str, end: int) -> Num:
    """n with the scale word ("million", "5k") and the unit written after it."""
    scale, text = 1.0, n.text
    m = _SCALE.match(t, end)
    if m and not n.percent:
        scale = _SCALES[(m.group(1) or m.group(2)).lower()]
        text, end = n.text + t[end : m.end()], m.end()
    unit = None if n.percent else read_unit(t, end)
    if scale == 1.0 and unit is None:
        return n
    return Num(n.value * scale, text, n.decimals, n.percent, n.start, unit.unit if unit else None, scale)


class _Spans:
    """Disjoint [start, end) spans; ``covers`` in O(log n) (an answer may hold a thousand fractions)."""

    def __init__(self):
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)

    def covers(self, pos: int) -> bool:
        i = bisect.bisect(self.starts, pos) - 1
        return i >= 0 and pos < self.ends[i]


def find_numbers(text: str) -> list[Num]:
    """Every number in text, fractions combined, in order of appearance."""
    t = norm.basic(text).replace("−", "-")
    found: list[Num] = []
    taken = _Spans()
    for pattern in (_FRAC, _SLASH):  # \frac{a}{b} first, then a/b outside them
        for m in pattern.finditer(t):
            if taken.covers(m.start()):
                continue
            num, den = float(m.group(2)), float(m.group(3))
            if den != 0:
                found.append(_with_tail(Num((-1 if m.group(1) else 1) * num / den, m.group(0), 99, False, m.start()), t, m.end()))
                taken.add(*m.span())
    for m in _NUMBER.finditer(t):
        if taken.covers(m.start()):
            continue
        exp1, exp2 = m.group(3), m.group(4)
        tail = _POW10_TAIL.match(t, m.end()) if not (exp1 or exp2 or m.group(5)) else None
        if tail:  # "10^{3}", "3^2": a power; the exponent is not a number of its own
            taken.add(m.start(), tail.end())
            n = _power(m.group(1), m.group(2), tail.group(1), m.start())
            if n is not None:
                found.append(_with_tail(Num(n.value, m.group(0) + tail.group(0), 0, False, m.start()), t, tail.end()))
            continue
        n = _to_num(m.group(1), m.group(2), exp1, exp2, m.group(5), m.start())
        if n is not None and math.isfinite(n.value):
            if exp1 or exp2:
                n = Num(n.value, m.group(0).strip(), n.decimals, n.percent, n.start)
            found.append(_with_tail(n, t, m.end()))
    if not found:
        found = _numbers_in_words(t)
    if not found:
        for m in _CJK_NUMBER.finditer(t):
            value = _cjk_value(m.group(0))
            if value is not None:
                found.append(Num(float(value), m.group(0), 0, False, m.start()))
    found.sort(key=lambda n: n.start)
    return found


def _numbers_in_words(t: str) -> list[Num]:
    """Number words and counts of zero said in words ("No apples", "not one bird")."""
    zeros = [m.span() for m in _ZERO.finditer(t)]
    found = [Num(0.0, t[a:b].strip(), 0, False, a) for a, b in zeros]
    for value, a, b in _word_numbers(t):
        if not any(za <= a < zb for za, zb in zeros):  # the "one" of "not one" is no count of one
            found.append(_with_tail(Num(value, t[a:b], 0, False, a), t, b))
    return found


def _same_value(a: Num, b: Num) -> bool:
    """Two numbers of one answer state the same quantity ("2 cm (20 mm)", "3, yes 3")."""
    if a.unit and b.unit and a.unit != b.unit:
        other = convert(b.value, b.unit, a.unit)
        return other is not None and math.isclose(other, a.value, rel_tol=1e-9, abs_tol=1e-12)
    return a.value == b.value


def _one_value(nums: list[Num]) -> bool:
    return all(_same_value(nums[0], n) for n in nums[1:])


def _stated(nums: list[Num]) -> Num:
    """The reading of one value stated several times: the one with a unit, if any ("9, 9 mph" is 9 mph)."""
    return next((n for n in nums if n.unit), nums[0])


@norm.memo()
def read_number(text: str) -> tuple[Num | None, str]:
    """(the one number text states, "") or (None, why not). Cached for short texts (Num is frozen)."""
    nums = find_numbers(text)
    if not nums:
        return None, "no number found"
    t = norm.basic(text)
    if norm.may_negate(t) and any(n.value != 0 for n in nums):  # "not 3", "isn't 3": ruled out (a zero is "no …" itself)
        stated = [n for n in nums if not norm.negated_at(t, n.start)]
        if not stated:
            return None, "no number found (only ruled-out numbers: " + ", ".join(n.text for n in nums[:4]) + ")"
        nums = stated
    if _one_value(nums):
        return _stated(nums), ""
    # the last conclusion that is followed by a number decides ("…, so 2 cups", "3 × 4 = 12")
    for m in reversed(list(_CONCLUSION.finditer(t))):
        tail = t[m.end() :]
        after = find_numbers(tail)
        if not after:
            continue
        if _one_value(after) and not (len(after) > 1 and _HEDGE.search(tail)):
            return _stated(after), ""
        break
    if _HEDGE.search(t):
        return None, "hedged between numbers " + ", ".join(n.text for n in nums[:4])
    # "There are 4 bars above 50.": a number after a comparison qualifies, the other one answers
    answers = [n for n in nums if not _QUALIFIER.search(t[max(0, n.start - 16) : n.start])]
    if answers and len(answers) < len(nums) and _one_value(answers):
        return _stated(answers), ""
    return None, "several different numbers: " + ", ".join(n.text for n in nums[:4])


def _round_half_up(value: float, decimals: int) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _candidates(pred: Num, gold: Num, percent_equivalence: bool, units: bool) -> list[float] | None:
    """The values pred may mean, in the gold's unit and scale; None when the units disagree."""
    value = pred.value
    if units and pred.unit and gold.unit:
        value = convert(pred.value, pred.unit, gold.unit)
        if value is None:
            return None
    out = [value]
    # a scale on one side only ("1.2 million" against 1.2 or 1200000): either reading
    if pred.scale != 1.0 and gold.scale == 1.0:
        out.append(value / pred.scale)
    elif gold.scale != 1.0 and pred.scale == 1.0:
        out.append(value * gold.scale)
    if percent_equivalence and pred.percent != gold.percent:
        out += [v / 100 if pred.percent else v * 100 for v in list(out)]
    return out


def numbers_match(
    pred: Num,
    gold: Num,
    rel_tol: float,
    abs_tol: float,
    round_to_gold: bool,
    percent_equivalence: bool,
    integer_exact: bool = True,
    units: bool = True,
) -> bool:
    """pred states gold: within max(rel_tol * |gold|, abs_tol) of it (or equal once rounded to the
    gold's decimals), in the gold's unit; an integer gold needs a prediction that rounds to it."""
    candidates = _candidates(pred, gold, percent_equivalence, units)
    if candidates is None:
        return False
    bound = max(rel_tol * abs(gold.value), abs_tol)
    for value in candidates:
        if integer_exact and gold.integer:
            try:
                if _round_half_up(value, 0) != _round_half_up(gold.value, 0):
                    continue
            except InvalidOperation:
                continue
        if abs(value - gold.value) <= bound:
            return True
        if round_to_gold and 0 < gold.decimals < pred.decimals:
            try:
                if _round_half_up(value, gold.decimals) == _round_half_up(gold.value, gold.decimals):
                    return True
            except InvalidOperation:
                pass
    return False


def _shown(n: Num) -> str:
    return n.text + ("%" if n.percent and not n.text.endswith("%") else "") + (f" [{n.unit}]" if n.unit else "")


@register("number", options=NumberOptions)
def verify_number(answer: str, ground_truth: Any, **options: Any) -> Verdict:
    """Options (``NumberOptions``): ``rel_tol`` (1e-6, relative to the gold, in [0, 1)), ``abs_tol``
    (1e-9), ``round_to_gold`` (true: 2.54 matches a gold of 2.5), ``percent_equivalence`` (true: 45%
    matches 0.45), ``integer_exact`` (true: the tolerance never makes 1998 right for 1997), ``units``
    (true: units are read and converted; a different dimension is wrong)."""
    opts = NumberOptions.of(options)
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
        if numbers_match(pred, gold, opts.rel_tol, opts.abs_tol, opts.round_to_gold, opts.percent_equivalence, opts.integer_exact, opts.units):
            return right(pred.text, f"{_shown(pred)} ≈ {_shown(gold)}")
    return wrong(pred.text, f"{_shown(pred)} != {_shown(golds[0])}")
