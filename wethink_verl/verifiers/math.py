"""``math``: mathematical expressions, via Math-Verify behind a hard bound.

A cheap normalised comparison decides the easy cases in microseconds (identical LaTeX after
normalisation, or two plain numbers); expressions that would only exhaust the budget (power
towers, huge factorials, deep nesting) are refused up front (``_costly``); single scalar
expressions in a small grammar (polynomials, fractions, radicals, pi) are decided by evaluating
both sides at a few points (``_numeric``); everything else goes to Math-Verify (gold first: it is
deliberately asymmetric) in a warm worker process that is killed if it overruns its budget.
Results are cached per (gold, prediction): GRPO groups repeat answers.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

from ..lru import LRU
from . import bounded
from ._costly import too_costly
from ._numeric import numeric_compare, structured_compare
from . import normalize as norm
from .number import find_numbers, numbers_match
from .registry import register
from .types import Verdict, invalid_gold, no_answer, right, wrong

# Longer expressions go to Math-Verify only up to this size: huge matrices and sets are where
# sympy spends minutes, and no WeThink answer is that long.
MAX_SYMBOLIC_CHARS = 1000

# spacing commands and \left/\right go; whitespace goes too, except one space that ends a command
# before a letter ("\le x", "\pi r": squashed they would read "\lex", "\pir")
_SPACING = re.compile(r"\\[!,;: ]|\\quad(?![a-zA-Z])|\\qquad(?![a-zA-Z])|\\left(?![a-zA-Z])|\\right(?![a-zA-Z])|(\\[a-zA-Z]+)?\s+")


def _squash(m: re.Match) -> str:
    command = m.group(1)
    if command is None:
        return ""
    end = m.end()
    return command + " " if end < len(m.string) and m.string[end].isalpha() else command
_DFRAC = re.compile(r"\\[dt]frac")
_DEGREE = re.compile(r"\^\{?\\circ\}?|°")
_TEXT = re.compile(r"\\(?:text|mathrm|textbf|mbox)\{([^{}]*)\}")
_PLAIN_NUMBER = re.compile(
    r"^[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:\\?%)?|\\frac\{-?\d+(?:\.\d+)?\}\{-?\d+(?:\.\d+)?\}|\d+/\d+)$"
)
_LHS = re.compile(r"^[a-zA-Z]\w*(?:\([a-z]\))?=")

_cache = LRU(65536)


def clear_cache() -> None:
    """Forget cached Math-Verify results (tests and benchmarks that must recompute)."""
    global _cache
    _cache = LRU(_cache.maxsize)


def canonical(text: str) -> str:
    t = norm.strip_outer_math(norm.fold_width(norm.cap(text)))
    t = _TEXT.sub(r"\1", t)
    t = _DFRAC.sub(r"\\frac", t)
    t = _DEGREE.sub("", t)
    t = _SPACING.sub(_squash, t)
    return t.rstrip(".").strip("$")


def _strip_lhs(t: str) -> str:
    # "x=3" against a gold of "3"
    return _LHS.sub("", t, count=1)


def quick_compare(pred: str, gold: str) -> Verdict | None:
    """A verdict when no symbolic work is needed, else None."""
    p, g = canonical(pred), canonical(gold)
    if not p:
        return no_answer("empty expression")
    if p == g or _strip_lhs(p) == _strip_lhs(g):
        return right(p, "identical after normalisation")
    p2, g2 = _strip_lhs(p), _strip_lhs(g)
    if _PLAIN_NUMBER.match(p2) and _PLAIN_NUMBER.match(g2) and any(c.isdigit() for c in p2 + g2):
        pn, gn = find_numbers(p2), find_numbers(g2)
        if len(pn) == 1 and len(gn) == 1:
            if numbers_match(pn[0], gn[0], 1e-9, 1e-12, False, True):
                return right(p, "equal numbers")
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


@register("math", blocking=True)
def verify_math(answer: str, ground_truth: Any, *, timeout: float | None = None, symbolic: bool = True, **verify_options: Any) -> Verdict:
    """Options: ``timeout`` (seconds for the symbolic stage; default the pool's), ``symbolic``
    (False: the cheap comparison only), and Math-Verify's ``float_rounding``,
    ``numeric_precision``, ``strict``, ``allow_set_relation_comp``."""
    verify_options = {k: v for k, v in verify_options.items() if k in ("float_rounding", "numeric_precision", "strict", "allow_set_relation_comp")}
    golds = norm.as_gold_list(ground_truth)
    if not golds:
        return invalid_gold(ground_truth, "empty ground truth")
    if answer is None or not str(answer).strip():
        return no_answer()
    pred = str(answer).strip()
    best: Verdict | None = None
    budget: float | None = None
    deadline = 0.0
    for gold in golds:
        verdict = quick_compare(pred, gold)
        if verdict is None and symbolic:
            if len(pred) > MAX_SYMBOLIC_CHARS or len(gold) > MAX_SYMBOLIC_CHARS:
                verdict = wrong(canonical(pred)[:200], f"expression longer than {MAX_SYMBOLIC_CHARS} chars: not compared")
            elif (why := too_costly(pred)) or (why := too_costly(gold)):
                # would only burn the whole budget and get a worker killed: decided here, in µs
                verdict = Verdict(0.0, canonical(pred)[:200], f"not sent to math-verify: {why} (would exceed the time budget)", "timeout")
            elif (fast := _fast_compare(pred, gold)) is not None:
                verdict = fast
            else:
                # one budget for the whole call, however many golds need symbolic work
                if budget is None:
                    budget = float(timeout) if timeout is not None else bounded.current_pool().timeout
                    deadline = time.monotonic() + budget
                left = deadline - time.monotonic()
                if left <= 0.01:
                    verdict = Verdict(0.0, canonical(pred)[:200], f"math-verify budget of {budget:g} s used up by earlier golds", "timeout")
                else:
                    verdict = symbolic_compare(pred, gold, min(left, budget), **verify_options)
        elif verdict is None:
            verdict = wrong(canonical(pred)[:200], "differs (symbolic comparison off)")
        if verdict.score == 1.0:
            return verdict
        if best is None or (best.status == "ok") < (verdict.status == "ok"):
            best = verdict
    return best  # type: ignore[return-value]
