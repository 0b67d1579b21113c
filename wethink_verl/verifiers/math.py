"""``math``: mathematical expressions, via Math-Verify behind a hard bound.

Both sides are first made readable (``_mathtext``): Unicode math becomes LaTeX (``3√2``, ``π/2``,
``x²``), ``\\mathrm{e}`` is Euler's e, not a unit. A text longer than ``MAX_SYMBOLIC_CHARS`` is
a worked answer: its final answer is found first (the last boxes, else the sentence after the last
"final answer" / "answer", as Math-Verify looks for it), screened and capped, and Math-Verify
reads the text itself. A short answer is compared after units (``_units``: one side's unit is
dropped, two units are converted with pint, a different dimension is wrong), degrees against
radians and an unambiguous decimal comma (``0,5``) are reconciled.

Then: a cheap normalised comparison decides the easy cases in microseconds (identical LaTeX after
normalisation, or two plain numbers, rounded as Math-Verify rounds floats); expressions that would
only exhaust the budget (power towers, huge factorials, deep nesting) are refused up front
(``_costly``); single scalar expressions in a small grammar (polynomials, fractions, radicals, pi)
are decided by evaluating both sides at a few points (``_numeric``), with Math-Verify's default
options only; everything else goes to Math-Verify (gold first: it is deliberately asymmetric) in a
warm worker process that is killed if it overruns its budget. Results are cached per (gold,
prediction): GRPO groups repeat answers.

Nothing a policy can farm: alternatives offered for a single-valued gold (``x=1 or x=2``,
``1 \\lor 2``) are a hedge, a list or several boxes against one gold value never match it (gold
first, as Math-Verify compares sets), an empty box is no answer.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

from ..lru import LRU
from . import _mathtext as mt
from . import bounded
from ._costly import too_costly
from ._numeric import numeric_compare, structured_compare
from ._units import conversion_factor, is_letter_unit, split_unit
from . import normalize as norm
from .number import find_numbers, numbers_match
from .registry import register
from .types import Verdict, hedged, invalid_gold, no_answer, right, wrong

# A final answer longer than this is not compared: huge matrices and sets are where sympy spends
# minutes, and no WeThink answer is that long. A longer *text* is searched for its final answer.
MAX_SYMBOLIC_CHARS = 1000
# the tail of a long text that Math-Verify reads (it prefers the last statement of an answer)
MAX_TEXT_CHARS = 16_000
# Math-Verify's verify() defaults: the cheap paths reproduce Math-Verify with these only
MV_DEFAULTS = {"float_rounding": 6, "numeric_precision": 15, "strict": True, "allow_set_relation_comp": False}

# spacing commands and \left/\right go; whitespace goes too, except one space that ends a command
# before a letter ("\le x", "\pi r": squashed they would read "\lex", "\pir") and the space after
# a comma between digits ("32, 349" is a list, "32,349" a number)
_SPACING = re.compile(
    r"\\[!,;: ]|\\quad(?![a-zA-Z])|\\qquad(?![a-zA-Z])|\\left(?![a-zA-Z])|\\right(?![a-zA-Z])|(?P<list>(?<=\d,)\s+(?=\d))|(\\[a-zA-Z]+)?\s+"
)


def _squash(m: re.Match) -> str:
    if m.group("list"):
        return " "
    command = m.group(2)
    if command is None:
        return ""
    end = m.end()
    return command + " " if end < len(m.string) and m.string[end].isalpha() else command


_DFRAC = re.compile(r"\\[dtc]frac")
_TEXT = re.compile(r"\\(?:text|mathrm|textbf|mbox)\{([^{}]*)\}")
_PLAIN_NUMBER = re.compile(
    r"^[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:\\?%)?|\\frac\{-?\d+(?:\.\d+)?\}\{-?\d+(?:\.\d+)?\}|\d+/\d+)$"
)
_HAS_LETTER = re.compile(r"[A-Za-z]")
_LHS = re.compile(r"^[a-zA-Z]\w*(?:\([a-z]\))?=")

_cache = LRU(65536)


def clear_cache() -> None:
    """Forget cached Math-Verify results (tests and benchmarks that must recompute)."""
    global _cache
    _cache = LRU(_cache.maxsize)


def canonical(text: str) -> str:
    t = norm.strip_outer_math(mt.unwrap_letters(mt.to_latex(norm.cap(text))))
    t = _TEXT.sub(r"\1", t)
    t = _DFRAC.sub(r"\\frac", t)
    t = mt.strip_degrees(t)
    t = _SPACING.sub(_squash, t)
    return t.rstrip(".").strip("$")


def _strip_lhs(t: str) -> str:
    # "x=3" against a gold of "3"
    return _LHS.sub("", t, count=1)


def _rounded_equal(p: float, g: float, float_rounding: int) -> bool:
    # Math-Verify compares a float with a number after rounding both (0.333333 is 1/3)
    return round(p, float_rounding) == round(g, float_rounding)


def quick_compare(pred: str, gold: str, float_rounding: int | None = MV_DEFAULTS["float_rounding"]) -> Verdict | None:
    """A verdict when no symbolic work is needed, else None. ``float_rounding=None``: only
    identical expressions are decided."""
    p, g = canonical(pred), canonical(gold)
    if not p:
        return no_answer("empty expression")
    if p == g or _strip_lhs(p) == _strip_lhs(g):
        return right(p, "identical after normalisation")
    if float_rounding is None:
        return None
    p2, g2 = mt.decimal_comma(_strip_lhs(p), _strip_lhs(g))
    if _PLAIN_NUMBER.match(p2) and _PLAIN_NUMBER.match(g2) and any(c.isdigit() for c in p2 + g2):
        pn, gn = find_numbers(p2), find_numbers(g2)
        if len(pn) == 1 and len(gn) == 1:
            a, b = pn[0], gn[0]
            integers = a.decimals == b.decimals == 0 and not (a.percent or b.percent)
            if a.value == b.value if integers else numbers_match(a, b, 1e-9, 1e-12, False, True):
                return right(p, "equal numbers")
            written_decimal = any(n.decimals not in (0, 99) for n in (a, b))  # 99: a fraction
            if written_decimal and _rounded_equal(a.value, b.value, float_rounding):
                return right(p, f"equal numbers (rounded to {float_rounding} decimals)")
            return wrong(p, f"{p2} != {g2}")
    return None


def _fast_compare(pred: str, gold: str) -> Verdict | None:
    """Scalar expressions evaluated at a few points; intervals, two-sided inequalities and sets of
    constants compared as Math-Verify would (both cross-checked against it in the tests). No sympy."""
    p, g = canonical(pred), canonical(gold)
    shown = p[:200]
    same = numeric_compare(p, g)
    if same is not None:
        return right(shown, "equivalent (numeric identity check)") if same else wrong(shown, "not equivalent (numeric check)")
    same = structured_compare(p, g)
    if same is not None:
        return right(shown, "equivalent (interval/set check)") if same else wrong(shown, "not equivalent (interval/set check)")
    return None


def symbolic_compare(pred: str, gold: str, timeout: float | None = None, **verify_options: Any) -> Verdict:
    """Math-Verify in the caller's bounded worker pool (``bounded.current_pool()``); verdicts are
    cached, timeouts and busy pools are not: they say how loaded the machine was, not what the
    pair is."""
    key = (gold, pred, tuple(sorted(verify_options.items())))
    cached = _cache.get(key)
    if cached is not None:
        return dataclasses.replace(cached, cached=True)
    outcome = bounded.current_pool().call(
        "wethink_verl.verifiers._symbolic:math_equal", gold, pred, timeout=timeout, **verify_options
    )
    shown = canonical(pred)[:200]
    if outcome.status == "ok":
        result, gold_parsed, pred_parsed = outcome.value
        if result == "match":
            verdict = right(pred_parsed or shown, "equivalent (math-verify)")
        elif result == "mismatch":
            verdict = wrong(pred_parsed or shown, f"not equivalent to {gold_parsed} (math-verify)")
        elif result == "cut":
            verdict = wrong(shown, f"math-verify's unit stripping cut an expression to {gold_parsed!r}: not compared")
        elif result == "unparsed_gold":
            verdict = Verdict(0.0, shown, "math-verify could not parse the ground truth", "invalid_gold")
        else:
            verdict = no_answer("math-verify found no expression in the answer")
    elif outcome.status in ("timeout", "busy"):
        verdict = Verdict(0.0, shown, f"math-verify {outcome.detail}", outcome.status)
    else:
        verdict = Verdict(0.0, shown, f"math-verify {outcome.status}: {outcome.detail}"[:300], "error")
    # deterministic enough to reuse; timeouts, busy pools and crashes are asked again
    if outcome.status in ("ok", "memory"):
        _cache.put(key, verdict)
    return verdict


@dataclasses.dataclass(frozen=True)
class _Side:
    """One side of a comparison: what Math-Verify reads, and the final answer it states."""

    text: str
    final: str
    found: str  # whole | boxed | anchor | tail | expression (see _mathtext.final_answer)
    prose: bool
    short: bool  # at most MAX_SYMBOLIC_CHARS: compared directly, cheap paths first


def _math_body(text: str) -> str:
    # "$x$" -> "x", but never "$1$ and $2$" -> "1$ and $2"
    inner = norm.strip_outer_math(text)
    return inner if "$" not in inner and "\\(" not in inner else text


def _side(text: str) -> _Side:
    t = mt.unwrap_letters(mt.to_latex(text.strip()))
    if len(t) <= MAX_SYMBOLIC_CHARS:
        body = _math_body(t)
        if "\\boxed" in t or "\\fbox" in t:  # what it states: its last run of boxes, as Math-Verify reads them
            return _Side(body, mt.final_answer(t)[0], "boxed", mt.is_prose(body), True)
        return _Side(body, body, "whole", mt.is_prose(body), True)
    final, found = mt.final_answer(t)
    if found == "tail" and not mt.is_prose(t):
        final, found = t, "expression"  # one long expression: itself the final answer
    return _Side(t[-MAX_TEXT_CHARS:], _math_body(final), found, True, False)


def _reconcile_units(pred: str, gold: str) -> tuple[str, str, Verdict | None]:
    """Units dropped (one side) or converted to the gold's (both sides); a different dimension is wrong."""
    p_value, p_unit = split_unit(pred)
    g_value, g_unit = split_unit(gold)
    if not p_unit or not g_unit:  # no unit, a filler ("units"), or a unit on one side only
        # a bare letter ("3m") is dropped only against a plain number: against "3n" it is a variable
        if p_unit and g_unit is None and is_letter_unit(pred) and _HAS_LETTER.search(gold):
            p_unit = None
        if g_unit and p_unit is None and is_letter_unit(gold) and _HAS_LETTER.search(pred):
            g_unit = None
        return (pred if p_unit is None else p_value), (gold if g_unit is None else g_value), None
    factor = conversion_factor(p_unit, g_unit)
    if factor is None:
        return pred, gold, wrong(pred[:200], f"unit {p_unit} is not a unit of {g_unit}")
    if factor == 1.0:
        return p_value, g_value, None
    nums = find_numbers(p_value)
    if len(nums) == 1 and _PLAIN_NUMBER.match(p_value.replace(" ", "")):
        return f"{nums[0].value * factor:.12g}", g_value, None
    if mt.is_prose(p_value):
        return pred, gold, wrong(pred[:200], f"{p_unit} against {g_unit}: the value cannot be converted")
    return f"{factor:.12g}\\cdot\\left({p_value}\\right)", g_value, None


def _prepare_pair(pred: _Side, gold: _Side) -> tuple[str, str, Verdict | None]:
    """The two short answers as they should be compared: units, degrees/radians, decimal comma."""
    p, g, verdict = _reconcile_units(pred.text, gold.text)
    if verdict is not None:
        return p, g, verdict
    p, g = mt.degrees_to_radians(p, g)
    p, g = mt.decimal_comma(p, g)
    return p, g, None


def _decide(pred: _Side, gold: _Side, symbolic: bool, verify_options: dict, budget: "_Budget") -> Verdict:
    why = None
    if pred.found != "tail":
        lists = pred.found in ("whole", "boxed", "expression") and not mt.is_prose(pred.final)
        why = mt.hedge(pred.final, gold.final, lists=lists, denials=pred.prose)
    if why:
        return hedged(pred.final[:200], why)
    exact = all(verify_options.get(k, v) == v for k, v in MV_DEFAULTS.items())
    if pred.short and gold.short:
        p, g, verdict = _prepare_pair(pred, gold)
        if verdict is None:
            rounding = verify_options.get("float_rounding", MV_DEFAULTS["float_rounding"])
            verdict = quick_compare(p, g, rounding if verify_options.get("strict", True) else None)
        if verdict is not None:
            return verdict
    else:
        p, g = pred.text, gold.text
        if len(pred.final) > MAX_SYMBOLIC_CHARS or len(gold.final) > MAX_SYMBOLIC_CHARS:
            return wrong(pred.final[:200], f"final answer longer than {MAX_SYMBOLIC_CHARS} chars: not compared")
    if not symbolic:
        return wrong(canonical(p)[:200], "differs (symbolic comparison off)")
    if (why := too_costly(pred.final)) or (why := too_costly(gold.final)):
        # would only burn the whole budget and get a worker killed: decided here, in µs
        return Verdict(0.0, canonical(pred.final)[:200], f"not sent to math-verify: {why} (would exceed the time budget)", "timeout")
    if exact and pred.short and gold.short and not pred.prose:
        fast = _fast_compare(p, g)
        if fast is not None:
            return fast
    return budget.symbolic(p, g, verify_options)


class _Budget:
    """One Math-Verify time budget for the whole call, however many golds need symbolic work."""

    def __init__(self, timeout: float | None):
        self.timeout = timeout
        self.budget: float | None = None
        self.deadline = 0.0

    def symbolic(self, pred: str, gold: str, verify_options: dict) -> Verdict:
        if self.budget is None:
            self.budget = float(self.timeout) if self.timeout is not None else bounded.current_pool().timeout
            self.deadline = time.monotonic() + self.budget
        left = self.deadline - time.monotonic()
        if left <= 0.01:
            return Verdict(0.0, canonical(pred)[:200], f"math-verify budget of {self.budget:g} s used up by earlier golds", "timeout")
        return symbolic_compare(pred, gold, min(left, self.budget), **verify_options)


@register("math", blocking=True)
def verify_math(answer: str, ground_truth: Any, *, timeout: float | None = None, symbolic: bool = True, **verify_options: Any) -> Verdict:
    """Whether ``answer`` states the same mathematical object as the ground truth.

    Options: ``timeout`` (seconds for the symbolic stage; default the pool's), ``symbolic``
    (False: the cheap comparison only), and Math-Verify's ``float_rounding``,
    ``numeric_precision``, ``strict`` (False: ``f(y)`` matches ``f(x)``, variables are matched by
    position), ``allow_set_relation_comp``.

    >>> verify_math("3√2", "\\sqrt{18}").score, verify_math("20 mm", "2 cm").score
    (1.0, 1.0)
    >>> verify_math("x=1 or x=2", "1").status, verify_math("12.5 g", "12.5 kg").score
    ('hedged', 0.0)
    """
    verify_options = {k: v for k, v in verify_options.items() if k in MV_DEFAULTS}
    golds = norm.as_gold_list(ground_truth)
    if not golds:
        return invalid_gold(ground_truth, "empty ground truth")
    if answer is None or not str(answer).strip():
        return no_answer()
    pred = _side(str(answer))
    budget = _Budget(timeout)
    best: Verdict | None = None
    for gold in golds:
        verdict = _decide(pred, _side(gold), symbolic, verify_options, budget)
        if verdict.score == 1.0:
            return verdict
        if best is None or (best.status == "ok") < (verdict.status == "ok"):
            best = verdict
    return best  # type: ignore[return-value]
