"""The public VL regression corpus (tests/corpora/vl_benchmarks.jsonl, described in
tests/corpora/README.md): loading, one scorer sample per case, agreement per kind."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpora" / "vl_benchmarks.jsonl"
TOLERANCE = 0.02  # a partial-credit label (ANLS) agrees within this


def load_cases(path: Path = CORPUS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def response(case: dict) -> str:
    """The full response a policy would write around the case's answer (WeThink's format)."""
    return f"<think>Let me look at the image carefully.</think>\n<answer>{case['answer']}</answer>"


def sample(case: dict) -> dict:
    """A RewardScorer sample: the case's verifier, its options, the options' texts and image size."""
    kwargs = dict(case.get("options") or {})
    if case.get("choices"):
        kwargs["choices"] = case["choices"]
    if case.get("image_size"):
        kwargs["image_size"] = case["image_size"]
    out = {"response": response(case), "ground_truth": case["gold"], "verifier": case["kind"], "verifier_kwargs": kwargs}
    if case.get("question"):
        out["problem"] = case["question"]
    return out


def agrees(score: float, label: float) -> bool:
    return abs(float(score) - float(label)) <= TOLERANCE


def score_ours(cases: list[dict]) -> list[float]:
    from wethink_verl.reward import RewardScorer

    scorer = RewardScorer({})
    return [scorer.score(sample(c))["accuracy"] for c in cases]


def agreement_by_kind(cases: list[dict], scores: list[float]) -> dict[str, tuple[int, int]]:
    """kind -> (cases agreeing with the label, cases)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case, score in zip(cases, scores):
        out[case["kind"]][0] += agrees(score, case["label"])
        out[case["kind"]][1] += 1
    return {k: (a, n) for k, (a, n) in sorted(out.items())}
