"""Registration through verl's `verl.plugins` entry point, config composition with verl's Hydra
config, and the manager's direct contract (no Ray)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

pytest.importorskip("verl")

from verl_rows import example_rows, expected  # noqa: E402

from wethink_verl.testing.verl_batch import compose_verl_config, make_reward_batch  # noqa: E402
from wethink_verl.reward import EXTRA_INFO_KEYS  # noqa: E402

PROBE = (
    "import verl\n"
    "from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls\n"
    "try:\n"
    "    print(get_reward_manager_cls('wethink').__module__)\n"
    "except ValueError as e:\n"
    "    print('unregistered:', e)\n"
)


def _probe(env_overrides: dict) -> str:
    env = dict(os.environ, **env_overrides)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_entry_point_registers_on_plain_import_verl():
    assert _probe({"VERL_USE_EXTERNAL_PLUGINS": "auto"}) == "wethink_verl.integrations.verl_manager"


def test_entry_point_allow_list_by_name():
    assert _probe({"VERL_USE_EXTERNAL_PLUGINS": "wethink"}) == "wethink_verl.integrations.verl_manager"


def test_plugins_none_turns_it_off():
    assert _probe({"VERL_USE_EXTERNAL_PLUGINS": "none"}).startswith("unregistered: Unknown reward manager: wethink")


def test_hydra_compose_resolves_manager_function_and_kwargs():
    from verl.trainer.ppo.reward import get_custom_reward_fn, resolve_reward_manager_cls

    from wethink_verl.integrations.verl_manager import WeThinkRewardManager

    cfg = compose_verl_config(
        [
            "reward.reward_manager.name=wethink",
            "reward.custom_reward_function.path=pkg://wethink_verl.integrations.verl",
            "reward.custom_reward_function.name=compute_score",
            "+reward.custom_reward_function.reward_kwargs.format_weight=0.5",
            "+reward.custom_reward_function.reward_kwargs.accuracy_weight=0.5",
        ]
    )
    assert resolve_reward_manager_cls(cfg) is WeThinkRewardManager
    fn = get_custom_reward_fn(cfg)
    res = fn(data_source="wethink", solution_str="<think>x</think><answer>B</answer>", ground_truth="C",
             extra_info={"category": "multiple choice"})  # fmt: skip
    assert res["score"] == pytest.approx(0.5) and res["accuracy"] == 0.0 and res["format"] == 1.0


def test_main_ppo_cfg_job_composes_with_our_keys():
    """verl's own CLI prints the composed job config and exits (no Ray, no GPU)."""
    args = [
        sys.executable, "-m", "verl.trainer.main_ppo", "--cfg", "job",
        "reward.reward_manager.name=wethink",
        "reward.custom_reward_function.path=pkg://wethink_verl.integrations.verl",
        "reward.custom_reward_function.name=compute_score_async",
        "+reward.reward_kwargs.judge.enable=false",
        "data.custom_cls.path=pkg://wethink_verl.data.dataset", "data.custom_cls.name=WeThinkDataset",
    ]  # fmt: skip
    out = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "name: wethink" in out.stdout and "pkg://wethink_verl.integrations.verl" in out.stdout


def test_manager_run_single_direct(qwen_tokenizer_dir):
    """The manager without Ray: one sample at a time, the same keys for every sample."""
    from transformers import AutoTokenizer

    from wethink_verl.integrations.verl_manager import WeThinkRewardManager

    tok = AutoTokenizer.from_pretrained(qwen_tokenizer_dir)
    rows = example_rows()
    data = make_reward_batch(tok, rows)
    cfg = compose_verl_config(["reward.reward_manager.name=wethink"])
    manager = WeThinkRewardManager(config=cfg, tokenizer=tok, compute_score=None)

    async def run_all():
        return await asyncio.gather(*(manager.run_single(data[i : i + 1]) for i in range(len(data))))

    outs = asyncio.run(run_all())
    for row, out in zip(rows, outs):
        assert tuple(out["reward_extra_info"]) == EXTRA_INFO_KEYS
        assert out["reward_score"] == pytest.approx(expected(row)[2], abs=1e-3), row["id"]
    scores = [o["reward_score"] for o in outs]
    rm = WeThinkRewardManager.assemble_rm_scores(data, scores)
    lengths = data.batch["attention_mask"][:, data.batch["prompts"].shape[1] :].sum(1)
    assert [float(rm[i, int(n) - 1]) for i, n in enumerate(lengths)] == pytest.approx(scores)


def test_manager_never_raises_into_the_batch(qwen_tokenizer_dir):
    """A row verl could send with a broken extra_info is scored 0 with an error, not raised."""
    from transformers import AutoTokenizer

    from wethink_verl.integrations.verl_manager import WeThinkRewardManager

    tok = AutoTokenizer.from_pretrained(qwen_tokenizer_dir)
    data = make_reward_batch(tok, [{"response": "<think>x</think><answer>B</answer>", "ground_truth": "B"}])
    data.non_tensor_batch["extra_info"][0] = {"verifier_kwargs": 12345, "verifier": "choice"}
    manager = WeThinkRewardManager(config=compose_verl_config([]), tokenizer=tok, compute_score=None)
    out = asyncio.run(manager.run_single(data[0:1]))
    assert tuple(out["reward_extra_info"]) == EXTRA_INFO_KEYS
    assert out["reward_extra_info"]["accuracy"] == 0.0


def test_doctor_reports_registration_and_a_disabled_plugin():
    ok = subprocess.run([sys.executable, "-m", "wethink_verl.cli", "doctor", "--json"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr[-2000:]
    import json

    checks = {c["name"]: c for c in json.loads(ok.stdout)}
    assert checks["reward-loop registry"]["status"] == "OK"
    assert checks["host framework"]["detail"].startswith("verl 0.9")
    for name in ("V1 trainer (TaskRunnerV1)", "legacy trainer", "rollout router", "reward-model router"):
        assert checks[name]["status"] == "OK", checks[name]  # main_ppo's imports resolve here
    off = subprocess.run(
        [sys.executable, "-m", "wethink_verl.cli", "doctor", "--json"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, VERL_USE_EXTERNAL_PLUGINS="none"),
    )  # fmt: skip
    assert off.returncode == 1
    checks = {c["name"]: c for c in json.loads(off.stdout)}
    assert checks["reward-loop registry"]["status"] == "FAIL" and checks["plugin policy"]["status"] == "FAIL"
