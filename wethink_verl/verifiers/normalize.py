"""Cheap, linear-time text normalisation shared by the verifiers."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

# Hard caps applied before any regex or parser sees a string.
MAX_ANSWER_CHARS = 4000
MAX_GOLD_CHARS = 4000

_MARKDOWN = re.compile(r"\*\*|__|`")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mbox|textit|mathbf)\{([^{}]*)\}")
_WS = re.compile(r"\s+")


def cap(text: str, limit: int = MAX_ANSWER_CHARS) -> str:
    return text if len(text) <= limit else text[:limit]


def fold_width(text: str) -> str:
    """NFKC folds full-width forms (Ａ１２，：) to ASCII and composes accents."""
    return unicodedata.normalize("NFKC", text)


def basic(text: str) -> str:
    """Width-fold, drop markdown emphasis and \\text{} wrappers, collapse whitespace."""
    text = fold_width(cap(text))
    text = _MARKDOWN.sub("", text)
    text = _TEXT_WRAPPER.sub(r"\1", text)
    return _WS.sub(" ", text).strip()


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
