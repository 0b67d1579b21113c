"""Text cleaning of a WeThink record (what ``data/schema.py`` describes, and nothing more): answer
blocks and tags, whitespace, media placeholders and chat special tokens in the prompt."""

from __future__ import annotations

import re
from typing import Any

_TAG = re.compile(r"<\s*/?\s*(?:think|answer)\s*>", re.IGNORECASE)
_ANSWER_BLOCK = re.compile(r"<\s*answer\s*>(.*?)<\s*/\s*answer\s*>", re.IGNORECASE | re.DOTALL)
_TRAILING_SPACE = re.compile(r"[ \t\f\v]+\n")
_MANY_NEWLINES = re.compile(r"\n{3,}")
# what verl (<image>|<video>|<audio>), EasyR1 and LLaMA-Factory split on, and chat special tokens
# such as <|image_pad|> that a tokenizer would turn into real image tokens
_MEDIA_LITERAL = re.compile(r"<(?:image|video|audio)>|<\|[A-Za-z0-9_]+\|>")


def normalize_whitespace(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _TRAILING_SPACE.sub("\n", text)
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def clean_answer(text: str) -> str:
    blocks = _ANSWER_BLOCK.findall(text)
    if blocks:
        text = blocks[-1]
    return normalize_whitespace(_TAG.sub("", text))


def clean_cot(text: str) -> str:
    return normalize_whitespace(_TAG.sub("", _ANSWER_BLOCK.sub("", text)))


def escape_media_literals(text: str) -> tuple[str, int]:
    """``<image>`` -> ``&lt;image&gt;`` (and the same for the other media tags and ``<|…|>`` tokens)."""
    count = 0

    def sub(m: re.Match) -> str:
        nonlocal count
        count += 1
        return "&lt;" + m.group(0)[1:-1] + "&gt;"

    return _MEDIA_LITERAL.sub(sub, text), count


def has_tags(text: str) -> bool:
    return _TAG.search(text) is not None


def split_abilities(abilities: Any) -> list[str]:
    """For the summary only: "Recognition, OCR & Reasoning" -> ["recognition", "ocr", "reasoning"]."""
    if abilities is None:
        return []
    items = abilities if isinstance(abilities, (list, tuple)) else re.split(r"[,;/|&]|\band\b", str(abilities))
    return [s for s in (str(i).strip().lower() for i in items) if s]
