"""Our Ray judge service (a named, get-if-exists, restartable actor with dynamic batching) on a
tiny random-weight Qwen2 built offline, with the transformers backend; its verdicts are garbage:
these tests check serving, batching, restarts and fallback, not quality. Also: the vLLM backend
for real (offline engine, in the vLLM CPU venv), ``wethink-verl judge serve/check/stop``, and verl's
real RewardLoopManager with the ``wethink`` reward manager judging through the service."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from wethink_verl.judge import build_judge
from wethink_verl.judge.service import find_service, get_or_create_service
from wethink_verl.reward import EXTRA_INFO_KEYS, RewardScorer
from wethink_verl.testing.vllm_server import judge_python

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # each test, fixtures included

NAMESPACE = "wethink_test"


def _ray_cfg(name: str, model: str | None = None, **extra) -> dict:
    cfg = {"name": name, "namespace": NAMESPACE, "model": model, "engine": "transformers", "max_batch_size": 8, "max_wait_ms": 50.0}
    cfg.update(extra)
    return cfg


def _judge(name: str, **cfg):
    base = {"enable": True, "backend": "ray", "ray": _ray_cfg(name), "template": "short", "max_tokens": 8,
            "parse_retries": 0, "timeout_s": 60.0}  # fmt: skip
    base.update(cfg)
    return build_judge(base)


def _items(n: int, tag: str = "q"):
    return [{"question": f"{tag} {i}: what is shown?", "reference": "a cat", "answer": f"answer {i % 7}", "reasoning": "", "image": None} for i in range(n)]


@pytest.fixture(scope="module")
def service(ray_local, tiny_lm_dir):
    """The service started by the driver, as `wethink-verl judge serve` would (get-if-exists)."""
    handle = get_or_create_service(_ray_cfg("judge_svc", tiny_lm_dir))
    info = ray_local.get(handle.info.remote(), timeout=300)
    assert info["backend"] == "transformers"
    yield handle
    ray_local.kill(handle, no_restart=True)


def _info(ray, handle) -> dict:
    return ray.get(handle.info.remote(), timeout=300)


async def test_ray_service_serves_batches_and_falls_back(ray_local, service):
    before = _info(ray_local, service)
    judge = _judge("judge_svc")
    try:
        outs = await judge.judge_many(_items(24))
        s = judge.stats_dict()
    finally:
        judge.close()
    after = _info(ray_local, service)
    assert after["requests"] - before["requests"] == 24 == s["calls"]
    # dynamic batching: 24 concurrent requests went out in batches of up to 8, not one by one
    new_batches = after["batches"] - before["batches"]
    assert new_batches <= 12 and after["max_batch_seen"] == 8
    # garbage verdicts: every reply arrived, none parsed, all counted
    assert set(s["errors_by_kind"]) <= {"unparseable"}
    assert s["verdicts"] + s["failed_by_kind"].get("unparseable", 0) == 24
    scorer = RewardScorer({"judge": {"enable": True, "fallback": "zero"}}, judge=_judge("judge_svc"))
    try:
        res = scorer.score({"response": "<think>x</think><answer>a cat</answer>", "ground_truth": "a cat",
                            "category": "descriptive", "problem": "what is shown?"})  # fmt: skip
    finally:
        scorer.judge.close()
    assert res["judge_used"] + res["judge_failed"] == 1
    if res["judge_failed"]:
        assert res["verifier"] == "judge>zero" and res["fallback"] == 1


async def test_ray_service_constrained_verdicts_are_always_accepted(ray_local, service):
    """With vLLM's `structured_outputs.choice` request field, the transformers backend picks the most
    likely tier verdict: even a random-weight judge then answers in the verdict format."""
    choices = ["<score>0</score>", "<score>0.5</score>", "<score>1</score>"]
    judge = _judge("judge_svc", request_kwargs={"structured_outputs": {"choice": choices}})
    try:
        outs = await judge.judge_many(_items(12, "constrained"))
        s = judge.stats_dict()
    finally:
        judge.close()
    assert all(not o.failed for o in outs), [o.reason for o in outs if o.failed]
    assert {o.score for o in outs} <= {0.0, 0.5, 1.0} and s["verdicts"] == 12


async def test_ray_service_get_if_exists_and_batch_isolation(ray_local, service, tiny_lm_dir):
    # a second "creator" with the same name gets the same actor (get_if_exists), not a second model
    again = get_or_create_service(_ray_cfg("judge_svc", tiny_lm_dir))
    assert again._actor_id == service._actor_id == find_service("judge_svc", NAMESPACE)._actor_id
    # a prompt over max_input_tokens fails alone (client_error, not retried); its batch mates are served
    long_item = dict(_items(1, "long")[0], question="word " * 6000)
    judge = _judge("judge_svc", max_question_chars=None)
    try:
        outs = await judge.judge_many([long_item, *_items(3, "mates")])
    finally:
        judge.close()
    assert outs[0].failed and outs[0].kind == "client_error" and outs[0].attempts == 1 and "max_input_tokens" in outs[0].reason
    assert all(o.kind in ("ok", "unparseable") for o in outs[1:])


async def test_ray_service_restarts_and_clients_retry(ray_local, tiny_lm_dir):
    """A restart of our own service is not an outage: requests wait for the restarted actor (within
    their timeout) and are sent again; no retry, breaker or fallback is involved (it used to open the
    circuit and fall back for ~27 s on a loaded machine)."""
    handle = get_or_create_service(_ray_cfg("judge_restart", tiny_lm_dir, max_restarts=2))
    ray_local.get(handle.ping.remote(), timeout=600)
    judge = _judge("judge_restart", backoff_s=0.5, backoff_max_s=4.0, max_retries=6, timeout_s=300.0)
    try:
        first = await judge.judge(_items(1, "before")[0])
        assert first.kind in ("ok", "unparseable")
        before = _info(ray_local, handle)
        ray_local.kill(handle, no_restart=False)  # a crash: Ray restarts the service
        outs = await asyncio.wait_for(judge.judge_many(_items(3, "after")), timeout=600)
        after = _info(ray_local, find_service("judge_restart", NAMESPACE))
        stats = judge.stats_dict()
    finally:
        judge.close()
        ray_local.kill(handle, no_restart=True)
    assert all(o.kind in ("ok", "unparseable") for o in outs), [o.reason for o in outs]
    assert after["pid"] != before["pid"] and after["started_at"] > before["started_at"]  # a new process served them
    assert after["requests"] >= 3
    assert "connection" not in stats["errors_by_kind"] and stats["circuit_opened"] == 0 and stats["retries"] == 0, stats


async def test_ray_service_missing_falls_back_fast(ray_local):
    judge = _judge("no_such_judge_service", max_retries=1, backoff_s=0.01)
    t0 = time.perf_counter()
    try:
        out = await judge.judge(_items(1)[0])
    finally:
        judge.close()
    assert out.failed and out.kind == "connection" and "no Ray judge service" in out.reason
    assert time.perf_counter() - t0 < 10


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wethink_verl.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_judge_serve_check_stop_cli(ray_local, tiny_lm_dir, tmp_path):
    address = ray_local.get_runtime_context().gcs_address
    r = _cli("judge", "serve", "--model", tiny_lm_dir, "--address", address, "--name", "judge_cli", "--namespace", NAMESPACE,
             "--engine", "transformers", "--max-batch-size", "4")  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"name=judge_cli namespace={NAMESPACE} address={address}" in r.stdout and "backend=transformers" in r.stdout
    try:
        handle = find_service("judge_cli", NAMESPACE)
        assert handle is not None  # detached: it outlived the CLI process
        r = _cli("judge", "serve", "--model", tiny_lm_dir, "--address", address, "--name", "judge_cli", "--namespace", NAMESPACE)
        assert r.returncode == 0 and "already running" in r.stdout
        r = _cli("judge", "check", "--ray-name", "judge_cli", "--ray-namespace", NAMESPACE, "--ray-address", address,
                 "--max-tokens", "8", "--json")  # fmt: skip
        report = json.loads(r.stdout.strip().splitlines()[-1])
        assert r.returncode in (0, 3) and report["kind"] in ("ok", "unparseable") and report["latency_ms"] > 0
        rows = [{"response": "<think>x</think><answer>a cat</answer>", "answer": "a cat", "category": "descriptive", "problem": "What?"}]
        src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        src.write_text("\n".join(json.dumps(x) for x in rows) + "\n")
        r = _cli("score", "--input", str(src), "--output", str(dst), "--quiet", "--judge-ray-name", "judge_cli",
                 "--set", f"judge.ray.namespace={NAMESPACE}", "--set", f"judge.ray.address={address}", "--set", "judge.max_tokens=8")  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        assert json.loads(dst.read_text())["verifier"] in ("judge", "judge>zero")  # a noise reply scores 0
        assert "1 items, " in r.stdout
        assert _info(ray_local, handle)["requests"] >= 2
    finally:
        r = _cli("judge", "stop", "--name", "judge_cli", "--namespace", NAMESPACE, "--address", address)
    assert r.returncode == 0 and "stopped" in r.stdout
    deadline = time.monotonic() + 30
    while find_service("judge_cli", NAMESPACE) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert find_service("judge_cli", NAMESPACE) is None


def test_vllm_backend_offline_engine_on_cpu(tiny_lm_dir):
    """VLLMBackend for real: vLLM's offline engine in the vLLM CPU venv, a batch and a bad item."""
    python = judge_python()
    if not os.path.exists(python):
        pytest.skip(f"no vLLM judge environment at {python} (run `make setup-judge` or set WETHINK_JUDGE_PYTHON)")
    code = f"""
import json
from wethink_verl.judge.backends import VLLMBackend, make_backend
b = make_backend({{"model": {tiny_lm_dir!r}, "engine": "vllm", "dtype": "bfloat16",
                   "engine_kwargs": {{"max_model_len": 256, "enforce_eager": True}}}})
assert isinstance(b, VLLMBackend)
conv = lambda q: [{{"role": "system", "content": "grade"}}, {{"role": "user", "content": q}}]
out = b.generate([conv("a"), conv("b"), conv("c")], {{"temperature": 0.0, "max_tokens": 8}})
bad = b.generate([conv("x " * 400), conv("d")], {{"temperature": 0.0, "max_tokens": 8}})
print("RESULT " + json.dumps({{"out": out, "bad": bad}}))
"""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, VLLM_CPU_KVCACHE_SPACE="1")
    r = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=600, env=env, start_new_session=True)
    line = next((x for x in r.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, (r.stdout[-2000:], r.stderr[-4000:])
    res = json.loads(line[7:])
    assert len(res["out"]) == 3 and all("text" in x for x in res["out"])
    assert res["bad"][0]["kind"] == "client_error" and "text" in res["bad"][1]  # the too-long item fails alone


def test_ray_service_in_verl_reward_loop_with_wethink_manager(ray_local, service, qwen_tokenizer_dir):
    """verl's real RewardLoopManager, the `wethink` reward manager (reward.reward_manager.name=wethink),
    judge config under reward.reward_kwargs: descriptive rows go to our Ray judge service."""
    from transformers import AutoTokenizer

    from wethink_verl.testing.verl_batch import compose_verl_config, make_reward_batch, score_with_reward_loop

    rows = []
    for q, answers in (("What is on the sofa?", ["a cat", "a cat", "a dog", "a cat", "a rug"]), ("What colour?", ["red", "blue", "red", "red", "red"])):
        for a in answers:
            rows.append({"response": f"<think>look</think><answer>{a}</answer>", "ground_truth": "a cat" if "sofa" in q else "red",
                         "extra_info": {"category": "descriptive", "problem": q}, "prompt": q})  # fmt: skip
    rows.append({"response": "<think>easy</think><answer>B</answer>", "ground_truth": "B",
                 "extra_info": {"category": "multiple choice", "problem": "Pick."}, "prompt": "Pick."})  # fmt: skip
    cfg = compose_verl_config([
        f"actor_rollout_ref.model.path={qwen_tokenizer_dir}",
        "reward.num_workers=2",
        "reward.reward_manager.name=wethink",
        "+reward.reward_kwargs.judge.enable=True",
        "+reward.reward_kwargs.judge.backend=ray",
        "+reward.reward_kwargs.judge.ray.name=judge_svc",
        f"+reward.reward_kwargs.judge.ray.namespace={NAMESPACE}",
        "+reward.reward_kwargs.judge.template=short",
        "+reward.reward_kwargs.judge.max_tokens=8",
        "+reward.reward_kwargs.judge.parse_retries=0",
        "+reward.reward_kwargs.judge.fallback=zero",
    ])  # fmt: skip
    data = make_reward_batch(AutoTokenizer.from_pretrained(qwen_tokenizer_dir), rows)
    before = _info(ray_local, service)
    out = score_with_reward_loop(cfg, data)
    after = _info(ray_local, service)
    nt = out.non_tensor_batch
    assert out.meta_info["reward_extra_keys"] == list(EXTRA_INFO_KEYS)
    desc = range(10)
    served = after["requests"] - before["requests"]
    assert 6 <= served <= 10  # 6 distinct answers over two workers; repeats deduped within a worker
    assert after["batches"] - before["batches"] < served  # concurrent rows shared backend calls
    assert all(nt["judge_used"][i] + nt["judge_failed"][i] == 1 for i in desc)
    for i in desc:
        if nt["judge_failed"][i]:
            assert nt["verifier"][i] == "judge>zero" and nt["fallback"][i] == 1 and nt["accuracy"][i] == 0.0
    assert nt["verifier"][10] == "choice" and nt["accuracy"][10] == 1.0
