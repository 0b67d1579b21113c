"""Build verl configs and reward batches outside a trainer: used by the tests, the reward-loop
benchmark and the CPU demo to drive verl's real ``RewardLoopManager`` without a policy model."""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Sequence

import numpy as np


def verl_config_dir() -> str:
    import verl

    return os.path.join(os.path.dirname(verl.__file__), "trainer", "config")


def compose_verl_config(overrides: Sequence[str], config_name: str = "ppo_trainer", config_dir: str | None = None):
    """verl's Hydra config with CLI-style overrides (``a.b=c``, ``+new.key=v``), as main_ppo sees it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir or verl_config_dir(), version_base=None):
        return compose(config_name=config_name, overrides=list(overrides))


def make_reward_batch(
    tokenizer: Any,
    rows: Iterable[Mapping[str, Any]],
    prompt_len: int | None = None,
    response_len: int | None = None,
):
    """A ``DataProto`` as verl's trainer hands it to the reward loop.

    Each row: ``response`` (text), ``ground_truth``, optional ``prompt`` (text or chat messages),
    ``extra_info`` (dict), ``data_source``. Prompts are left-padded, responses right-padded.
    """
    import torch
    from verl import DataProto

    rows = list(rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    prompt_ids, response_ids = [], []
    for row in rows:
        prompt = row.get("prompt") or "question"
        text = prompt if isinstance(prompt, str) else " ".join(str(m.get("content", "")) for m in prompt)
        prompt_ids.append(tokenizer.encode(text, add_special_tokens=False) or [pad])
        response_ids.append(tokenizer.encode(row["response"], add_special_tokens=False) or [pad])
    p_len = prompt_len or max(len(p) for p in prompt_ids)
    r_len = response_len or max(len(r) for r in response_ids)
    b = len(rows)
    prompts = torch.full((b, p_len), pad, dtype=torch.long)
    responses = torch.full((b, r_len), pad, dtype=torch.long)
    attention = torch.zeros((b, p_len + r_len), dtype=torch.long)
    for i, (p, r) in enumerate(zip(prompt_ids, response_ids)):
        p, r = p[-p_len:], r[:r_len]
        prompts[i, p_len - len(p) :] = torch.tensor(p)
        responses[i, : len(r)] = torch.tensor(r)
        attention[i, p_len - len(p) : p_len + len(r)] = 1
    input_ids = torch.cat([prompts, responses], dim=1)
    position_ids = (torch.cumsum(attention, dim=1) - 1).clamp(min=0)

    def obj_array(values: list) -> np.ndarray:
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return arr

    non_tensors = {
        "data_source": obj_array([row.get("data_source", "wethink") for row in rows]),
        "reward_model": obj_array([{"style": "rule", "ground_truth": row.get("ground_truth")} for row in rows]),
        "extra_info": obj_array([dict(row.get("extra_info") or {}) for row in rows]),
        "raw_prompt": obj_array(
            [row.get("prompt") if isinstance(row.get("prompt"), list) else [{"role": "user", "content": row.get("prompt") or ""}] for row in rows]
        ),
    }
    tensors = {"prompts": prompts, "responses": responses, "attention_mask": attention, "input_ids": input_ids, "position_ids": position_ids}
    return DataProto.from_dict(tensors=tensors, non_tensors=non_tensors)


def last_token_scores(rm_scores, data) -> list[float]:
    """The score verl placed at each row's last valid response token."""
    prompt_len = data.batch["prompts"].shape[-1]
    lengths = data.batch["attention_mask"][:, prompt_len:].sum(dim=1)
    return [float(rm_scores[i, int(lengths[i]) - 1]) for i in range(len(lengths))]


def shutdown_reward_loop(manager: Any, timeout_s: float = 30.0) -> None:
    """Kill a RewardLoopManager's named worker actors and wait until their names are free
    (verl names them reward_loop_worker_{i}; a second manager in one Ray session needs them)."""
    import time

    import ray

    names = []
    for handle in getattr(manager, "reward_loop_workers", []):
        names.append(handle._actor_id)
        ray.kill(handle, no_restart=True)
    deadline = time.monotonic() + timeout_s
    for i in range(len(names)):
        while time.monotonic() < deadline:
            try:
                ray.get_actor(f"reward_loop_worker_{i}")
            except ValueError:
                break
            time.sleep(0.1)


def score_with_reward_loop(config: Any, data: Any):
    """verl's real RewardLoopManager on one batch, torn down afterwards; returns its DataProto."""
    from verl.experimental.reward_loop.reward_loop import RewardLoopManager

    manager = RewardLoopManager(config)
    try:
        return manager.compute_rm_score(data)
    finally:
        shutdown_reward_loop(manager)
