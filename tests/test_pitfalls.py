"""One test per failure in ../shared/notes/reward-pitfalls.md, through the RewardScorer end to end:
wethink_verl breaks in none of the ways the peers' reward code broke."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from wethink_verl.reward import EXTRA_INFO_KEYS, RewardScorer, extra_info
from wethink_verl.verifiers import bounded

SLACK_S = 1.5


@pytest.fixture(scope="module")
def scorer():
    s = RewardScorer({})
    bounded.get_pool().warm_up()
    return s


def sample(answer_block: str, gold, verifier=None, **kw) -> dict:
    s = {"response": f"<think>reasoning</think>\n<answer>{answer_block}</answer>", "ground_truth": gold, **kw}
    if verifier:
        s["verifier"] = verifier
    return s


def test_math_verify_off_the_main_thread_is_not_a_silent_zero(scorer):
    """verl #3407: math-verify raised off the main thread and the wrapper returned 0.0 for right answers."""
    s = sample("1", "\\sin^2 x+\\cos^2 x", "math")  # a trig identity: only Math-Verify decides it

    def in_thread():
        return scorer.score(s)["accuracy"]

    with ThreadPoolExecutor(2) as ex:
        assert ex.submit(in_thread).result() == 1.0

    async def in_executor():  # what verl's reward-loop managers do with a sync reward function
        return await asyncio.get_running_loop().run_in_executor(None, in_thread)

    assert asyncio.run(in_executor()) == 1.0
    assert asyncio.run(scorer.ascore(s))["accuracy"] == 1.0


def test_power_tower_does_not_hang(scorer):
    """verl PR #5839: with math-verify's timeouts off, \\boxed{9^{9^{9}}} ran for minutes and verl hung."""
    t = time.monotonic()
    r = scorer.score(sample("\\boxed{9^{9^{9}}}", "7", "math"))
    assert time.monotonic() - t < bounded.get_pool().timeout + SLACK_S
    assert r["timed_out"] == 1 and r["accuracy"] == 0.0


def test_abandoned_futures_do_not_eat_the_pool():
    """verl's ProcessPoolExecutor fix / AReaL #1426: a timed-out future kept its worker busy forever."""
    from wethink_verl.verifiers.math import clear_cache

    pool = bounded.get_pool()
    pool.warm_up()
    for i in range(pool.size + 2):  # more overruns than workers
        clear_cache()
        r = RewardScorer({}).score(sample(f"(x+{i})^{{5000}}", f"(x+{i + 1})^{{5000}}", "math"))
        assert r["timed_out"] == 1 and "killed" in r["reason"]
    pool.warm_up()  # replacements start in the background
    assert len(pool.alive_workers()) == pool.size
    t = time.monotonic()
    assert RewardScorer({}).score(sample("x^2-1", "(x-1)(x+1)", "math"))["accuracy"] == 1.0
    assert time.monotonic() - t < 1.0 + SLACK_S, "a free worker is there right away"


def test_catastrophic_format_regex_inputs(scorer):
    """95 s for <think>.*</think>.*\\boxed{.*}.* on 50k chars of '</think>\\boxed{'."""
    for response in ("</think>\\boxed{" * 50_000, "<think>" + "</think><answer>" * 20_000):
        t = time.monotonic()
        r = scorer.score({"response": response, "ground_truth": "1", "verifier": "math"})
        assert time.monotonic() - t < 0.5 and r["format"] == 0.0


def test_answer_with_a_newline_counts(scorer):
    """EasyR1 r1v: <answer>(.*?)</answer> without DOTALL scored multi-line answers 0."""
    assert scorer.score(sample("\nThe answer is\nB\n", "B", "choice"))["accuracy"] == 1.0


def test_two_answer_blocks_get_no_format_credit(scorer):
    r = scorer.score({"response": "<think>x</think><answer>A</answer><answer>B</answer>", "ground_truth": "B", "verifier": "choice"})
    assert r["format"] == 0.0


def test_no_box_is_not_the_string_none(scorer):
    """EasyR1 math.py: "no \\boxed" became "None", which matched a gold answer "None"."""
    for verifier in ("text", "math", "choice", None):
        r = scorer.score({"response": "I could not solve it.", "ground_truth": "None", "verifier": verifier})
        assert r["accuracy"] == 0.0, (verifier, r)


def test_prefilled_think_is_not_zero_forever(scorer):
    """TRL #6966, EasyR1 #597: a chat template that pre-fills <think> leaves only </think>."""
    r = scorer.score({"response": "It hops.</think>\n<answer>B</answer>", "ground_truth": "B", "verifier": "choice"})
    assert r["score"] == 1.0


@pytest.mark.parametrize("refusal", ["I cannot determine this from the image.", "Sorry, I don't know.", "", "?"])
def test_unparseable_answers_are_never_guessed(scorer, refusal):
    """VLMEvalKit / lmms-eval fall back to a random option letter."""
    for gold in "ABCD":
        r = scorer.score(sample(refusal, gold, "choice", problem="Q?\nA. cat\nB. dog\nC. cow\nD. pig"))
        assert r["accuracy"] == 0.0


@pytest.mark.parametrize(
    "hack, gold, verifier",
    [
        ("", "B", "choice"),  # empty answer block
        ("A or B", "B", "choice"),  # hedged letters
        ("A, B, C, D", "B", "choice"),
        ("A. cat B. dog C. cow D. pig", "A", "choice"),  # the option list copied
        ("3 or 4", "3", "number"),
        ("yes or no", "yes", "yesno"),
        ("red, blue, green", "blue", "text"),
        ("[0, 0, 640, 480]", "[10, 30, 110, 400]", "iou"),  # whole image
        ("[50, 50, 50, 50]", "[10, 30, 110, 160]", "iou"),  # degenerate
    ],
)
def test_known_hacks_earn_no_accuracy(scorer, hack, gold, verifier):
    r = scorer.score(sample(hack, gold, verifier, image_size=[640, 480]))
    assert r["accuracy"] == 0.0, r


def test_repeated_blocks_and_answer_inside_think(scorer):
    r = scorer.score({"response": "<think>x</think><answer>B</answer><think>y</think><answer>B</answer>", "ground_truth": "B", "verifier": "choice"})
    assert r["format"] == 0.0
    r = scorer.score({"response": "<think>the answer: <answer>B</answer></think>", "ground_truth": "B", "verifier": "choice"})
    assert r["score"] == 0.0


def test_gold_first(scorer):
    """open-r1 swapped gold and prediction in two rewards: an inequality must not match an interval gold."""
    assert scorer.score(sample("1<x<2", "(1,2)", "math"))["accuracy"] == 0.0
    assert scorer.score(sample("(1,2)", "1<x<2", "math"))["accuracy"] == 1.0


def test_same_extra_info_keys_for_every_sample(scorer):
    """verl builds reward_extra_info arrays from the first sample's keys."""
    rows = [sample("B", "B", "choice"), {"response": None}, sample("\\boxed{9^{9^{9}}}", "7", "math"), {"response": "x", "category": "??"}]
    assert {tuple(extra_info(scorer.score(r))) for r in rows} == {EXTRA_INFO_KEYS}


def test_thread_safety_of_one_scorer(scorer):
    """One scorer object shared by many threads (a threaded Ray actor) gives the serial answers."""
    samples = [sample(a, g, v) for a, g, v in [("B", "B", "choice"), ("3", "3", "number"), ("x^2+2x+1", "(x+1)^2", "math"), ("No", "yes", "yesno")]] * 8
    serial = [scorer.score(s)["score"] for s in samples]
    with ThreadPoolExecutor(8) as ex:
        parallel = list(ex.map(lambda s: scorer.score(s)["score"], samples))
    assert parallel == serial
