"""Every reward mode inside verl 0.9.1's real training loop on CPU (tests/trainer_harness.py says
what is real and which GPU-only pieces stand in): the rewards the trainer holds after the reward
stage equal the scorer applied directly to the same rows and responses, every trajectory carries
the fixed extra keys, the judge requests (with the image) reached the judge, and verl's own sleep /
wake calls on the judge replicas are the ones each mode makes."""

from __future__ import annotations

from collections import Counter

import pytest

pytest.importorskip("verl")
pytest.importorskip("transfer_queue")

from trainer_harness import (  # noqa: E402  (tests dir is on sys.path: conftest.py)
    JudgeTarget,
    LegacyHarness,
    RecordingProxy,
    ScriptedPolicy,
    V1Harness,
    direct_results,
    harness_config,
    image_paths,
    judge_bodies_with_images,
    last_score,
    read_rows,
    recording_replica_class,
    scripted_responses,
    start_transfer_queue,
    vllm_http_requests,
)

from wethink_verl.reward import EXTRA_INFO_KEYS  # noqa: E402

# no process a mode starts outlives it, nor one the module's shared fixtures start the module
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_leftover_processes_module", "openmp_started", "no_leftover_processes")]
TRAIN_ROWS, VAL_ROWS, N = 6, 2, 5


@pytest.fixture(scope="module")
def openmp_started():
    """This process's OpenMP thread pool running, as after any earlier test's torch op: a child
    forked from here that runs torch (the image processor) then hangs for good, so the harness
    must fork none (the legacy-colocated mode once hung 794 s in `datasets`' forked filter pool)."""
    import torch

    torch.ones(1 << 22).add_(1.0)  # above torch's grain size: a parallel region


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from wethink_verl.demo.gpu_smoke import prepare_smoke_data

    d = prepare_smoke_data(tmp_path_factory.mktemp("trainer_loop"), rows=TRAIN_ROWS, val_rows=VAL_ROWS)
    rows = read_rows(d["train"]) + read_rows(d["val"])
    cats = Counter(r["category"] for r in read_rows(d["train"]))
    assert {"descriptive", "multiple choice", "fill-in-the-blank"} <= set(cats), cats
    return {**d, "train_rows": TRAIN_ROWS, "script": scripted_responses(rows), "images": image_paths(d["train"], d["val"])}


@pytest.fixture(scope="module")
def policy_dir():
    """verl's HFModelConfig needs a model folder (config with architectures): the tiny random
    Qwen2.5-VL, with the offline processor (its weights are never loaded here)."""
    from wethink_verl.demo.gpu_smoke import build_tiny_qwen25vl_policy

    return str(build_tiny_qwen25vl_policy())


@pytest.fixture(scope="module")
def tokenizer(policy_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(policy_dir)


@pytest.fixture(scope="module")
def scripted_judge_server():
    from wethink_verl.judge.testing import ScriptedJudgeServer

    server = ScriptedJudgeServer(default="score=1").start()
    yield server
    server.stop()


@pytest.fixture
def scripted_judge(scripted_judge_server):
    """Awake (a recorded replica left asleep by the previous mode answers 503) and recording."""
    scripted_judge_server.default = "score=1"
    scripted_judge_server.keep_bodies = True
    yield scripted_judge_server
    scripted_judge_server.default = "score=1"


@pytest.fixture(scope="module")
def replica_cls():
    return recording_replica_class()


# ---- what the modes share (verl allows it): the policy's server and balancer, TransferQueue -----
@pytest.fixture(scope="module")
def policy(ray_local, data, policy_dir):
    p = ScriptedPolicy.start(policy_dir, data["script"])
    yield p
    p.stop()


@pytest.fixture(scope="module")
def transfer_queue(ray_local, data, policy_dir):
    tq = start_transfer_queue(harness_config("wethink_grpo", data, policy_dir))
    yield tq
    tq.close()


@pytest.fixture
def run(policy, transfer_queue):
    """One mode: its harness on the shared pieces, one training step's rollout and reward (and
    verl's validation if asked), torn down. Returns the trajectories, the validation metrics, what
    the scripted policy served for it, and the weight-sync calls (V1)."""

    def run_mode(harness_cls, config, validate=False):
        before = policy.stats()
        h = harness_cls(config, policy)
        try:
            trajectories = h.train_step()
            metrics = h.validate() if validate else None
            served = {k: v - before[k] for k, v in policy.stats().items()}
            calls = getattr(getattr(h, "trainer", None), "checkpoint_manager", None)
            return trajectories, metrics, served, (calls.calls if calls else None)
        finally:
            h.close()

    return run_mode


def _direct_scorer(config, judge_address=None):
    """The scorer as the manager builds it from the same config, outside verl."""
    from wethink_verl.integrations.common import get_scorer
    from wethink_verl.integrations.verl_manager import reward_config_from_verl

    return get_scorer(reward_config_from_verl(config), judge_address)


def _check_rewards(trajectories, tokenizer, scorer, images):
    """rewards == the scorer on the same rows; the fixed keys on every trajectory."""
    assert len(trajectories) == TRAIN_ROWS * N
    want = direct_results(trajectories, tokenizer, scorer, images)
    for t, w in zip(trajectories, want):
        info = t["reward_extra_info"]
        assert tuple(info) == EXTRA_INFO_KEYS, t["key"]
        assert last_score(t["rm_scores"]) == pytest.approx(w["score"], abs=1e-5), (t["key"], info, w)
        assert (info["accuracy"], info["acc"], info["verifier"]) == (w["accuracy"], w["accuracy"], w["verifier"]), t["key"]
    return want


def _check_rewards_scripted(trajectories, tokenizer, scorer, images, scripted_judge):
    """``_check_rewards`` against the scripted judge, awake (the run may have left its replica
    asleep) and not recording (the direct scorer's requests are not the trainer's)."""
    scripted_judge.default, scripted_judge.keep_bodies = "score=1", False
    try:
        return _check_rewards(trajectories, tokenizer, scorer, images)
    finally:
        scripted_judge.keep_bodies = True


def _by_category(trajectories, key):
    out: dict[str, list] = {}
    for t in trajectories:
        out.setdefault(t["extra_info"]["category"], []).append(t["reward_extra_info"][key])
    return out


def _descriptive_answers(trajectories, tokenizer) -> set[str]:
    from wethink_verl.verifiers.extract import extract_answer

    return {extract_answer(tokenizer.decode(t["response_ids"], skip_special_tokens=True)).answer
            for t in trajectories if t["extra_info"]["category"] == "descriptive"} - {None}  # fmt: skip


def _check_judged(trajectories, tokenizer, verifier="judge"):
    """Every descriptive trajectory with an answer was decided by the judge (or, verifier="judge>text",
    fell back, counted); the malformed one (no <answer>) never reaches the judge."""
    from wethink_verl.verifiers.extract import extract_answer

    for t in trajectories:
        if t["extra_info"]["category"] != "descriptive":
            continue
        info = t["reward_extra_info"]
        if extract_answer(tokenizer.decode(t["response_ids"], skip_special_tokens=True)).answer is None:
            assert info["judge_used"] == 0 and info["judge_failed"] == 0, info
        elif verifier == "judge":
            assert info["verifier"] == "judge" and info["judge_used"] == 1 and info["judge_failed"] == 0, info
        else:
            assert info["verifier"] == verifier and info["judge_failed"] == 1 and info["fallback"] == 1, info


def _incluster(replica_cls, target, judge_dir, *extra):
    replica_cls.target = target
    return [
        f"reward.reward_model.model_path={judge_dir}", "reward.reward_model.rollout.name=recorded_judge",
        "reward.reward_model.n_gpus_per_node=1", "reward.reward_model.nnodes=1",
        "reward.reward_model.rollout.tensor_model_parallel_size=1", *extra,
    ]  # fmt: skip


# ---- V1 (verl 0.9's default trainer) ---------------------------------------------------------
def test_v1_rule_only(run, data, policy_dir, tokenizer, tmp_path):
    cfg = harness_config("wethink_grpo", data, policy_dir)
    trajectories, metrics, served, _ = run(V1Harness, cfg, validate=True)
    want = _check_rewards(trajectories, tokenizer, _direct_scorer(cfg), data["images"])
    # right, other spelling, wrong, malformed, hack per prompt: the hack and the wrong answer score 0
    assert {w["accuracy"] for w in want} == {0.0, 1.0}
    desc = [t["reward_extra_info"] for t in trajectories if t["extra_info"]["category"] == "descriptive"]
    # judge off: the counted text fallback (the malformed answer has nothing to judge: "judge", no answer)
    assert {i["verifier"] for i in desc} == {"judge>text", "judge"}
    assert all(i["fallback"] == 1 for i in desc if i["verifier"] == "judge>text")
    # every prompt reached the scripted policy with its image; validation too (2 samples per row)
    # (a prompt whose question the script does not find gets a "?" answer, scored like any other)
    assert served["served"] + served["unmatched"] == served["images"] == TRAIN_ROWS * N + VAL_ROWS * 2, served
    assert served["served"] >= TRAIN_ROWS * N, served
    # verl's validation headline is "acc" (not the reward fallback), with our counters beside it
    assert "val-core/wethink/acc/mean@2" in metrics, sorted(metrics)
    assert "val-core/wethink/reward/mean@2" not in metrics
    for key in ("judge_used", "judge_failed", "fallback", "format", "timed_out"):
        assert f"val-aux/wethink/{key}/mean@2" in metrics, key
    _check_dumps(cfg, tmp_path)


def _check_dumps(cfg, tmp_path):
    """What verl's V1 trainer writes for `wethink-verl report`: its training dump (the recipe's
    rollout_data_dir) carries uid only, its validation dump (validation_data_dir, also in the
    recipe) every reward_extra_info key; the report shows per-verifier views from the latter."""
    import json
    from pathlib import Path

    from wethink_verl.report.cli import build_report

    train = [json.loads(ln) for ln in (Path(cfg.trainer.rollout_data_dir) / "1.jsonl").read_text().splitlines()]
    val = [json.loads(ln) for ln in (Path(cfg.trainer.validation_data_dir) / "1.jsonl").read_text().splitlines()]
    base = {"input", "output", "gts", "score", "step"}
    assert len(train) == TRAIN_ROWS * N and all(set(r) == base | {"uid"} for r in train), sorted(train[0])
    assert len(val) == VAL_ROWS * 2 and all(set(EXTRA_INFO_KEYS) | base <= set(r) for r in val), sorted(val[0])
    summary = build_report(Path(cfg.trainer.rollout_data_dir).parent, tmp_path / "report", workers=1, quiet=True)
    assert summary["series"]["validation"]["by_verifier"] and summary["series"]["rollouts"]["by_verifier"] == {}


def test_v1_external_judge(run, data, policy_dir, tokenizer, scripted_judge):
    overrides = [f"reward.reward_kwargs.judge.url={scripted_judge.url}", "reward.reward_kwargs.judge.api_key_env=null",
                 "++reward.reward_kwargs.judge.include_image=true"]  # fmt: skip
    cfg = harness_config("wethink_grpo_judge_external", data, policy_dir, overrides)
    scripted_judge.bodies.clear()
    before = scripted_judge.requests
    trajectories, _, _, _ = run(V1Harness, cfg)
    sent = scripted_judge.requests - before
    bodies = list(scripted_judge.bodies)
    _check_rewards_scripted(trajectories, tokenizer, _direct_scorer(cfg), data["images"], scripted_judge)
    _check_judged(trajectories, tokenizer)
    # each distinct answer at least once (two workers, each with its own cache), never more than one per row
    assert len(_descriptive_answers(trajectories, tokenizer)) <= sent <= TRAIN_ROWS * N
    assert judge_bodies_with_images(bodies) == sent  # the row's image went with every request
    # the judge model was discovered from /v1/models, not a literal "judge"
    assert {b.get("model") for b in bodies} == {scripted_judge.model}


# ---- V1 + in-cluster judge through verl's RewardModelManager and router ------------------------
@pytest.mark.parametrize("free_cache_engine", [False, True], ids=["recipe_keeps_replicas_awake", "verl_default_sleeps_them"])
def test_v1_incluster_judge_streaming(run, data, policy_dir, tokenizer, scripted_judge, replica_cls, tiny_lm_dir, free_cache_engine):
    """enable_resource_pool=true (the recipe): scored while rolling out, through verl's router.
    With free_cache_engine=false (the recipe) the replicas get no sleep/wake call and the judge
    answers; with verl's default (true) RewardModelManager puts them to sleep at start and the
    streaming path never wakes them: every judge item fails (a sleeping replica answers 503)."""
    target = JudgeTarget(scripted_judge.address, scripted=scripted_judge)
    overrides = _incluster(replica_cls, target, tiny_lm_dir, f"reward.reward_model.rollout.free_cache_engine={free_cache_engine}",
                           "++reward.reward_kwargs.judge.include_image=true", "reward.reward_kwargs.judge.max_retries=0")  # fmt: skip
    cfg = harness_config("wethink_grpo_judge_incluster", data, policy_dir, overrides)
    scripted_judge.bodies.clear()
    before = scripted_judge.requests
    try:
        trajectories, _, _, _ = run(V1Harness, cfg)
    finally:
        scripted_judge.default = "score=1"
    sent, bodies = scripted_judge.requests - before, list(scripted_judge.bodies)
    assert target.calls == ([("init_standalone", 0)] if not free_cache_engine else [("init_standalone", 0), ("sleep", 0)])
    assert len(_descriptive_answers(trajectories, tokenizer)) <= sent <= TRAIN_ROWS * N
    assert judge_bodies_with_images(bodies) == sent  # through verl's router, with the image
    if free_cache_engine:
        _check_judged(trajectories, tokenizer, verifier="judge>text")  # asleep: 503, counted fallback
        return
    _check_judged(trajectories, tokenizer)
    # the same scorer straight at the judge (verl's router stands between them in the run)
    _check_rewards_scripted(trajectories, tokenizer, _direct_scorer(cfg, scripted_judge.address), data["images"], scripted_judge)


def test_v1_colocated_judge_refuses_stripped_samples(run, data, policy_dir, tokenizer, scripted_judge, replica_cls, tiny_lm_dir):
    """enable_resource_pool=false under V1: _compute_reward_colocate passes no reward_model or
    extra_info. Every sample is an error (score 0, error counted) saying which mode stripped it and
    what to set, never a format-only 0.3. verl wakes the replicas for it and puts them back to sleep."""
    target = JudgeTarget(scripted_judge.address, scripted=scripted_judge)
    overrides = _incluster(replica_cls, target, tiny_lm_dir, "reward.reward_model.enable_resource_pool=false",
                           "reward.reward_model.rollout.free_cache_engine=true")  # fmt: skip
    cfg = harness_config("wethink_grpo_judge_incluster", data, policy_dir, overrides)
    before = scripted_judge.requests
    trajectories, metrics, _, ckpt_calls = run(V1Harness, cfg, validate=True)
    assert len(trajectories) == TRAIN_ROWS * N
    for t in trajectories:
        info = t["reward_extra_info"]
        assert last_score(t["rm_scores"]) == 0.0 and info["score"] == 0.0 and info["accuracy"] == 0.0, info
        assert tuple(k for k in EXTRA_INFO_KEYS if k in info) == EXTRA_INFO_KEYS
    assert scripted_judge.requests == before  # nothing to judge without a reference
    # init sleeps them; training and validation each wake them for the batch, then sleep them
    assert target.calls == [("init_standalone", 0), ("sleep", 0), ("wake_up", 0), ("sleep", 0), ("wake_up", 0), ("sleep", 0)]
    assert ckpt_calls == ["sleep_replicas", "update_weights"]  # validation frees the policy's GPU for the judge
    assert metrics["val-core/wethink/reward/mean@2"] == 0.0


def test_v1_colocated_error_message_names_the_mode(policy_dir, data):
    """The manager's message for this mode, as a user sees it in the log."""
    import asyncio

    from transformers import AutoTokenizer

    from wethink_verl.integrations.verl_batch import make_reward_batch
    from wethink_verl.integrations.verl_manager import WeThinkRewardManager

    cfg = harness_config("wethink_grpo_judge_incluster", data, policy_dir, ["reward.reward_model.enable_resource_pool=false"])
    manager = WeThinkRewardManager(cfg, AutoTokenizer.from_pretrained(policy_dir), reward_router_address="127.0.0.1:9")
    batch = make_reward_batch(manager.tokenizer, [{"response": "<think>x</think><answer>B</answer>", "ground_truth": "B"}])
    stripped = type(batch)(batch=batch.batch, non_tensor_batch={"raw_prompt": batch.non_tensor_batch["raw_prompt"]})
    out = asyncio.run(manager.run_single(stripped[0:1]))
    assert out["reward_score"] == 0.0 and manager.failures == 1 and manager.scorer.stats.errors == 1
    reason = manager.scorer.stats.as_dict()
    assert reason["statuses"] == {"error": 1}
    full = asyncio.run(manager.run_single(batch[0:1]))  # the same sample with its fields: scored
    assert full["reward_score"] == pytest.approx(1.0)


# ---- the legacy trainer (trainer.use_v1=false) -------------------------------------------------
@pytest.mark.parametrize("enable_resource_pool", [True, False], ids=["streaming", "colocated"])
def test_legacy_trainer_incluster_judge(run, data, policy_dir, tokenizer, scripted_judge, replica_cls, tiny_lm_dir, enable_resource_pool):
    """The legacy trainer: streaming like V1, and its colocated path passes the whole batch, so the
    judge sharing the policy GPUs is supported there: rewards equal the scorer's."""
    target = JudgeTarget(scripted_judge.address, scripted=scripted_judge)
    overrides = _incluster(replica_cls, target, tiny_lm_dir, "trainer.use_v1=false", f"reward.reward_model.enable_resource_pool={enable_resource_pool}",
                           f"reward.reward_model.rollout.free_cache_engine={not enable_resource_pool}", "++reward.reward_kwargs.judge.include_image=true")  # fmt: skip
    cfg = harness_config("wethink_grpo_judge_incluster", data, policy_dir, overrides)
    scripted_judge.bodies.clear()
    before = scripted_judge.requests
    trajectories, _, _, _ = run(LegacyHarness, cfg)
    sent, bodies = scripted_judge.requests - before, list(scripted_judge.bodies)
    _check_rewards_scripted(trajectories, tokenizer, _direct_scorer(cfg, scripted_judge.address), data["images"], scripted_judge)
    _check_judged(trajectories, tokenizer)
    assert len(_descriptive_answers(trajectories, tokenizer)) <= sent <= TRAIN_ROWS * N
    assert judge_bodies_with_images(bodies) == sent
    if enable_resource_pool:
        assert target.calls == [("init_standalone", 0)]
    else:
        assert target.calls == [("init_standalone", 0), ("sleep", 0), ("wake_up", 0), ("sleep", 0)]


# ---- V1 + in-cluster judge: the real vLLM CPU server behind verl's router ----------------------
VERDICT_REGEX = r"<score>(0|0\.5|1)</score>"


@pytest.fixture
def vllm_proxy(vllm_server):
    proxy = RecordingProxy(vllm_server.address).start()
    yield proxy
    proxy.stop()


def _vllm_success(address: str) -> float:
    import urllib.request

    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read().decode()
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith("vllm:request_success_total{"))


@pytest.mark.parametrize("include_image", [True, False], ids=["image_rejected", "text_verdicts"])
def test_v1_incluster_vllm_server(run, data, policy_dir, tokenizer, replica_cls, tiny_lm_dir, vllm_server, vllm_proxy, include_image):
    """The real vLLM server (the text-only tiny Qwen2) as the judge replica behind verl's router,
    with a recording pass-through (RecordingProxy) between the router and vLLM.

    image_rejected: the client sends the row's image as an image_url part; vLLM answers 400 and
    verl's router turns it into a bare 500. Each item is one request (client_error: no retry, no
    breaker) and falls back to the text verifier, counted: never a verdict.
    text_verdicts: no image, and vLLM's structured outputs make even this random model answer a
    valid verdict: every descriptive reward is vLLM's verdict, through verl's router."""
    from omegaconf import open_dict

    target = JudgeTarget(vllm_proxy.address)
    overrides = _incluster(replica_cls, target, tiny_lm_dir, f"++reward.reward_kwargs.judge.include_image={include_image}",
                           "+reward.reward_kwargs.judge.max_tokens=16", "+reward.reward_kwargs.judge.parse_retries=0")  # fmt: skip
    cfg = harness_config("wethink_grpo_judge_incluster", data, policy_dir, overrides)
    if not include_image:
        with open_dict(cfg):
            cfg.reward.reward_kwargs.judge.request_kwargs = {"structured_outputs": {"regex": VERDICT_REGEX}}
    http_before, engine_before = vllm_http_requests(vllm_server.address), _vllm_success(vllm_server.address)
    trajectories, _, _, _ = run(V1Harness, cfg)
    http = {k: v - http_before.get(k, 0.0) for k, v in vllm_http_requests(vllm_server.address).items()}
    exchanges, sent = list(vllm_proxy.exchanges), len(vllm_proxy.exchanges)
    assert target.calls == [("init_standalone", 0)]
    # one request per distinct answer and worker (two workers, each with its own cache): no retry
    distinct = len(_descriptive_answers(trajectories, tokenizer))
    assert distinct <= sent <= 2 * distinct, (distinct, sent)
    assert {b["body"]["model"] for b in exchanges} == {tiny_lm_dir}  # discovered through verl's router
    if include_image:
        assert judge_bodies_with_images([e["body"] for e in exchanges]) == sent  # the row's image went along
        assert {e["status"] for e in exchanges} == {400}, exchanges[0]["reply"]
        assert http.get("4xx") == sent and not http.get("2xx"), http  # vLLM's own count: it got them all
        _check_judged(trajectories, tokenizer, verifier="judge>text")
    else:
        assert judge_bodies_with_images([e["body"] for e in exchanges]) == 0
        assert {e["status"] for e in exchanges} == {200} and all("<score>" in e["reply"] for e in exchanges)
        assert http.get("2xx") == sent and _vllm_success(vllm_server.address) - engine_before == sent, http
        _check_judged(trajectories, tokenizer)  # vLLM's verdicts decided every descriptive answer
    for t in trajectories:  # every other row: the rule verifiers' exact rewards
        if t["extra_info"]["category"] != "descriptive":
            assert t["reward_extra_info"]["judge_used"] == 0
    # the same scorer on the same rows with the same judge: the proxy answers what it has seen
    # with vLLM's recorded reply (an image body differs: it goes to vLLM again and gets its 400)
    vllm_proxy.replay = True
    _check_rewards(trajectories, tokenizer, _direct_scorer(cfg, vllm_proxy.address), data["images"])
    if not include_image:
        assert vllm_proxy.replayed >= distinct and vllm_proxy.forwarded_in_replay == 0
