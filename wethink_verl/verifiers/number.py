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

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar

from . import normalize as norm
from .number_reading import Num, find_numbers, read_number
from .options import BOOL, Range, VerifierOptions, option
from .registry import register
from .types import Verdict, hedged, invalid_gold, no_answer, right, wrong
from .units import convert

__all__ = ["Num", "NumberOptions", "find_numbers", "numbers_match", "read_number", "verify_number"]


@dataclass(frozen=True)
class NumberOptions(VerifierOptions):
    verifier: ClassVar[str] = "number"
    rel_tol: float = option(1e-6, Range(0.0, 1.0, hi_open=True), "relative to the gold")
    abs_tol: float = option(1e-9, Range(0.0))
    round_to_gold: bool = option(True, BOOL)
    percent_equivalence: bool = option(True, BOOL)
    integer_exact: bool = option(True, BOOL)
    units: bool = option(True, BOOL)


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
