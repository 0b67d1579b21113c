"""verl's real RewardLoopManager (Ray local mode, RewardLoopWorker actors) scoring a batch that
mixes every verifier, right and wrong answers, bad formats and hacking attempts."""

from __future__ import annotations

import pytest

pytest.importorskip("verl")

from verl_rows import example_rows, expected  # noqa: E402  (tests dir is on sys.path: conftest.py)

from wethink_verl.testing.verl_batch import (  # noqa: E402
    compose_verl_config,
    last_token_scores,
    make_reward_batch,
    score_with_reward_loop,
)
from wethink_verl.reward import EXTRA_INFO_KEYS  # noqa: E402

pytestmark = pytest.mark.slow


def _score(tokenizer_dir: str, overrides: list[str], data):
    cfg = compose_verl_config([f"actor_rollout_ref.model.path={tokenizer_dir}", "reward.num_workers=2", *overrides])
    return score_with_reward_loop(cfg, data)


@pytest.fixture(scope="module")
def tokenizer(qwen_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen_tokenizer_dir)


def _check(out, data, rows, accuracy_weight=0.7, format_weight=0.3):
    scores = last_token_scores(out.batch["rm_scores"], data)
    # only the last valid response token carries the reward
    assert float(out.batch["rm_scores"].abs().sum()) == pytest.approx(sum(abs(s) for s in scores), abs=1e-4)
    for row, got, acc, fmt in zip(rows, scores, out.non_tensor_batch["accuracy"], out.non_tensor_batch["format"]):
        want_acc, want_fmt, want_score = expected(row, accuracy_weight, format_weight)
        assert (acc, fmt) == pytest.approx((want_acc, want_fmt), abs=1e-3), row["id"]
        assert got == pytest.approx(want_score, abs=1e-3), row["id"]


# sympy expands this for far longer than the 2 s budget: the worker is killed inside verl's actor
RUNAWAY_ROW = {
    "id": "runaway", "response": "<think>expand</think><answer>(x+1)^{5000}</answer>", "ground_truth": "(x+2)^{5000}",
    "extra_info": {"verifier": "math"}, "prompt": "Expand.", "expect": {"accuracy": 0.0, "format": 1.0},
}  # fmt: skip


def test_wethink_manager_in_real_reward_loop(ray_local, qwen_tokenizer_dir, tokenizer):
    rows = example_rows() + [RUNAWAY_ROW]
    data = make_reward_batch(tokenizer, rows)
    out = _score(qwen_tokenizer_dir, ["reward.reward_manager.name=wethink"], data)
    assert out.meta_info["reward_extra_keys"] == list(EXTRA_INFO_KEYS)
    _check(out, data, rows)
    verifiers = set(out.non_tensor_batch["verifier"])
    assert {"choice", "number", "math", "text", "yesno", "iou", "format"} <= verifiers
    # the descriptive row is judge-routed; with the judge off it falls back, counted
    assert [v for v in verifiers if v.startswith("judge")] == ["judge>text"]
    assert sum(out.non_tensor_batch["fallback"]) >= 1
    # the power tower (pre-screened) and the runaway expansion (worker killed) ran into the bound
    # and say so, off the main thread, inside verl's RewardLoopWorker actors
    timed_out = dict(zip([r["id"] for r in rows], out.non_tensor_batch["timed_out"]))
    assert timed_out["runaway"] == 1 and timed_out["ex23"] == 1


def test_weights_and_verifier_swap_by_config_key(ray_local, qwen_tokenizer_dir, tokenizer):
    rows = [r for r in example_rows() if r["extra_info"].get("category") == "multiple choice"]
    data = make_reward_batch(tokenizer, rows)
    weights = ["+reward.reward_kwargs.accuracy_weight=0.5", "+reward.reward_kwargs.format_weight=0.5"]
    out = _score(qwen_tokenizer_dir, ["reward.reward_manager.name=wethink", *weights], data)
    _check(out, data, rows, 0.5, 0.5)
    # the routing table is config: send "multiple choice" rows to the text verifier
    swap = "+reward.reward_kwargs.routing.category.multiple_choice=text"
    out = _score(qwen_tokenizer_dir, ["reward.reward_manager.name=wethink", swap], data)
    assert set(out.non_tensor_batch["verifier"]) == {"text"}


@pytest.mark.parametrize("fn_name", ["compute_score", "compute_score_async"])
def test_compute_score_with_verls_naive_manager(ray_local, qwen_tokenizer_dir, tokenizer, fn_name):
    rows = example_rows()
    data = make_reward_batch(tokenizer, rows)
    overrides = [
        "reward.reward_manager.name=naive",
        "reward.custom_reward_function.path=pkg://wethink_verl.integrations.verl",
        f"reward.custom_reward_function.name={fn_name}",
    ]
    out = _score(qwen_tokenizer_dir, overrides, data)
    assert out.meta_info["reward_extra_keys"] == list(EXTRA_INFO_KEYS)
    _check(out, data, rows)


def test_compute_score_reward_kwargs_reach_the_scorer(ray_local, qwen_tokenizer_dir, tokenizer):
    rows = [r for r in example_rows() if r["extra_info"].get("category") == "multiple choice"]
    data = make_reward_batch(tokenizer, rows)
    overrides = [
        "reward.reward_manager.name=naive",
        "reward.custom_reward_function.path=pkg://wethink_verl.integrations.verl",
        "+reward.custom_reward_function.reward_kwargs.accuracy_weight=0.5",
        "+reward.custom_reward_function.reward_kwargs.format_weight=0.5",
    ]
    _check(_score(qwen_tokenizer_dir, overrides, data), data, rows, 0.5, 0.5)


def test_importlib_source_resolves_the_manager(ray_local, qwen_tokenizer_dir, tokenizer):
    rows = example_rows()[:6]
    data = make_reward_batch(tokenizer, rows)
    overrides = [
        "reward.reward_manager.source=importlib",
        "reward.reward_manager.module.path=pkg://wethink_verl.integrations.verl_manager",
        "reward.reward_manager.name=WeThinkRewardManager",
    ]
    _check(_score(qwen_tokenizer_dir, overrides, data), data, rows)
