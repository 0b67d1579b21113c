"""Faults through verl's real RewardLoopManager (Ray local mode, RewardLoopWorker actors): hostile
per-row budgets and verl's own cancellation of samples never make a row read another row's verdict,
and rows that cannot be scored say so (``error``) in verl's reward_extra_info."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("verl")

from wethink_verl.testing.verl_batch import compose_verl_config, last_token_scores, make_reward_batch, score_with_reward_loop  # noqa: E402
from wethink_verl.reward import EXTRA_INFO_KEYS  # noqa: E402

pytestmark = pytest.mark.slow

R = "<think>x</think><answer>{}</answer>"
FNS = str(Path(__file__).resolve().parent / "verl_fault_fns.py")


def _row(i, answer, gold, verifier, **kwargs):
    extra = {"verifier": verifier}
    if kwargs:
        extra["verifier_kwargs"] = kwargs
    return {"id": i, "response": R.format(answer), "ground_truth": gold, "extra_info": extra, "prompt": f"q{i}"}


@pytest.fixture(scope="module")
def tokenizer(qwen_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen_tokenizer_dir)


def _run(qwen_tokenizer_dir, tokenizer, rows, overrides):
    cfg = compose_verl_config([f"actor_rollout_ref.model.path={qwen_tokenizer_dir}", "reward.num_workers=1", *overrides])
    data = make_reward_batch(tokenizer, rows)
    out = score_with_reward_loop(cfg, data)
    return out, last_token_scores(out.batch["rm_scores"], data)


def test_hostile_row_budgets_never_corrupt_other_rows_in_verls_reward_loop(ray_local, qwen_tokenizer_dir, tokenizer):
    """One verifier worker, rows whose verifier_kwargs carry timeout nan / inf / 1e9 among rows with
    known labels: every labelled row gets its own verdict (old code: the previous row's reply)."""
    rows, want = [], {}
    for t in (math.nan, math.inf, 1e9):
        rows.append(_row(f"poison-math-{t}", "1", "\\sin^2 x+\\cos^2 x", "math", timeout=t))
        rows.append(_row(f"poison-user-{t}", "cat", "cat", "bounded_cases:echo_verifier", timeout=t, seconds=0.2))
        for j, (answer, gold, verifier, acc) in enumerate([
            ("\\sin x", "\\cos x", "math", 0.0), ("\\tan x", "\\sin x", "math", 0.0), ("1", "\\sin^2 x+\\cos^2 x", "math", 1.0),
            ("dog", "cat", "bounded_cases:echo_verifier", 0.0), ("cat", "cat", "bounded_cases:echo_verifier", 1.0),
        ]):  # fmt: skip
            rows.append(_row(f"{t}-{j}", answer, gold, verifier))
            want[f"{t}-{j}"] = acc
    out, _ = _run(qwen_tokenizer_dir, tokenizer, rows, ["reward.reward_manager.name=wethink", "+reward.reward_kwargs.bounded.workers=1"])
    assert out.meta_info["reward_extra_keys"] == list(EXTRA_INFO_KEYS)
    nt = out.non_tensor_batch
    got = {r["id"]: float(a) for r, a in zip(rows, nt["accuracy"])}
    assert {k: got[k] for k in want} == want
    for r, err in zip(rows, nt["error"]):
        if r["id"].startswith("poison") and "nan" in r["id"]:
            assert err == 1, r["id"]  # an invalid budget is an error, said so


def test_verls_own_cancellation_never_corrupts_later_rows(ray_local, qwen_tokenizer_dir, tokenizer):
    """verl's rate_limited manager wraps each sample in asyncio.wait_for(reward.timeout): slow rows
    are cancelled mid-call on the one verifier worker; every later row still reads its own reply."""
    rows, want = [_row("first", "cat", "cat", "bounded_cases:echo_verifier")], {"first": 1.0}
    for k in range(3):
        rows.append(_row(f"slow{k}", "cat", "cat", "bounded_cases:echo_verifier", seconds=60))
        for j, (answer, acc) in enumerate([("dog", 0.3), ("cat", 1.0), ("bird", 0.3)]):
            rows.append(_row(f"after{k}-{j}", answer, "cat", "bounded_cases:echo_verifier"))
            want[f"after{k}-{j}"] = acc
    overrides = [
        "reward.reward_manager.name=rate_limited", f"reward.custom_reward_function.path={FNS}",
        "reward.custom_reward_function.name=score_only", "+reward.timeout=5.0", "+reward.max_concurrent=1",
        "+reward.custom_reward_function.reward_kwargs.bounded.workers=1",
        "+reward.custom_reward_function.reward_kwargs.bounded.timeout_s=120",
    ]  # fmt: skip
    _, scores = _run(qwen_tokenizer_dir, tokenizer, rows, overrides)
    got = {r["id"]: round(s, 4) for r, s in zip(rows, scores)}
    assert all(got[f"slow{k}"] == 0.0 for k in range(3)), got  # cancelled by verl: its timeout score
    assert {k: got[k] for k in want} == want, got


@pytest.mark.parametrize("fn_name", ["compute_score", "compute_score_async"])
def test_rows_that_cannot_be_scored_are_flagged_in_verls_extra_info(ray_local, qwen_tokenizer_dir, tokenizer, fn_name):
    rows = [
        _row("ok", "B", "B", "choice"),
        _row("unknown", "B", "B", "no_such_verifier"),
        _row("bad_kwargs", "B", "B", "choice"),
        _row("bad_budget", "x^2", "\\sin x", "math", timeout=math.nan),
        _row("unimportable", "1", "1", "no_such_module:fn"),
    ]
    rows[2]["extra_info"]["verifier_kwargs"] = 7
    overrides = ["reward.reward_manager.name=naive", "reward.custom_reward_function.path=pkg://wethink_verl.integrations.verl",
                 f"reward.custom_reward_function.name={fn_name}"]  # fmt: skip
    out, scores = _run(qwen_tokenizer_dir, tokenizer, rows, overrides)
    nt = out.non_tensor_batch
    assert "error" in out.meta_info["reward_extra_keys"]
    flags = {r["id"]: int(e) for r, e in zip(rows, nt["error"])}
    assert flags == {"ok": 0, "unknown": 1, "bad_kwargs": 1, "bad_budget": 1, "unimportable": 1}
    assert scores[0] == 1.0 and all(s == 0.0 for s in scores[1:])
