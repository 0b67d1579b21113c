"""Per-sample routing: the row's ``verifier`` / ``reward`` / ``category`` fields -> a verifier name
or ``"judge"``. The tables are configuration (``routing.*``); nothing is guessed silently: a value
found in neither table is reported by name and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from ..rows import routing_key as key
from ..settings import thaw
from ..verifiers import normalize as norm
from ..verifiers.choice import parse_letters
from ..verifiers.iou import parse_boxes
from ..verifiers.number import read_number
from ..verifiers.yesno import read_polarity

if TYPE_CHECKING:
    from .config import RoutingConfig

JUDGE = "judge"
AUTO = "auto"
_MATHY = re.compile(r"\\[a-zA-Z]+|[\^_{}=]|√|π|\bsqrt\b|\bpi\b|\d\s*[a-z]\b|\b[a-z]\s*[+\-*/]\s*\d")
_LETTER = re.compile(r"^[\(\[]?[A-J][\)\]]?[.]?$")


def normalize_routing(routing: "RoutingConfig | Mapping[str, Any]") -> dict:
    """Routing tables (``RewardConfig.routing`` or its plain form) as the lookup ``route`` reads,
    keys normalised so ``multiple_choice`` (a Hydra-safe key) and ``Multiple Choice`` both match
    "multiple choice"."""
    out = thaw(routing)
    for table in ("reward", "category"):
        out[table] = {key(k): v for k, v in (out.get(table) or {}).items()}
    return out


@dataclass(frozen=True)
class Route:
    verifier: str  # a verifier name, or "judge"
    via: str  # how it was chosen: verifier | reward | category | auto | default | unmapped
    unmapped: str | None = None  # the unknown field value, when there was one


def infer_verifier(ground_truth: Any) -> str:
    """The verifier a ground truth's shape asks for (used by "auto")."""
    golds = norm.as_gold_list(ground_truth)
    if not golds:
        return "text"
    gold = norm.basic(golds[0])
    if _LETTER.match(gold) or (len(gold) <= 12 and parse_letters(gold)[1] in ("letter", "letter list") and gold.isupper()):
        return "choice"
    if len(gold) <= 20 and read_polarity(gold)[0] is not None and len(gold.split()) <= 2:
        return "yesno"
    if ("[" in gold or "bbox" in gold) and parse_boxes(gold):
        return "iou"
    num, _ = read_number(gold)
    if num is not None and not _MATHY.search(gold.replace(num.text, "")):
        stripped = gold.replace(num.text, "").strip(" .%$")
        if len(stripped.split()) <= 2:  # "3", "3 cm", "45%"
            return "number"
    if _MATHY.search(gold):
        return "math"
    return "text"


def route(sample: Mapping[str, Any], routing: Mapping[str, Any]) -> Route:
    explicit = sample.get("verifier")
    if explicit:
        name = str(explicit).strip()
        return Route(infer_verifier(sample.get("ground_truth")) if name == AUTO else name, "verifier")

    reward_value, category_value = sample.get("reward"), sample.get("category")
    unmapped: str | None = None
    by_reward = None
    if reward_value not in (None, ""):
        by_reward = routing["reward"].get(key(reward_value))
        if by_reward is None:
            unmapped = f"reward={reward_value}"
        elif by_reward != "category":
            return Route(infer_verifier(sample.get("ground_truth")) if by_reward == AUTO else by_reward, "reward")

    if category_value not in (None, ""):
        by_category = routing["category"].get(key(category_value))
        if by_category is not None:
            if by_category == JUDGE and by_reward == "category":
                # a rule-based row in a judged category: the rule decides, by the gold's shape
                return Route(infer_verifier(sample.get("ground_truth")), "category", unmapped)
            if by_category == AUTO:
                return Route(infer_verifier(sample.get("ground_truth")), "category", unmapped)
            return Route(by_category, "category", unmapped)
        unmapped = unmapped or f"category={category_value}"

    if unmapped is not None:
        policy = routing.get("on_unmapped", AUTO)
        if policy == AUTO:
            return Route(infer_verifier(sample.get("ground_truth")), "unmapped", unmapped)
        return Route(policy, "unmapped", unmapped)  # "error" is handled by the scorer

    default = routing.get("default", AUTO)
    return Route(infer_verifier(sample.get("ground_truth")) if default == AUTO else default, "default")
