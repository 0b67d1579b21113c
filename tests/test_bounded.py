"""The hard bound: warm worker processes killed and replaced on overrun.

Every pathological case returns within the budget (+ slack for a shared machine) with a reason,
and the SAME cases give the SAME scores from the main thread, another thread, an asyncio task,
loop.run_in_executor (verl's reward loop) and Ray actors (sync, threaded and async methods), the
contexts in which math-verify's own signal.alarm timeouts fail. A killed worker never leaks a slot
or a process; a memory blow-up is a counted status, not a crash.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

import bounded_cases
from wethink_verl.reward import RESULT_KEYS, RewardScorer
from wethink_verl.verifiers import bounded
from wethink_verl.verifiers.bounded import WorkerPool

BUDGET_S = 2.0
SLACK_S = 1.5  # a shared 2-core machine: the point is "bounded", not "fast"
SLEEP = "wethink_verl.verifiers._symbolic:sleep_for"
ALLOC = "wethink_verl.verifiers._symbolic:allocate_mb"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def small_pool():
    pool = WorkerPool(size=2, timeout=BUDGET_S, memory_limit_mb=1024)
    pool.warm_up()
    yield pool
    pids = pool.alive_workers()
    pool.close()
    assert all(bounded_cases.process_gone(p) for p in pids)


# ---- the pool itself ---------------------------------------------------------------------------


def test_pool_runs_calls_in_warm_workers(small_pool):
    assert len(small_pool.alive_workers()) == 2
    out = small_pool.call("wethink_verl.verifiers._symbolic:math_equal", "(x+1)^2", "x^2+2x+1")
    assert out.ok and out.value[0] == "match"
    assert small_pool.call(SLEEP, 0.01).value == "slept"


def test_overrun_kills_and_replaces_the_worker(small_pool):
    before = set(small_pool.alive_workers())
    t = time.monotonic()
    out = small_pool.call(SLEEP, 60, timeout=0.5)
    elapsed = time.monotonic() - t
    assert out.status == "timeout" and "killed" in out.detail
    assert elapsed < 0.5 + SLACK_S
    small_pool.warm_up()  # the replacement starts in the background
    after = set(small_pool.alive_workers())
    assert len(after) == 2, "the pool is back to its size"
    killed = before - after
    assert len(killed) == 1 and all(bounded_cases.process_gone(p) for p in killed), "the overrunning worker is gone"
    assert small_pool.stats.timeouts == 1 and small_pool.stats.restarts == 1
    assert small_pool.call(SLEEP, 0.01).ok, "the replacement serves the next call"


def test_many_overruns_leak_no_slot_and_no_process(small_pool):
    me = psutil.Process()
    seen: set[int] = set(small_pool.alive_workers())
    for _ in range(6):
        assert small_pool.call(SLEEP, 60, timeout=0.2).status == "timeout"
        seen |= set(small_pool.alive_workers())
    small_pool.warm_up()
    alive = set(small_pool.alive_workers())
    seen |= alive
    assert len(alive) == 2 and len(small_pool._idle) == 2, "no slot leaked"
    assert all(bounded_cases.process_gone(p) for p in seen - alive), "every killed worker is gone"
    # no stray worker anywhere below this process (the forkserver forks them)
    workers_below = {p.pid for p in me.children(recursive=True) if p.pid in seen and p.status() != psutil.STATUS_ZOMBIE}
    assert workers_below == alive
    assert small_pool.stats.timeouts == 6 and small_pool.stats.restarts == 6


def test_concurrent_callers_with_overruns(small_pool):
    """8 threads, half of them overrunning: everything returns, the pool ends whole."""

    def job(i):
        return small_pool.call(SLEEP, 60 if i % 2 else 0.05, timeout=0.5).status

    t = time.monotonic()
    with ThreadPoolExecutor(8) as ex:
        statuses = list(ex.map(job, range(8)))
    elapsed = time.monotonic() - t
    assert sorted(statuses) == ["ok"] * 4 + ["timeout"] * 4
    # 2 workers: at most 4 waves of 0.5 s (+ the replacements' start)
    assert elapsed < 4 * 0.5 + 2 * SLACK_S
    small_pool.warm_up()
    assert len(small_pool.alive_workers()) == 2 and len(small_pool._idle) == 2


def test_memory_blowup_is_a_counted_status(small_pool):
    before = set(small_pool.alive_workers())
    out = small_pool.call(ALLOC, 4096)  # 4 GB against a 1 GB limit
    assert out.status == "memory" and small_pool.stats.memory == 1
    small_pool.warm_up()
    assert len(small_pool.alive_workers()) == 2
    assert set(small_pool.alive_workers()) != before, "the worker with a suspect heap is replaced"
    assert small_pool.call(ALLOC, 10).ok


def test_memory_blowup_in_a_user_verifier_through_the_scorer():
    scorer = RewardScorer({"bounded": {"memory_limit_mb": 1024}})
    res = scorer.score({"response": "<think>x</think><answer>1</answer>", "ground_truth": "1", "verifier": "bounded_cases:hog_memory"})
    assert res["accuracy"] == 0.0 and res["status"] == "error" and res["error"] == 1 and "memory" in res["reason"]
    assert set(RESULT_KEYS) <= set(res)
    assert scorer.pool.stats.memory >= 1 and scorer.pool is not bounded.get_pool(), "its own settings, its own pool"
    assert scorer.stats.as_dict()["statuses"].get("error", 0) >= 1
    scorer.pool.warm_up()
    assert len(scorer.pool.alive_workers()) == scorer.pool.size


def test_user_verifier_that_never_returns_is_bounded():
    scorer = RewardScorer({})
    t = time.monotonic()
    res = scorer.score({"response": "<think>x</think><answer>1</answer>", "ground_truth": "1", "verifier": "bounded_cases:slow_verifier"})
    assert time.monotonic() - t < BUDGET_S + SLACK_S
    assert res["status"] == "timeout" and res["timed_out"] == 1 and res["accuracy"] == 0.0


def test_huge_factorial_through_math_is_bounded():
    from wethink_verl.verifiers.math import clear_cache, verify_math

    clear_cache()
    pool = bounded.get_pool()
    pool.warm_up()
    t = time.monotonic()
    v = verify_math("(10^{10^{6}})!", "1")
    assert time.monotonic() - t < pool.timeout + SLACK_S
    assert v.score == 0.0 and v.status in ("timeout", "error") and v.reason
    pool.warm_up()
    assert len(pool.alive_workers()) == pool.size


def test_closed_pool_kills_everything():
    pool = WorkerPool(size=2)
    pool.warm_up()
    pids = pool.alive_workers()
    pool.close()
    assert pool.alive_workers() == [] and all(bounded_cases.process_gone(p) for p in pids)
    with pytest.raises(RuntimeError):
        pool.call(SLEEP, 0)


def test_pool_works_from_a_script_without_a_main_guard(tmp_path):
    # regression: forkserver children re-imported the caller's __main__; an unguarded script
    # re-ran itself in every worker, which died, and every bounded call came back "crashed"
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent("""
        from wethink_verl.verifiers.math import verify_math
        v = verify_math("1", "\\\\sin^2 x+\\\\cos^2 x")  # a trig identity: decided in a worker
        print("RESULT", v.score, v.status, v.reason)
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert "RESULT 1.0 ok equivalent (math-verify)" in out.stdout, out.stdout + out.stderr[-2000:]
    assert "bootstrapping phase" not in out.stderr


# ---- the same pathological cases in every calling context --------------------------------------


@pytest.fixture(scope="module")
def scorer():
    s = RewardScorer({})
    bounded.get_pool().warm_up()
    return s


@pytest.fixture(scope="module")
def reference(scorer):
    return bounded_cases.run_sync(scorer)


def _check_bounded(results: dict, context: str) -> None:
    for name, r in results.items():
        assert r["elapsed"] < BUDGET_S + SLACK_S, (context, name, r)
        assert r["reason"], (context, name, r)
        assert r["status"] in ("ok", "no_answer", "hedged", "timeout", "invalid_gold", "error"), (context, name, r)


def _same_scores(results: dict, reference: dict, context: str) -> None:
    for name in bounded_cases.CASES:
        got = {k: results[name][k] for k in bounded_cases.FIELDS}
        want = {k: reference[name][k] for k in bounded_cases.FIELDS}
        assert got == want, (context, name, got, want)


def test_main_thread(reference):
    assert threading.current_thread() is threading.main_thread()
    _check_bounded(reference, "main thread")
    # what the cases are meant to exercise
    for name in ("power_tower", "power_tower_bare", "huge_factorial", "deep_parens"):  # decided by the pre-screen
        assert reference[name]["status"] == "timeout" and reference[name]["timed_out"] == 1, (name, reference[name])
        assert reference[name]["elapsed"] < 0.5, (name, reference[name])
    for name in ("slow_symbolic", "slow_symbolic_boxed"):  # a worker killed on overrun
        assert reference[name]["status"] == "timeout" and "killed" in reference[name]["reason"], (name, reference[name])
    for name in ("easy_right", "symbolic_right", "numeric_right"):
        assert reference[name]["accuracy"] == 1.0, (name, reference[name])
    assert "math-verify" in reference["symbolic_right"]["reason"]
    assert reference["response_50k"]["accuracy"] == 1.0
    for name in ("answer_spam_choice", "box_spam", "yesno_spam"):
        assert reference[name]["status"] == "hedged", (name, reference[name])


def test_other_thread(scorer, reference):
    results = bounded_cases.run_in_thread(scorer)
    _check_bounded(results, "thread")
    _same_scores(results, reference, "thread")


def test_asyncio_task(scorer, reference):
    results = bounded_cases.run_in_task(scorer)
    _check_bounded(results, "asyncio task")
    _same_scores(results, reference, "asyncio task")


def test_run_in_executor_like_verls_reward_loop(scorer, reference):
    results = bounded_cases.run_in_executor(scorer)
    _check_bounded(results, "run_in_executor")
    _same_scores(results, reference, "run_in_executor")


@pytest.mark.parametrize("kind", ["sync", "threaded", "async"])
def test_ray_actor(ray_local, reference, kind):
    ray = ray_local
    ray.cloudpickle.register_pickle_by_value(bounded_cases)
    options = {"num_cpus": 0}
    if kind == "threaded":
        options["max_concurrency"] = 4
    actor = ray.remote(bounded_cases.ScoringActor).options(**options).remote()
    try:
        if kind == "async":
            results = ray.get(actor.arun.remote(), timeout=600)
        else:
            results = ray.get(actor.run.remote(), timeout=600)
            if kind == "threaded":
                assert ray.get(actor.thread_name.remote()) != "MainThread"
        _check_bounded(results, f"ray {kind} actor")
        _same_scores(results, reference, f"ray {kind} actor")
        state = ray.get(actor.pool_state.remote())
        assert len(state["alive"]) == state["size"] and state["timeouts"] >= 2
    finally:
        ray.kill(actor)


def test_results_carry_the_fixed_keys(reference, scorer):
    for sample in bounded_cases.CASES.values():
        res = scorer.score(sample)
        assert set(RESULT_KEYS) <= set(res)
