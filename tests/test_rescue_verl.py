"""Judge rescue and the judge's rate limit inside verl's real RewardLoopManager (RewardLoopWorker
Ray actors), through our ``wethink`` manager and through verl's ``naive`` manager calling
``compute_score_async``. The judge is ScriptedJudgeServer on 127.0.0.1 in its ``oracle`` mode,
enforcing a requests-per-minute quota like a hosted API; the two reward workers share one quota
(``judge.rate_limit.scope: cluster``, a named Ray actor), so the server never refuses a request
although each worker alone would send up to the whole quota."""

from __future__ import annotations

import pytest

pytest.importorskip("verl")

from wethink_verl.reward import EXTRA_INFO_KEYS  # noqa: E402
from wethink_verl.testing.judge_servers import ScriptedJudgeServer  # noqa: E402
from wethink_verl.testing.verl_batch import compose_verl_config, last_token_scores, make_reward_batch, score_with_reward_loop  # noqa: E402

pytestmark = pytest.mark.slow

PROBLEM = "Which animal is shown?\nA. cat\nB. dog\nC. cow\nD. horse"
RESCUES = 16  # distinct answers the choice verifier cannot read


def _rows():
    rows = []
    for i in range(RESCUES):
        rows.append({"id": f"rescue{i}", "response": f"<think>look</think><answer>The animal in picture {i}.</answer>", "ground_truth": "B",
                     "extra_info": {"category": "multiple choice", "problem": PROBLEM}, "prompt": PROBLEM})  # fmt: skip
    # a verdict, right, wrong or hedged: never sent. 20 rows: verl pads a batch to a multiple of
    # reward.num_workers by repeating rows, and a repeat on the other worker would be judged again
    for answer, gold in (("B", "B"), ("C", "B"), ("B or C", "B"), ("D", "B")):
        rows.append({"id": f"rule {answer}", "response": f"<think>look</think><answer>{answer}</answer>", "ground_truth": gold,
                     "extra_info": {"category": "multiple choice", "problem": PROBLEM}, "prompt": PROBLEM})  # fmt: skip
    return rows


def _oracle():
    return {("B. dog", f"The animal in picture {i}."): float(i % 2 == 0) for i in range(RESCUES)}  # even pictures show the dog


@pytest.fixture(scope="module")
def tokenizer(qwen_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen_tokenizer_dir)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("manager", ["wethink", "naive"], ids=["wethink_manager", "naive_compute_score_async"])
def test_rescue_and_cluster_rate_limit_in_verls_reward_loop(ray_local, qwen_tokenizer_dir, tokenizer, manager):
    kwargs = "+reward.reward_kwargs" if manager == "wethink" else "+reward.custom_reward_function.reward_kwargs"
    rows = _rows()
    with ScriptedJudgeServer(default="oracle", oracle=_oracle(), quota_rpm=240, quota_burst_s=2.0) as srv:
        cfg = compose_verl_config([
            f"actor_rollout_ref.model.path={qwen_tokenizer_dir}", "reward.num_workers=2",
            f"reward.reward_manager.name={manager}",
            "reward.custom_reward_function.path=pkg://wethink_verl.integrations.verl",
            "reward.custom_reward_function.name=compute_score_async",
            f"{kwargs}.judge.enable=true", f"{kwargs}.judge.url={srv.url}", f"{kwargs}.judge.max_retries=0",
            f"{kwargs}.judge.timeout_s=30", f"{kwargs}.judge.rescue.policy=abstain",
            f"{kwargs}.judge.rate_limit.requests_per_minute=240", f"{kwargs}.judge.rate_limit.scope=cluster",
        ])  # fmt: skip
        data = make_reward_batch(tokenizer, rows)
        out = score_with_reward_loop(cfg, data)
    assert out.meta_info["reward_extra_keys"] == list(EXTRA_INFO_KEYS)
    nt = out.non_tensor_batch
    by_id = {row["id"]: i for i, row in enumerate(rows)}
    assert srv.requests == RESCUES and srv.by_behaviour["quota"] == 0, dict(srv.by_behaviour)  # one shared quota: never over it
    scores = last_token_scores(out.batch["rm_scores"], data)
    for i in range(RESCUES):
        k = by_id[f"rescue{i}"]
        assert (nt["verifier"][k], nt["judge_rescued"][k], nt["judge_failed"][k]) == ("choice>judge", 1, 0)
        assert nt["accuracy"][k] == float(i % 2 == 0) and scores[k] == pytest.approx(0.7 * nt["accuracy"][k] + 0.3)
    for answer, acc in (("B", 1.0), ("C", 0.0), ("B or C", 0.0), ("D", 0.0)):
        k = by_id[f"rule {answer}"]
        assert (nt["verifier"][k], nt["judge_rescued"][k], nt["accuracy"][k]) == ("choice", 0, acc)
    # the limiter's wait is a per-sample metric: 16 requests at under 4 a second after a burst of 4
    waits = [float(nt["judge_wait_ms"][by_id[f"rescue{i}"]]) for i in range(RESCUES)]
    assert max(waits) >= 2000 and sum(w > 0 for w in waits) >= RESCUES - 4
