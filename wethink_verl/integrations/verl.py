"""verl reward functions: ``reward.custom_reward_function.path=pkg://wethink_verl.integrations.verl``
with ``name=compute_score`` (sync) or ``name=compute_score_async``.

Works with any verl reward-loop manager (``naive`` included). Config overrides arrive as keyword
arguments from ``+reward.custom_reward_function.reward_kwargs.<key>=…``. With verl's in-cluster
judge (``reward.reward_model.enable=True``) verl passes ``reward_router_address`` and the judge
posts there. Returns the fixed ``EXTRA_INFO_KEYS`` (``score``, ``acc``, …) for every sample.
"""

from __future__ import annotations

import logging
from typing import Any

from ..reward.compose import extra_info as _extra_info
from ..rows import sample_from_row
from .scorers import config_from_kwargs, get_scorer

logger = logging.getLogger("wethink_verl.integrations.verl")


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None, **kwargs: Any) -> dict:
    """Sync: safe in verl's executor threads (no signal.alarm; math-verify runs in bounded workers)."""
    scorer = get_scorer(config_from_kwargs(kwargs), kwargs.get("reward_router_address"))
    return _extra_info(scorer.score(sample_from_row(solution_str, ground_truth, extra_info, data_source)))


async def compute_score_async(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict | None = None,
    reward_router_address: str | None = None,
    reward_model_tokenizer: Any = None,
    **kwargs: Any,
) -> dict:
    """Async: awaited on verl's RewardLoopWorker event loop; the judge (if any) is awaited there."""
    scorer = get_scorer(config_from_kwargs(kwargs), reward_router_address)
    return _extra_info(await scorer.ascore(sample_from_row(solution_str, ground_truth, extra_info, data_source)))
