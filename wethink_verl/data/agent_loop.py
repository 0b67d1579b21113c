"""What verl's AgentLoop does with a dataset row's prompt, outside a trainer: images through the
dataset class (``process_multi_modal_info``), then rendering and tokenization with verl's Qwen-VL
Continuous Token builder (the processor expands ``<|image_pad|>`` per image). Used by the demo and
the tests to prove image tokens == image features for every row."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

QWEN_IMAGE_PAD_ID = 151655


def agent_loop_prompt(dataset_cls: Any, raw_prompt: Any, tokenizer: Any, processor: Any, config: Any) -> tuple[list[int], dict, Any]:
    """(prompt token ids, multimodal processor outputs, images) for one row."""
    from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder

    messages = copy.deepcopy(list(raw_prompt))
    patch = processor.image_processor.patch_size
    images, videos, audios = asyncio.run(dataset_cls.process_multi_modal_info(messages, image_patch_size=patch, config=config))
    if videos is not None or audios is not None:
        raise ValueError("only image rows are supported here")
    builder = create_continuous_token_builder(tokenizer, hf_model_type="qwen2_5_vl", processor=processor)
    mm_inputs: dict = {}
    ids = builder.build_initial_tokens(messages, images=images, mm_inputs_out=mm_inputs)
    return list(ids), mm_inputs, images


def image_token_counts(ids: list[int], mm_inputs: dict, processor: Any, image_pad_id: int = QWEN_IMAGE_PAD_ID) -> tuple[int, int]:
    """(image-pad tokens in the prompt, image features the vision tower will emit)."""
    merge = processor.image_processor.merge_size
    return ids.count(image_pad_id), int(mm_inputs["image_grid_thw"].prod(-1).sum()) // merge**2
