"""Numbers written in words: English number words (``twelve``, ``twenty-five``, ``one hundred and
five``, ``a dozen``), a count of zero said in words (``No apples``, ``not one bird``) and Chinese
numerals up to 9999 (``三``, ``二十五``, ``两百``). ``number_reading.find_numbers`` reads them when
an answer holds no digits; ``text`` writes English number words as digits.

>>> word_numbers("twenty-five apples and a dozen eggs")
[(25.0, 0, 11), (12.0, 23, 30)]
>>> cjk_value("二十五"), cjk_value("三四")
(25, None)
"""

from __future__ import annotations

import re

_UNITS_WORDS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS_WORDS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SMALL = {w: i for i, w in enumerate(_UNITS_WORDS)}
_WORD_TOKEN = re.compile(r"[A-Za-z]+")
# a count of zero said in words: "No apples", "none", "not one bird", "there aren't any", "nobody"
ZERO = re.compile(
    r"\b(?:none|nothing|nobody|no\s+one|not\s+(?:a\s+single|one|any)|zero)\b|n't\s+(?:a\s+single|one|any)\b|\bno\s+(?=[a-z])",
    re.IGNORECASE,
)

_MULTIPLIERS = {"hundred": 100, "thousand": 1000, "dozen": 12}


def word_numbers(text: str) -> list[tuple[float, int, int]]:
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
CJK_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百千]+")


def cjk_value(text: str) -> int | None:
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
