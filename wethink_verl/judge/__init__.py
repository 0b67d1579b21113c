"""The LLM judge for descriptive answers.

``build_judge(judge_cfg, reward_router_address=None)`` returns an ``LLMJudge`` (or None when
``judge.enable`` is false) talking to one of three endpoints through the same client:

- ``router``: verl's in-cluster reward-model pool (``reward.reward_model.enable=True``); verl hands
  the reward function ``reward_router_address`` ("ip:port") and we post to
  ``http://{address}/v1/chat/completions``. verl's vLLM servers serve the model under its local
  path; with ``judge.model`` unset the client asks ``GET /v1/models`` which name to use.
- ``http``: any OpenAI-compatible endpoint (``judge.url``, ``judge.model``, ``judge.api_key_env``).
- ``ray``: our Ray judge service (``judge.ray.*``), a named actor batching requests into a local
  transformers or vLLM backend.

The prompt/parse/client modules import no verl, Ray or torch.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping

from .config import BACKENDS, JudgeConfig
from .types import FAILURE_KINDS, JudgeOutcome, TransportError

logger = logging.getLogger("wethink_verl.judge")

__all__ = ["BACKENDS", "FAILURE_KINDS", "JudgeConfig", "JudgeOutcome", "LLMJudge", "TransportError", "build_judge", "judge_config",
           "resolve_backend"]  # fmt: skip


def __getattr__(name: str):
    if name in ("LLMJudge", "HTTPTransport", "judge_config"):
        from . import client

        return getattr(client, name)
    if name == "RayServiceTransport":
        from .service import RayServiceTransport

        return RayServiceTransport
    raise AttributeError(name)


def resolve_backend(cfg: JudgeConfig | Mapping[str, Any], reward_router_address: str | None = None) -> str:
    cfg = JudgeConfig.from_mapping(cfg)  # an unknown backend: ConfigError (a ValueError) naming judge.backend
    if cfg.backend != "auto":
        return cfg.backend
    if reward_router_address:
        return "router"
    if cfg.url:
        return "http"
    if cfg.ray.model:
        return "ray"
    raise ValueError(
        "judge.enable is true but no judge endpoint is configured: set judge.url (an OpenAI-compatible "
        "endpoint), judge.backend=ray (+ judge.ray.model to start our Ray service), or run verl with "
        "reward.reward_model.enable=True so that it passes reward_router_address"
    )


def read_api_key(env_name: str | None) -> str | None:
    """The key from the environment variable named in config (the value is never logged)."""
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise ValueError(f"judge.api_key_env names the environment variable {env_name!r}, which is not set")
    return value


def build_judge(judge_cfg: JudgeConfig | Mapping[str, Any] | None, reward_router_address: str | None = None):
    """The configured judge, or None when ``judge.enable`` is false. Raises ValueError on a bad config
    (a ConfigError naming every bad judge.* key, no endpoint, unknown template, a missing API key
    variable); never touches the network."""
    from .client import LLMJudge, judge_config
    from .transport import HTTPTransport, VerlRouterTransport

    cfg = judge_config(judge_cfg)
    if not cfg.enable:
        return None
    backend = resolve_backend(cfg, reward_router_address)
    if backend == "router":
        if not reward_router_address:
            raise ValueError("judge.backend=router needs verl's reward_router_address (reward.reward_model.enable=True)")
        transport = VerlRouterTransport(reward_router_address, model=cfg.model, pool_size=cfg.concurrency, max_reply_bytes=cfg.max_reply_bytes)
    elif backend == "http":
        if not cfg.url:
            raise ValueError("judge.backend=http needs judge.url")
        transport = HTTPTransport(cfg.url, model=cfg.model, api_key=read_api_key(cfg.api_key_env), pool_size=cfg.concurrency,
                                  max_reply_bytes=cfg.max_reply_bytes)  # fmt: skip
    else:
        from .service import RayServiceTransport

        transport = RayServiceTransport(cfg.ray)
    judge = LLMJudge(cfg, transport)
    logger.info("LLM judge: %s", judge.describe())
    return judge
