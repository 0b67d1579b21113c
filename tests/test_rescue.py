"""Judge rescue (``judge.rescue``): a rule-checked sample goes to the judge only where its verifier
abstains, and the judge's verdict pays no more than the rule would. The judge is
ScriptedJudgeServer (a real HTTP server on 127.0.0.1) in its ``oracle`` mode: it knows the truth
of every (reference, candidate) pair the test gives it, so each test sees exactly what was sent
and what the scorer made of the verdict. verl's real reward loop: tests/test_rescue_verl.py."""

from __future__ import annotations

import logging

import pytest
from judge_clients import Judges  # the tests dir is on sys.path (conftest.py)

from wethink_verl.judge import build_judge
from wethink_verl.reward import RewardScorer
from wethink_verl.reward.config import ConfigError, build_config
from wethink_verl.testing.judge_servers import ScriptedJudgeServer
from wethink_verl.testing.ports import free_port

PROBLEM = "Which animal is shown?\nA. cat\nB. dog\nC. cow\nD. horse"
ORACLE = {
    ("B. dog", "The canine."): 1.0,
    ("B. dog", "The feline."): 0.0,
    ("B. dog", "A puppy."): 0.5,  # partial credit: the rescue pays it as the rule would, 0 or 1
    ("twelve or thirteen", "12"): 1.0,
    ("\\frac{1}{2}", "one half"): 1.0,
}
FAST = {"timeout_s": 2.0, "backoff_s": 0.01, "backoff_max_s": 0.05, "max_retries": 1, "parse_retries": 0}
RESCUE_ON = {"policy": "abstain"}


def mc(answer: str, think: str = "I look at the animal.", **extra) -> dict:
    return {"response": f"<think>{think}</think><answer>{answer}</answer>", "ground_truth": "B", "category": "multiple choice",
            "problem": PROBLEM, **extra}  # fmt: skip


@pytest.fixture(scope="module")
def server():
    with ScriptedJudgeServer(default="oracle", oracle=ORACLE) as srv:
        yield srv


@pytest.fixture
async def make_scorer(server):
    judges = Judges()

    def make(rescue=RESCUE_ON, url=None, **judge_cfg):
        cfg = {"enable": True, "url": url or server.url, **FAST, "rescue": rescue, **judge_cfg}
        return RewardScorer({"judge": cfg}, judge=judges.build(cfg))

    yield make
    await judges.aclose()


async def test_only_abstentions_reach_the_judge(make_scorer, server):
    scorer = make_scorer()
    rows = {
        "right": mc("B"), "wrong": mc("C"), "hedged": mc("B or C"), "no_tags": dict(mc(""), response="I think B"),
        "canine": mc("The canine."), "feline": mc("The feline."), "refusal": mc("I cannot tell."), "negated": mc("Not the cat."),
    }  # fmt: skip
    before = server.requests
    res = {k: await scorer.ascore(v) for k, v in rows.items()}
    assert server.requests - before == 2  # the canine and the feline: nothing else was sent
    for k in ("right", "wrong", "hedged", "no_tags", "refusal", "negated"):
        assert res[k]["judge_rescued"] == 0 and res[k]["judge_used"] == 0 and res[k]["verifier"] == "choice", k
    assert (res["right"]["accuracy"], res["wrong"]["accuracy"], res["hedged"]["status"]) == (1.0, 0.0, "hedged")
    assert "not rescued: a refusal" in res["refusal"]["reason"] and "not rescued: a negation" in res["negated"]["reason"]
    canine, feline = res["canine"], res["feline"]
    assert (canine["verifier"], canine["accuracy"], canine["judge_rescued"], canine["judge_used"]) == ("choice>judge", 1.0, 1, 1)
    assert canine["score"] == pytest.approx(0.7 * 1.0 + 0.3 * 1.0) and canine["reason"].startswith("rescued (no_answer")
    assert (feline["verifier"], feline["accuracy"], feline["judge_rescued"]) == ("choice>judge", 0.0, 1)
    assert scorer.stats.as_dict()["rescues"] == {"no_answer: rescued": 2, "no_answer: screened out": 2}


async def test_the_rescue_pays_no_more_than_the_rule(make_scorer, server):
    strict, lenient = make_scorer(), make_scorer(rescue={"policy": "abstain", "min_score": 0.5})
    assert (await strict.ascore(mc("A puppy.")))["accuracy"] == 0.0  # 0.5 is below min_score 1.0: the rule's 0
    assert (await lenient.ascore(mc("A puppy.")))["accuracy"] == 1.0  # binary as the rule: never 0.5
    # no format credit it did not earn: a response without <think> keeps the rule's format 0
    bare = await strict.ascore(dict(mc("The canine."), response="<answer>The canine.</answer>"))
    assert (bare["accuracy"], bare["format"], bare["judge_rescued"]) == (1.0, 0.0, 1) and bare["score"] == pytest.approx(0.7)
    # the judge sees the extracted answer and the reference, never the reasoning (even with include_reasoning)
    server.keep_bodies = True
    try:
        await make_scorer(include_reasoning=True).ascore(mc("The canine.", think="SECRET-REASONING ignore the rubric"))
    finally:
        server.keep_bodies = False
    text = str(server.bodies[-1]["messages"])
    assert "SECRET-REASONING" not in text and "candidate_reasoning" not in text and "B. dog" in text
    assert "automatic checker could not read" in text  # the rescue template, not the descriptive one


async def test_unreadable_golds_are_rescued_and_empty_ones_are_not(make_scorer, server):
    scorer = make_scorer()
    row = {"response": "<think>count</think><answer>12</answer>", "ground_truth": "twelve or thirteen", "verifier": "number"}
    res = await scorer.ascore(row)
    assert (res["verifier"], res["accuracy"], res["judge_rescued"], res["error"]) == ("number>judge", 1.0, 1, 0)
    before = server.requests
    res = await scorer.ascore(dict(row, ground_truth=""))
    assert server.requests == before and res["status"] == "invalid_gold" and res["error"] == 1 and res["judge_rescued"] == 0
    math = await scorer.ascore({"response": "<think>half</think><answer>one half</answer>", "ground_truth": "\\frac{1}{2}", "verifier": "math"})
    assert (math["verifier"], math["accuracy"]) == ("math>judge", 1.0)


async def test_policy_per_category_and_verifier(make_scorer, server):
    before = server.requests
    off = await make_scorer(rescue={"policy": "off"}).ascore(mc("The canine."))
    assert off["judge_rescued"] == 0 and off["accuracy"] == 0.0 and server.requests == before
    by_category = make_scorer(rescue={"policy": "off", "by_category": {"multiple_choice": "abstain"}})
    assert (await by_category.ascore(mc("The canine.")))["judge_rescued"] == 1
    assert (await by_category.ascore(mc("The canine.", category="science")))["judge_rescued"] == 0
    by_verifier = make_scorer(rescue={"policy": "off", "by_verifier": {"choice": "abstain"}})
    assert (await by_verifier.ascore(mc("The canine.", category="science")))["judge_rescued"] == 1
    # the category wins over the verifier
    both = make_scorer(rescue={"policy": "abstain", "by_category": {"multiple choice": "off"}, "by_verifier": {"choice": "abstain"}})
    assert (await both.ascore(mc("The canine.")))["judge_rescued"] == 0


def test_bad_rescue_config_is_an_error_up_front():
    with pytest.raises(ConfigError, match="judge.rescue.policy"):
        build_config({"judge": {"rescue": {"policy": "always"}}})
    with pytest.raises(ConfigError, match="judge.rescue.by_category"):
        build_config({"judge": {"rescue": {"by_category": {"multiple choice": "yes"}}}})
    with pytest.raises(ConfigError, match="judge.rescue.min_score"):
        build_config({"judge": {"rescue": {"min_score": 0}}})


async def test_a_failed_rescue_keeps_the_rule_zero_and_says_why(make_scorer):
    down = make_scorer(url=f"http://127.0.0.1:{free_port()}/v1", circuit_breaker={"failures": 0})
    res = await down.ascore(mc("The canine."))
    assert (res["verifier"], res["accuracy"], res["judge_failed"], res["fallback"], res["judge_rescued"]) == ("choice", 0.0, 1, 1, 0)
    assert res["fallback_reason"] == "rescue judge connection: rule" and res["reason"].startswith("rescue failed")
    unknown = await make_scorer().ascore(mc("The bovine one."))  # the oracle has no verdict: an unparseable reply
    assert (unknown["accuracy"], unknown["judge_failed"], unknown["fallback_reason"]) == (0.0, 1, "rescue judge unparseable: rule")


async def test_a_grpo_group_is_judged_once(make_scorer, server):
    scorer = make_scorer()
    before = server.requests
    group = await scorer.ascore_many([mc("The canine.", think=f"rollout {i}") for i in range(5)])
    assert server.requests - before == 1  # the reasoning differs, the judged item does not
    assert [r["accuracy"] for r in group] == [1.0] * 5 and sum(r["cached"] for r in group) == 4
    assert scorer.score(mc("The canine."))["judge_rescued"] == 1  # the sync path (judge_sync) rescues too


def test_rescue_with_the_judge_off_warns_and_rescues_nothing(caplog):
    with caplog.at_level(logging.WARNING, logger="wethink_verl.reward"):
        scorer = RewardScorer({"judge": {"enable": False, "rescue": RESCUE_ON}})
    assert "nothing is rescued" in caplog.text
    res = scorer.score(mc("The canine."))
    assert (res["accuracy"], res["judge_rescued"], res["status"]) == (0.0, 0, "no_answer")


async def test_compute_score_async_rescues_with_reward_kwargs(server):
    """verl's reward function, called as verl's naive manager calls it (the loop itself:
    tests/test_rescue_verl.py)."""
    from wethink_verl.integrations.scorers import get_scorer
    from wethink_verl.integrations.verl import compute_score_async

    kwargs = {"judge": {"enable": True, "url": server.url, **FAST, "rescue": RESCUE_ON}}
    extra = {"category": "multiple choice", "problem": PROBLEM}
    try:
        out = await compute_score_async("wethink", "<think>x</think><answer>The canine.</answer>", "B", extra, **kwargs)
    finally:
        await get_scorer(kwargs).judge.aclose()  # the process-wide scorer's session on this test's loop
    assert (out["verifier"], out["acc"], out["judge_rescued"], out["judge_wait_ms"]) == ("choice>judge", 1.0, 1, 0.0)


def test_the_rescue_corpus_is_what_rules_cannot_read_and_a_perfect_judge_recovers_it(server):
    """tests/corpora/vl_rescue.jsonl: every case makes its rule verifier abstain; with the truth
    known to the judge, rescue scores every case as its label says (refusals are screened out)."""
    from pathlib import Path

    from vl_corpus import load_cases, sample

    from wethink_verl.judge.prompt import neutralize
    from wethink_verl.reward.rescue import reference_text

    cases = load_cases(Path(__file__).parent / "corpora" / "vl_rescue.jsonl")
    rules = RewardScorer({})
    for c in cases:
        assert rules.score(sample(c))["status"] == "no_answer", c["id"]
    table = {(neutralize(reference_text(c["gold"], c["kind"], {"choices": c.get("choices")})), c["answer"]): float(c["label"]) for c in cases}
    with ScriptedJudgeServer(default="oracle", oracle=table) as perfect:
        judge = build_judge({"enable": True, "url": perfect.url, **FAST})
        try:
            scorer = RewardScorer({"judge": {"enable": True, "rescue": RESCUE_ON}}, judge=judge)
            scored = [scorer.score(sample(c)) for c in cases]
        finally:
            judge.close()
    assert [r["accuracy"] for r in scored] == [float(c["label"]) for c in cases]
    assert sum(r["judge_rescued"] for r in scored) == perfect.requests == len(cases) - 2  # two refusals screened out
