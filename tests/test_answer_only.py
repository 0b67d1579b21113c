"""answer_only (the score CLI's --answer-only, config answer_only): the text is already the answer,
but an answer written only inside the reasoning is never credited."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wethink_verl.reward import RewardScorer
from wethink_verl.verifiers import answer_only

CLI = str(Path(sys.executable).parent / "wethink-verl")


@pytest.mark.parametrize(
    "text",
    ["<think>The answer is B.</think>", "<think>The answer is B.</think>   ", "<think>I pick B", "The horse is brown.</think>",
     "<think>x</think><answer></answer>", "<think>\\boxed{B}</think>"],
)  # fmt: skip
def test_an_answer_only_inside_the_reasoning_is_no_answer(text):
    e = answer_only(text)
    assert e.answer is None, e


@pytest.mark.parametrize(
    "text, answer",
    [("B", "B"), ("  \\boxed{42} ", "42"), ("<answer>7</answer>", "7"), ("<think>it hops</think> B", "B"),
     ("<think>it hops</think><answer>B</answer>", "B"), ("reasoning</think>\nB.", "B."), ("I think it is B.", "I think it is B.")],
)  # fmt: skip
def test_the_text_after_the_reasoning_is_the_answer(text, answer):
    e = answer_only(text)
    assert e.answer == answer and e.source == "answer_only", e


def test_answer_only_inside_think_scores_zero_through_the_scorer():
    scorer = RewardScorer({"answer_only": True})
    for response in ("<think>The answer is B.</think>", "<think>B"):
        r = scorer.score({"response": response, "ground_truth": "B", "verifier": "choice"})
        assert r["accuracy"] == 0.0 and r["status"] == "no_answer", r
    assert scorer.score({"response": "<think>hmm</think> B", "ground_truth": "B", "verifier": "choice"})["accuracy"] == 1.0


def test_answer_only_inside_think_scores_zero_through_the_score_cli(tmp_path):
    rows = [{"response": "<think>The answer is B.</think>", "answer": "B", "verifier": "choice"},
            {"response": "B", "answer": "B", "verifier": "choice"}]  # fmt: skip
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    proc = subprocess.run([CLI, "score", "--input", str(inp), "--output", str(out), "--answer-only", "--quiet", "--workers", "1"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = [json.loads(line)["accuracy"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert got == [0.0, 1.0]
