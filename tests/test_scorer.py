"""RewardScorer: weights and their config keys, routing tables, fixed result keys, sync == async."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from wethink_verl.reward import DEFAULTS, EXTRA_INFO_KEYS, RESULT_KEYS, RewardScorer, build_config, extra_info, infer_verifier, route
from wethink_verl.reward.compose import TEXT_KEYS
from wethink_verl.reward.router import normalize_routing
from wethink_verl.verifiers import bounded

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "rollouts.jsonl"
GOOD = "<think>It hops.</think>\n<answer>B</answer>"
NO_FORMAT = "The answer is B."


def example_samples() -> list[dict]:
    out = []
    for line in EXAMPLES.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        sample = {k: rec.get(k) for k in ("response", "verifier", "category", "reward", "problem")}
        sample["ground_truth"] = rec.get("answer")
        if isinstance(rec.get("verifier_kwargs"), dict):
            sample["verifier_kwargs"] = rec["verifier_kwargs"]
        if sample["ground_truth"] is None and not sample["verifier"]:
            sample["verifier"] = "format"
        out.append(sample)
    return out


@pytest.fixture(scope="module")
def scorer():
    s = RewardScorer({})
    bounded.get_pool().warm_up()
    return s


# ---- weights -------------------------------------------------------------------------------------


def test_default_weights_are_wethinks():
    assert DEFAULTS["accuracy_weight"] == 0.7 and DEFAULTS["format_weight"] == 0.3


def test_overall_is_the_weighted_sum(scorer):
    assert scorer.score({"response": GOOD, "ground_truth": "B", "verifier": "choice"})["score"] == 1.0
    assert scorer.score({"response": "<think>x</think><answer>A</answer>", "ground_truth": "B", "verifier": "choice"})["score"] == 0.3
    r = scorer.score({"response": "<think>x</think> \\boxed{B}", "ground_truth": "B", "verifier": "choice"})
    assert (r["accuracy"], r["format"], r["score"]) == (1.0, 0.0, 0.7)
    assert scorer.score({"response": NO_FORMAT, "ground_truth": "B", "verifier": "choice"})["score"] == 0.0


def test_weights_are_options():
    s = RewardScorer({"accuracy_weight": 0.5, "format_weight": 0.5})
    r = s.score({"response": "<think>x</think><answer>A</answer>", "ground_truth": "B", "verifier": "choice"})
    assert r["score"] == 0.5
    s = RewardScorer({"accuracy_weight": 1.0, "format_weight": 0.0})
    assert s.score({"response": "<think>x</think><answer>A</answer>", "ground_truth": "B", "verifier": "choice"})["score"] == 0.0
    # dotted keys, as Hydra passes them
    assert build_config({"format_weight": 0.1, "judge.enable": False})["format_weight"] == 0.1


@pytest.mark.parametrize("bad", [{"accuracy_weight": -1}, {"accuracy_weight": 0, "format_weight": 0}, {"format_weight": "x"}])
def test_bad_weights_are_rejected(bad):
    with pytest.raises(ValueError):
        build_config(bad)


def test_require_format_for_accuracy():
    s = RewardScorer({"require_format_for_accuracy": True})
    r = s.score({"response": "<think>x</think> \\boxed{B}", "ground_truth": "B", "verifier": "choice"})
    assert r["score"] == 0.0
    assert s.score({"response": GOOD, "ground_truth": "B", "verifier": "choice"})["score"] == 1.0


def test_format_rule_none_and_answer_only():
    s = RewardScorer({"format_rule": "none"})
    r = s.score({"response": GOOD, "ground_truth": "B", "verifier": "choice"})
    assert r["format"] is None and r["score"] == 1.0
    s = RewardScorer({"answer_only": True})
    r = s.score({"response": "B", "ground_truth": "B", "verifier": "choice"})
    assert r["format"] is None and r["score"] == 1.0
    r = RewardScorer({}).score({"response": "(B)", "ground_truth": "B", "verifier": "choice", "answer_only": True})
    assert r["score"] == 1.0


def test_boxed_fallback_option():
    sample = {"response": "<think>x</think> so \\boxed{B}", "ground_truth": "B", "verifier": "choice"}
    assert RewardScorer({}).score(sample)["accuracy"] == 1.0
    r = RewardScorer({"boxed_fallback": False}).score(sample)
    assert r["accuracy"] == 0.0 and r["status"] == "no_answer"


def test_format_options_pass_through():
    s = RewardScorer({"format": {"think_prefilled": False}})
    assert s.score({"response": "x</think><answer>B</answer>", "ground_truth": "B", "verifier": "choice"})["format"] == 0.0
    assert RewardScorer({}).score({"response": "x</think><answer>B</answer>", "ground_truth": "B", "verifier": "choice"})["format"] == 1.0


def test_per_verifier_default_options():
    s = RewardScorer({"verifiers": {"number": {"rel_tol": 0.05}}})
    sample = {"response": "<think>x</think><answer>3.2</answer>", "ground_truth": "3.14159", "verifier": "number"}
    assert s.score(sample)["accuracy"] == 1.0
    assert RewardScorer({}).score(sample)["accuracy"] == 0.0
    # the sample's verifier_kwargs win over the config
    assert s.score(dict(sample, verifier_kwargs={"rel_tol": 1e-9}))["accuracy"] == 0.0


# ---- routing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("category", ["multiple choice", "Multiple Choice", "MULTIPLE_CHOICE", "multiple-choice", " Multiple  choice "])
@pytest.mark.parametrize("reward", ["rule-based", "Rule-Based", "RULE_BASED", "rule based", None])
def test_routing_tables_are_case_and_separator_insensitive(scorer, category, reward):
    sample = {"response": GOOD, "ground_truth": "B", "category": category}
    if reward:
        sample["reward"] = reward
    r = scorer.score(sample)
    assert r["verifier"] == "choice" and r["unmapped"] == 0 and r["score"] == 1.0, r


def test_user_tables_are_normalised_too():
    s = RewardScorer({"routing": {"category": {"My_Counting-Task": "number"}}})
    r = s.score({"response": "<think>x</think><answer>There are 3.</answer>", "ground_truth": "3", "category": "my counting task"})
    assert r["verifier"] == "number" and r["unmapped"] == 0


def test_explicit_verifier_wins_over_tables(scorer):
    r = scorer.score({"response": "<think>x</think><answer>Yes</answer>", "ground_truth": "yes", "category": "multiple choice", "verifier": "yesno"})
    assert r["verifier"] == "yesno" and r["accuracy"] == 1.0


def test_unmapped_values_are_counted_and_reported_by_name():
    s = RewardScorer({})
    for _ in range(3):
        r = s.score({"response": GOOD, "ground_truth": "B", "category": "Chart QA (new)"})
        assert r["unmapped"] == 1 and r["fallback"] == 1 and r["verifier"] == "choice"  # decided by the gold's shape
        assert "Chart QA (new)" in r["fallback_reason"]
    r = s.score({"response": GOOD, "ground_truth": "B", "reward": "mystery"})
    assert r["unmapped"] == 1
    stats = s.stats.as_dict()
    assert stats["unmapped_values"] == {"category=Chart QA (new)": 3, "reward=mystery": 1}


def test_on_unmapped_policies():
    r = RewardScorer({"routing": {"on_unmapped": "error"}}).score({"response": GOOD, "ground_truth": "B", "category": "zzz"})
    assert r["accuracy"] == 0.0 and r["error"] == 1 and "category=zzz" in r["reason"]
    r = RewardScorer({"routing": {"on_unmapped": "text"}}).score({"response": GOOD, "ground_truth": "B", "category": "zzz"})
    assert r["verifier"] == "text" and r["unmapped"] == 1


def test_model_based_rows_fall_back_without_a_judge(scorer):
    r = scorer.score({"response": "<think>x</think><answer>A dog runs.</answer>", "ground_truth": "A dog is running.", "category": "descriptive", "reward": "model-based"})
    assert r["verifier"] == "judge>text" and r["fallback"] == 1 and r["judge_used"] == 0


@pytest.mark.parametrize(
    "gold, verifier",
    [("B", "choice"), ("(C)", "choice"), ("AC", "choice"), ("yes", "yesno"), ("No", "yesno"), ("NO", "yesno"), ("YES", "yesno"),
     ("3", "number"), ("1,250 kg", "number"), ("45%", "number"), ("[10, 30, 110, 160]", "iou"),
     ('{"bbox_2d": [1, 2, 3, 4]}', "iou"), ("\\frac{1}{2}", "number"), ("\\sqrt{2}", "math"), ("x^2+1", "math"), ("cat", "text"), ("Stop sign", "text")],
)  # fmt: skip
def test_infer_verifier_by_the_golds_shape(gold, verifier):
    # regression: upper-case "NO"/"YES" were read as the letter list N, O and routed to choice
    assert infer_verifier(gold) == verifier


def test_route_reports_how(scorer):
    routing = normalize_routing(DEFAULTS["routing"])
    assert route({"verifier": "math"}, routing).via == "verifier"
    assert route({"category": "Math"}, routing).verifier == "math"
    assert route({"reward": "Model-Based"}, routing).verifier == "judge"
    assert route({"ground_truth": "B"}, routing).via == "default"


# ---- the result -----------------------------------------------------------------------------------


def test_result_keys_identical_for_every_sample(scorer):
    samples = example_samples() + [
        {"response": None, "ground_truth": "B"},
        {"response": 42},
        {"response": GOOD},
        {"response": GOOD, "ground_truth": "B", "verifier": "no_such"},
        {"response": GOOD, "ground_truth": "B", "category": "???"},
        {"response": GOOD, "ground_truth": "B", "verifier_kwargs": "not a dict", "verifier": "choice"},
        {"response": "<think>x</think><answer>\\boxed{9^{9^{9^{9}}}}</answer>", "ground_truth": "1", "verifier": "math"},
    ]
    keys = None
    for sample in samples:
        res = scorer.score(sample)
        assert set(RESULT_KEYS) <= set(res), sample
        info = extra_info(res)
        assert tuple(info) == EXTRA_INFO_KEYS, sample
        keys = keys or tuple(info)
        assert tuple(info) == keys
        for k, v in info.items():
            assert isinstance(v, str) if k in TEXT_KEYS else isinstance(v, (int, float)), (k, v)
        assert 0.0 <= res["score"] <= 1.0


def test_gold_with_answer_tags_is_unwrapped(scorer):
    assert scorer.score({"response": GOOD, "ground_truth": "<answer>B</answer>", "verifier": "choice"})["accuracy"] == 1.0
    assert scorer.score({"response": "<think>x</think><answer>3</answer>", "ground_truth": "\\boxed{3}"})["accuracy"] == 1.0


def test_sync_and_async_give_the_same_results(scorer):
    samples = example_samples()
    sync = [scorer.score(s) for s in samples]
    asyn = asyncio.run(scorer.ascore_many(samples, concurrency=8))
    strip = lambda r: {k: v for k, v in r.items() if k not in ("latency_ms", "cached")}  # noqa: E731
    assert [strip(r) for r in sync] == [strip(r) for r in asyn]


def test_rule_verifiers_do_not_touch_the_worker_pool(scorer):
    pool = bounded.get_pool()
    before = pool.stats.calls
    for sample in example_samples():
        if sample.get("verifier") != "math":
            scorer.score(sample)
    assert pool.stats.calls == before


def test_a_row_that_cannot_be_scored_gets_no_format_credit():
    """An unknown verifier or unusable verifier_kwargs is an error: score 0, the error said, format still reported."""
    scorer = RewardScorer()
    good_format = "<think>x</think><answer>B</answer>"
    for sample in ({"verifier": "no_such_verifier"}, {"verifier": "choice", "verifier_kwargs": 5}):
        res = scorer.score({"response": good_format, "ground_truth": "B", **sample})
        assert res["status"] == "error" and res["error"] == 1 and res["reason"] and res["score"] == 0.0 and res["format"] == 1.0


def test_text_keys_carry_category_route_status_and_reason(scorer):
    """The rollout dumps verl writes keep these strings; ``wethink-verl report`` reads them."""
    res = extra_info(scorer.score({"response": "<think>x</think><answer>B or C</answer>", "ground_truth": "B", "category": "multiple choice"}))
    assert (res["category"], res["route"], res["status"]) == ("multiple choice", "category", "hedged")
    assert res["reason"] and len(res["reason"]) <= 200
    err = extra_info(scorer.score({"response": 42, "category": "descriptive"}))
    assert (err["status"], err["route"]) == ("error", "") and "response must be a string" in err["reason"]
