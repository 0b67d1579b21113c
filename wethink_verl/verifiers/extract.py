"""Answer extraction from a model response, in linear time (str.find / rfind scans, no regex).

WeThink's system prompt asks for ``<think>…</think><answer>…</answer>``. We read the last
complete answer block after the reasoning; ``\\boxed{}`` inside it (or, as a fallback, after
the reasoning) is unwrapped. Nothing is ever guessed: no block and no box means no answer.

Several boxes in that region are read as one answer, the way Math-Verify reads them: the contents
of every distinct complete box, in order, joined by ", " (``\\boxed{1}, \\boxed{2}`` -> "1, 2",
``\\boxed{C}\\boxed{C}`` -> "C"). So a box spray reaches the verifier as a list, where a list
against a single gold is a hedge, never as its last element.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"

# Responses are at most a few thousand tokens; anything longer is scanned only at its tail.
MAX_RESPONSE_CHARS = 100_000
# An unbalanced \boxed{ makes the brace scan run to the end of the text; try only a few.
_MAX_BOXED_TRIES = 4


@dataclass(frozen=True)
class Extraction:
    answer: str | None  # the text a verifier should read; None when there is none
    source: str  # answer_block | boxed_in_answer | boxed_fallback | answer_only | none | empty_answer | inside_think
    think: str | None  # the reasoning, for the judge
    truncated: bool = False

    @property
    def found(self) -> bool:
        return self.answer is not None


def _scan_braces(text: str, open_at: int) -> int:
    """Index of the brace closing text[open_at] == '{', or -1."""
    depth = 0
    for k in range(open_at, len(text)):
        ch = text[k]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return k
    return -1


def last_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{…}`` / ``\\fbox{…}`` (or ``\\boxed x``) in text."""
    end = len(text)
    for _ in range(_MAX_BOXED_TRIES):
        i_boxed, i_fbox = text.rfind("\\boxed", 0, end), text.rfind("\\fbox", 0, end)
        i = max(i_boxed, i_fbox)
        if i < 0:
            return None
        j = i + (len("\\boxed") if i == i_boxed else len("\\fbox"))
        if j < len(text) and text[j] == "{":
            close = _scan_braces(text, j)
            if close > 0:
                return text[j + 1 : close].strip()
        elif j < len(text) and text[j] == " ":
            # "\boxed 5" form: one token
            token = text[j + 1 :].lstrip().split(None, 1)
            if token:
                return token[0].rstrip("$.")
        end = i
    return None


_BOX_OR_BRACE = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])|[{}]")
_FLAT_BOX = re.compile(r"\\(?:boxed|fbox)\{([^{}]*)\}")


def boxed_contents(text: str) -> list[str]:
    """Contents of every complete outermost ``\\boxed{…}`` / ``\\fbox{…}`` (and ``\\boxed x``) in
    text, distinct and in order, empty boxes left out. One linear pass over the braces; a box that
    never closes does not hide the complete boxes inside it."""
    first = min(i for i in (text.find("\\boxed"), text.find("\\fbox"), len(text)) if i >= 0)
    if text.find("}", first) < 0 and "\\boxed " not in text and "\\fbox " not in text:
        return []  # nothing closes
    if text.count("{") == text.count("}") == text.count("\\boxed{") + text.count("\\fbox{") and " " not in text:
        # only flat boxes, nothing else braced (a box spray): the regex alone, at C speed
        return list(dict.fromkeys(c.strip() for c in _FLAT_BOX.findall(text) if c.strip()))
    spans: list[tuple[int, int]] = []  # (start, end) of each complete box's content
    pending: list[tuple[int, int]] = []  # (brace depth outside the box, where its content starts)
    depth = 0
    for m in _BOX_OR_BRACE.finditer(text):
        token, end = m.group(0), m.end()
        if token[0] == "\\":
            if text.startswith("{", end):
                pending.append((depth, end + 1))
            elif text.startswith(" ", end):  # "\boxed 5": one token
                word = text[end : end + 64].split(None, 1)
                if word:
                    start = text.index(word[0], end)
                    spans.append((start, start + len(word[0].rstrip("$.,"))))
        elif token == "{":
            depth += 1
        else:
            depth = max(0, depth - 1)
            if pending and pending[-1][0] == depth:
                spans.append((pending.pop()[1], m.start()))
    found, covered = [], -1
    for start, stop in sorted(spans):
        if start > covered:  # not inside a box already taken
            found.append(text[start:stop].strip())
            covered = stop
    return list(dict.fromkeys(c for c in found if c))


def joined_boxes(text: str) -> str | None:
    """The answer several boxes state together ("1, 2"), or None without a complete box."""
    if "\\boxed" not in text and "\\fbox" not in text:
        return None
    return ", ".join(boxed_contents(text)) or None


def split_think(response: str) -> tuple[str | None, str, bool]:
    """(reasoning, text after the reasoning, think_unterminated).

    A chat template may pre-fill ``<think>``, leaving only ``</think>`` in the response.
    """
    close = response.rfind(THINK_CLOSE)
    if close >= 0:
        open_ = response.rfind(THINK_OPEN, 0, close)
        think = response[(open_ + len(THINK_OPEN)) if open_ >= 0 else 0 : close]
        return think, response[close + len(THINK_CLOSE) :], False
    if THINK_OPEN in response:
        return response[response.find(THINK_OPEN) + len(THINK_OPEN) :], "", True
    return None, response, False


def extract_answer(response: str, *, boxed_fallback: bool = True, max_chars: int = MAX_RESPONSE_CHARS) -> Extraction:
    """The answer a verifier should read from a full model response."""
    if not isinstance(response, str):
        response = "" if response is None else str(response)
    truncated = len(response) > max_chars
    if truncated:
        response = response[-max_chars:]
    think, after, unterminated = split_think(response)
    if unterminated:
        # everything is still inside <think>: an answer written there does not count
        return Extraction(None, "inside_think", think, truncated)

    end = after.rfind(ANSWER_CLOSE)
    start = after.rfind(ANSWER_OPEN, 0, end) if end >= 0 else -1
    if start >= 0:
        block = after[start + len(ANSWER_OPEN) : end].strip()
        if not block:
            return Extraction(None, "empty_answer", think, truncated)
        boxed = joined_boxes(block)
        if boxed:
            return Extraction(boxed, "boxed_in_answer", think, truncated)
        return Extraction(block, "answer_block", think, truncated)

    if boxed_fallback:
        boxed = joined_boxes(after)
        if boxed:
            return Extraction(boxed, "boxed_fallback", think, truncated)
    if think is not None and ANSWER_CLOSE in think:
        return Extraction(None, "inside_think", think, truncated)
    return Extraction(None, "none", think, truncated)


def answer_only(text: str, max_chars: int = MAX_RESPONSE_CHARS) -> Extraction:
    """For text that is already the answer: the text after any reasoning, a \\boxed{} or a stray
    answer block unwrapped. An answer written only inside ``<think>`` (or after an unclosed
    ``<think>``) is no answer, as in ``extract_answer``."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text[:max_chars]
    think, after, unterminated = split_think(text)
    if unterminated:
        return Extraction(None, "inside_think", think)
    inner = extract_answer(text, boxed_fallback=True, max_chars=max_chars)
    if inner.source in ("answer_block", "boxed_in_answer", "boxed_fallback"):
        return Extraction(inner.answer, "answer_only", inner.think)
    after = after.strip()
    if inner.source == "empty_answer" or not after:
        return Extraction(None, "empty_answer" if think is None or inner.source == "empty_answer" else "inside_think", think)
    return Extraction(after, "answer_only", think)
