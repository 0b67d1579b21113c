"""A cheap decision for scalar expressions: evaluate both at a few points, no sympy.

Math-Verify spends most of its time in ``sympy.simplify`` (25-30 ms for ``(x+3)^2`` against
``x^2+6x+9``, on top of 5-10 ms of parsing). For the common case of a single scalar expression
(polynomials, fractions, radicals, multiples of pi) evaluating both sides at a few fixed points
decides in tens of microseconds: equal values at every point -> equivalent; clearly different
values at some point -> not equivalent.

It only ever answers for a deliberately small grammar, and defers (returns None) on anything
else, so Math-Verify stays the authority for everything with structure or semantics:

    expr   := ["+"|"-"] term (("+"|"-") term)*
    term   := power (("*" | "\\cdot" | "\\times" | "/" | implicit) power)*
    power  := atom ["^" (digit | letter | "{" expr "}")]
    atom   := integer | letter | "\\pi" | "(" expr ")" | "{" expr "}"
            | "\\frac" "{" expr "}" "{" expr "}" | "\\sqrt" ["[" expr "]"] "{" expr "}"

Deferred: decimals (Math-Verify has its own rounding rules), relations, intervals, sets and
tuples (commas), percentages, units and text, functions (sin, log, binom …, and a letter
followed by "(": ``f(x)`` may be a function application), e and i, the letters
Math-Verify may read as units (c d g h l m o s t), multi-letter names, a bare "^23", and any
evaluation that leaves the reals or overflows.
"""

from __future__ import annotations

import math
import re
from typing import Callable

Node = Callable[[dict], float]

_TOKEN = re.compile(r"\\(?:frac|sqrt|pi|cdot|times)(?![a-zA-Z])|\\[a-zA-Z]+|\d+|[a-zA-Z]|[-+*/^(){}\[\]]|.", re.DOTALL)
# Euler's number and the imaginary unit, and the letters Math-Verify may strip as a trailing unit
# (5c, 2m, 3s, 4t … read as 5, 2, 3, 4): their meaning is Math-Verify's to decide
_RESERVED = set("eiEI") | set("cdghlmost")
# points at which both sides are evaluated: per point a seed and a sign (every variable is negative
# at the last point: sqrt(x^2) is not x); values are irrational-looking to avoid accidental equality
_POINTS = ({"seed": 0.7316218, "sign": 1.0}, {"seed": 1.3719403, "sign": 1.0}, {"seed": 2.4127651, "sign": -1.0})
MAX_CHARS = 1000  # as math.MAX_SYMBOLIC_CHARS: longer input is not compared at all
EQUAL_TOL = 1e-9
DIFFERENT_TOL = 1e-6


class _Defer(Exception):
    pass


def _var_value(name: str, point: dict) -> float:
    """A deterministic value in ±[0.35, 1.65) per variable name and point, independent across names."""
    frac = math.sin(ord(name) * 12.9898 + point["seed"] * 78.233) * 43758.5453
    return point["sign"] * (0.35 + 1.3 * (frac - math.floor(frac)))


class _Parser:
    def __init__(self, text: str):
        self.toks = [t for t in _TOKEN.findall(text) if not t.isspace()]
        self.i = 0
        self.names: set[str] = set()

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise _Defer
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise _Defer
        return node

    def expr(self) -> Node:
        sign = 1.0
        if self.peek() in ("+", "-"):
            sign = -1.0 if self.take() == "-" else 1.0
        first = self.term()
        parts: list[tuple[float, Node]] = [(sign, first)]
        while self.peek() in ("+", "-"):
            s = -1.0 if self.take() == "-" else 1.0
            parts.append((s, self.term()))
        if len(parts) == 1 and sign == 1.0:
            return first
        return lambda env: sum(s * f(env) for s, f in parts)

    def _starts_atom(self, tok: str | None) -> bool:
        return tok is not None and (tok.isdigit() or (len(tok) == 1 and tok.isalpha()) or tok in ("(", "{", "\\pi", "\\frac", "\\sqrt"))

    def term(self) -> Node:
        # a flat list of factors, evaluated in a loop (nested closures would recurse once per factor)
        factors: list[tuple[bool, Node]] = [(False, self.power())]
        while True:
            tok = self.peek()
            if tok in ("*", "\\cdot", "\\times"):
                self.take()
                factors.append((False, self.power()))
            elif tok == "/":
                self.take()
                factors.append((True, self.power()))
            elif self._starts_atom(tok):  # implicit multiplication: 2x, 3\sqrt{2}, (x+1)(x-1)
                factors.append((False, self.power()))
            else:
                break
        if len(factors) == 1:
            return factors[0][1]

        def product(env: dict) -> float:
            value = 1.0
            for divide, f in factors:
                value = _div(value, f(env)) if divide else value * f(env)
            return value

        return product

    def power(self) -> Node:
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take("^")
        tok = self.peek()
        if tok == "{":
            self.take("{")
            exp = self.expr()
            self.take("}")
        elif tok is not None and tok.isdigit() and len(tok) == 1:
            self.take()
            exp = (lambda v: lambda env: v)(float(tok))
        elif tok is not None and len(tok) == 1 and tok.isalpha() and tok not in _RESERVED:
            self.take()
            self.names.add(tok)
            exp = (lambda n: lambda env: env[n])(tok)
        else:
            raise _Defer  # "x^23" (LaTeX reads x^2·3), "x^(…)", "x^\\frac…"
        if self.peek() == "^":
            raise _Defer  # a double superscript is not LaTeX
        return (lambda b, e: lambda env: _pow(b(env), e(env)))(base, exp)

    def atom(self) -> Node:
        tok = self.take()
        if tok.isdigit():
            if self.peek() == "." or len(tok) > 15:
                raise _Defer  # decimals: Math-Verify's rounding rules decide
            value = float(int(tok))
            return lambda env: value
        if len(tok) == 1 and tok.isalpha():
            if tok in _RESERVED:
                raise _Defer
            if self._is_letter(self.peek()):
                raise _Defer  # "ab", "cm", "no": a name, a unit or a word, not a product we can trust
            if self.peek() == "(":
                raise _Defer  # "f(x)": Math-Verify may read a function application, not f·x
            self.names.add(tok)
            return lambda env: env[tok]
        if tok == "\\pi":
            return lambda env: math.pi
        if tok in ("(", "{"):
            inner = self.expr()
            self.take(")" if tok == "(" else "}")
            return inner
        if tok == "\\frac":
            self.take("{")
            num = self.expr()
            self.take("}")
            self.take("{")
            den = self.expr()
            self.take("}")
            return lambda env: _div(num(env), den(env))
        if tok == "\\sqrt":
            index: Node | None = None
            if self.peek() == "[":
                self.take("[")
                index = self.expr()
                self.take("]")
            self.take("{")
            radicand = self.expr()
            self.take("}")
            if index is None:
                return lambda env: _root(radicand(env), 2.0)
            return lambda env: _root(radicand(env), index(env))
        raise _Defer

    @staticmethod
    def _is_letter(tok: str | None) -> bool:
        return tok is not None and len(tok) == 1 and tok.isalpha()


def _div(a: float, b: float) -> float:
    if b == 0:
        raise _Defer
    return a / b


def _pow(b: float, e: float) -> float:
    if b < 0 and not float(e).is_integer():
        raise _Defer
    if b == 0 and e <= 0:
        raise _Defer
    try:
        value = b**e
    except OverflowError:
        raise _Defer from None
    if isinstance(value, complex) or not math.isfinite(value):
        raise _Defer
    return value


def _root(x: float, n: float) -> float:
    if x < 0 or n <= 0:
        raise _Defer
    return x ** (1.0 / n)


def _compile(text: str) -> tuple[Node, set[str]] | None:
    try:
        p = _Parser(text)
        return p.parse(), p.names
    except (_Defer, RecursionError):
        return None


def numeric_compare(pred: str, gold: str) -> bool | None:
    """True (equivalent), False (not equivalent) or None (not for this grammar: ask Math-Verify).

    Both strings are canonical (see ``math.canonical``): no spacing, no delimiters, no \\left.
    """
    if len(pred) > MAX_CHARS or len(gold) > MAX_CHARS:
        return None
    compiled_gold, compiled_pred = _compile(gold), _compile(pred)
    if compiled_gold is None or compiled_pred is None:
        return None
    (g, g_names), (p, p_names) = compiled_gold, compiled_pred
    names = g_names | p_names
    differs = False
    for point in _POINTS:
        env = {n: _var_value(n, point) for n in names}
        try:
            gv, pv = g(env), p(env)
        except (_Defer, OverflowError, ZeroDivisionError, ValueError, RecursionError):
            return None
        if not (math.isfinite(gv) and math.isfinite(pv)):
            return None
        scale = max(1.0, abs(gv), abs(pv))
        diff = abs(gv - pv)
        if diff > DIFFERENT_TOL * scale:
            differs = True
        elif diff > EQUAL_TOL * scale:
            return None  # too close to call with floats
    return not differs


# ---- intervals, inequalities and sets of numbers ---------------------------------------------------
#
# Math-Verify's behaviour, reproduced only for constant endpoints/elements (checked against it in
# the tests): two intervals are equal when brackets and endpoints are; an inequality gold
# "a < x < b" is matched by the interval (or "x \\in" interval) with the same ends and strictness;
# an interval gold is never matched by an unsolved inequality (the asymmetry); sets compare as sets.

_LESS = {"<": True, "\\lt": True, "\\le": False, "\\leq": False, "\\leqslant": False, "≤": False}
_INEQ = re.compile(r"^(?P<a>[^<>=]+?)(?P<op1><|\\lt|\\leqslant|\\leq|\\le|≤) ?(?P<v>[a-zA-Z])(?P<op2><|\\lt|\\leqslant|\\leq|\\le|≤)(?P<b>[^<>=]+)$")
_IN = re.compile(r"^(?P<v>[a-zA-Z])\\in ?(?P<rest>.+)$")
_DECIMAL = re.compile(r"^-?\d+\.\d{1,6}$")
_INF = re.compile(r"^(?P<sign>[-+]?)\\infty$")


def _constant(text: str) -> float | None:
    """The value of a constant (integer, fraction, radical, pi, short decimal, ±infinity), or None."""
    m = _INF.match(text)
    if m:
        return -math.inf if m.group("sign") == "-" else math.inf
    if _DECIMAL.match(text):
        return float(text)
    compiled = _compile(text)
    if compiled is None or compiled[1]:
        return None
    try:
        value = compiled[0]({})
    except (_Defer, OverflowError, ZeroDivisionError, ValueError, RecursionError):
        return None
    return value if math.isfinite(value) else None


def _split_top(text: str) -> list[str] | None:
    """Comma-separated parts at bracket depth 0."""
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return None
        elif ch == "," and depth == 0:
            parts.append(text[start:k])
            start = k + 1
    parts.append(text[start:])
    return parts if depth == 0 else None


def _interval(text: str) -> tuple[bool, float, float, bool] | None:
    """(left closed, a, b, right closed) for "(a, b]" style text with constant ends."""
    if len(text) < 5 or text[0] not in "([" or text[-1] not in ")]":
        return None
    parts = _split_top(text[1:-1])
    if parts is None or len(parts) != 2:
        return None
    a, b = _constant(parts[0]), _constant(parts[1])
    if a is None or b is None or not a < b:
        return None
    return text[0] == "[", a, b, text[-1] == "]"


def _inequality(text: str) -> tuple[str, tuple[bool, float, float, bool]] | None:
    m = _INEQ.match(text)
    if not m:
        return None
    a, b = _constant(m.group("a")), _constant(m.group("b"))
    if a is None or b is None or not a < b:
        return None
    return m.group("v"), (not _LESS[m.group("op1")], a, b, not _LESS[m.group("op2")])


def _same(x: float, y: float) -> bool | None:
    if math.isinf(x) or math.isinf(y):
        return x == y
    scale = max(1.0, abs(x), abs(y))
    if abs(x - y) <= EQUAL_TOL * scale:
        return True
    if abs(x - y) > DIFFERENT_TOL * scale:
        return False
    return None


def _same_interval(p: tuple, g: tuple) -> bool | None:
    if p[0] != g[0] or p[3] != g[3]:
        return False
    ends = (_same(p[1], g[1]), _same(p[2], g[2]))
    if False in ends:
        return False
    return None if None in ends else True


def _number_set(text: str) -> list[float] | None:
    if not (text.startswith("\\{") and text.endswith("\\}")):
        return None
    parts = _split_top(text[2:-2])
    if not parts or any(not p for p in parts):
        return None
    values = [_constant(p) for p in parts]
    return None if any(v is None for v in values) else values  # type: ignore[return-value]


def _same_sets(p: list[float], g: list[float]) -> bool | None:
    undecided = False
    for xs, ys in ((p, g), (g, p)):
        for x in xs:
            verdicts = [_same(x, y) for y in ys]
            if True in verdicts:
                continue
            if None in verdicts:
                undecided = True
            else:
                return False
    return None if undecided else True


def structured_compare(pred: str, gold: str) -> bool | None:
    """Intervals / two-sided inequalities / sets of constants; None outside that (ask Math-Verify)."""
    if len(pred) > MAX_CHARS or len(gold) > MAX_CHARS:
        return None
    if "," not in pred + gold and "<" not in gold and "\\l" not in gold:
        return None
    g_set, p_set = _number_set(gold), _number_set(pred)
    if g_set is not None and p_set is not None:
        return _same_sets(p_set, g_set)
    p_var = None
    m = _IN.match(pred)
    p_text = pred
    if m:
        p_var, p_text = m.group("v"), m.group("rest")
    p_int = _interval(p_text)
    g_int = _interval(gold)
    if g_int is not None:
        if p_int is not None:
            return _same_interval(p_int, g_int)
        if _inequality(pred) is not None:
            return False  # an unsolved inequality never matches an interval gold (gold first)
        return None
    g_ineq = _inequality(gold)
    if g_ineq is not None and p_int is not None:
        if p_var is not None and p_var != g_ineq[0]:
            return None
        return _same_interval(p_int, g_ineq[1])
    return None
