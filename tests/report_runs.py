"""Run directories for the report tests, written by verl's own dump code.

Each step's rows are scored by our ``wethink`` reward manager (``run_single``, as verl's
RewardLoopWorker calls it), its ``reward_extra_info`` stacked into arrays as verl's agent loop
does, and dumped by verl 0.9.1's ``RayPPOTrainer._log_rollout_data`` -> ``_write_generations`` on
a bare trainer object (only the tokenizer, step counter and dump executor it uses are set).
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import numpy as np
from verl_rows import example_rows

HOSTILE = (
    '<script>document.title="PWNED"</script><img src=x onerror="document.body.dataset.pwned=1">'
    "</pre></td></table><b>bold</b> &amp; <!-- comment --> <style>body{display:none}</style>"
)
HEDGE = "<think>Could be either.</think>\n<answer>B or C</answer>"
NO_TAGS = "The answer is B."


def _bare_trainer(tokenizer, step: int):
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    trainer = RayPPOTrainer.__new__(RayPPOTrainer)  # no workers, no Ray: only the dump path
    trainer.tokenizer = tokenizer
    trainer.global_steps = step
    trainer._init_dump_executor()
    return trainer


def step_rows(step: int, hack_from: int, rng: random.Random, copies: int = 4) -> list[dict]:
    """Every example row ``copies`` times; from ``hack_from`` on, 70 % of the multiple-choice rows
    hedge and the rest drop the tags (what a policy gaming the reward looks like)."""
    rows = []
    for row in example_rows() * copies:
        row = dict(row, extra_info=dict(row["extra_info"]))
        if step >= hack_from and row["extra_info"].get("category") == "multiple choice":
            roll = rng.random()
            row["response"] = HEDGE if roll < 0.7 else NO_TAGS
        rows.append(row)
    # hostile HTML/JS in a response the page must show (a format-only row: few distinct responses)
    rows.append({"id": "hostile", "response": f"<think>{HOSTILE}</think><answer>ok</answer>", "ground_truth": None,
                 "extra_info": {"verifier": "format", "category": "<i>descriptive</i>"}, "prompt": "Which?"})  # fmt: skip
    return rows


def score_and_dump(tokenizer, rows: list[dict], step: int, dump_dir: Path, extra_info: bool = True) -> None:
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    from wethink_verl.testing.verl_batch import compose_verl_config, make_reward_batch
    from wethink_verl.integrations.verl_manager import WeThinkRewardManager

    data = make_reward_batch(tokenizer, rows)
    manager = WeThinkRewardManager(config=compose_verl_config(["reward.reward_manager.name=wethink"]), tokenizer=tokenizer)

    async def score_all():
        return await asyncio.gather(*(manager.run_single(data[i : i + 1]) for i in range(len(data))))

    outs = asyncio.run(score_all())
    data.batch["token_level_scores"] = WeThinkRewardManager.assemble_rm_scores(data, [o["reward_score"] for o in outs])
    infos = [o["reward_extra_info"] for o in outs]
    trainer = _bare_trainer(tokenizer, step)
    try:
        if extra_info:  # the legacy trainer (and validation): every reward_extra_info key
            reward_extra = {k: np.array([info[k] for info in infos]) for k in infos[0]}
            trainer._log_rollout_data(data, reward_extra, {}, str(dump_dir))
        else:  # what verl 0.9.1's V1 trainer passes for training rollouts: uid only
            inputs = tokenizer.batch_decode(data.batch["prompts"], skip_special_tokens=True)
            outputs = tokenizer.batch_decode(data.batch["responses"], skip_special_tokens=True)
            RayPPOTrainer._write_generations(inputs, outputs, [r["ground_truth"] for r in rows],
                                             [o["reward_score"] for o in outs], {"uid": [f"u{i}" for i in range(len(rows))]},
                                             str(dump_dir), step)  # fmt: skip
    finally:
        trainer._shutdown_dump_executor()


def write_run(tokenizer, root: Path, steps: int = 8, hack_from: int = 6, extra_info: bool = True, validation: bool = True,
              copies: int = 4) -> Path:  # fmt: skip
    rng = random.Random(0)
    for step in range(1, steps + 1):
        score_and_dump(tokenizer, step_rows(step, hack_from, rng, copies), step, root / "rollouts", extra_info)
        if validation and step % 4 == 0:
            score_and_dump(tokenizer, step_rows(0, hack_from, rng, copies), step, root / "validation")
    return root


def write_easyr1_log(path: Path, steps: int = 6) -> Path:
    """EasyR1's ``file`` logger shape (verl/utils/logger/logger.py FileLogger.log):
    ``{"step": step, **unflatten_dict(metrics)}`` with the ``reward/<key>`` means."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for step in range(1, steps + 1):
            acc = 0.2 + 0.1 * step
            reward = {"overall": 0.7 * acc + 0.3, "accuracy": acc, "format": 1.0, "judge_used": 0.25, "judge_failed": 0.0,
                      "fallback": 0.0, "timed_out": 0.0}  # fmt: skip
            f.write(json.dumps({"step": step, "reward": reward, "response_length": {"mean": 100.0 + step}, "actor": {"lr": 1e-6}}) + "\n")
    return path
