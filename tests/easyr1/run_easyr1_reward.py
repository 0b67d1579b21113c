"""Run inside an EasyR1 environment (tests/test_easyr1_env.py): EasyR1's own RLHFDataset reads
`prepare --format easyr1` output, its AutoRewardManager calls our reward file, for the answer
column both as the packed JSON text prepare writes and as a JSON object (a reader hands it over
as a dict). Prints one JSON line: the overall rewards per variant."""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from transformers import AutoProcessor, AutoTokenizer

from verl.protocol import DataProto
from verl.utils.dataset import RLHFDataset, collate_fn
from verl.workers.reward.config import RewardConfig
from verl.workers.reward.function import AutoRewardManager

from wethink_verl.demo.offline_models import build_qwen25vl_processor
from wethink_verl.integrations import easyr1_reward_file as reward_file
from wethink_verl.rows import unpack_ground_truth


def main(prepared_dir: str, variant_file: str) -> None:
    proc_dir = str(build_qwen25vl_processor())
    tokenizer, processor = AutoTokenizer.from_pretrained(proc_dir), AutoProcessor.from_pretrained(proc_dir)
    cfg = RewardConfig(reward_function=f"{reward_file()}:compute_score")
    cfg.post_init()
    manager = AutoRewardManager(cfg, tokenizer)
    out = {"transformers": __import__("transformers").__version__}
    for name, path in (("packed_text", f"{prepared_dir}/train.jsonl"), ("object", variant_file)):
        dataset = RLHFDataset(data_path=path, tokenizer=tokenizer, processor=processor, prompt_key="problem", answer_key="answer",
                              image_key="images", format_prompt=f"{prepared_dir}/wethink_format.jinja", max_prompt_length=2048,
                              filter_overlong_prompts=False)  # fmt: skip
        batch = collate_fn([dataset[i] for i in range(len(dataset))])
        golds = [unpack_ground_truth(g if isinstance(g, dict) else str(g)) for g in batch["ground_truth"]]
        texts = [f"<think>I looked.</think><answer>{g['answer']}</answer>" for g in golds]
        ids = [tokenizer(t, add_special_tokens=False).input_ids for t in texts]
        width = max(map(len, ids))
        responses = torch.tensor([x + [tokenizer.pad_token_id] * (width - len(x)) for x in ids])
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
        data = DataProto.from_dict(tensors={"responses": responses, "response_mask": mask},
                                   non_tensors={"ground_truth": np.array(list(batch["ground_truth"]), dtype=object)})  # fmt: skip
        _, metrics = manager.compute_reward(data)
        out[name] = {"overall": metrics["overall"], "reward": [g.get("reward") for g in golds],
                     "ground_truth_type": type(batch["ground_truth"][0]).__name__}  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
