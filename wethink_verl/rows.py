"""The row contract: what a WeThink record, a verl row, an EasyR1 row and a scorer sample are, and
how one becomes the next. Every other module takes these names from here.

    WeThink record (RECORD_FIELDS)
        --prepare (data/)-->  verl row: prompt, images, reward_model {style, ground_truth},
                              extra_info (VERL_EXTRA_INFO_FIELDS)
                          |   EasyR1 row: problem, images, answer = pack_ground_truth(…)
    verl's (solution_str, ground_truth, extra_info) or EasyR1's (response, packed ground_truth)
        --sample_from_row-->  scorer sample (SAMPLE_FIELDS)
    a ``wethink-verl score`` input line
        --sample_from_score_line-->  scorer sample

WeThink's system prompt and the default routing tables a row's ``category`` / ``reward`` are
looked up in live here (the reward config's ``routing.*`` defaults); ``routing_key`` is how a
value is matched there and ``routing_values`` what ``prepare`` checks rows against. Nothing here imports a verifier, the
scorer or a third-party package: ``prepare``, its worker processes and the dataset class read this
module without the reward stack.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

# WeThink's system prompt (exact; the two sentences joined by one newline).
WETHINK_SYSTEM_PROMPT = (
    "You FIRST think about the reasoning process as an internal monologue and then provide the final answer.\n"
    "The reasoning process MUST BE enclosed within <think> </think> tags. "
    "The final answer MUST BE enclosed within <answer> </answer> tags."
)

# The default routing tables (the reward config's ``routing.reward`` / ``routing.category``).
# A row's ``reward`` field: "category" means "let the category decide".
REWARD_ROUTES: dict[str, str] = {
    "rule": "category", "rule based": "category", "rule-based": "category", "rule_based": "category",
    "model": "judge", "model based": "judge", "model-based": "judge", "model_based": "judge",
    "llm": "judge", "judge": "judge", "llm judge": "judge", "reward model": "judge",
}  # fmt: skip
# A row's ``category`` field (matched by ``routing_key``: case-insensitively, -, _ and spaces alike).
CATEGORY_ROUTES: dict[str, str] = {
    "multiple choice": "choice", "multi choice": "choice", "mcq": "choice", "choice": "choice",
    "single choice": "choice", "multiple select": "choice",
    "fill in the blank": "auto", "fill in blank": "auto", "blank": "auto", "free form": "auto",
    "short answer": "auto", "open": "auto",
    "descriptive": "judge", "description": "judge", "open ended": "judge", "caption": "judge",
    "math": "math", "numerical": "number", "numeric": "number", "counting": "number", "count": "number",
    "ocr": "ocr", "text": "text", "yes no": "yesno", "yesno": "yesno", "true false": "yesno",
    "judgment": "yesno", "grounding": "iou", "detection": "iou", "bbox": "iou",
}  # fmt: skip

__all__ = [
    "CATEGORY_ROUTES",
    "PACKED_FIELDS",
    "PACKED_MARKER",
    "RECORD_FIELDS",
    "REWARD_ROUTES",
    "SAMPLE_FIELDS",
    "SAMPLE_ROUTING_FIELDS",
    "STYLE_MODEL",
    "STYLE_RULE",
    "VERL_EXTRA_INFO_FIELDS",
    "WETHINK_SYSTEM_PROMPT",
    "RoutingValues",
    "pack_ground_truth",
    "read_verifier_kwargs",
    "routing_key",
    "routing_values",
    "sample_from_row",
    "sample_from_score_line",
    "unpack_ground_truth",
]

# ---- the WeThink record (one JSON object per line of the release) ---------------------------------
RECORD_FIELDS = ("problem", "answer", "category", "abilities", "refined_cot", "image_path", "reward")

# ---- the verl row (``prepare --format verl``, ``WeThinkDataset``) -----------------------------------
# what ``extra_info`` carries: the reward routes by reward/category, the judge reads problem/image_path
VERL_EXTRA_INFO_FIELDS = ("reward", "category", "abilities", "problem", "image_path", "image_size", "index", "split")
# verl's reward_model.style for rows the rule verifiers score vs the judge
STYLE_RULE, STYLE_MODEL = "rule", "model"

# ---- the scorer sample (``RewardScorer.score``) ------------------------------------------------------
SAMPLE_FIELDS = (
    "response", "ground_truth", "verifier", "verifier_kwargs", "category", "reward", "problem",
    "image", "image_size", "data_source", "answer_only",
)  # fmt: skip
# what a sample takes from a verl row's extra_info (or an EasyR1 packed answer) when present
SAMPLE_ROUTING_FIELDS = ("verifier", "verifier_kwargs", "category", "reward", "problem", "image_size")


# ---- routing values ----------------------------------------------------------------------------
_ROUTING_SEP = re.compile(r"[\s_\-/]+")


def routing_key(value: Any) -> str:
    """How a category / reward value is matched in the routing tables: lower case, spaces, ``-``,
    ``_`` and ``/`` alike (``Multiple_Choice`` and ``multiple choice`` are one key)."""
    return _ROUTING_SEP.sub(" ", str(value).strip().lower()).strip()


@dataclass(frozen=True)
class RoutingValues:
    """The category and reward values a routing config maps, as routing keys."""

    categories: frozenset[str]
    rewards: frozenset[str]
    judged_rewards: frozenset[str]  # reward values routed to the judge (verl style "model")


def routing_values(routing: Mapping[str, Any] | None = None) -> RoutingValues:
    """The values ``routing`` (default: the reward defaults' tables) maps."""
    routing = routing or {"reward": REWARD_ROUTES, "category": CATEGORY_ROUTES}
    rewards = routing.get("reward", {})
    return RoutingValues(
        categories=frozenset(routing_key(k) for k in routing.get("category", {})),
        rewards=frozenset(routing_key(k) for k in rewards),
        judged_rewards=frozenset(routing_key(k) for k, v in rewards.items() if v == "judge"),
    )


# ---- the packed ground truth (EasyR1's answer column) -----------------------------------------------
# EasyR1 hands its reward function only ``response``, ``response_length`` and ``ground_truth`` (the
# ``answer`` column). To route per sample (and give the judge the question), ``prepare --format
# easyr1`` writes the answer column as a JSON object marked ``"wethink": 1``::
#
#     {"wethink": 1, "answer": "B", "category": "multiple choice", "reward": "rule-based",
#      "problem": "…", "image_path": "…", "verifier": null, "verifier_kwargs": {}}
#
# A plain answer string (any other dataset) still works: it unpacks to ``{"answer": s}``.
PACKED_MARKER = "wethink"
PACKED_FIELDS = ("answer", "category", "reward", "problem", "image_path", "verifier", "verifier_kwargs")


def pack_ground_truth(answer: str, **fields: Any) -> str:
    """The JSON text of a packed answer; fields that are None or ``{}`` are left out.

    >>> pack_ground_truth("B", category="multiple choice", problem=None)
    '{"wethink": 1, "answer": "B", "category": "multiple choice"}'
    """
    unknown = set(fields) - set(PACKED_FIELDS)
    if unknown:
        raise ValueError(f"cannot pack unknown fields {sorted(unknown)}; known: {PACKED_FIELDS}")
    record = {PACKED_MARKER: 1, "answer": answer}
    record.update({k: v for k, v in fields.items() if v is not None and v != {}})
    return json.dumps(record, ensure_ascii=False)


def unpack_ground_truth(value: Any) -> dict:
    """{"answer": …, and any routing fields}; never raises. A mapping (the packed object as a
    JSONL reader hands it over: EasyR1 loads an ``answer`` object as a dict) unpacks like its JSON
    text; a mapping without an ``answer`` key is itself the answer.

    >>> unpack_ground_truth('{"wethink": 1, "answer": "B", "category": "mcq"}')
    {'answer': 'B', 'category': 'mcq'}
    >>> unpack_ground_truth("42")
    {'answer': '42'}
    """
    if isinstance(value, Mapping):
        record = {str(k): v for k, v in value.items()}
        record.pop(PACKED_MARKER, None)
        return record if "answer" in record else {"answer": dict(value)}
    text = "" if value is None else str(value)
    if text.startswith("{") and f'"{PACKED_MARKER}"' in text:
        try:
            record = json.loads(text)
        except ValueError:
            return {"answer": text}
        if isinstance(record, dict) and record.get(PACKED_MARKER) == 1:
            record.pop(PACKED_MARKER)
            return record
    return {"answer": text}


# ---- rows -> scorer samples ----------------------------------------------------------------------
def read_verifier_kwargs(value: Any) -> dict:
    """A row's ``verifier_kwargs`` as a dict: empty -> {}, a mapping (verl may hand a DictConfig or
    a numpy-backed mapping) -> a dict, JSON object text (parquet may store it so) -> parsed.
    Raises ValueError for anything else; the scorer reports it as that row's error.

    >>> read_verifier_kwargs('{"rel_tol": 0.01}')
    {'rel_tol': 0.01}
    """
    if not value:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    elif not isinstance(value, str) and hasattr(value, "items"):
        return dict(value.items())
    raise ValueError(f"'verifier_kwargs' must be an object, not {type(value).__name__}")


def sample_from_row(
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None,
    data_source: str | None = None,
    image: Any = None,
) -> dict:
    """A scorer sample from verl's (solution_str, ground_truth, extra_info) or EasyR1's packed answer.

    >>> sample_from_row("<answer>B</answer>", "B", {"category": "multiple choice"}, "wethink")["category"]
    'multiple choice'
    """
    extra = dict(extra_info or {})
    packed = unpack_ground_truth(ground_truth) if isinstance(ground_truth, (str, Mapping)) else {"answer": ground_truth}
    sample = {
        "response": solution_str,
        "ground_truth": packed.get("answer"),
        "data_source": data_source,
        "image": image,
    }
    for field in SAMPLE_ROUTING_FIELDS:
        value = extra.get(field, packed.get(field))
        if value is not None:
            sample[field] = value
    if sample.get("problem") is None and extra.get("question"):
        sample["problem"] = extra["question"]  # verl's own preprocess scripts call it "question"
    if sample["image"] is None:
        sample["image"] = extra.get("image_path") or packed.get("image_path")
    if sample.get("verifier_kwargs") is not None:
        try:
            sample["verifier_kwargs"] = read_verifier_kwargs(sample["verifier_kwargs"])
        except ValueError:
            pass  # left as it came: the scorer scores the row 0 and says why
    return sample


# the ``score`` input line: ``answer`` (or ``ground_truth``) is the gold; these fields are passed on
SCORE_LINE_FIELDS = ("response", "verifier", "category", "reward", "problem", "image", "image_size")
GROUND_TRUTH_FIELDS = ("answer", "ground_truth")
# what a ground-truth field is often called elsewhere: named in the warning when a line has one
GROUND_TRUTH_LOOKALIKES = ("gt", "solution", "answers", "label", "labels", "target", "gold", "reference",
                           "expected", "correct_answer", "ground truth", "groundtruth", "gt_answer")  # fmt: skip


def sample_from_score_line(record: Any, answer_only: bool = False) -> tuple[dict, str | None]:
    """(the scorer's sample, a warning or None) for one ``wethink-verl score`` input line; raises
    ValueError for a line that cannot be scored. A line without a gold is a format-only check.

    >>> sample_from_score_line({"response": "<answer>B</answer>", "answer": "B"})[0]["ground_truth"]
    'B'
    """
    if not isinstance(record, dict):
        raise ValueError(f"line is a JSON {type(record).__name__}, not an object")
    if "response" not in record:
        raise ValueError("missing required field 'response'")
    if not isinstance(record["response"], str):
        raise ValueError(f"'response' must be a string, not {type(record['response']).__name__}")
    sample = {k: record.get(k) for k in SCORE_LINE_FIELDS}
    sample["ground_truth"] = record.get("answer", record.get("ground_truth"))
    sample["verifier_kwargs"] = read_verifier_kwargs(record.get("verifier_kwargs"))
    if answer_only:
        sample["answer_only"] = True
    warning = None
    if sample["ground_truth"] is None and not sample.get("verifier"):
        sample["verifier"] = "format"  # no ground truth: a format-only check
        warning = _missing_answer_warning(record)
    return sample, warning


def _missing_answer_warning(record: dict) -> str:
    others = [k for k in record if k in GROUND_TRUTH_LOOKALIKES or difflib.get_close_matches(k, GROUND_TRUTH_FIELDS, n=1, cutoff=0.75)]
    has = f"; it has {', '.join(repr(k) for k in others)}: did you mean 'answer'?" if others else ""
    why = "is null" if any(k in record for k in GROUND_TRUTH_FIELDS) else "field"
    return f"no 'answer' {why}: scored as a format-only check{has}"
