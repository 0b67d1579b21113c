"""One scorer (and judge) per distinct reward config in this process, shared by the verl and
EasyR1 adapters; the sample a row becomes is ``wethink_verl.rows.sample_from_row``."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Mapping

from ..reward import RewardScorer, build_config
from ..reward.config import deep_merge, describe_reward_range, reward_range

logger = logging.getLogger("wethink_verl.integrations")

# keys a framework passes to reward functions that are not reward config
_FRAMEWORK_KWARGS = {"reward_router_address", "reward_model_tokenizer", "data_source", "num_turns", "rollout_reward_scores"}

_scorers: dict[tuple[str, str | None], RewardScorer] = {}
_scorers_lock = threading.Lock()


def config_from_kwargs(kwargs: Mapping[str, Any]) -> dict:
    """Reward config overrides out of a reward function's keyword arguments."""
    return {k: v for k, v in kwargs.items() if k not in _FRAMEWORK_KWARGS}


def get_scorer(overrides: Mapping[str, Any] | None = None, reward_router_address: str | None = None) -> RewardScorer:
    """One scorer (and judge client) per distinct config in this process: reward functions are
    called once per sample, so building them per call would cost more than scoring."""
    overrides = deep_merge({}, overrides or {})  # plain dicts (verl may pass DictConfig)
    if reward_router_address and "enable" not in (overrides.get("judge") or {}) and "judge.enable" not in overrides:
        # verl launched a reward model and hands us its router: judging is what it is for
        overrides = deep_merge(overrides, {"judge": {"enable": True}})
    # keyed by the overrides as given: the config is built and validated once per distinct one,
    # not once per sample
    key = (json.dumps(overrides, sort_keys=True, default=str), reward_router_address)
    scorer = _scorers.get(key)
    if scorer is None:
        with _scorers_lock:
            scorer = _scorers.get(key)
            if scorer is None:
                cfg = build_config(overrides)
                if reward_range(cfg) != (0.0, 1.0):  # a documented choice, but say what it gives
                    logger.warning("wethink reward config: %s", describe_reward_range(cfg))
                scorer = RewardScorer(cfg, judge=make_judge(cfg, reward_router_address))
                _scorers[key] = scorer
    return scorer


def make_judge(cfg: Mapping[str, Any], reward_router_address: str | None):
    """The configured judge, or None (judge off: descriptive rows use the counted fallback)."""
    judge_cfg = cfg.get("judge") or {}
    if not judge_cfg.get("enable"):
        return None
    from ..judge import build_judge

    return build_judge(dict(judge_cfg), reward_router_address=reward_router_address)
