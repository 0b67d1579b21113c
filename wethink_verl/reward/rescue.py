"""Judge rescue: the judge decides a rule-checked sample only where its rule verifier abstains.

Rule verifiers are precise but abstain on answers they cannot read ("The canine." for option
B, "one half" for ``\\frac{1}{2}``) and on golds they cannot parse. With ``judge.rescue.policy:
abstain`` (or per category / verifier) such a sample goes to the judge with the question, the
reference and the extracted answer, under the strict ``rescue`` template:

    >>> RescuePolicy({"policy": "abstain"}).of({"category": "multiple choice"}, "choice")
    'abstain'
    >>> screen("The canine.", 300) is None          # a short, substantive answer: rescued
    True
    >>> screen("I cannot tell from the image.", 300)
    'a refusal or an uncertain answer'

Which verdicts are rescued (``RESCUED_STATUSES``): ``no_answer`` on an extracted answer (the
verifier read nothing it can grade) and ``invalid_gold`` with a non-empty gold (the rule cannot
read the truth). Never: ``ok`` (right *or* wrong: a rule verdict stands), ``hedged`` (a verdict:
wrong), ``timeout`` (the candidate's text can cause it, as with the judge's own unparseable
replies: sending it to the judge would pay pathological answers with the judge's leniency),
``busy`` (a full worker pool is the machine's state, not the answer's: it stays visible as
``timed_out``), ``error`` (a bad option or a crash must stay an error), nor a response without
an extractable answer (there is no candidate to send).

Farming: a policy could write unreadable answers so that the judge decides. The rescue can
therefore never pay more than the judge would pay the same answer, and pays less: the judge sees
only the extracted answer (never the reasoning), the verdict pays 1.0 only at or above
``min_score`` (else 0: the rule's binary pay; format stays the rule's), and ``screen`` keeps out
the answers a lenient judge is known to pay wrongly: refusals and uncertainty, negations,
alternatives ("or", "either", "/"), tag or grader talk (injections), anything over
``max_answer_chars`` and anything without a letter or digit. ``benchmarks/bench_judge_rescue.py``
measures what is left with a judge that pays everything.
"""

from __future__ import annotations

from typing import Any, Mapping

import re2

from ..judge.config import RescueConfig
from ..judge.prompt import fold
from .router import key

OFF, ABSTAIN = "off", "abstain"
RESCUED_STATUSES = frozenset({"no_answer", "invalid_gold"})

# over folded text (NFKC, casefolded: confusable letters read as what they look like); RE2: linear time
_WORDS = lambda *ws: re2.compile(rf"(?:^|[^\pL\pN_])(?:{'|'.join(ws)})(?:$|[^\pL\pN_])")  # noqa: E731
SCREENS = (
    ("no letter or digit", None),
    ("a refusal or an uncertain answer", _WORDS(
        r"not sure", r"unsure", r"cannot", r"can ?not", r"can't", r"unable", r"impossible", r"unknown", r"unclear",
        r"no idea", r"don't know", r"do not know", r"not possible", r"n/?a", r"none of", r"undetermined",
        r"indeterminate", r"depends", r"maybe", r"perhaps", r"possibly", r"probably", r"might", r"guess",
        r"not (?:clear|visible|shown|given|enough)", r"insufficient", r"unanswerable", r"null", r"nil", r"nan", r"undefined",
        r"empty", r"blank", r"tbd", r"whatever", r"anything", r"everything", r"any of", r"all of", r"each of")),
    ("a negation", _WORDS(
        r"not", r"no", r"never", r"neither", r"nor", r"none", r"nothing", r"isn't", r"aren't", r"wasn't", r"doesn't",
        r"don't", r"won't", r"without", r"except", r"but", r"wrong", r"incorrect", r"false", r"excluding", r"other than")),
    ("alternatives", re2.compile(r"(?:^|[^\pL\pN_])(?:or|either|whether|and/or)(?:$|[^\pL\pN_])|\pL\s*/\s*\pL|或")),
    ("tag or grader talk", re2.compile(
        r"<\s*/?\s*[a-z|!]|\[\[|\{\{|(?:^|[^\pL\pN_])(?:score[sd]?|grade[sdr]?|grading|judge[sd]?|verdict|instructions?|ignore|"
        r"system|assistant|prompt|reference|ground.?truth|full marks|marks?|points|reward|accept(?:ed)?|as an ai)(?:$|[^\pL\pN_])")),
)  # fmt: skip
_HAS_WORD = re2.compile(r"[\pL\pN]")


class RescuePolicy:
    """``judge.rescue`` read once: the policy of a sample is its category's, else its verifier's,
    else ``policy``.

    >>> RescuePolicy({"policy": "off", "by_category": {"multiple_choice": "abstain"}}).of({"category": "Multiple Choice"}, "choice")
    'abstain'
    """

    def __init__(self, rescue_cfg: RescueConfig | Mapping[str, Any]):
        cfg = RescueConfig.from_mapping(rescue_cfg)
        self.default = cfg.policy
        self.by_category = {key(k): v for k, v in cfg.by_category.items()}
        self.by_verifier = dict(cfg.by_verifier)
        self.min_score = float(cfg.min_score)
        self.max_answer_chars = int(cfg.max_answer_chars)

    @property
    def anything(self) -> bool:
        """Whether any sample can be rescued at all."""
        return ABSTAIN in (self.default, *self.by_category.values(), *self.by_verifier.values())

    def of(self, sample: Mapping[str, Any], verifier: str) -> str:
        category = sample.get("category")
        if category not in (None, "") and key(category) in self.by_category:
            return self.by_category[key(category)]
        return self.by_verifier.get(verifier, self.default)

    def pays(self, judge_score: float) -> float:
        """What a rescued sample earns: the rule's binary pay, 1.0 only at or above ``min_score``."""
        return 1.0 if float(judge_score) >= self.min_score - 1e-9 else 0.0


def screen(answer: str, max_chars: int) -> str | None:
    """Why an extracted answer is not sent to the judge, or None (it may be rescued)."""
    if len(answer) > max_chars:
        return f"over {max_chars} characters"
    text = fold(answer).strip()
    for why, pattern in SCREENS:
        if pattern is None:
            if not _HAS_WORD.search(text):
                return why
        elif pattern.search(text):
            return why
    return None


def reference_text(gold: Any, verifier: str, options: Mapping[str, Any]) -> str:
    """The reference the judge sees: for an option letter whose text is known (the ``choices``
    option, or the options listed in the problem), "B. dog"."""
    text = "" if gold is None else str(gold).strip()
    if verifier != "choice":
        return text
    from ..verifiers.choice import _coerce_choices, parse_choices

    choices = _coerce_choices(options.get("choices")) if options.get("choices") else parse_choices(options.get("problem"))
    option = {str(k).upper(): v for k, v in (choices or {}).items()}.get(text.upper())
    return f"{text.upper()}. {option}" if option else text


def rescue_line(scorer_stats: Mapping[str, Any]) -> str:
    """The scorer's rescue counts in one line ("" when nothing was up for rescue)."""
    counts = scorer_stats.get("rescues") or {}
    return ("judge rescue: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))) if counts else ""
