"""Rate limits for an external judge (``judge.rate_limit``): requests and tokens per minute, token
estimates corrected from the reply's ``usage``, Retry-After pausing every request, the time spent
waiting reported per sample (``judge_wait_ms``) and in the judge's stats.

The endpoint is ScriptedJudgeServer enforcing a quota the way a hosted API does (token buckets;
429 with Retry-After beyond them; tokens charged as its reply's ``usage``): a real HTTP server on
127.0.0.1. Timing assertions are lower bounds (a limiter cannot be faster than its quota) or
generous upper bounds (it did not sleep a wait it refused), so a busy machine cannot fail them."""

from __future__ import annotations

import asyncio
import time

import pytest
from judge_clients import Judges  # the tests dir is on sys.path (conftest.py)

from wethink_verl.judge.limits import Bucket, RateLimiter, TokenEstimator, build_quota
from wethink_verl.reward import RewardScorer
from wethink_verl.testing.judge_servers import ScriptedJudgeServer

FAST = {"timeout_s": 5.0, "backoff_s": 0.01, "backoff_max_s": 0.05, "max_retries": 0, "parse_retries": 0, "cache_size": 0}


def items(n: int, tag: str) -> list[dict]:
    return [{"question": f"{tag} {i}: what is on the sofa?", "reference": "A grey tabby cat.", "answer": f"a cat, take {i}"} for i in range(n)]


@pytest.fixture
async def make_judge():
    judges = Judges()

    def make(url: str, rate_limit: dict | None = None, **cfg):
        rate = {"rate_limit": {"scope": "process", **rate_limit}} if rate_limit else {}
        return judges.build({"enable": True, "url": url, **FAST, **cfg, **rate})

    yield make
    await judges.aclose()


# ---- the buckets, on a simulated clock ----------------------------------------------------------
@pytest.mark.parametrize("per_minute, burst_s", [(60, 1.0), (600, 5.0), (2, 1.0), (90000, 1.0)])
def test_no_sixty_second_window_holds_more_than_the_limit(per_minute, burst_s):
    bucket = Bucket(per_minute, burst_s, unit=1.0)
    t0 = bucket.stamp
    sends = []
    for i in range(int(per_minute * 3)):  # everything asked for at once, then a trickle
        now = t0 + (0.0 if i < per_minute * 2 else (i - per_minute * 2) * 0.01)
        sends.append(now + bucket.take(1.0, now))
    sends.sort()
    j = 0
    for i, t in enumerate(sends):  # the largest number of sends in any window [t, t + 60)
        while sends[j] <= t - 60.0:
            j += 1
        assert i - j + 1 <= per_minute, (i - j + 1, per_minute)


def test_reservations_are_given_back_and_corrected():
    limiter = RateLimiter(requests_per_minute=None, tokens_per_minute=6000, burst_s=1.0)  # 100 tokens held
    assert limiter.reserve(100) == 0.0
    assert limiter.reserve(100) == pytest.approx(100 / (5900 / 60), rel=0.05)  # in debt: wait for the refill
    limiter.cancel(100)
    limiter.correct(-100)  # the first request used nothing after all
    assert limiter.reserve(50) == 0.0
    limiter.pause(0.5)
    assert 0.4 < limiter.reserve(1) <= 0.5


def test_token_estimates_learn_from_usage():
    est = TokenEstimator(chars_per_token=3.0, image_tokens=1000)
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:"}}, {"type": "text", "text": "x" * 4000}]}]
    e = est.estimate(messages, max_tokens=100)
    assert (e.chars, e.images) == (4000, 1) and e.total == pytest.approx(4000 / 3 + 1000 + 100)
    assert est.learn(e, {"prompt_tokens": 2000, "completion_tokens": 7}) == 2007  # text: 1000 tokens, 4 chars each
    assert 3.0 < est.chars_per_token < 4.0
    assert est.learn(e, None) is None and est.learn(e, {"prompt_tokens": "many"}) is None


def test_no_limits_means_no_quota():
    assert build_quota({"requests_per_minute": None, "tokens_per_minute": None}, "http://x") is None
    assert build_quota({"requests_per_minute": 60, "scope": "process"}, "http://x").scope == "process"


# ---- against a quota-enforcing scripted server --------------------------------------------------
async def test_scripted_quota_server_refuses_a_client_without_limits(make_judge):
    """The server enforces its quota: a burst from a client without judge.rate_limit gets 429s."""
    with ScriptedJudgeServer(quota_rpm=240, quota_burst_s=2.0) as srv:  # 8 at once, then 4 a second
        outs = await make_judge(srv.url).judge_many(items(16, "burst"))
    assert srv.by_behaviour["quota"] >= 6 and sum(o.kind == "rate_limited" for o in outs) >= 6


async def test_scripted_quota_server_rpm_limit_keeps_the_client_inside(make_judge):
    with ScriptedJudgeServer(quota_rpm=240, quota_burst_s=2.0) as srv:
        judge = make_judge(srv.url, {"requests_per_minute": 240})  # 4 at once, then 3.9 a second
        scorer = RewardScorer({"judge": {"enable": True}}, judge=judge)
        rows = [{"response": f"<think>x</think><answer>{it['answer']}</answer>", "ground_truth": it["reference"], "problem": it["question"],
                 "category": "descriptive"} for it in items(16, "rpm")]  # fmt: skip
        t0 = time.perf_counter()
        res = await scorer.ascore_many(rows)
        elapsed = time.perf_counter() - t0
    s = judge.stats_dict()
    assert srv.by_behaviour["quota"] == 0 and all(r["judge_used"] == 1 for r in res)
    assert elapsed >= 12 / 4.0 * 0.95  # 12 past the burst at under 4 a second
    assert s["limiter_waits"] >= 11 and s["limiter_wait_max_s"] >= 2.5 and s["limiter_refused"] == 0
    waits = sorted(r["judge_wait_ms"] for r in res)
    assert waits[:4] == [0.0] * 4 and waits[-1] >= 2500  # the time waited, per sample
    assert sum(waits) == pytest.approx(s["limiter_wait_s"] * 1000, rel=0.01, abs=5)


async def test_scripted_quota_server_tpm_limit_with_usage_correction(make_judge):
    with ScriptedJudgeServer(quota_tpm=60000, quota_burst_s=2.0) as srv:
        judge = make_judge(srv.url, {"tokens_per_minute": 60000}, max_tokens=16)
        outs = await judge.judge_many(items(12, "tpm"))
    s = judge.stats_dict()
    assert srv.by_behaviour["quota"] == 0 and all(not o.failed for o in outs)
    assert s["tokens_reported"] == srv.tokens_charged  # every reply's usage was booked
    assert s["tokens_estimated"] > s["tokens_reported"]  # 3 characters a token and max_tokens: cautious
    assert judge.estimator.chars_per_token > 3.3  # learning the server's 4
    assert s["limiter_waits"] >= 1


async def test_scripted_quota_server_retry_after_pauses_every_request(make_judge):
    # the client's own limits are far too loose: the server's 429 + Retry-After must hold everyone back
    with ScriptedJudgeServer(quota_rpm=120, quota_burst_s=0.0) as srv:  # one at a time, 2 a second
        judge = make_judge(srv.url, {"requests_per_minute": 100000}, max_retries=8, total_timeout_s=30)
        outs = await judge.judge_many(items(4, "pause"))
    s = judge.stats_dict()
    assert all(not o.failed for o in outs), [o.reason for o in outs]
    assert s["limiter_pauses"] >= 1 and s["errors_by_kind"].get("rate_limited", 0) == srv.by_behaviour["quota"] >= 1


async def test_a_wait_past_the_item_budget_is_refused_at_once_and_falls_back(make_judge):
    with ScriptedJudgeServer() as srv:
        judge = make_judge(srv.url, {"requests_per_minute": 6}, total_timeout_s=2.0)  # one, then one per 12 s
        scorer = RewardScorer({"judge": {"enable": True, "fallback": "text"}}, judge=judge)
        row = {"response": "<think>x</think><answer>A grey tabby cat.</answer>", "ground_truth": "A grey tabby cat.", "category": "descriptive"}
        first = await scorer.ascore(dict(row, problem="first"))
        t0 = time.perf_counter()
        second = await asyncio.wait_for(scorer.ascore(dict(row, problem="second")), 20)
        elapsed = time.perf_counter() - t0
        assert srv.requests == 1
    assert first["judge_used"] == 1
    assert (second["verifier"], second["judge_failed"], second["fallback_reason"]) == ("judge>text", 1, "judge rate_limited: text")
    assert second["accuracy"] == 1.0 and elapsed < 6  # the text fallback decided; it did not sleep 12 s first
    s = judge.stats_dict()
    assert s["limiter_refused"] == 1 and s["calls"] == 1 and s["failed_by_kind"] == {"rate_limited": 1}


def test_scripted_quota_server_score_cli_reports_waits_and_rescues(tmp_path):
    """`wethink-verl score` with a quota and rescue on: the judge lines say how long the limiter
    held requests back and what was rescued."""
    import json
    import subprocess
    import sys

    rows = [{"response": f"<think>x</think><answer>The canine number {i}.</answer>", "answer": "B", "category": "multiple choice",
             "problem": "Which animal?\nA. cat\nB. dog"} for i in range(8)]  # fmt: skip
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with ScriptedJudgeServer(quota_rpm=240, quota_burst_s=2.0) as srv:
        r = subprocess.run([sys.executable, "-m", "wethink_verl.cli", "score", "--input", str(src), "--output", str(tmp_path / "out.jsonl"),
                            "--quiet", "--judge-url", srv.url, "--set", "judge.rescue.policy=abstain",
                            "--set", "judge.rate_limit.requests_per_minute=240", "--set", "judge.rate_limit.scope=process"],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert srv.by_behaviour["quota"] == 0 and "judge rescue: no_answer: rescued 8" in r.stdout
    import re

    assert re.search(r"rate limit: [1-9]\d* requests waited [\d.]+ s in all", r.stdout)  # 8 requests, at most 4 at once
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert all(o["verifier"] == "choice>judge" and o["reason"].startswith("rescued (no_answer") for o in out)
