"""The ``wethink`` reward manager for verl's reward loop (verl >= 0.7.1; tested on 0.9.1).

``reward.reward_manager.name=wethink`` (registered by the ``verl.plugins`` entry point), or
``reward.reward_manager.source=importlib reward.reward_manager.module.path=pkg://wethink_verl.integrations.verl_manager
reward.reward_manager.name=WeThinkRewardManager``. Configuration: ``+reward.reward_kwargs.<key>=…``
(and ``+reward.custom_reward_function.reward_kwargs.<key>=…``, which verl also passes to
``compute_score``). Each sample is routed by its ``extra_info`` (``reward``/``category``/``verifier``),
scored without blocking the event loop (math-verify in bounded worker processes; the judge
awaited), and always returns the same ``reward_extra_info`` keys. A sample that cannot be scored
gets score 0 with its error counted: ``run_single`` never raises into verl's batch. A sample that
arrives without ``reward_model``/``extra_info`` (verl's V1 trainer with a colocated reward model
strips them) is such an error, with a message naming the mode and what to set.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from verl import DataProto
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from ..reward import compose
from ..reward.config import deep_merge
from ..rows import sample_from_row
from .scorers import get_scorer

logger = logging.getLogger("wethink_verl.integrations.verl_manager")


def reward_config_from_verl(config: Any) -> dict:
    """Our overrides from verl's config: reward.reward_kwargs, then custom_reward_function.reward_kwargs."""
    reward = config.get("reward", {}) if hasattr(config, "get") else {}
    crf = reward.get("custom_reward_function") or {}
    return deep_merge(reward.get("reward_kwargs") or {}, crf.get("reward_kwargs") or {})


def colocated_v1(config: Any) -> bool:
    """verl's V1 trainer with a reward model sharing the policy's GPUs: its
    ``_compute_reward_colocate`` hands the manager prompts, responses and raw_prompt only."""
    try:
        rm = config.reward.reward_model
        return bool(rm.enable) and not bool(rm.enable_resource_pool) and bool(config.trainer.get("use_v1", True))
    except AttributeError:
        return False


STRIPPED_V1_COLOCATED = (
    "no reward_model/extra_info reached the reward manager: verl's V1 trainer with a colocated reward "
    "model (trainer.use_v1=true, reward.reward_model.enable_resource_pool=false) passes only prompts, "
    "responses and raw_prompt, so no sample has its ground truth. Set "
    "reward.reward_model.enable_resource_pool=true (the judge on its own GPUs, scored while rolling out) "
    "or trainer.use_v1=false (the legacy trainer's colocated path passes the whole batch)"
)
STRIPPED_OTHER = (
    "no reward_model/extra_info reached the reward manager (the batch carries {keys}): the sample has no "
    "ground truth or routing fields; pass the dataset's reward_model and extra_info columns through"
)


def _first_image(raw_prompt: Any) -> Any:
    """The first image in verl's structured raw_prompt (messages with {"type": "image", "image": PIL})."""
    try:
        for message in list(raw_prompt):
            content = message.get("content") if hasattr(message, "get") else None
            if isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and part.get("type") == "image" and part.get("image") is not None:
                        return part["image"]
    except TypeError:
        return None
    return None


class WeThinkRewardManager(RewardManagerBase):
    """WeThink's hybrid reward: rule verifiers per sample, the LLM judge for descriptive answers."""

    def __init__(self, config, tokenizer, compute_score=None, reward_router_address=None, reward_model_tokenizer=None, **kwargs):
        # verl 0.7.0's base took (config, tokenizer); 0.7.1+ takes (config, tokenizer, compute_score)
        if len(inspect.signature(RewardManagerBase.__init__).parameters) >= 4:
            super().__init__(config, tokenizer, compute_score)
        else:  # pragma: no cover - verl 0.7.0
            super().__init__(config, tokenizer)
        self.reward_router_address = reward_router_address
        self.reward_model_tokenizer = reward_model_tokenizer
        self.overrides = reward_config_from_verl(config)
        self.scorer = get_scorer(self.overrides, reward_router_address)
        self.include_image = bool(self.scorer.config.judge.include_image)
        self.failures = 0
        self.colocated_v1 = colocated_v1(config)
        if self.colocated_v1:
            logger.warning("wethink reward manager: %s. Every sample will be scored 0 as an error.", STRIPPED_V1_COLOCATED)

    async def run_single(self, data: DataProto) -> dict:
        try:
            res = await self._score(data)
        except Exception as e:  # noqa: BLE001 - never let one sample crash verl's batch
            self.failures += 1
            logger.exception("wethink reward failed for a sample; scored 0 (failures so far: %d)", self.failures)
            res = self.scorer.error_result(f"{type(e).__name__}: {e}")
        return {"reward_score": float(res["score"]), "reward_extra_info": compose.extra_info(res)}

    async def _score(self, data: DataProto) -> dict:
        item = data[-1]  # multi-sequence trajectories: the last sequence carries the answer
        responses = item.batch["responses"]
        valid = int(item.batch["attention_mask"][-responses.shape[-1] :].sum())
        response = self.tokenizer.decode(responses[:valid], skip_special_tokens=True)  # fast tokenizer: µs
        nt = item.non_tensor_batch
        if "reward_model" not in nt and "extra_info" not in nt:
            # never a plausible format-only score for a sample whose ground truth was dropped
            self.failures += 1
            return self.scorer.error_result(STRIPPED_V1_COLOCATED if self.colocated_v1 else STRIPPED_OTHER.format(keys=sorted(nt)))
        reward_model = nt.get("reward_model") or {}
        image = _first_image(nt.get("raw_prompt")) if self.include_image and self.scorer.judge is not None else None
        sample = sample_from_row(response, reward_model.get("ground_truth"), nt.get("extra_info"), nt.get("data_source"), image)
        return await self.scorer.ascore(sample)
