"""`wethink-verl demo` end to end (the main job `make demo` runs), and its failure path."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.timeout(660)  # ~1-4 min on a loaded 2-core box; the run itself is stopped at 600 s
def test_demo_runs_the_whole_reward_path(tmp_path):
    out_dir = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "wethink_verl.cli", "demo", "--output-dir", str(out_dir), "--rows", "9"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "[7/7]" in proc.stdout and "Mean per rollout kind and category" in proc.stdout
    assert proc.stdout.count("done in") == 7  # README: each stage prints how long it took
    report = json.loads((out_dir / "report.json").read_text())
    assert (out_dir / "reward_breakdown.png").stat().st_size > 10_000
    assert report["prepare"]["image_token_mismatches"] == 0
    samples = report["samples"]
    assert len(samples) == 9 * 5
    for s in samples:
        assert {"response", "verifier", "route", "status", "reason"} <= set(s) and s["reason"], s
        if s["kind"] == "malformed":  # no tags: no answer is read, nothing guessed
            assert s["score"] == 0.0 and s["format"] == 0.0 and s["status"] == "no_answer"
            continue
        if s["category"] == "descriptive":  # the demo grader answered through the Ray judge service
            assert s["verifier"] == "judge" and s["judge_used"] == 1 and s["reason"].startswith("judge: "), s
        if s["kind"].startswith("right"):
            assert s["score"] == pytest.approx(1.0), s
        if s["kind"] in ("wrong", "hack"):  # injection text included: the judge's verdict is 0
            assert s["accuracy"] == 0.0, s
    # the picture's headline is what happened, and report.json says the same with named fields
    assert report["injection_attempts"] == {"n": 9, "paid_accuracy": 0, "judged": 2, "paid_by_judge": 0}
    assert "The judge gave accuracy 0 to 2 of 2 injection attempts" in proc.stdout
    assert report["judge"]["engine"] == "demo-grader" and report["judge"]["service"]["items"] >= 9
    assert report["judge"]["fit"]["held_out"]["by_case"]["injection"] == 1.0
    rows = {(r["kind"], r["category"]): r for r in report["by_kind_and_category"]}
    assert len(rows) == 15 and rows[("hack", "descriptive")]["judge_used"] == 2
    # GRPO: advantages sum to ~0 within each prompt's group
    for uid in {s["uid"] for s in samples}:
        assert abs(sum(s["advantage"] for s in samples if s["uid"] == uid)) < 1e-3


@pytest.mark.timeout(300)
def test_demo_fails_clearly(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "wethink_verl.cli", "demo", "--output-dir", str(tmp_path / "d"), "--rows", "1", "--no-judge"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "ERROR: demo stage 'generate a WeThink-style multimodal dataset" in proc.stderr
    assert "needs every category" in proc.stderr
