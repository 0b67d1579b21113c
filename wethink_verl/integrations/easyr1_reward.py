"""EasyR1 reward function file (EasyR1 loads it by path and reads REWARD_TYPE / REWARD_NAME).

    worker.reward.reward_function=$(wethink-verl easyr1-reward-path):compute_score
    worker.reward.reward_function_kwargs='{"format_weight": 0.3, "judge": {"enable": true, ...}}'

EasyR1 gives only ``response``, ``response_length`` and ``ground_truth`` (the ``answer`` column).
Routing metadata travels in that column as the JSON written by ``wethink-verl prepare --format
easyr1`` (see ``wethink_verl.rows``: the packed ground truth); a plain answer string still works (routed by its
shape). Every returned dict has the same numeric keys, ``overall`` first; EasyR1 averages each.
This file is executed as a standalone module, so it imports the package absolutely.
"""

from __future__ import annotations

from typing import Any

from wethink_verl.integrations.easyr1_impl import score_batch

REWARD_NAME = "wethink"
REWARD_TYPE = "batch"  # EasyR1 >= #558 reads this; older EasyR1 defaulted to batch too


def compute_score(reward_inputs: list[dict[str, Any]], **reward_function_kwargs: Any) -> list[dict[str, float]]:
    return score_batch(reward_inputs, reward_function_kwargs)
