"""One scorer (and judge) per distinct reward config in this process, shared by the verl and
EasyR1 adapters; the sample a row becomes is ``wethink_verl.rows.sample_from_row``."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Mapping

from ..reward import RewardScorer
from ..reward.config import RewardConfig, deep_merge, describe_reward_range, load_config, reward_range

logger = logging.getLogger("wethink_verl.integrations")

# keys a framework passes to reward functions that are not reward config
_FRAMEWORK_KWARGS = {"reward_router_address", "reward_model_tokenizer", "data_source", "num_turns", "rollout_reward_scores"}

# one scorer per (config, router address): the frozen config itself is the key, so overrides that
# spell the same config differently share one scorer (and one judge client)
_scorers: dict[tuple[RewardConfig, str | None], RewardScorer] = {}
# the overrides as given -> their scorer: a reward function called per sample validates its
# overrides once per distinct spelling, not once per sample
_by_overrides: dict[tuple[str, str | None], RewardScorer] = {}
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
    spelling = (json.dumps(overrides, sort_keys=True, default=str), reward_router_address)
    scorer = _by_overrides.get(spelling)
    if scorer is None:
        with _scorers_lock:
            scorer = _by_overrides.get(spelling)
            if scorer is None:
                scorer = _by_overrides[spelling] = _scorer_for(load_config(overrides), reward_router_address)
    return scorer


def _scorer_for(cfg: RewardConfig, reward_router_address: str | None) -> RewardScorer:
    key = (cfg, reward_router_address)
    scorer = _scorers.get(key)
    if scorer is None:
        if reward_range(cfg) != (0.0, 1.0):  # a documented choice, but say what it gives
            logger.warning("wethink reward config: %s", describe_reward_range(cfg))
        scorer = _scorers[key] = RewardScorer(cfg, judge=make_judge(cfg, reward_router_address))
    return scorer


def make_judge(cfg: RewardConfig | Mapping[str, Any], reward_router_address: str | None):
    """The configured judge, or None (judge off: descriptive rows use the counted fallback)."""
    cfg = load_config(cfg)
    if not cfg.judge.enable:
        return None
    from ..judge import build_judge

    return build_judge(cfg.judge, reward_router_address=reward_router_address)
