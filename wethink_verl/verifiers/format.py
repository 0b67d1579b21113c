"""``format``: WeThink's ``<think>…</think><answer>…</answer>`` format, checked in linear time.

Exactly one think block, then exactly one non-empty answer block, nothing else outside them.
A chat template that pre-fills ``<think>`` leaves only ``</think>`` in the response; that is
accepted when ``think_prefilled`` is "auto" (the default) or True.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .extract import ANSWER_CLOSE, ANSWER_OPEN, MAX_RESPONSE_CHARS, THINK_CLOSE, THINK_OPEN
from .options import OneOf, Range, VerifierOptions, option
from .registry import register
from .types import Verdict


def check_format(
    response: str,
    *,
    think_prefilled: bool | str = "auto",
    min_think_chars: int = 0,
    max_chars: int = MAX_RESPONSE_CHARS,
) -> Verdict:
    if not isinstance(response, str) or not response.strip():
        return Verdict(0.0, None, "empty response")
    if len(response) > max_chars:
        return Verdict(0.0, None, f"response too long ({len(response)} > {max_chars} chars)")
    text = response.strip()
    counts = {tag: text.count(tag) for tag in (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)}
    prefilled = think_prefilled is True or (
        think_prefilled == "auto" and counts[THINK_OPEN] == 0 and counts[THINK_CLOSE] == 1
    )
    if prefilled:
        text = THINK_OPEN + text
        counts[THINK_OPEN] += 1
    bad = [f"{tag}×{n}" for tag, n in counts.items() if n != 1]
    if bad:
        return Verdict(0.0, None, "need exactly one think and one answer block, got " + ", ".join(bad))
    if not text.startswith(THINK_OPEN):
        return Verdict(0.0, None, "text before <think>")
    t_close, a_open, a_close = text.find(THINK_CLOSE), text.find(ANSWER_OPEN), text.find(ANSWER_CLOSE)
    if not t_close < a_open < a_close:
        return Verdict(0.0, None, "blocks out of order")
    if text[t_close + len(THINK_CLOSE) : a_open].strip():
        return Verdict(0.0, None, "text between </think> and <answer>")
    if text[a_close + len(ANSWER_CLOSE) :].strip():
        return Verdict(0.0, None, "text after </answer>")
    if not text[a_open + len(ANSWER_OPEN) : a_close].strip():
        return Verdict(0.0, None, "empty answer block")
    if len(text[len(THINK_OPEN) : t_close].strip()) < min_think_chars:
        return Verdict(0.0, None, f"reasoning shorter than {min_think_chars} chars")
    return Verdict(1.0, None, "format ok" + (" (pre-filled <think>)" if prefilled and think_prefilled == "auto" else ""))


@dataclass(frozen=True)
class FormatOptions(VerifierOptions):
    verifier: ClassVar[str] = "format"
    think_prefilled: bool | str = option("auto", OneOf(("auto", True, False)))
    min_think_chars: int = option(0, Range(0, integer=True))
    max_chars: int = option(MAX_RESPONSE_CHARS, Range(1, integer=True))


@register("format", reads="response", options=FormatOptions)
def verify_format(answer: str, ground_truth: object = None, **options) -> Verdict:
    """Format-only verifier: ``answer`` is the whole response; the ground truth is ignored.
    Options (``FormatOptions``): ``think_prefilled`` (auto | true | false), ``min_think_chars``, ``max_chars``."""
    opts = FormatOptions.of(options)
    return check_format(answer, think_prefilled=opts.think_prefilled, min_think_chars=opts.min_think_chars, max_chars=opts.max_chars)
