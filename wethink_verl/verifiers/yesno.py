"""``yesno``: yes/no and true/false answers, in several languages.

The first word decides ("Yes, the cup is red." -> yes; "Sure." -> yes); otherwise the single
polarity word the answer contains; otherwise a negative sentence means no ("That isn't the
case.", "Nobody is holding it.", "Not one bird is visible.") unless it states uncertainty ("Not
sure", "I cannot tell", "It is not clear": no answer). Idioms with "no" are not a "no" ("Yes, no
question about it."). Both polarities with an alternative ("yes or no", "yes/no", "Yes and no")
is a hedge: 0. Short affirmations ("It appears so.", "It does.") are yes, and so is an answer
that restates the row's question (``problem``) with every content word of it ("Is there a dog in
the image?" -> "There is a dog on the grass."). No options.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from . import normalize as norm
from .options import VerifierOptions
from .registry import register
from .types import Verdict, hedged, invalid_gold, no_answer, right, wrong

_YES_WORDS = {
    "yes", "y", "yeah", "yep", "yup", "true", "correct", "right", "affirmative", "indeed",
    "sure", "certainly", "absolutely", "definitely",
    "ja", "oui", "si", "sí", "sim", "da", "да", "evet", "vrai", "wahr", "richtig", "cierto", "verdadero", "vero",
}  # fmt: skip
_NO_WORDS = {
    "no", "n", "nope", "nah", "false", "incorrect", "wrong", "negative",
    "nein", "non", "não", "nao", "нет", "net", "hayır", "faux", "falsch", "falso",
}  # fmt: skip
# strong words count anywhere in the answer; the others only as its first word
_STRONG = {"yes", "no", "true", "false", "ja", "nein", "oui", "non", "sí", "sim", "não", "да", "нет"}
# CJK answers have no spaces: prefixes, negatives first ("不是" contains "是")
_CJK_PREFIXES = (
    ("不是", "no"), ("不对", "no"), ("不正确", "no"), ("错误", "no"), ("没有", "no"), ("否", "no"), ("错", "no"),
    ("不", "no"), ("いいえ", "no"), ("아니", "no"), ("是", "yes"), ("对", "yes"), ("正确", "yes"),
    ("有", "yes"), ("はい", "yes"), ("네", "yes"), ("예", "yes"),
)  # fmt: skip
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# answers that mean "no" without a no-word ("not sure" is not one of them)
_NO_PHRASES = ("not really", "not at all", "certainly not", "of course not", "absolutely not", "definitely not", "not quite")
_ALT = re.compile(r"\bor\b|/|或|还是|\boder\b|\bou\b|\bo\b", re.IGNORECASE)
# "no" in these is no answer: "Yes, no question about it.", "No doubt about it, yes."
_NO_IDIOMS = re.compile(r"\bno\s+(?:doubt|question|problem|wonder|matter|kidding|surprise)s?\b")
# a negative sentence answers no ("That isn't the case.") unless it states uncertainty
_NEGATION = re.compile(r"\b(?:not|never|nobody|nothing|none|neither|nor|cannot|nowhere|no\s+one)\b|n't\b")
_UNSURE = re.compile(
    r"\b(?:not\s+(?:sure|certain|clear|possible|enough|determinable|visible\s+enough)|unsure|uncertain|unclear|unknown|"
    r"impossible|hard\s+to|difficult\s+to|insufficient|ambiguous|"
    r"(?:can\s?not|can't|couldn't|could\s+not|unable\s+to)\s+(?:be\s+)?(?:tell|told|determine|determined|say|know|answer|confirm|decide)|"
    r"(?:don't|do\s+not|doesn't|does\s+not)\s+know)\b"
)
_NEGATED_NO = re.compile(r"\bnot\s+(?:no|false|incorrect|wrong)\b")
_INTENSIFIERS = {"definitely", "certainly", "absolutely", "surely", "sure", "clearly", "obviously", "indeed"}
_NEGATED_YES = re.compile(r"\b(?:not|isn't|isnt|is\s+not|'s\s+not)\s+(?:yes|true|correct|right|the\s+case)\b")
# "It appears so.", "I think so.", "It does.", "There is."
_AFFIRMATION = re.compile(
    r"\b(?:appears|seems|looks|think|believe|guess|suppose|hope)\s+so\b|"
    r"^(?:it|there|they|he|she|that|this|i)\s+(?:does|do|is|are|was|were|has|have|did|can|will|am)$"
)
_QUESTION_START = {"is", "are", "was", "were", "do", "does", "did", "can", "could", "has", "have", "had", "will",
                   "would", "should", "shall", "may", "might", "must", "according", "based", "in", "from", "looking"}  # fmt: skip
# words of a question that an affirmative answer need not repeat
_STOPWORDS = _QUESTION_START | {
    "there", "here", "this", "that", "these", "those", "the", "a", "an", "of", "on", "at", "to", "for", "with", "by",
    "and", "or", "any", "some", "it", "its", "image", "picture", "photo", "photograph", "figure", "chart", "graph",
    "shown", "show", "shows", "visible", "see", "you", "please", "answer", "yes", "no", "question", "single", "word",
    "phrase", "given", "provided", "following", "above", "below", "true", "false", "correct", "statement",
}  # fmt: skip
# one-letter words count only as the whole answer ("n/a" is not "no")
_SINGLE_LETTER = {"y", "n"}
# CJK hedges: "是不是" (yes-or-not), "是或否", "对/错", "有没有"
_CJK_HEDGE = re.compile(r"是不是|对不对|有没有|(?:是|对|正确|有).{0,2}(?:或|还是|/).{0,2}(?:否|不|错|没有)|(?:否|不|错|没有).{0,2}(?:或|还是|/).{0,2}(?:是|对|正确|有)")


def _restates(words: list[str], problem: str | None) -> bool:
    """The answer affirms the yes/no question: every content word of the question is in it
    ("Is there a dog in the image?" -> "A dog is sitting on the grass.")."""
    if not problem:
        return False
    q = _WORD.findall(norm.basic(str(problem))[:2000].lower())
    if not q or q[0] not in _QUESTION_START:
        return False
    content = {_stem(w) for w in q if w not in _STOPWORDS and len(w) > 1}
    return bool(content) and content <= {_stem(w) for w in words}


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def read_polarity(text: str, problem: str | None = None) -> tuple[str | None, str]:
    """("yes" | "no" | None, why). ``problem``: the question, for answers that restate it."""
    t = norm.basic(text).lower().strip(" \"'“”‘’*()[]")
    t = _NO_IDIOMS.sub(" ", t).strip(" ,.;:-")
    if not t:
        return None, "empty"
    if _CJK_HEDGE.search(t):
        return None, "hedged between yes and no"
    for prefix, polarity in _CJK_PREFIXES:
        if t.startswith(prefix):
            return polarity, f"starts with {prefix}"
    words = _WORD.findall(t)
    if not words:
        return None, "no words"
    if " ".join(words[:3]).startswith(_NO_PHRASES):
        return "no", "negative phrase"
    if len(words) > 1 and words[0] in _INTENSIFIERS and words[1] in _NO_WORDS:
        return "no", f"first word {words[1]!r}"  # "Definitely no."
    first = "yes" if words[:2] == ["of", "course"] else words[0]
    if first in _SINGLE_LETTER and len(words) > 1:
        first = ""
    if _NEGATED_YES.search(t):  # "Not yes.", "It is not correct."
        return "no", "negated yes word"
    if _NEGATED_NO.search(t):  # "Not no.": no answer either way
        return None, "negated no word"

    strong = {("yes" if w in _YES_WORDS else "no") for w in words if w in _STRONG}
    if len(strong) == 2 and _ALT.search(t):
        return None, "hedged between yes and no"
    # "Yes and no", "yes, no", "No. Yes." : both answers up front
    lead = [("yes" if w in _YES_WORDS else "no") for w in words[:3] if w in _STRONG]
    if len(set(lead)) == 2:
        return None, "hedged between yes and no"
    if first in _YES_WORDS:
        return "yes", f"first word {first!r}"
    if first in _NO_WORDS:
        return "no", f"first word {first!r}"
    if len(strong) == 1:
        return strong.pop(), "polarity word in answer"
    if len(strong) == 2:
        return None, "both yes and no"
    if _UNSURE.search(t):
        return None, "states uncertainty"
    if _NEGATION.search(t):
        return "no", "negative sentence"
    if _AFFIRMATION.search(t):
        return "yes", "short affirmation"
    if _restates(words, problem):
        return "yes", "restates the question affirmatively"
    return None, "no yes/no word found"


@dataclass(frozen=True)
class YesNoOptions(VerifierOptions):
    verifier: ClassVar[str] = "yesno"
    data_keys: ClassVar[tuple[str, ...]] = ("problem",)


@register("yesno", options=YesNoOptions)
def verify_yesno(answer: str, ground_truth: Any, *, problem: str | None = None, **options: Any) -> Verdict:
    """Per row: ``problem`` (the question; an answer that restates it affirmatively is yes; the
    scorer passes the row's ``problem``). No options (any is an error)."""
    YesNoOptions.of(options)
    golds = norm.as_gold_list(ground_truth)
    gold = read_polarity(golds[0])[0] if golds else None
    if gold is None:
        return invalid_gold(ground_truth, "ground truth is not yes/no")
    if answer is None or not str(answer).strip():
        return no_answer()
    pred, why = read_polarity(str(answer), problem)
    if pred is None:
        return hedged(None, why) if "hedged" in why or "both" in why else no_answer(why)
    return right(pred, f"{pred} ({why})") if pred == gold else wrong(pred, f"{pred} != {gold}")
