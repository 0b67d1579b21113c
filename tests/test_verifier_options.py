"""Verifier options: frozen dataclasses validated up front (config build) and per row (the row's
status is ``error``), with a message naming the option and its allowed range."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from wethink_verl.reward import RewardScorer
from wethink_verl.verifiers import get_verifier
from wethink_verl.verifiers.registry import validate_options, validate_verifier_config

CLI = str(Path(sys.executable).parent / "wethink-verl")
GOOD = "<think>x</think><answer>[10, 30, 110, 160]</answer>"

BAD = [
    ("iou", {"iou_threshold": -1}, "iou_threshold=-1", "null or a finite number in (0, 1]"),
    ("number", {"rel_tol": float("nan")}, "rel_tol=nan", "a finite number in [0, 1)"),
    ("number", {"rel_tol": 1e308}, "rel_tol=1e+308", "a finite number in [0, 1)"),
    ("text", {"threshold": 2}, "threshold=2", "a finite number in [0, 1]"),
    ("ocr", {"mode": "fuzzy"}, "mode='fuzzy'", "one of auto, exact, anls, similarity"),
    ("format", {"min_think_chars": -5}, "min_think_chars=-5", "an integer >= 0"),
    ("format", {"think_prefilled": "yes"}, "think_prefilled='yes'", "one of auto, true, false"),
    ("choice", {"option_text": 1}, "option_text=1", "one of true, false"),
]


@pytest.mark.parametrize("name, options, shown, allowed", BAD, ids=[f"{b[0]}-{next(iter(b[1]))}" for b in BAD])
def test_validate_options_names_the_option_and_its_range(name, options, shown, allowed):
    with pytest.raises(ValueError) as e:
        validate_options(name, options)
    assert shown in str(e.value) and f"allowed {allowed}" in str(e.value), e.value


def test_every_builtin_declares_frozen_options_and_accepts_its_defaults():
    for name in ("choice", "number", "text", "ocr", "yesno", "iou", "format"):
        spec = get_verifier(name)
        assert spec.options is not None, name
        opts = validate_options(name, {})
        assert dataclasses.is_dataclass(opts) and hash(opts) == hash(validate_options(name, {}))
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(opts, "x", 1)


def test_unknown_option_and_unknown_verifier():
    with pytest.raises(ValueError, match="number: unknown option 'rel_tolerance'; known options: rel_tol"):
        validate_options("number", {"rel_tolerance": 0.1})
    with pytest.raises(ValueError, match="unknown verifier 'nope'"):
        validate_options("nope", {})
    with pytest.raises(ValueError, match="must be a mapping"):
        validate_options("number", [("rel_tol", 0.1)])
    # data keys a verifier takes per row are accepted next to its options
    assert validate_options("iou", {"image_size": [640, 480], "iou_threshold": None}).iou_threshold is None


def test_a_verifier_without_declared_options_is_not_checked():
    assert validate_options("math", {"timeout": 1.0}) is None  # math declares none (yet): nothing to check


def test_bad_config_sections_fail_when_the_scorer_is_built():
    with pytest.raises(ValueError, match=r"verifiers\W+iou: iou option iou_threshold=-1 is not allowed: allowed null or a finite number in \(0, 1\]"):
        RewardScorer({"verifiers": {"iou": {"iou_threshold": -1}}})
    with pytest.raises(ValueError, match=r"format\W+(min_think_chars: )?.*min_think_chars"):
        RewardScorer({"format": {"min_think_chars": -1}})
    # options are checked against the verifier a name resolves to through aliases
    with pytest.raises(ValueError, match=r"verifiers\W+choice: number option rel_tol"):
        RewardScorer({"aliases": {"choice": "number"}, "verifiers": {"choice": {"rel_tol": 2}}})
    validate_verifier_config({"verifiers": {"number": {"rel_tol": 0.05}}, "format": {"think_prefilled": True}})


def test_bad_row_options_make_that_row_an_error_and_the_batch_goes_on():
    scorer = RewardScorer({})
    rows = [
        {"response": GOOD, "ground_truth": "[10, 30, 110, 160]", "verifier": "iou", "verifier_kwargs": {"iou_threshold": -1}},
        {"response": GOOD, "ground_truth": "[10, 30, 110, 160]", "verifier": "iou"},
    ]
    bad, good = (scorer.score(r) for r in rows)
    assert bad["status"] == "error" and bad["error"] == 1 and bad["accuracy"] == 0.0 and "iou_threshold=-1" in bad["reason"] and "(0, 1]" in bad["reason"]
    assert good["status"] == "ok" and good["accuracy"] == 1.0
    assert scorer.stats.as_dict()["errors"] >= 1


def test_through_the_score_cli(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"response": GOOD, "answer": "[10, 30, 110, 160]", "verifier": "iou", "verifier_kwargs": {"iou_threshold": -1}},
            {"response": GOOD, "answer": "[10, 30, 110, 160]", "verifier": "iou"}]  # fmt: skip
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = [CLI, "score", "--input", str(inp), "--output", str(out), "--quiet", "--workers", "1"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert "iou_threshold=-1" in res[0]["error"] and res[1]["accuracy"] == 1.0
    proc = subprocess.run(args + ["--set", "verifiers.number.rel_tol=.nan"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "rel_tol=nan is not allowed: allowed a finite number in [0, 1)" in proc.stderr
    assert "Traceback" not in proc.stderr
