"""The EasyR1 adapter's implementation (the reward file itself stays a thin, path-loaded shim)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Mapping

from ..reward import RESULT_KEYS, extra_info
from ..reward.compose import TEXT_KEYS
from ..rows import sample_from_row
from .scorers import config_from_kwargs, get_scorer

logger = logging.getLogger("wethink_verl.integrations.easyr1")

# EasyR1 logs every key as a metric and reduces it with np.mean: numbers only, "overall" first
EASYR1_KEYS = ("overall",) + tuple(k for k in RESULT_KEYS if k != "score" and k not in TEXT_KEYS)

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    """One event loop thread for the process: EasyR1 calls the reward synchronously, and the judge
    client's connections must live on a single loop across calls."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="wethink-easyr1-loop", daemon=True).start()
        return _loop


def to_easyr1(res: Mapping[str, Any]) -> dict[str, float]:
    info = extra_info(dict(res))
    out = {"overall": float(info["score"])}
    out.update({k: float(info[k]) for k in EASYR1_KEYS[1:]})
    return out


def score_batch(reward_inputs: list[Mapping[str, Any]], kwargs: Mapping[str, Any]) -> list[dict[str, float]]:
    scorer = get_scorer(config_from_kwargs(dict(kwargs)))
    samples = []
    for item in reward_inputs:
        samples.append(sample_from_row(item.get("response", ""), item.get("ground_truth"), None, "easyr1"))
    future = asyncio.run_coroutine_threadsafe(scorer.ascore_many(samples), _background_loop())
    results = future.result()
    return [to_easyr1(r) for r in results]
