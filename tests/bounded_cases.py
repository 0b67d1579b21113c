"""Pathological inputs for the boundedness tests, and the code that scores them in each calling
context (main thread, another thread, an asyncio task, Ray actors). A helper module, not a test
file: Ray actors and bounded workers import it by name."""

from __future__ import annotations

import asyncio
import threading
import time

R = "<think>x</think><answer>{}</answer>"

# name -> sample. Each must come back within the budget (+ slack), with a reason.
CASES: dict[str, dict] = {
    "power_tower": {"response": R.format("\\boxed{9^{9^{9^{9}}}}"), "ground_truth": "1", "verifier": "math"},
    "power_tower_bare": {"response": R.format("9^{9^{9^{9^{9}}}}"), "ground_truth": "2", "verifier": "math"},
    "huge_factorial": {"response": R.format("\\boxed{(10^{10^{5}})!}"), "ground_truth": "3", "verifier": "math"},
    "deep_parens": {"response": R.format("\\boxed{" + "(" * 300 + "1" + ")" * 300 + "}"), "ground_truth": "1+x", "verifier": "math"},
    "deep_frac": {"response": R.format("\\frac{1}{" * 20 + "2" + "}" * 20), "ground_truth": "x", "verifier": "math"},
    "response_50k": {"response": "<think>" + "step " * 10_000 + "</think><answer>\\boxed{x^2}</answer>", "ground_truth": "x^{2}", "verifier": "math"},
    "thousands_of_boxed": {"response": "<think>x</think>" + "\\boxed{12}" * 5_000, "ground_truth": "12", "verifier": "math"},
    "brace_spam": {"response": R.format("\\boxed{" + "{" * 40_000), "ground_truth": "1", "verifier": "math"},
    "backslash_spam": {"response": R.format("\\" * 50_000), "ground_truth": "1", "verifier": "math"},
    "think_boxed_loop": {"response": "</think>\\boxed{" * 50_000, "ground_truth": "1", "verifier": "math"},
    "think_spam": {"response": "<think>" * 50_000, "ground_truth": "B", "verifier": "choice"},
    "answer_spam_choice": {"response": R.format("A or B " * 7_000), "ground_truth": "B", "verifier": "choice"},
    "number_spam": {"response": R.format("1," * 25_000), "ground_truth": "1", "verifier": "number"},
    "text_50k": {"response": R.format("lorem ipsum " * 4_000), "ground_truth": "lorem ipsum dolor sit amet consectetur", "verifier": "text"},
    "box_spam": {"response": R.format("[1, 2, 3, 4] " * 4_000), "ground_truth": "[1, 2, 3, 4]", "verifier": "iou"},
    "yesno_spam": {"response": R.format("yes no " * 7_000), "ground_truth": "yes", "verifier": "yesno"},
    # not explosive by the pre-screen, but sympy needs far longer than the budget: the worker is killed
    "slow_symbolic": {"response": R.format("(x+1)^{5000}"), "ground_truth": "(x+2)^{5000}", "verifier": "math"},
    "slow_symbolic_boxed": {"response": R.format("\\boxed{(x+3)^{4000}}"), "ground_truth": "(x+5)^{4000}", "verifier": "math"},
    "easy_right": {"response": R.format("\\boxed{\\frac{1}{2}}"), "ground_truth": "0.5", "verifier": "math"},
    "symbolic_right": {"response": R.format("1"), "ground_truth": "\\sin^2 x+\\cos^2 x", "verifier": "math"},
    "numeric_right": {"response": R.format("x^2+2x+1"), "ground_truth": "(x+1)^2", "verifier": "math"},
}

def process_gone(pid: int, within: float = 10.0) -> bool:
    """The process exits within ``within`` seconds (a zombie waiting for its parent's wait() counts
    as gone; a SIGKILLed process takes a moment to get there on a loaded machine)."""
    import psutil

    deadline = time.monotonic() + within
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


FIELDS = ("score", "accuracy", "format", "status", "timed_out")


def summary(res: dict, elapsed: float) -> dict:
    out = {k: res.get(k) for k in FIELDS}
    out["reason"] = res.get("reason")
    out["elapsed"] = elapsed
    return out


def _fresh_cache() -> None:
    from wethink_verl.verifiers.math import clear_cache

    clear_cache()  # every context recomputes: a cached timeout would prove nothing


def run_sync(scorer) -> dict:
    _fresh_cache()
    out = {}
    for name, sample in CASES.items():
        t = time.monotonic()
        res = scorer.score(sample)
        out[name] = summary(res, time.monotonic() - t)
    return out


def run_in_thread(scorer) -> dict:
    box: dict = {}

    def target():
        try:
            box["out"] = run_sync(scorer)
        except BaseException as e:  # noqa: BLE001
            box["error"] = e

    th = threading.Thread(target=target, name="not-main")
    th.start()
    th.join()
    if "error" in box:
        raise box["error"]
    return box["out"]


async def run_async(scorer) -> dict:
    _fresh_cache()
    out = {}
    for name, sample in CASES.items():
        t = time.monotonic()
        res = await scorer.ascore(sample)
        out[name] = summary(res, time.monotonic() - t)
    return out


def run_in_task(scorer) -> dict:
    async def main():
        return await asyncio.create_task(run_async(scorer))

    return asyncio.run(main())


def run_in_executor(scorer) -> dict:
    """Like verl's reward-loop managers: a sync reward function in loop.run_in_executor."""

    async def main():
        return await asyncio.get_running_loop().run_in_executor(None, run_sync, scorer)

    return asyncio.run(main())


class ScoringActor:
    """Scores CASES inside a Ray actor process (sync, threaded or async methods)."""

    def __init__(self):
        from wethink_verl.reward import RewardScorer
        from wethink_verl.verifiers import bounded

        self.scorer = RewardScorer({})
        bounded.get_pool().warm_up()

    def run(self) -> dict:
        return run_sync(self.scorer)

    async def arun(self) -> dict:
        return await run_async(self.scorer)

    def thread_name(self) -> str:
        return threading.current_thread().name

    def pool_state(self) -> dict:
        from wethink_verl.verifiers import bounded

        pool = bounded.get_pool()
        pool.warm_up()  # replacements of killed workers start in the background
        return {"size": pool.size, "alive": pool.alive_workers(), "timeouts": pool.stats.timeouts}


def hog_memory(answer, ground_truth, **_):
    """A user verifier (``bounded_cases:hog_memory``) that blows its memory limit."""
    block = bytearray(8 * 1024**3)  # 8 GB: above any test's RLIMIT_AS
    return float(len(block) > 0)


def slow_verifier(answer, ground_truth, **_):
    """A user verifier that never finishes on its own."""
    time.sleep(3600)
    return 1.0


def echo_after(value, seconds=0.0, **_):
    """Returns its own argument after a delay: a reply that went to the wrong caller shows at once."""
    if seconds:
        time.sleep(seconds)
    return value


def echo_verifier(answer, ground_truth, *, seconds=0.0, **_):
    """A user verifier: 1.0 when the answer equals the ground truth, after ``seconds``. Its reply
    names the answer it judged, so a reply read by the wrong caller shows in its reason."""
    from wethink_verl.verifiers.types import Verdict

    if seconds:
        time.sleep(seconds)
    return Verdict(1.0 if answer == ground_truth else 0.0, answer, f"judged {answer!r}")
