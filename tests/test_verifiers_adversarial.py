"""Regex blow-up hunt: every inline verifier, the router's shape inference, extraction and the format
check on inputs built from their own syntax (repeated fragments, whitespace runs, near-misses at
the end). Each call must stay far below the bound: these run in the caller, not in a worker.

Found this way: choice's letter-list regex was exponential ("A or B " x 12 + "A o": minutes at the
4000-char cap), iou's "(x1,y1),(x2,y2)" regex cubic in a whitespace run, choice's option-line
regex quadratic in trailing spaces."""

from __future__ import annotations

import time

import pytest

from wethink_verl.reward.router import infer_verifier
from wethink_verl.verifiers import check_format, extract_answer
from wethink_verl.verifiers.choice import parse_choices, verify_choice
from wethink_verl.verifiers.iou import verify_iou
from wethink_verl.verifiers._math_screen import too_costly
from wethink_verl.verifiers._mathtext import final_answer, hedge, is_prose, to_latex
from wethink_verl.verifiers._units import split_unit
from wethink_verl.verifiers._math_fast import numeric_compare, structured_compare
from wethink_verl.verifiers.math import canonical, quick_compare, verify_math
from wethink_verl.verifiers.number import verify_number
from wethink_verl.verifiers.text import verify_text
from wethink_verl.verifiers.yesno import verify_yesno

FRAGMENTS = [
    "A or B ", "A, B, ", "(A) ", "A. x ", "A) ", "answer is ", "The answer is (", "选", "答案是", "I'd ", "a ",
    "(1,2)", "(1, 2), ", "[1, 2, 3, 4", "[1,2,3,4],", '{"bbox_2d": [', "{", "[", "}", "]",
    "1,", "1.", "1,000", "-1", "1e", "10^", "\\frac{", "\\frac{1}{2}", "1/2 ", "%", "\\times 10^{",
    "\\boxed{", "\\", "$", "\\text{", "\\left(", "^{", "x=", "=", "1 or ", "is not 3 ", "√", "²", "3 cm ", "\\text{ m}^2",
    "final answer is ", "\\boxed{1}, ", "0,5",
    "yes no ", "yes or ", "是不是", "是或", "不", "oui ou ", "n/",
    "red, ", "red and ", "、", "or ", " ", "\n", "\t",
]  # fmt: skip
CAP = 4100  # just above the verifiers' 4000-char cap


def _patterns(frag: str):
    n = max(1, CAP // max(1, len(frag)))
    yield frag * n
    yield frag * n + "!"
    yield (frag + " " * 50) * max(1, n // 50)
    yield frag + " " * CAP + frag + "x"
    yield frag * (n // 2) + "A o"


FUNCS = {
    "choice": lambda t: verify_choice(t, "B", choices={"A": "cat", "B": "dog"}),
    "choice_gold": lambda t: verify_choice("B", t),
    "choice_problem": lambda t: parse_choices(t),
    "number": lambda t: verify_number(t, "3"),
    "number_gold": lambda t: verify_number("3", t),
    "text": lambda t: verify_text(t, "blue"),
    "text_anls": lambda t: verify_text(t, "a long gold answer with several words", mode="anls"),
    "yesno": lambda t: verify_yesno(t, "yes"),
    "iou": lambda t: verify_iou(t, "[1, 2, 3, 4]"),
    "iou_gold": lambda t: verify_iou("[1, 2, 3, 4]", t),
    "math_quick": lambda t: quick_compare(t, "3"),
    "math_numeric": lambda t: numeric_compare(canonical(t), "x^2+1"),
    "math_structured": lambda t: structured_compare(canonical(t), "(1,2)"),
    "math_structured_gold": lambda t: structured_compare("(1,2)", canonical(t)),
    "math_costly": lambda t: too_costly(t),
    "math_cheap": lambda t: verify_math(t, "3", symbolic=False),
    "math_cheap_gold": lambda t: verify_math("3", t, symbolic=False),
    "math_text": lambda t: (final_answer(t), hedge(t, "3", denials=True), is_prose(t), to_latex(t + "√²π"), split_unit(t)),
    "route": lambda t: infer_verifier(t),
    "extract": lambda t: extract_answer("<think>x</think><answer>" + t + "</answer>"),
    "format": lambda t: check_format("<think>" + t + "</think><answer>" + t + "</answer>"),
}


@pytest.mark.parametrize("frag", FRAGMENTS, ids=[repr(f)[1:-1][:14] or "empty" for f in FRAGMENTS])
def test_no_regex_blowup(frag):
    slow = []
    for text in _patterns(frag):
        for name, fn in FUNCS.items():
            t = time.perf_counter()
            try:
                fn(text)
            except (ValueError, TypeError):  # a clean refusal is fine; hanging is not
                pass
            elapsed = time.perf_counter() - t
            if elapsed > 0.5:
                slow.append((name, len(text), round(elapsed, 2)))
    assert not slow, slow
