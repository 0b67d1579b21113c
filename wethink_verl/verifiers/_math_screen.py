"""A linear pre-screen for expressions whose evaluation alone would blow the time budget.

Math-Verify (sympy) evaluates integer arithmetic eagerly: ``9^{9^{9}}`` is a 370-million-digit
integer, ``(10^{10^5})!`` a factorial nobody can compute. Sent to a worker they only burn the
whole budget and get the worker killed. They are recognised here in microseconds instead:

- brackets nested deeper than ``MAX_NESTING`` (sympy's parser is ~0.1 s per level);
- an integer power tower whose value has more than ``MAX_DIGITS`` digits;
- a factorial of an integer larger than ``MAX_FACTORIAL``.

Only integer literals are estimated (``e^{x^2}`` or ``2^{n}`` are never flagged), and only the
magnitude (log10) is computed, with floats, so the screen itself cannot blow up.
"""

from __future__ import annotations

import math

MAX_NESTING = 12
MAX_DIGITS = 1_000_000
MAX_FACTORIAL = 100_000

_MAX_CHAIN = 40
_OPEN = {"(": ")", "[": "]", "{": "}"}
_INF = float("inf")


def _nesting(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch in ")]}":
            depth = max(0, depth - 1)
    return deepest


class _Parser:
    """tower := atom ("^" tower)? ; atom := INT | "{" tower "}" | "(" tower ")" — values as log10."""

    def __init__(self, text: str):
        self.t = text
        self.n = len(text)

    def _ws(self, i: int) -> int:
        while i < self.n and self.t[i] == " ":
            i += 1
        return i

    def atom(self, i: int) -> tuple[float, int, bool] | None:
        """(log10 of the value, end, had a power inside) or None."""
        i = self._ws(i)
        if i >= self.n:
            return None
        ch = self.t[i]
        if ch.isdigit():
            j = i
            while j < self.n and self.t[j].isdigit():
                j += 1
            if j < self.n and self.t[j] == ".":  # decimals are not integer towers
                return None
            digits = self.t[i:j].lstrip("0") or "0"
            if len(digits) > 300:
                return float(len(digits)), j, False
            value = int(digits)
            return (math.log10(value) if value > 0 else -_INF), j, False
        if ch in _OPEN:
            inner = self.tower(i + 1)
            if inner is None:
                return None
            value, j, powered = inner
            j = self._ws(j)
            if j < self.n and self.t[j] == _OPEN[ch]:
                return value, j + 1, powered
        return None

    def tower(self, i: int, depth: int = 0) -> tuple[float, int, bool] | None:
        if depth > _MAX_CHAIN:  # 2^2^2^…: 40 levels are astronomically large already
            return _INF, self.n, True
        base = self.atom(i)
        if base is None:
            return None
        lb, j, powered = base
        k = self._ws(j)
        if k < self.n and self.t[k] == "^":
            exp = self.tower(k + 1, depth + 1)
            if exp is None:
                return lb, j, powered
            le, j, _ = exp
            if le > MAX_DIGITS:  # the exponent alone is too big to compute, whatever the base
                return le, j, True
            if lb <= 0:  # 0^x, 1^x: no growth
                return 0.0, j, True
            exponent = 10.0**le if le < 300 else _INF
            return exponent * lb, j, True
        return lb, j, powered


def too_costly(text: str) -> str | None:
    """Why evaluating ``text`` would exceed any reasonable budget, or None."""
    depth = _nesting(text)
    if depth > MAX_NESTING:
        return f"brackets nested {depth} deep"
    p = _Parser(text.replace("\\left", "").replace("\\right", ""))
    t = p.t
    i = 0
    while i < p.n:
        ch = t[i]
        starts = ch.isdigit() and (i == 0 or not (t[i - 1].isalnum() or t[i - 1] == "."))
        if starts or ch in _OPEN:
            parsed = p.tower(i)
            if parsed is not None:
                log10, end, powered = parsed
                if powered and log10 > MAX_DIGITS:
                    return "integer power tower with more than 10^6 digits"
                k = p._ws(end)
                if k < p.n and t[k] == "!" and log10 > math.log10(MAX_FACTORIAL):
                    return f"factorial of a number above {MAX_FACTORIAL}"
                if ch.isdigit():
                    i = max(i + 1, end)
                    continue
        i += 1
    return None
