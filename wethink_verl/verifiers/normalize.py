"""Cheap, linear-time text normalisation shared by the verifiers.

``fold`` is the one Unicode folding every rule verifier reads through: NFKC (full-width ``Ａ１２，``
to ASCII, ``℃`` to ``°C``, ``½`` to ``1/2``, non-breaking and thin spaces to spaces) plus a small
table NFKC gets wrong or leaves alone:

=====================  ==========  ====================================================
written                folded to   why
=====================  ==========  ====================================================
``x²``, ``10⁻³``        ``x^2``,    NFKC would make ``3²`` the number ``32``
                       ``10^-3``
``⁄`` (fraction slash)  ``/``       ``½`` -> ``1⁄2`` -> ``1/2``
``−`` ``‐`` ``‒``       ``-``       minus signs and hyphens that are not dashes
``÷``                  ``/``       ``12 ÷ 4``
``✕`` ``✖`` ``⨯``       ``×``       one multiplication sign (``×`` itself is kept)
``º`` ``˚``             ``°``       ordinal/ring used for degrees (NFKC makes ``º`` an ``o``)
``“”„`` / ``‘’‚``       ``"`` / ``'``
zero-width characters  removed     ZWSP, ZWJ, BOM, direction marks hide text from rules
=====================  ==========  ====================================================

LaTeX-specific conversion (``√``, ``π`` to ``\\sqrt``, ``\\pi``) is the ``math`` verifier's own.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from typing import Any, Callable, TypeVar

T = TypeVar("T")

# Hard caps applied before any regex or parser sees a string.
MAX_ANSWER_CHARS = 4000
MAX_GOLD_CHARS = 4000

_MARKDOWN = re.compile(r"\*\*|__|`")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mbox|textit|mathbf)\{([^{}]*)\}")
_WS = re.compile(r"\s+")


def linear(pattern: str):
    """``pattern`` compiled with RE2 (google-re2): linear time, no backtracking, for patterns over
    untrusted text whose nested or adjacent quantifiers a backtracking engine can blow up on.
    RE2 has no lookarounds; flags go inline (``(?i)``)."""
    import re2

    return re2.compile(pattern)


def memo(max_len: int = 512, maxsize: int = 16384) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    """Cache a pure function of one string, for strings up to max_len characters: GRPO groups
    repeat golds, questions and answers. Longer strings are computed each time (never stored)."""

    def deco(fn: Callable[[str], T]) -> Callable[[str], T]:
        cached = functools.lru_cache(maxsize)(fn)

        @functools.wraps(fn)
        def wrapper(text: str) -> T:
            if isinstance(text, str) and len(text) <= max_len:
                return cached(text)
            return fn(text)

        wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        return wrapper

    return deco


def cap(text: str, limit: int = MAX_ANSWER_CHARS) -> str:
    return text if len(text) <= limit else text[:limit]


def fold_width(text: str) -> str:
    """NFKC folds full-width forms (Ａ１２，：) to ASCII and composes accents."""
    return unicodedata.normalize("NFKC", text)


_SUPERSCRIPTS = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7", "⁸": "8", "⁹": "9", "⁻": "-", "⁺": "+"}
_SUPERSCRIPT_RUN = re.compile("[" + "".join(_SUPERSCRIPTS) + "]+")
_BEFORE_NFKC = str.maketrans({"º": "°", "˚": "°"})
_AFTER_NFKC = str.maketrans({
    "⁄": "/", "−": "-", "‐": "-", "‒": "-", "÷": "/", "✕": "×", "✖": "×", "⨯": "×",
    "“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'",
    "\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None, "\ufeff": None,
    "\u200e": None, "\u200f": None, "\u202a": None, "\u202b": None, "\u202c": None, "\u202d": None, "\u202e": None,
})  # fmt: skip


def _superscript(m: re.Match) -> str:
    run = "".join(_SUPERSCRIPTS[ch] for ch in m.group(0))
    return "^" + run if len(run) == 1 else "^{" + run + "}"


def fold(text: str) -> str:
    """NFKC plus the table in the module docstring; ASCII text is returned as is."""
    if text.isascii():
        return text
    text = _SUPERSCRIPT_RUN.sub(_superscript, text.translate(_BEFORE_NFKC))
    return unicodedata.normalize("NFKC", text).translate(_AFTER_NFKC)


def basic(text: str) -> str:
    """Fold (``fold``), drop markdown emphasis and \\text{} wrappers, collapse whitespace."""
    text = fold(cap(text))
    text = _MARKDOWN.sub("", text)
    text = _TEXT_WRAPPER.sub(r"\1", text)
    return _WS.sub(" ", text).strip()


# a negation up to three words before a phrase, within its clause, rules the phrase out
NEGATORS = {"not", "no", "never", "neither", "nor", "without", "except", "isnt", "arent", "wasnt", "werent",
             "doesnt", "dont", "cannot", "cant"}  # fmt: skip
_CLAUSE_END = re.compile(r"[,;:.!?，。；：！？]|\bonly\b|\binstead\b", re.IGNORECASE)
_RULED_OUT_PHRASES = ("rather than", "instead of", "other than", "anything but", "everything but", "all but")


# any of these in a text may rule something out; without one, negated_at is False everywhere
_NEGATION_HINT = re.compile(r"\b(?:not|no|never|neither|nor|without|except|cannot|rather|instead|other|but)\b|n't|n’t", re.IGNORECASE)


def may_negate(text: str) -> bool:
    """Cheap pre-check: text holds a word ``negated_at`` looks for."""
    return _NEGATION_HINT.search(text) is not None


def negated_at(text: str, start: int) -> bool:
    """A negation among the (up to three) words just before text[start], within its clause:
    "not a horse", "isn't 3", "rather than blue", "anything but C"."""
    clause = text[max(0, start - 60) : start]
    cut = [m.end() for m in _CLAUSE_END.finditer(clause)]
    words = clause[cut[-1] if cut else 0 :].lower().replace("'", "").replace("’", "").split()
    if "but" in words:  # "not 3 but 4": "but" starts a new clause, except in "anything but 3"
        i = len(words) - 1 - words[::-1].index("but")
        if i == 0 or words[i - 1] not in ("anything", "everything", "all"):
            words = words[i + 1 :]
    words = words[-3:]
    tail = " ".join(words)
    return any(w in NEGATORS for w in words) or any(p in tail for p in _RULED_OUT_PHRASES)


def ruled_out(text: str, phrase_key: str, key) -> bool:
    """Every occurrence in text of the phrase (compared through ``key``, as keys) is negated."""
    if not may_negate(text):
        return False
    lowered, first = text.lower(), phrase_key.split()[0]
    found = negated = 0
    i = lowered.find(first)
    while i >= 0:
        if i == 0 or not lowered[i - 1].isalnum():
            tail = key(lowered[i : i + len(phrase_key) + 20])
            if tail == phrase_key or tail.startswith(phrase_key + " "):
                found += 1
                negated += negated_at(text, i)
        i = lowered.find(first, i + 1)
    return found > 0 and negated == found


def strip_outer_math(text: str) -> str:
    """Remove one layer of $…$, \\(…\\), \\[…\\] delimiters."""
    t = text.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(t) >= len(left) + len(right) and t.startswith(left) and t.endswith(right):
            return t[len(left) : len(t) - len(right)].strip()
    return t


def as_gold_list(ground_truth: Any) -> list[str]:
    """Ground truths arrive as str, list, tuple, numpy array or a JSON list string."""
    if ground_truth is None:
        return []
    if isinstance(ground_truth, (list, tuple)) or type(ground_truth).__name__ == "ndarray":
        return [str(g) for g in list(ground_truth) if g is not None and str(g).strip()]
    text = str(ground_truth).strip()
    if text.startswith("[") and text.endswith("]") and len(text) < MAX_GOLD_CHARS:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and parsed and all(isinstance(g, str) for g in parsed):
            return [g for g in parsed if g.strip()]
    return [text] if text else []
