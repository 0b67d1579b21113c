"""Math answers as written by models, turned into what a comparison can read. Linear scans only.

- ``to_latex``: Unicode math (``3√2``, ``π/2``, ``x²``, ``×``, ``÷``, ``°``, ``≤``, full-width
  digits …) becomes LaTeX: superscripts and roots first (NFKC would fold ``x²`` to ``x2``), then
  NFKC, then the symbol table ``SYMBOLS`` below.
- ``unwrap_letters``: ``\\mathrm{e}``, ``\\text{i}`` -> ``e``, ``i``: a single upright letter is a
  constant or a variable, never a unit (Math-Verify strips a trailing ``\\mathrm{…}`` as a unit,
  which turned ``1 - \\frac{1}{\\mathrm{e}}`` into ``1 - \\frac{1}{`` and equal to ``1 + …``).
- ``decimal_comma``: ``0,5`` / ``1000,99`` read as decimals where that is unambiguous: the comma
  cannot be a thousands separator and the other side is a single non-integer number.
- ``degrees_to_radians``: ``45°`` against an answer in terms of ``\\pi`` (either side).
- ``is_prose`` (words, not an expression), ``is_single_value`` and ``hedge`` (alternatives offered
  for one gold), ``final_answer`` (what a long text states last, the way Math-Verify looks for it:
  the last run of boxes, else the sentence after the last "final answer" / "answer").
"""

from __future__ import annotations

import re
import unicodedata

from ._units import UNITS
from .extract import boxed_contents

_SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺ⁿ", "0123456789-+n"))
_SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉", "0123456789"))
_ROOTS = {"√": "\\sqrt", "∛": "\\sqrt[3]", "∜": "\\sqrt[4]"}
# after NFKC; a trailing space ends the command before a letter ("πr" -> "\pi r")
SYMBOLS = {
    "π": "\\pi ", "×": "\\times ", "÷": "\\div ", "·": "\\cdot ", "⋅": "\\cdot ", "∙": "\\cdot ", "−": "-", "–": "-",
    "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "≈": "\\approx ", "∞": "\\infty ", "±": "\\pm ", "∓": "\\mp ",
    "∈": "\\in ", "∪": "\\cup ", "∩": "\\cap ", "∅": "\\emptyset ", "⁄": "/", "°": "^{\\circ}", "∠": "\\angle ",
    "θ": "\\theta ", "α": "\\alpha ", "β": "\\beta ", "γ": "\\gamma ", "δ": "\\delta ", "φ": "\\phi ", "λ": "\\lambda ",
    "μ": "\\mu ", "σ": "\\sigma ", "ω": "\\omega ", "Δ": "\\Delta ", "′": "'",
}  # fmt: skip
_ROOT_ARG = re.compile(r"\s*(\d+(?:\.\d+)?|[A-Za-z]|\\pi\b|\([^()]*\)|\{[^{}]*\})")
_LETTER_TEXT = re.compile(r"\\(?:mathrm|text|textrm|mathit|mbox|operatorname)\s*\{\s*([A-Za-z])\s*\}")


def _scripts(text: str, table: dict[str, str], mark: str) -> str:
    out, run = [], []
    for ch in text + "\0":
        if ch in table:
            run.append(table[ch])
            continue
        if run:
            out.append(f"{mark}{{{''.join(run)}}}")
            run = []
        out.append(ch)
    return "".join(out[:-1])


def _roots(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch in _ROOTS:
            m = _ROOT_ARG.match(text, i + 1)
            if m:
                arg = m.group(1)
                arg = arg[1:-1] if arg[0] in "({" else arg
                out.append(f"{_ROOTS[ch]}{{{arg}}}")
                i = m.end()
                continue
            out.append(_ROOTS[ch])
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def to_latex(text: str) -> str:
    """Unicode math as LaTeX: ``3√2`` -> ``3\\sqrt{2}``, ``x²`` -> ``x^{2}``, ``２π`` -> ``2\\pi``."""
    if text.isascii():
        return text
    text = _scripts(_scripts(text, _SUPERSCRIPTS, "^"), _SUBSCRIPTS, "_")
    text = _roots(unicodedata.normalize("NFKC", _roots(text)))
    if text.isascii():
        return text
    return "".join(SYMBOLS.get(ch, ch) for ch in text).replace(" }", "}").rstrip()


def unwrap_letters(text: str) -> str:
    """``\\mathrm{e}`` -> ``e``: a single upright letter is a constant or variable, not a unit."""
    return _LETTER_TEXT.sub(r"\1", text) if "{" in text else text


# ---- decimal comma -------------------------------------------------------------------------------

_COMMA_NUMBER = re.compile(r"^[-+]?\d+,\d+$")
_THOUSANDS = re.compile(r"^[-+]?[1-9]\d{0,2}(?:,\d{3})+$")
_NON_INTEGER = re.compile(r"^[-+]?(?:\d*\.\d+|\\frac\{\d+\}\{\d+\}|\d+/\d+)$")


def _is_non_integer_number(text: str) -> bool:
    if not _NON_INTEGER.match(text):
        return False
    if "frac" in text or "/" in text:
        a, b = re.findall(r"\d+", text)
        return int(b) != 0 and int(a) % int(b) != 0
    return float(text) != int(float(text))


def decimal_comma(pred: str, gold: str) -> tuple[str, str]:
    """Read ``0,5`` as 0.5 when the comma cannot separate thousands (``0,5``, ``1,22``,
    ``1000,99``; not ``32,349``) and the other side is one non-integer number: then a list
    reading could not be right anyway. Both strings are canonical (no spaces)."""
    for a, b in ((pred, gold), (gold, pred)):
        if _COMMA_NUMBER.match(a) and not _THOUSANDS.match(a) and _is_non_integer_number(b.replace(",", "")):
            a2 = a.replace(",", ".")
            return (a2, b) if a is pred else (b, a2)
    return pred, gold


# ---- degrees against radians ---------------------------------------------------------------------

_DEGREE_MARK = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\degree(?![a-zA-Z])|°|\s*\\text\{\s*degrees?\s*\}|\s+degrees?$|\s*\\deg(?![a-zA-Z])")
_DEGREES = re.compile(r"^(?P<v>[-+]?\d+(?:\.\d+)?)(?:" + _DEGREE_MARK.pattern + r")$")


def has_degree_mark(text: str) -> bool:
    return bool(_DEGREE_MARK.search(text))


def strip_degrees(text: str) -> str:
    return _DEGREE_MARK.sub("", text)


def degrees_to_radians(pred: str, gold: str) -> tuple[str, str]:
    """``45^\\circ`` against ``\\frac{\\pi}{4}`` (either side): the degrees become ``\\frac{45\\pi}{180}``."""
    for a, b in ((pred, gold), (gold, pred)):
        m = _DEGREES.match(a.strip())
        if m and "\\pi" in b and not has_degree_mark(b):
            a2 = f"\\frac{{{m.group('v')}\\pi}}{{180}}"
            return (a2, b) if a is pred else (b, a2)
    return pred, gold


# ---- prose, several values, hedges ---------------------------------------------------------------

_WORD = re.compile(r"(?<![\\A-Za-z_^])(?:[A-Za-z][a-z]+|I)(?![A-Za-z])")
_COMMAND_OR_TEXT = re.compile(r"\\[A-Za-z]+(?:\s*\{[^{}]*\})?|[_^]\{[^{}]*\}")
# words that stand for math inside an expression ("sqrt(2)", "x or y", "infinity", units)
_MATH_WORDS = frozenset(
    "sqrt frac infinity infty undefined none matrix pmatrix bmatrix cdot times over choose binom degree degrees "
    "radian radians percent pct unit units and or sin cos tan cot sec csc log ln lg exp lim max min gcd lcm mod "
    "arcsin arccos arctan sinh cosh tanh det arg inf sup".split()
)


def is_prose(text: str) -> bool:
    """Words rather than an expression ("I think it is 3"): Math-Verify must look for the answer
    in it, not parse all of it as LaTeX. Two words or more, besides function names, units,
    "and"/"or" and what is inside ``\\text{}`` or a subscript."""
    words = _WORD.findall(_COMMAND_OR_TEXT.sub(" ", text))
    return sum(1 for w in words if w.lower() not in _MATH_WORDS and w not in UNITS) >= 2


_SEVERAL = re.compile(r",|;|\\pm|±|\\mp|\\cup|\\cap|\\lor|\\vee|\\land|\\wedge|\bor\b|\band\b|\\\{")
# an alternative offered between two values: "1 or 2", "x=1 \text{ or } x=2", "1 \lor 2", "either …"
_HEDGE = re.compile(
    r"\\lor(?![a-zA-Z])|\\vee(?![a-zA-Z])|\beither\b|"
    r"[\w$})\]]\s*(?:,\s*)?(?:\\text\{\s*|\\textrm\{\s*|\\mathrm\{\s*)?\bor\b(?:\s*\})?\s*(?:[a-zA-Z]\s*=\s*)?[-+\w$\\({\[]",
    re.IGNORECASE,
)


def is_single_value(text: str) -> bool:
    """No list, set, interval union, ± or alternatives: one value."""
    return not _SEVERAL.search(text)


# "the answer is not 3", "it isn't 3": a value stated only to be denied
_NEGATED = re.compile(
    r"\b(?:is|are|be|equals?)\s+not\s+(?:equal\s+to\s+)?(?=[-+\d$\\(])|\b(?:isn't|aren't|cannot\s+be|can't\s+be)\s+(?=[-+\d$\\(])",
    re.IGNORECASE,
)
_VALUE = re.compile(r"[^\s,;]*")


def _denied_last(text: str) -> str | None:
    """The denial when the last value a prose answer states is denied ("the answer is not 3"),
    not one denied on the way ("it is not 10 but 12")."""
    last = None
    for last in _NEGATED.finditer(text):
        pass
    if last is None:
        return None
    rest = text[_VALUE.match(text, last.end()).end() :]
    return None if any(c.isdigit() for c in rest) else last.group(0).strip()


def _top_level_parts(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch in ",;" and depth == 0:
            parts.append(text[start:k])
            start = k + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def hedge(pred: str, gold: str, *, lists: bool = True, denials: bool = False) -> str | None:
    """Why ``pred`` is not one answer for a single-valued gold, or None: alternatives ("1 or 2",
    "1 \\lor 2", "either …"), a list of different values ("1, 2"; a comma without a space may be a
    decimal or thousands separator: left to the comparison), or a denied value ("is not 3")."""
    if not is_single_value(gold):
        return None  # "x=1 or x=2", "21, 16 or 11": the gold itself lists values
    m = _HEDGE.search(pred)
    if m:
        return f"alternatives offered for one answer: {m.group(0).strip()!r}"
    denied = _denied_last(pred) if denials else None
    if denied:
        return f"the answer is denied, not stated: {denied!r}"
    if lists and (", " in pred or ";" in pred):
        parts = [p for p in _top_level_parts(pred) if p]
        if len(set(parts)) > 1:
            return f"{len(parts)} different answers listed for one: {', '.join(parts[:4])[:80]}"
    return None


# ---- the final answer of a long text -------------------------------------------------------------

_BOX_RUN_GAP = 70  # Math-Verify joins boxes up to about this far apart (with a separator)
_SENTENCE_END = re.compile(r"\.\s|\n|。|$")


def final_answer(text: str) -> tuple[str, str]:
    """(what a long text states as its final answer, where it was found): the last run of boxes
    (boxes closer than 70 characters, as Math-Verify joins them), else the sentence after the
    last "final answer", else after the last "answer", else the last 200 characters."""
    if "\\boxed" in text or "\\fbox" in text:
        start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
        run_start = start
        while True:  # walk back over boxes that are close to the run
            prev = max(text.rfind("\\boxed", 0, run_start), text.rfind("\\fbox", 0, run_start))
            if prev < 0 or run_start - prev > _BOX_RUN_GAP + 200:
                break
            closes = text.rfind("}", prev, run_start)
            if closes < 0 or run_start - closes > _BOX_RUN_GAP:
                break
            run_start = prev
        boxes = boxed_contents(text[run_start:])
        if boxes:
            return ", ".join(boxes), "boxed"
    low = text.lower()
    for anchor in ("final answer", "answer"):
        i = low.rfind(anchor)
        if i >= 0:
            segment = text[i + len(anchor) : i + len(anchor) + 300]
            end = _SENTENCE_END.search(segment, 1)
            return segment[: end.start() if end else len(segment)].strip(" :*"), "anchor"
    return text[-200:], "tail"
