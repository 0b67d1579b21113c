"""Reward composition: routing, weights, the fixed result keys. No verl, no Ray."""

from .compose import EXTRA_INFO_KEYS, RESULT_KEYS, extra_info
from .config import DEFAULTS, WETHINK_SYSTEM_PROMPT, build_config
from .router import Route, infer_verifier, route
from .scorer import RewardScorer, ScoreStats

__all__ = [
    "DEFAULTS",
    "EXTRA_INFO_KEYS",
    "RESULT_KEYS",
    "WETHINK_SYSTEM_PROMPT",
    "RewardScorer",
    "Route",
    "ScoreStats",
    "build_config",
    "extra_info",
    "infer_verifier",
    "route",
]
