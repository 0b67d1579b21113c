"""Reading the numbers an answer states: ``find_numbers`` (every number, in order: ``1,234.5``,
``-3``, ``45%``, ``1.2e-3``, ``1.2 \\times 10^{3}``, ``3/4``, ``\\frac{3}{4}``, ``1.2 million``, ``5k``,
a unit after it, number words when there are no digits) and ``read_number`` (the one number an
answer states, or why there is none: a hedge, several different numbers, only ruled-out ones).
The comparison with a gold and the ``number`` verifier: ``number.py``.

>>> [n.value for n in find_numbers("3/4 of 1.2 million")]
[0.75, 1200000.0]
>>> read_number("I count 2 cups and 1 plate.")
(None, 'several different numbers: 2, 1')
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass

from . import normalize as norm
from ._number_words import CJK_NUMBER, ZERO, cjk_value, word_numbers
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
        for m in CJK_NUMBER.finditer(t):
            value = cjk_value(m.group(0))
            if value is not None:
                found.append(Num(float(value), m.group(0), 0, False, m.start()))
    found.sort(key=lambda n: n.start)
    return found


def _numbers_in_words(t: str) -> list[Num]:
    """Number words and counts of zero said in words ("No apples", "not one bird")."""
    zeros = [m.span() for m in ZERO.finditer(t)]
    found = [Num(0.0, t[a:b].strip(), 0, False, a) for a, b in zeros]
    for value, a, b in word_numbers(t):
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

