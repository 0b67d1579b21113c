"""The bounded pool under faults: an interrupted call never leaves its worker in the pool (no reply
ever reaches the wrong caller), waits are bounded and reported, pools are not shared across
settings or forks, and a stopped worker or forkserver cannot block a caller.

Every reply here names its own request (``bounded_cases.echo_after``), so cross-talk shows as a
wrong value, not as a flaky score.
"""

from __future__ import annotations

import asyncio
import ctypes
import math
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest
from bounded_cases import process_gone

from wethink_verl.reward import RESULT_KEYS, RewardScorer, extra_info
from wethink_verl.verifiers import bounded
from wethink_verl.verifiers.bounded import WorkerPool

ECHO = "bounded_cases:echo_after"
SLACK_S = 2.0  # a loaded 2-core machine
REPO = Path(__file__).resolve().parents[1]
R = "<think>x</think><answer>{}</answer>"


@pytest.fixture
def pool1():
    """One worker: every call after an interrupted one lands on the same slot."""
    pool = WorkerPool(size=1, timeout=3.0, memory_limit_mb=1024)
    pool.warm_up()
    yield pool
    pool.close()


def _assert_clean(pool: WorkerPool, label: str = "next") -> None:
    """The pool serves fresh calls with their own replies, at full size."""
    for i in range(3):
        out = pool.call(ECHO, f"{label}-{i}")
        assert out.ok and out.value == f"{label}-{i}", out
    assert len(pool.alive_workers()) == pool.size


# ---- interruption: KeyboardInterrupt, async exceptions, cancellation, bad budgets --------------


def test_sigint_during_a_call_on_the_main_thread_discards_the_worker(pool1):
    assert threading.current_thread() is threading.main_thread()
    (busy_pid,) = pool1.alive_workers()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            # 2.5 s (inside the pool's 3 s budget): a loaded box may start the timer thread late
            pool1.call(ECHO, "interrupted", 2.5)
    finally:
        timer.cancel()
    _assert_clean(pool1)
    assert process_gone(busy_pid), "the worker whose call did not complete was killed, not reused"


def _raise_in_thread(thread: threading.Thread, exc_type: type) -> None:
    """Deliver an exception asynchronously into another thread (as timeout decorators do)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(exc_type))


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, asyncio.CancelledError, SystemExit])
def test_exceptions_raised_into_a_calling_thread_never_cause_cross_talk(pool1, exc_type):
    """A thread keeps calling while exceptions land at random points of its calls: every reply it
    does get is its own, and the pool always ends whole."""
    rng = random.Random(0)
    wrong: list = []
    done = threading.Event()

    def caller():
        i = 0
        while not done.is_set():
            i += 1
            try:
                out = pool1.call(ECHO, i, 0.05)
            except BaseException:  # noqa: BLE001 - the injected exception
                continue
            if out.ok and out.value != i:
                wrong.append((i, out.value))

    th = threading.Thread(target=caller, daemon=True)
    th.start()
    try:
        for _ in range(25):
            time.sleep(rng.uniform(0.01, 0.12))
            _raise_in_thread(th, exc_type)
    finally:
        time.sleep(0.3)
        done.set()
        th.join(30)
    assert not th.is_alive()
    assert wrong == [], f"replies read by the wrong call: {wrong[:5]}"
    _assert_clean(pool1)


async def test_asyncio_wait_for_around_a_call_discards_the_worker(pool1):
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(pool1.acall(ECHO, "abandoned", 1.0), 0.2)
    out = await pool1.acall(ECHO, "after")
    assert out.ok and out.value == "after", out
    _assert_clean(pool1)


async def test_cancelled_tasks_never_cause_cross_talk(pool1):
    """Tasks cancelled at random points, with others queued behind them: every result is its own."""
    rng = random.Random(1)

    async def one(i):
        out = await pool1.acall(ECHO, i, rng.choice([0.0, 0.02, 0.1]))
        return i, out

    tasks = [asyncio.ensure_future(one(i)) for i in range(60)]
    for t in rng.sample(tasks, 25):
        await asyncio.sleep(rng.uniform(0, 0.03))
        t.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    finished = [r for r in results if not isinstance(r, BaseException)]
    assert finished and all(out.value == i for i, out in finished if out.ok), [(i, o) for i, o in finished if o.value != i][:5]
    _assert_clean(pool1)


@pytest.mark.parametrize("timeout", [math.nan, math.inf, 1e9, -1.0, 0.0, "2"])
def test_a_bad_per_call_budget_never_leaves_a_busy_worker(pool1, timeout):
    out = pool1.call(ECHO, "first", 0.2, timeout=timeout)
    assert out.status in ("ok", "error"), out
    if out.status == "error":
        assert "timeout" in out.detail, out
    else:
        assert out.value == "first"
    _assert_clean(pool1)


@pytest.mark.parametrize("timeout", [math.nan, math.inf, 1e9])
def test_a_bad_row_timeout_never_corrupts_later_rows(timeout):
    """A row whose verifier_kwargs carry a hostile ``timeout`` (math and a user verifier), followed
    by rows whose answers are wrong: each later row gets its own verdict (old code: the previous
    row's reply, a wrong answer scored 1, for the rest of the process and cached)."""
    from wethink_verl.verifiers.math import clear_cache

    scorer = RewardScorer({"bounded": {"workers": 1}})
    clear_cache()
    right_trig = {"response": R.format("1"), "ground_truth": "\\sin^2 x+\\cos^2 x", "verifier": "math"}
    poison = [
        dict(right_trig, verifier_kwargs={"timeout": timeout}),
        {"response": R.format("cat"), "ground_truth": "cat", "verifier": "bounded_cases:echo_verifier",
         "verifier_kwargs": {"timeout": timeout, "seconds": 0.2}},
    ]  # fmt: skip
    later = [
        ({"response": R.format("\\sin x"), "ground_truth": "\\cos x", "verifier": "math"}, 0.0),
        ({"response": R.format("dog"), "ground_truth": "cat", "verifier": "bounded_cases:echo_verifier"}, 0.0),
        (right_trig, 1.0),
        ({"response": R.format("\\tan x"), "ground_truth": "\\sin x", "verifier": "math"}, 0.0),
    ]
    for p in poison:
        res = scorer.score(p)
        assert set(RESULT_KEYS) <= set(res)
        for sample, want in later * 2:
            got = scorer.score(sample)
            assert got["accuracy"] == want, (p.get("verifier_kwargs"), sample["response"], got)


async def test_wait_for_around_a_sample_in_asyncio():
    """verl's rate_limited manager wraps each sample in asyncio.wait_for: a cancelled sample's
    worker is never read by the next sample."""
    scorer = RewardScorer({"bounded": {"workers": 1}})
    slow = {"response": R.format("cat"), "ground_truth": "cat", "verifier": "bounded_cases:echo_verifier", "verifier_kwargs": {"seconds": 1.0}}
    for _ in range(3):
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(scorer.ascore(slow), 0.2)
        res = await scorer.ascore({"response": R.format("dog"), "ground_truth": "cat", "verifier": "bounded_cases:echo_verifier"})
        assert res["accuracy"] == 0.0 and "'dog'" in res["reason"], res


# ---- pools belong to their settings --------------------------------------------------------------


async def test_a_second_scorer_with_other_settings_never_cancels_a_running_batch():
    a = RewardScorer({"bounded": {"workers": 2, "timeout_s": 5.0}})
    rows = [{"response": R.format(f"w{i}"), "ground_truth": f"w{i}", "verifier": "bounded_cases:echo_verifier",
             "verifier_kwargs": {"seconds": 0.1}} for i in range(24)]  # fmt: skip
    batch = asyncio.ensure_future(a.ascore_many(rows, concurrency=24))
    await asyncio.sleep(0.3)
    for settings in ({"workers": 1}, {"timeout_s": 1.0}, {"memory_limit_mb": 2048}):
        RewardScorer({"bounded": settings})  # built while the batch runs
    results = await asyncio.wait_for(batch, 60)
    assert [r["accuracy"] for r in results] == [1.0] * 24, [r["reason"] for r in results if r["accuracy"] != 1.0]


# ---- waits are bounded and reported ------------------------------------------------------------


async def test_rows_that_cannot_get_a_worker_in_time_are_busy_not_silent_zeros():
    """320 slow rows over 2 workers used to queue for minutes with no row reported: the wait for a
    worker is bounded by bounded.queue_timeout_s and a row that waited it out says so."""
    cfg = {"bounded": {"workers": 2, "timeout_s": 1.0, "queue_timeout_s": 1.0}}
    scorer = RewardScorer(cfg)
    rows = [{"response": R.format("x"), "ground_truth": "x", "verifier": "bounded_cases:slow_verifier"}] * 40
    t0 = time.monotonic()
    results = await asyncio.wait_for(scorer.ascore_many(rows, concurrency=40), 60)
    elapsed = time.monotonic() - t0
    statuses = [r["status"] for r in results]
    assert set(statuses) <= {"timeout", "busy"} and statuses.count("busy") >= 30, statuses
    limit = cfg["bounded"]["queue_timeout_s"] + cfg["bounded"]["timeout_s"] + SLACK_S
    assert max(r["latency_ms"] for r in results) / 1000.0 < limit, max(r["latency_ms"] for r in results)
    assert elapsed < limit + SLACK_S
    for r in results:
        info = extra_info(r)
        assert info["timed_out"] == 1 and info["error"] == 0, r
        assert ("no free verifier worker" if r["status"] == "busy" else "killed") in r["reason"], r
    assert scorer.stats.as_dict()["statuses"]["busy"] == statuses.count("busy")


def _run_bounded(fn, limit_s: float, unblock) -> tuple[bool, object]:
    """fn() in a thread; (finished in time, its result). ``unblock`` rescues a hung thread."""
    box: dict = {}
    th = threading.Thread(target=lambda: box.setdefault("out", fn()), daemon=True)
    t0 = time.monotonic()
    th.start()
    th.join(limit_s)
    finished = not th.is_alive()
    if not finished:
        unblock()
        th.join(30)
    return finished, (box.get("out"), time.monotonic() - t0)


def _signal_all(pids, sig) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def test_a_large_payload_to_a_stopped_worker_is_bounded(pool1):
    (pid,) = pool1.alive_workers()
    os.kill(pid, signal.SIGSTOP)
    try:
        payload = "x" * (16 * 1024 * 1024)  # far more than a socket buffer: the send itself blocks
        finished, (out, elapsed) = _run_bounded(lambda: pool1.call(ECHO, payload, timeout=1.0), 1.0 + 2 * SLACK_S,
                                                lambda: _signal_all([pid], signal.SIGKILL))  # fmt: skip
        assert finished, "the send to a stopped worker blocked"
        assert out.status == "timeout", out
    finally:
        _signal_all([pid], signal.SIGCONT)
    assert process_gone(pid)
    finished, (out, _) = _run_bounded(lambda: pool1.call(ECHO, "after"), 60, lambda: None)
    assert finished and out.ok and out.value == "after", out


def test_a_stopped_forkserver_cannot_block_a_caller(pool1):
    (pid,) = pool1.alive_workers()
    forkserver = psutil.Process(pid).ppid()
    assert forkserver != os.getpid()
    os.kill(forkserver, signal.SIGSTOP)
    try:
        # the overrun kills the worker; its replacement has to come through the stopped forkserver
        finished, (out, elapsed) = _run_bounded(lambda: pool1.call(ECHO, "slow", 10.0, timeout=0.5), 0.5 + 2 * SLACK_S,
                                                lambda: _signal_all([forkserver], signal.SIGCONT))  # fmt: skip
        assert finished, "the replacement spawn blocked the caller"
        assert out.status == "timeout", out
        # the next call waits at most queue_timeout for a worker, whatever the forkserver does
        pool1.queue_timeout = 1.0
        finished, (out, elapsed) = _run_bounded(lambda: pool1.call(ECHO, "next"), 90, lambda: _signal_all([forkserver], signal.SIGCONT))
        assert finished and out.status in ("ok", "busy"), out
        if out.ok:
            assert out.value == "next"
    finally:
        _signal_all([forkserver], signal.SIGCONT)
    # a stuck forkserver is replaced: the pool recovers without the old one
    deadline = time.monotonic() + 120
    out = None
    while time.monotonic() < deadline:
        out = pool1.call(ECHO, "recovered")
        if out.ok:
            break
    assert out is not None and out.ok and out.value == "recovered", out


# ---- fork --------------------------------------------------------------------------------------


def test_after_fork_the_child_gets_its_own_pool_and_never_touches_the_parents(tmp_path):
    script = tmp_path / "forked.py"
    script.write_text(textwrap.dedent(f"""
        import json, os, sys
        sys.path.insert(0, {str(REPO / "tests")!r})
        from wethink_verl.verifiers import bounded

        pool = bounded.get_pool()
        pool.warm_up()
        parent_workers = sorted(pool.alive_workers())
        assert pool.call("bounded_cases:echo_after", "parent").value == "parent"
        r, w = os.pipe()
        child = os.fork()
        if child == 0:  # a normal interpreter exit: atexit handlers run here
            os.close(r)
            out = bounded.get_pool().call("bounded_cases:echo_after", "child")
            child_workers = bounded.get_pool().alive_workers()
            os.write(w, json.dumps([out.status, out.value, sorted(child_workers)]).encode())
            os.close(w)
            sys.exit(0)
        os.close(w)
        child_said = os.read(r, 65536).decode()
        _, status = os.waitpid(child, 0)
        status_c, value_c, child_workers = json.loads(child_said)
        alive = [p for p in parent_workers if os.path.exists(f"/proc/{{p}}")]
        again = pool.call("bounded_cases:echo_after", "parent again")
        print("RESULT", status_c, value_c, bool(set(child_workers) & set(parent_workers)), alive == parent_workers,
              again.status, again.value, os.waitstatus_to_exitcode(status))
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line is not None, out.stdout + out.stderr[-3000:]
    assert line == "RESULT ok child False True ok parent again 0", line + out.stderr[-3000:]


# ---- a timeout is not a verdict ----------------------------------------------------------------


def test_a_timeout_under_load_is_not_cached_as_the_verdict():
    """A correct answer that ran out of its budget (a loaded machine, a short per-row budget) is
    decided when asked again, not served the cached timeout for the life of the process."""
    from wethink_verl.verifiers.math import clear_cache, verify_math

    clear_cache()
    bounded.get_pool().warm_up()
    first = verify_math("1", "\\sin^2 x+\\cos^2 x", timeout=0.001)
    assert first.status == "timeout" and first.score == 0.0, first
    again = verify_math("1", "\\sin^2 x+\\cos^2 x")
    assert again.status == "ok" and again.score == 1.0 and not again.cached, again


# ---- no silent zeros ---------------------------------------------------------------------------


UNSCORABLE = {
    "memory": {"response": R.format("1"), "ground_truth": "1", "verifier": "bounded_cases:hog_memory"},
    "unknown_verifier": {"response": R.format("1"), "ground_truth": "1", "verifier": "no_such_verifier"},
    "bad_kwargs": {"response": R.format("B"), "ground_truth": "B", "verifier": "choice", "verifier_kwargs": 5},
    "unimportable": {"response": R.format("1"), "ground_truth": "1", "verifier": "no_such_module:fn"},
}


@pytest.mark.parametrize("case", sorted(UNSCORABLE))
def test_a_row_that_cannot_be_scored_is_flagged_logged_and_explained(case, caplog):
    """Through verl's compute_score (what a verl user plugs in): error=1 next to timed_out, a
    WARNING with the running count, and the reason in the scorer's result."""
    from wethink_verl.integrations.scorers import get_scorer
    from wethink_verl.integrations.verl import compute_score
    from wethink_verl.rows import sample_from_row

    sample = UNSCORABLE[case]
    extra = {k: sample[k] for k in ("verifier", "verifier_kwargs") if k in sample}
    kwargs = {"bounded": {"memory_limit_mb": 1024}}
    caplog.set_level("WARNING", logger="wethink_verl")
    out = compute_score("wethink", sample["response"], sample["ground_truth"], extra, **kwargs)
    assert out["score"] == 0.0 and out["error"] == 1 and out["timed_out"] == 0, out
    assert list(out) == ["score", *[k for k in RESULT_KEYS if k != "score"], "acc"] or set(RESULT_KEYS) <= set(out)
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "not scored" in r.getMessage()]
    assert warnings and "so far" in warnings[-1].getMessage(), [r.getMessage() for r in caplog.records]
    scorer = get_scorer(kwargs)
    res = scorer.score(sample_from_row(sample["response"], sample["ground_truth"], extra))
    assert res["error"] == 1 and res["status"] == "error" and res["reason"], res
    assert scorer.stats.as_dict()["errors"] >= 2


def test_a_process_exits_promptly_right_after_a_worker_was_replaced(tmp_path):
    """Regression: closing the pool (or exiting) while its starter thread was launching a replacement
    left a worker that multiprocessing's exit handler waited for, forever (about 1 run in 5)."""
    script = tmp_path / "exit_now.py"
    script.write_text(textwrap.dedent("""
        import sys
        from wethink_verl.verifiers.bounded import WorkerPool
        pool = WorkerPool(size=1, memory_limit_mb=256)
        print(pool.call("wethink_verl.testing.bounded_jobs:allocate_mb", 900).status, flush=True)
        if sys.argv[1] == "close":
            pool.close()
    """))
    for i in range(10):
        t0 = time.monotonic()
        try:
            out = subprocess.run([sys.executable, str(script), "close" if i % 2 else "exit"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        except subprocess.TimeoutExpired:
            pytest.fail(f"run {i} did not exit")
        assert out.stdout.strip() == "memory", out.stdout + out.stderr[-2000:]
        assert time.monotonic() - t0 < 60
