"""Every reward mode inside verl 0.9.1's real training loop on CPU (tests/trainer_harness.py says
what is real and which GPU-only pieces stand in): the rewards the trainer holds after the reward
stage equal the scorer applied directly to the same rows and responses, every trajectory carries
the fixed extra keys, the judge requests (with the image) reached the judge, and verl's own sleep /
wake calls on the judge replicas are the ones each mode makes."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

pytest.importorskip("verl")
pytest.importorskip("transfer_queue")

from trainer_harness import (  # noqa: E402  (tests dir is on sys.path: conftest.py)
    AgentLoopWorkers,
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
    start_reward_loop,
    start_transfer_queue,
    stop_reward_loop,
    vllm_http_requests,
)

from wethink_verl.reward import EXTRA_INFO_KEYS  # noqa: E402

# No process a mode starts outlives it, nor one the module's shared fixtures start the module.
# Deadlines: a mode takes 5-60 s on a loaded 2-core machine; the first V1 test also starts Ray's
# TransferQueue, policy and agent-loop actors, the first vLLM test the vLLM server (unless an
# earlier module did). method="thread": past its deadline a test dumps every thread's stack and
# ends the run, because what hangs here need not be interruptible (a forked child stuck in
# libgomp ignores the SIGTERM its pool's teardown sends: a signal-method timeout fails the test,
# then the teardown hangs for good)
DEADLINE = pytest.mark.timeout(240, method="thread")
FIRST_DEADLINE = pytest.mark.timeout(480, method="thread")
pytestmark = [
    pytest.mark.slow, DEADLINE,
    pytest.mark.usefixtures("no_leftover_processes_module", "openmp_started", "only_the_router_forks", "no_leftover_processes"),
]  # fmt: skip
TRAIN_ROWS, VAL_ROWS, N = 6, 2, 5


@pytest.fixture(scope="module")
def openmp_started():
    """This process's OpenMP thread pool running, as after any earlier test's torch op: a child
    forked from here that runs torch (the image processor) then hangs for good, so the harness
    must fork none (`only_the_router_forks`)."""
    import torch

    torch.ones(1 << 22).add_(1.0)  # above torch's grain size: a parallel region


@pytest.fixture(scope="module")
def only_the_router_forks():
    """verl forks nothing from this process but its reward router (uvicorn: no torch). What made
    the CI run hang: verl's RLHFDataset filters overlong prompts with `datasets`' process pool
    (data.filter_overlong_prompts_workers, verl's default 1, is a pool of one in datasets >= 4),
    whose forked child waited forever in the Qwen2.5-VL image processor. The harness (and the
    recipe) set the workers to null: the filter runs in the process that builds the dataset."""
    from process_watch import forks_of_this_process

    before = len(forks_of_this_process())
    yield
    others = [stack for stack in forks_of_this_process()[before:] if "launch_router_process" not in stack]
    assert not others, "forks of the pytest process other than verl's router:\n" + "\n".join(others)


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
    from wethink_verl.testing.judge_servers import ScriptedJudgeServer

    server = ScriptedJudgeServer(default="score=1").start()
    yield server
    server.stop()


@pytest.fixture
def scripted_judge(scripted_judge_server):
    """Awake (a recorded replica left asleep by the previous mode answers 503) and recording."""
    scripted_judge_server.default = "score=1"
    scripted_judge_server.keep_bodies = True
    scripted_judge_server.bodies.clear()
    yield scripted_judge_server
    scripted_judge_server.default = "score=1"


@pytest.fixture(scope="module")
def replica_cls():
    return recording_replica_class()


# ---- what the modes share (verl allows it): the policy's server and balancer, TransferQueue, ---
# ---- each trainer's agent-loop workers; a reward loop where two modes have one reward config ---
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


@pytest.fixture(scope="module")
def v1_agent_workers(transfer_queue, policy, data, policy_dir):
    from verl.trainer.ppo.v1 import AgentLoopManagerTQ

    config = harness_config("wethink_grpo", data, policy_dir)
    config.transfer_queue.enable = True  # as TaskRunnerV1.run
    workers = AgentLoopWorkers.start(AgentLoopManagerTQ, config, policy)
    yield workers
    workers.stop()


@pytest.fixture(scope="module")
def legacy_agent_workers(policy, data, policy_dir):
    from verl.experimental.agent_loop import AgentLoopManager

    workers = AgentLoopWorkers.start(AgentLoopManager, harness_config("wethink_grpo", data, policy_dir, ["trainer.use_v1=false"]), policy)
    yield workers
    workers.stop()


@pytest.fixture
def run(request, policy, v1_agent_workers):
    """One mode: its harness on the shared pieces, one training step's rollout and reward (and
    verl's validation if asked), torn down. Returns the trajectories, the validation metrics, what
    the scripted policy served for it, and the weight-sync calls (V1). A legacy-trainer test asks
    for ``legacy_agent_workers`` itself (set up before the test: they are not its leftovers)."""

    def run_mode(harness_cls, config, validate=False, reward_loop=None):
        workers = v1_agent_workers if harness_cls is V1Harness else request.getfixturevalue("legacy_agent_workers")
        before, took = policy.stats(), {}
        with _timed(took, "start"):
            h = harness_cls(config, policy, workers, reward_loop)
        try:
            with _timed(took, "train step"):
                trajectories = h.train_step()
            with _timed(took, "validation"):
                metrics = h.validate() if validate else None
            served = {k: v - before[k] for k, v in policy.stats().items()}
            calls = getattr(getattr(h, "trainer", None), "checkpoint_manager", None)
            return trajectories, metrics, served, (calls.calls if calls else None)
        finally:
            with _timed(took, "close"):
                h.close()
            print(harness_cls.__name__, ", ".join(f"{k} {v:.1f} s" for k, v in took.items()))  # shown with a failure

    return run_mode


@contextmanager
def _timed(took: dict, what: str):
    t0 = time.monotonic()
    try:
        yield
    finally:
        took[what] = time.monotonic() - t0


@dataclass
class SharedJudge:
    """An in-cluster judge's reward loop shared by a class's modes (they differ only in the
    trainer), with its own scripted judge: its sleep state is this loop's replicas' alone."""

    overrides: list
    target: JudgeTarget
    manager: object
    judge: object


@pytest.fixture(scope="class")
def shared_judge(request, ray_local, data, policy_dir, replica_cls, tiny_lm_dir):
    """The class's ``OVERRIDES`` on the in-cluster recipe; replicas recorded, verl's router."""
    from wethink_verl.testing.judge_servers import ScriptedJudgeServer

    judge = ScriptedJudgeServer(default="score=1").start()
    judge.keep_bodies = True
    try:
        target = JudgeTarget(judge.address, scripted=judge)
        overrides = _incluster(replica_cls, target, tiny_lm_dir, *request.cls.OVERRIDES)
        manager = start_reward_loop(harness_config("wethink_grpo_judge_incluster", data, policy_dir, overrides))
        try:
            yield SharedJudge(overrides, target, manager, judge)
        finally:
            stop_reward_loop(manager)
    finally:
        judge.stop()


def _direct_scorer(config, judge_address=None):
    """The scorer as the manager builds it from the same config, outside verl."""
    from wethink_verl.integrations.scorers import get_scorer
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
    print(f"{len(want)} rewards equal the direct scorer's:", _rewards_by_verifier(trajectories))
    return want


def _rewards_by_verifier(trajectories) -> dict:
    """verifier -> {reward: trajectories}, for the log."""
    out: dict = {}
    for t in trajectories:
        scores = out.setdefault(t["reward_extra_info"]["verifier"], Counter())
        scores[round(last_score(t["rm_scores"]), 3)] += 1
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


def _check_rewards_scripted(trajectories, tokenizer, scorer, images, scripted_judge):
    """``_check_rewards`` against the scripted judge, awake (the run may have left its replica
    asleep) and not recording (the direct scorer's requests are not the trainer's)."""
    scripted_judge.default, scripted_judge.keep_bodies = "score=1", False
    try:
        return _check_rewards(trajectories, tokenizer, scorer, images)
    finally:
        scripted_judge.keep_bodies = True


def _check_request_count(trajectories, tokenizer, sent: int) -> None:
    """Each distinct descriptive answer reached the judge, never more than once per trajectory
    with an answer (fewer where the worker's cache knew it): no retry."""
    from wethink_verl.verifiers.extract import extract_answer

    answers = [extract_answer(tokenizer.decode(t["response_ids"], skip_special_tokens=True)).answer
               for t in trajectories if t["extra_info"]["category"] == "descriptive"]  # fmt: skip
    answers = [a for a in answers if a is not None]
    print(f"judge requests: {sent} ({len(set(answers))} distinct answers, {len(answers)} trajectories with one)")
    assert 0 < len(set(answers)) <= sent <= len(answers), (sent, answers)


def _has_image(body) -> bool:
    return judge_bodies_with_images([body]) == 1


def _image_then_text_retries(bodies) -> int:
    """A judge that refuses the image gets the item again on its text alone (issue 13), once, and
    after IMAGE_REJECTIONS_OFF refusals no image at all: every request with an image has its
    text-only retry (items run concurrently: not necessarily next to it). Returns the number of
    requests that carried the image."""
    with_image = sum(_has_image(b) for b in bodies)
    assert 0 < with_image <= len(bodies) - with_image, (with_image, len(bodies))
    return with_image


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
@FIRST_DEADLINE
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

    from wethink_verl.report.build import build_report

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
    _check_request_count(trajectories, tokenizer, sent)
    assert judge_bodies_with_images(bodies) == sent  # the row's image went with every request
    # the judge model was discovered from /v1/models, not a literal "judge"
    assert {b.get("model") for b in bodies} == {scripted_judge.model}


# ---- an in-cluster judge through verl's RewardModelManager and router -------------------------
class TestInClusterStreaming:
    """enable_resource_pool=true (the recipe): each trajectory is scored while the others roll
    out (AgentLoopWorker._compute_score), through verl's router; free_cache_engine=false (the
    recipe): the replicas get no sleep or wake call and the judge answers. Both trainers, on one
    reward loop whose judge cache is off (the second trainer's answers would all be cached)."""

    OVERRIDES = ("reward.reward_model.rollout.free_cache_engine=false", "++reward.reward_kwargs.judge.include_image=true",
                 "++reward.reward_kwargs.judge.cache_size=0")  # fmt: skip

    def _run(self, run, shared_judge, data, policy_dir, tokenizer, harness_cls, *extra):
        cfg = harness_config("wethink_grpo_judge_incluster", data, policy_dir, [*shared_judge.overrides, *extra])
        judge = shared_judge.judge
        judge.bodies.clear()
        before = judge.requests
        trajectories, _, _, _ = run(harness_cls, cfg, reward_loop=shared_judge.manager)
        sent, bodies = judge.requests - before, list(judge.bodies)
        assert shared_judge.target.calls == [("init_standalone", 0)]
        _check_judged(trajectories, tokenizer)
        _check_request_count(trajectories, tokenizer, sent)
        assert judge_bodies_with_images(bodies) == sent  # through verl's router, with the image
        # the same scorer straight at the judge (verl's router stands between them in the run)
        _check_rewards_scripted(trajectories, tokenizer, _direct_scorer(cfg, judge.address), data["images"], judge)
        return trajectories

    def test_v1(self, run, shared_judge, data, policy_dir, tokenizer):
        self._run(run, shared_judge, data, policy_dir, tokenizer, V1Harness)

    def test_legacy_trainer(self, run, legacy_agent_workers, shared_judge, data, policy_dir, tokenizer):
        self._run(run, shared_judge, data, policy_dir, tokenizer, LegacyHarness, "trainer.use_v1=false")


def test_v1_incluster_judge_verl_default_sleeps_replicas(run, data, policy_dir, tokenizer, scripted_judge, replica_cls, tiny_lm_dir):
    """verl's default free_cache_engine=true with the streaming recipe: RewardModelManager puts
    the replicas to sleep at start and the streaming path never wakes them (only the colocated
    compute_rm_score does), so every judge item fails: the recipe must set it false.

    The sleeping stand-in answers 503. verl's router turns it into a bare 500 while the judge
    still answers GET /v1/models, which is how a request the judge rejects (a 4xx) looks behind
    the router too: VerlRouterTransport takes it for a client error, not retried, and the item
    scores 0 (``judge>zero``), counted as a judge failure: never a verdict."""
    target = JudgeTarget(scripted_judge.address, scripted=scripted_judge)
    overrides = _incluster(replica_cls, target, tiny_lm_dir, "reward.reward_model.rollout.free_cache_engine=true",
                           "++reward.reward_kwargs.judge.include_image=true")  # fmt: skip
    cfg = harness_config("wethink_grpo_judge_incluster", data, policy_dir, overrides)
    before, asleep_before = scripted_judge.requests, scripted_judge.by_behaviour["503"]
    trajectories, _, _, _ = run(V1Harness, cfg)
    sent = scripted_judge.requests - before
    assert target.calls == [("init_standalone", 0), ("sleep", 0)]  # and no wake_up
    with_image = _image_then_text_retries(list(scripted_judge.bodies))
    assert scripted_judge.by_behaviour["503"] - asleep_before == sent  # every request found it asleep
    _check_judged(trajectories, tokenizer, verifier="judge>zero")
    # a client error is not retried (but the one text-only retry of a refused image) nor counted to the breaker
    _check_request_count(trajectories, tokenizer, sent - with_image)
    for t in trajectories:
        info = t["reward_extra_info"]
        if info["verifier"] == "judge>zero":
            assert "judge failed" in info["reason"] and last_score(t["rm_scores"]) == pytest.approx(0.3 * info["format"]), info


class TestInClusterColocated:
    """enable_resource_pool=false: the judge shares the policy's GPUs, so verl scores the merged
    batch after the rollout (``_compute_reward_colocate``), waking the replicas for it and putting
    them back to sleep (free_cache_engine=true frees their memory for the policy in between)."""

    OVERRIDES = ("reward.reward_model.enable_resource_pool=false", "reward.reward_model.rollout.free_cache_engine=true",
                 "++reward.reward_kwargs.judge.include_image=true")  # fmt: skip

    def test_v1_refuses_stripped_samples(self, run, shared_judge, data, policy_dir):
        """V1's _compute_reward_colocate passes no reward_model or extra_info. Every sample is an
        error (score 0, error counted) saying which mode stripped it and what to set, never a
        format-only 0.3; nothing reaches the judge."""
        cfg = harness_config("wethink_grpo_judge_incluster", data, policy_dir, list(shared_judge.overrides))
        calls, before = len(shared_judge.target.calls), shared_judge.judge.requests
        trajectories, metrics, _, ckpt_calls = run(V1Harness, cfg, validate=True, reward_loop=shared_judge.manager)
        assert len(trajectories) == TRAIN_ROWS * N
        print("rewards:", _rewards_by_verifier(trajectories))
        for t in trajectories:
            info = t["reward_extra_info"]
            assert last_score(t["rm_scores"]) == 0.0 and info["score"] == 0.0 and info["accuracy"] == 0.0, info
            assert info["error"] == 1 and "enable_resource_pool" in info["reason"], info
            assert tuple(k for k in EXTRA_INFO_KEYS if k in info) == EXTRA_INFO_KEYS
        assert shared_judge.judge.requests == before  # nothing to judge without a reference
        # init slept them; training and validation each wake them for the batch, then sleep them
        assert shared_judge.target.calls[:2] == [("init_standalone", 0), ("sleep", 0)]
        assert shared_judge.target.calls[calls:] == [("wake_up", 0), ("sleep", 0), ("wake_up", 0), ("sleep", 0)]
        assert ckpt_calls == ["sleep_replicas", "update_weights"]  # validation frees the policy's GPU for the judge
        assert metrics["val-core/wethink/reward/mean@2"] == 0.0

    def test_legacy_trainer_scores(self, run, legacy_agent_workers, shared_judge, data, policy_dir, tokenizer):
        """The legacy trainer's colocated path passes the whole batch: the judge sharing the
        policy's GPUs is supported there, and its rewards equal the scorer's."""
        cfg = harness_config("wethink_grpo_judge_incluster", data, policy_dir, [*shared_judge.overrides, "trainer.use_v1=false"])
        judge = shared_judge.judge
        judge.bodies.clear()
        calls, before = len(shared_judge.target.calls), judge.requests
        trajectories, _, _, _ = run(LegacyHarness, cfg, reward_loop=shared_judge.manager)
        sent, bodies = judge.requests - before, list(judge.bodies)
        assert shared_judge.target.calls[calls:] == [("wake_up", 0), ("sleep", 0)]
        assert judge.by_behaviour.get("503", 0) == 0  # never asked while asleep
        _check_judged(trajectories, tokenizer)
        _check_request_count(trajectories, tokenizer, sent)
        assert judge_bodies_with_images(bodies) == sent
        _check_rewards_scripted(trajectories, tokenizer, _direct_scorer(cfg, judge.address), data["images"], judge)


def test_v1_colocated_error_message_names_the_mode(policy_dir, data):
    """The manager's message for this mode, as a user sees it in the log."""
    import asyncio

    from transformers import AutoTokenizer

    from wethink_verl.testing.verl_batch import make_reward_batch
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


@FIRST_DEADLINE
@pytest.mark.parametrize("include_image", [True, False], ids=["image_rejected", "text_verdicts"])
def test_v1_incluster_vllm_server(run, data, policy_dir, tokenizer, replica_cls, tiny_lm_dir, vllm_server, vllm_proxy, include_image):
    """The real vLLM server (the text-only tiny Qwen2) as the judge replica behind verl's router,
    with a recording pass-through (RecordingProxy) between the router and vLLM.

    image_rejected: the client sends the row's image as an image_url part; vLLM answers 400 and
    verl's router turns it into a bare 500. Each item is one request (VerlRouterTransport reads it
    as the judge's client error: no retry, no breaker) and scores 0 (``judge>zero``, issue 11's
    policy for a request the judge refuses), counted as a judge failure: never a verdict.
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
    assert {b["body"]["model"] for b in exchanges} == {tiny_lm_dir}  # discovered through verl's router
    if include_image:
        with_image = _image_then_text_retries([e["body"] for e in exchanges])
        _check_request_count(trajectories, tokenizer, sent - with_image)
        statuses = {(_has_image(e["body"]), e["status"]) for e in exchanges}
        assert statuses <= {(True, 400), (False, 200)}, exchanges[0]["reply"]  # vLLM refuses the image, answers the text
        assert http.get("4xx") == with_image and http.get("2xx", 0) == sent - with_image, http  # vLLM's own count
        _check_judged(trajectories, tokenizer, verifier="judge>zero")  # the random model's text reply has no verdict
    else:
        _check_request_count(trajectories, tokenizer, sent)
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
        assert 0 < vllm_proxy.replayed <= sent and vllm_proxy.forwarded_in_replay == 0  # only the trainer's requests
