"""Reward composition: routing, weights, the fixed result keys. No verl, no Ray.

The names below are loaded from their module on first use (PEP 562): ``wethink_verl.reward.config``
(the defaults the row contract and ``prepare`` read) must not drag in the scorer and every
verifier with it. Under ``TYPE_CHECKING`` the same names are imported statically, for readers
and tools.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compose import EXTRA_INFO_KEYS, RESULT_KEYS, extra_info
    from .config import DEFAULTS, WETHINK_SYSTEM_PROMPT, RewardConfig, build_config, load_config
    from .router import Route, infer_verifier, route
    from .scorer import RewardScorer, ScoreStats

# public name -> the submodule that defines it
_HOMES = {
    "EXTRA_INFO_KEYS": "compose", "RESULT_KEYS": "compose", "extra_info": "compose",
    "DEFAULTS": "config", "WETHINK_SYSTEM_PROMPT": "config", "RewardConfig": "config", "build_config": "config",
    "load_config": "config",
    "Route": "router", "infer_verifier": "router", "route": "router",
    "RewardScorer": "scorer", "ScoreStats": "scorer",
}  # fmt: skip

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
