"""Rows for the verl tests, taken from the bundled example rollouts (every verifier, right and
wrong answers, bad formats, hacking attempts) with their intended labels."""

from __future__ import annotations

import json
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "rollouts.jsonl"


def example_rows(with_expectation_only: bool = False) -> list[dict]:
    """Every example but the malformed-input ones; with_expectation_only drops unlabelled rows
    (the descriptive one, whose score depends on the judge or its fallback)."""
    rows = []
    for line in EXAMPLES.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        expect = rec.get("expect") or {}
        if rec.get("note", "").startswith("bad:"):
            continue
        if with_expectation_only and expect.get("accuracy") is None:
            continue
        extra = {k: rec[k] for k in ("category", "reward", "problem", "verifier", "verifier_kwargs") if k in rec}
        if rec.get("answer") is None:
            extra.setdefault("verifier", "format")
        rows.append(
            {
                "id": rec["id"],
                "response": rec["response"],
                "ground_truth": rec.get("answer"),
                "extra_info": extra,
                "prompt": rec.get("problem") or "Describe the image.",
                "expect": expect,
            }
        )
    return rows


def expected(row: dict, accuracy_weight: float = 0.7, format_weight: float = 0.3) -> tuple[float, float, float]:
    """(accuracy, format, score): the label, or for unlabelled rows what the offline scorer says."""
    acc, fmt = row["expect"].get("accuracy"), row["expect"].get("format")
    if acc is None:
        from wethink_verl.rows import sample_from_row
        from wethink_verl.reward import RewardScorer

        res = RewardScorer({"accuracy_weight": accuracy_weight, "format_weight": format_weight}).score(
            sample_from_row(row["response"], row["ground_truth"], row["extra_info"])
        )
        acc, fmt = res["accuracy"], res["format"]
    return acc, fmt, accuracy_weight * acc + format_weight * fmt
