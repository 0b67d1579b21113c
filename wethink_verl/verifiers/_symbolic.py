"""Math-Verify, run inside a bounded worker process only (see ``bounded.py``).

Imported by the worker at start (the forkserver preloads it), never by the parent on the hot path:
sympy takes about a second to import. Math-Verify's own ``signal.alarm`` timeouts are switched
off here because the parent kills an overrunning worker instead.
"""

from __future__ import annotations

import logging

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from ._mathtext import is_prose

logging.getLogger("math_verify").setLevel(logging.ERROR)  # the "timeout is disabled" warning is expected

_TARGETS = (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig())


def _as_latex(text: str) -> str:
    # Math-Verify extracts from $…$ / \boxed{}; a bare "x^2+2x+1" would parse to nothing, while
    # prose ("I think it is 3") must stay prose for Math-Verify to find the answer in it
    if "$" in text or "\\boxed" in text or "\\(" in text or "\\[" in text or is_prose(text):
        return text
    return f"${text}$"


def _cut(parsed: list, source: str) -> str | None:
    """The extracted LaTeX when Math-Verify's normalisation cut it short, else None (a source
    that is unbalanced itself, such as an unclosed box, is not a cut).

    Its unit stripping removes a trailing ``\\text{…}`` / ``\\mathrm{…}`` up to the end, closing
    brace included: ``1 + \\frac{1}{\\text{kg}}`` becomes ``1 + \\frac{1}{``, which parses to 1.
    """
    if source.count("{") != source.count("}"):
        return None
    for item in parsed:
        if isinstance(item, str) and item.count("{") != item.count("}"):
            return item
    return None


def math_equal(gold: str, pred: str, **verify_options) -> tuple[str, str, str]:
    """("match" | "mismatch" | "unparsed_gold" | "unparsed_pred" | "cut", gold parsed, pred parsed).

    Gold goes first: Math-Verify is deliberately asymmetric (an unsolved inequality in the
    prediction must not match an interval in the gold). "cut": Math-Verify's normalisation cut
    one side short (see ``_cut``): whatever it then decides would be about another expression.
    """
    gold_parsed = parse(_as_latex(gold), extraction_config=_TARGETS, parsing_timeout=None)
    if not gold_parsed:
        return "unparsed_gold", "", ""
    pred_parsed = parse(_as_latex(pred), extraction_config=_TARGETS, parsing_timeout=None)
    if not pred_parsed:
        return "unparsed_pred", str(gold_parsed[0])[:200], ""
    cut = _cut(gold_parsed, gold) or _cut(pred_parsed, pred)
    if cut is not None:
        return "cut", cut[:200], ""
    ok = verify(gold_parsed, pred_parsed, timeout_seconds=None, **verify_options)
    return ("match" if ok else "mismatch"), str(gold_parsed[0])[:200], str(pred_parsed[0])[:200]


# Math-Verify's first parse of each kind of expression builds parser tables and fills sympy's
# caches (20-300 ms, against 1-5 ms afterwards). Done once here, at import: the forkserver imports
# this module before it forks any worker, so every worker (and every replacement of a killed one)
# starts warm.
_WARM_UP = (
    ("(x+1)^2", "x^2+2x+1"), ("\\{1, 2\\}", "\\{2, 1\\}"), ("1<x<2", "(1, 2)"), ("x \\in [0, 1)", "[0, 1)"),
    ("2\\sqrt{2}", "\\sqrt{8}"), ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}"), ("\\binom{5}{2}", "10"),
    ("2\\pi", "\\pi \\cdot 2"), ("\\sin^2 x+\\cos^2 x", "1"), ("60^\\circ", "\\frac{\\pi}{3}"), ("x=3", "3"),
    ("\\log_2 8", "3"), ("e^{i\\pi}", "-1"), ("\\begin{pmatrix}1 & 2\\end{pmatrix}", "\\begin{pmatrix}1 & 2\\end{pmatrix}"),
    ("+\\infty", "\\infty"), ("50\\%", "0.5"), ("(1, 2)", "(1, 2)"), ("a+b", "b+a"),
)  # fmt: skip


def _warm_up() -> None:
    for gold, pred in _WARM_UP:
        try:
            math_equal(gold, pred)
        except Exception:  # noqa: BLE001 - warming is best effort
            pass


_warm_up()

