"""``choice``: multiple-choice answers.

Reads option letters in every common spelling (``B``, ``(B)``, ``B.``, ``B) rabbit``, ``The answer
is B``, ``选B``) and, when the options are known, option text (``rabbit``, ``It is a rabbit.``;
``30 degrees`` for an option ``30°``, ``20 mm`` for ``2 cm``). A letter or option text that is
ruled out (``Not C``, ``Neither A nor D; it is C.``, ``That is certainly not a horse.``) is not
chosen. A hedged answer (``A or B``, ``The answer is A, but B is also possible.``, several letters
or several boxes - ``\\boxed{C}\\boxed{D}`` arrives as ``C, D`` - for a single-answer question)
scores 0: it is never resolved by guessing. A ground truth of several letters (``AC``) needs
exactly that set.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from . import normalize as norm
from .number import numbers_match, read_number
from .options import BOOL, VerifierOptions, option
from .registry import register
from .types import Verdict, hedged, invalid_gold, no_answer, right, wrong

_OPEN, _CLOSE = r"[\(\[\{<（【]", r"[\)\]\}>）】]"
_SINGLE = re.compile(rf"^{_OPEN}?\s*([A-Za-z])\s*{_CLOSE}?\s*[.:：、,。]?$")
_LEADING = re.compile(rf"^{_OPEN}?([A-Z])(?:\s*{_CLOSE}\s*[.:：、]?|\s*[.:：、])\s*\S")
_PHRASE = re.compile(
    rf"(?i:answer|option|choice|correct\s+(?:option|choice|answer))\s*(?i:is|:|：|=|would\s+be|should\s+be)?\s*"
    rf"(?i:option\s*)?{_OPEN}?\s*([A-Z])(?![A-Za-z])"
    rf"|(?:选|答案\s*(?:是|为|:|：)?)\s*{_OPEN}?\s*([A-Z])(?![A-Za-z])"
)
# one way only to read each gap ("\s*sep\s*" or at most one space): the old "\s*(?:sep)?\s*" let
# every space go to either side, 2^n ways to fail on "A or B A or B … A o" (minutes at 4000 chars);
# it only ever sees _MAX_LIST_CHARS
_LIST = re.compile(rf"^{_OPEN}?[A-Z]{_CLOSE}?(?:(?:\s*(?:,|、|/|&|;|\band\b|\bor\b|和|或)\s*|\s?){_OPEN}?[A-Z]{_CLOSE}?)+[.。]?$")
_MAX_LIST_CHARS = 80  # "(A), (B), (C), (D), (E), (F), (G), (H), (I) and (J)." fits
_LIST_LETTER = re.compile(r"[A-Z]")
# another option marker after a leading "A." / "(A)": "A. cat B. dog" copies the option list
_MARKER = re.compile(rf"(?:^|\s){_OPEN}([A-Z]){_CLOSE}(?=\s|$|[.:：、,])|(?:^|\s)([A-Z])(?:{_CLOSE}|[.:：、])(?=\s|$)")
_HEDGE_WORD = re.compile(r"\bor\b|/|或", re.IGNORECASE)
_TOKEN = re.compile(r"(?<![A-Za-z0-9])([A-Z])(?![A-Za-z0-9])")
_NEXT_WORD = re.compile(r"\s+([A-Za-z]+)")
_NEGATED = re.compile(
    r"(?:\bnot|n't|\bexcept|\brather than|\bother than|\binstead of|\banything but|\beverything but|\bneither|\bnor|\bnever)"
    r"\s*(?:option\s*)?[\(\[]?\s*$",
    re.IGNORECASE,
)
_NEGATION_WINDOW = 20
_NOT_APPLICABLE = re.compile(r"(?<![A-Za-z])N/A(?![A-Za-z])", re.IGNORECASE)  # "N/A" is no option A  # characters before a letter searched for _NEGATED
# "A and C are wrong", "B is incorrect": letters ruled out after they are named (bounded: run at
# every letter of "A, B, A, B, …")
_WRONG_AFTER = re.compile(
    r"(?:\s?(?:,|and|&)\s?[\(\[]?[A-J][\)\]]?){0,9}\s?(?:is|are|was|were|seems|seem)?\s?"
    r"(?:wrong|incorrect|false|not\s+(?:correct|right|it)|ruled\s+out|excluded|eliminated)\b",
    re.IGNORECASE,
)
# an answer phrase next to other letters and one of these words offers alternatives: a hedge
_ALTERNATIVE = re.compile(r"\b(?:or|also|maybe|perhaps|possibly|might|alternatively|either)\b", re.IGNORECASE)
# words that follow an option letter, never the article "a" or the pronoun "I"
_AFTER_OPTION = {
    "or", "and", "nor", "is", "was", "seems", "looks", "would", "should", "could", "might", "must",
    "will", "fits", "matches", "describes", "best", "because", "since", "then", "plus", "too",
    "though", "maybe", "perhaps", "possibly", "instead", "also", "either",
}  # fmt: skip
_PUNCT = str.maketrans("", "", string.punctuation + "，。：；、！？（）【】")

# "Options: A. cat B. dog", "(A) cat (B) dog", one option per line, "A: cat"
_OPTION_LINE = re.compile(r"[\(\[]?([A-J])[\)\]]?\s*[.:：、)]\s*(.+)")  # on one stripped line
_OPTION_INLINE = re.compile(r"\(([A-J])\)\s*([^()]+?)(?=\s*\([A-J]\)|$)", re.DOTALL)


@norm.memo()
def _text_key(text: str) -> str:
    return norm.basic(text).lower().translate(_PUNCT).strip()


def parse_choices(problem: str | None) -> dict[str, str]:
    """Option letter -> text, read from a question; {} unless the letters run A, B, C… in order."""
    if not problem:
        return {}
    return dict(_parse_choices(norm.cap(str(problem), 8000)))


@norm.memo(max_len=8000, maxsize=1024)
def _parse_choices(text: str) -> tuple[tuple[str, str], ...]:
    # one option per line: matched line by line on stripped lines (a MULTILINE "(.+?)\s*$" was
    # quadratic in trailing spaces)
    line_matches = (_OPTION_LINE.fullmatch(line.strip()) for line in text.splitlines())
    for matches in ([m for m in line_matches if m], _OPTION_INLINE.finditer(text)):
        found: dict[str, str] = {}
        for m in matches:
            letter, body = m.group(1), m.group(2).strip()
            if letter not in found and body:
                found[letter] = body
        letters = sorted(found)
        if len(letters) >= 2 and "".join(letters) == "ABCDEFGHIJ"[: len(letters)]:
            return tuple(found.items())
    return ()


def _coerce_choices(choices: Any) -> dict[str, str]:
    if not choices:
        return {}
    if isinstance(choices, Mapping):
        return {str(k).strip().strip("()").upper(): str(v) for k, v in choices.items()}
    if isinstance(choices, (list, tuple)):
        return {chr(ord("A") + i): str(v) for i, v in enumerate(choices)}
    if isinstance(choices, str):
        return parse_choices(choices)
    raise TypeError(f"choices must be a mapping, a list or question text, not {type(choices).__name__}")


def _match_option_numbers(text: str, choices: dict[str, str]) -> list[str]:
    """Options that are quantities ("30°", "2 cm") equal to the one the answer states."""
    pred, _ = read_number(text)
    if pred is None:
        return []
    hits = []
    for letter, body in choices.items():
        value, _ = read_number(body)
        if value is not None and numbers_match(pred, value, 1e-9, 1e-12, False, False):
            hits.append(letter)
    return hits


def _match_option_text(text: str, choices: dict[str, str]) -> tuple[list[str], str]:
    """Letters whose option text the answer states (not ruled out), and how they were read."""
    key = _text_key(text)
    if not key:
        return [], ""
    body_keys = {letter: _text_key(body) for letter, body in choices.items()}
    exact = [letter for letter, body_key in body_keys.items() if body_key == key]
    if exact:
        return exact, "option text"
    # the answer mentions option texts inside a short sentence ("It is a rabbit.", "not a horse")
    plain = norm.basic(text)
    padded = f" {key} "
    hits: list[str] = []
    # a sentence around an option text, not an essay: up to twice all option texts (VLMEvalKit's
    # bound) or three times this one, plus 40 characters
    total = 2 * sum(len(body_key) for body_key in body_keys.values())
    for letter, body_key in sorted(body_keys.items(), key=lambda kv: -len(kv[1])):
        if body_key and f" {body_key} " in padded and len(key) <= max(3 * len(body_key), total) + 40:
            padded = padded.replace(f" {body_key} ", " ")
            if not norm.ruled_out(plain, body_key, _text_key):
                hits.append(letter)
    if hits:
        return hits, "option text in answer"
    numbers = _match_option_numbers(plain, choices) if len(key) <= 80 else []
    return numbers, "option value" if numbers else ""


def _standalone_letters(t: str, valid: set[str]) -> set[str]:
    """Letters standing alone in t that are options, not articles, pronouns or ruled-out ones."""
    tokens = set()
    for m in _TOKEN.finditer(t):
        letter, after = m.group(1), t[m.end() : m.end() + 2]
        # "A cat", "I think": an article or a pronoun, not an option ("A or B", "A is right": options)
        if letter in "AI" and len(after) == 2 and after[0] == " " and after[1].isalpha():
            next_word = _NEXT_WORD.match(t, m.end())
            if not next_word or next_word.group(1).lower() not in _AFTER_OPTION:
                continue
        # "I'd", "I'm", "I've", "I'll"
        if letter == "I" and len(after) == 2 and after[0] in "'’" and after[1].isalpha():
            continue
        # "not C", "isn't A", "except B", "rather than D", "neither A nor D", "A and C are wrong":
        # ruled out, not chosen
        if _NEGATED.search(t[max(0, m.start() - _NEGATION_WINDOW) : m.start()]) or _WRONG_AFTER.match(t, m.end()):
            continue
        if letter in valid:
            tokens.add(letter)
    return tokens


def parse_letters(text: str, choices: dict[str, str] | None = None, *, option_text: bool = True) -> tuple[list[str], str]:
    """(sorted distinct letters, how they were read). [] means nothing was read.

    Several letters may be a hedge or a multi-answer; the caller decides with the gold.
    """
    t = norm.basic(text)
    if "/" in t:
        t = _NOT_APPLICABLE.sub(" ", t)
    t = t.strip().strip("\"'“”‘’")
    if not t:
        return [], ""
    valid = set(choices) if choices else set("ABCDEFGHIJ")
    m = _SINGLE.match(t)
    if m:
        return [m.group(1).upper()], "letter"
    if len(t) <= _MAX_LIST_CHARS and _LIST.match(t):
        letters = set(_LIST_LETTER.findall(t))  # "AC", "A, C", "(A)(C)", "A and C"
        if letters <= valid:
            return sorted(letters), "letter list"
    m = _LEADING.match(t)
    if m:
        others = {a or b for a, b in _MARKER.findall(t[m.end() - 1 :])} & valid
        return sorted({m.group(1)} | others), "leading letter" if not others - {m.group(1)} else "several option markers"
    phrase = {m.group(1) or m.group(2) for m in _PHRASE.finditer(t) if not _NEGATED.search(t[max(0, m.start() - _NEGATION_WINDOW) : m.start()])}
    if phrase:
        # "The answer is A, but B is also possible": the phrase offers alternatives
        others = _standalone_letters(t, valid) - phrase if _ALTERNATIVE.search(t) else set()
        return sorted(phrase | others), "answer phrase" if not others else "answer phrase with alternatives"
    if choices and option_text:
        letters, how = _match_option_text(t, choices)
        if letters:
            return sorted(set(letters)), how
    tokens = _standalone_letters(t, valid)
    return sorted(tokens), "standalone letter" if tokens else ""


@dataclass(frozen=True)
class ChoiceOptions(VerifierOptions):
    verifier: ClassVar[str] = "choice"
    data_keys: ClassVar[tuple[str, ...]] = ("choices", "problem")
    option_text: bool = option(True, BOOL, "read option text when the options are known")


@register("choice", options=ChoiceOptions)
def verify_choice(answer: str, ground_truth: Any, *, choices: Any = None, problem: str | None = None, **options: Any) -> Verdict:
    """Per row: ``choices`` ({"A": "cat", …}, a list, or question text); ``problem`` (options are
    parsed from it when ``choices`` is not given; the scorer passes the row's ``problem``).
    Options (``ChoiceOptions``): ``option_text`` (true: "rabbit" chooses the option "rabbit")."""
    opts = ChoiceOptions.of(options)
    choices_map = _coerce_choices(choices) or parse_choices(problem)
    golds = norm.as_gold_list(ground_truth)
    if not golds:
        return invalid_gold(ground_truth, "empty ground truth")
    if answer is None or not str(answer).strip():
        return no_answer()
    gold_letters, _ = parse_letters(golds[0], choices_map)
    if gold_letters and len(gold_letters) > 1 and _HEDGE_WORD.search(golds[0]):
        return invalid_gold(ground_truth, "ground truth is itself a hedge")
    pred_letters, how = parse_letters(str(answer), choices_map, option_text=opts.option_text)
    if not gold_letters:
        # the gold is option text that matches no known option: compare the texts
        key = _text_key(str(answer))
        if any(_text_key(g) == key for g in golds):
            return right(key, "option text matches ground truth")
        if pred_letters and choices_map:
            return wrong("".join(pred_letters), "letter, but ground truth matches no option")
        return wrong(key[:80] or None, "ground truth is not an option letter; texts differ")
    if not pred_letters:
        return no_answer("no option letter or option text found")
    extracted = "".join(pred_letters)
    if len(pred_letters) > 1 and (len(gold_letters) == 1 or _HEDGE_WORD.search(norm.basic(str(answer)))):
        return hedged(extracted, f"hedged between options {', '.join(pred_letters)}")
    if pred_letters == gold_letters:
        return right(extracted, f"{how} matches")
    return wrong(extracted, f"{how} {extracted} != {''.join(gold_letters)}")
