"""Inputs and report of the one-GPU smoke run (``recipes/verl/smoke_1gpu.sh``, ``make gpu-smoke``).

Everything is built offline (no model hub): a tiny random-weight Qwen2.5-VL policy and a tiny
random Qwen2 judge from configs, and synthetic WeThink rows prepared to verl parquet with a
held-out validation split. The run proves the wiring (real trainer, vLLM rollout, rule verifiers
and the in-cluster judge behind verl's router), not learning: random weights answer noise.

    python -m wethink_verl.demo.gpu_smoke build --out DIR [--rows 64]   # prints KEY=VALUE lines
    python -m wethink_verl.demo.gpu_smoke report LOG                   # reward per step, judge counters
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from .offline_models import TINY_QWEN2, _cached, build_qwen25vl_processor, build_tiny_qwen2_lm

# a vision tower as small as Qwen2.5-VL's code allows (out_hidden_size = the LM's hidden size)
TINY_VISION = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=TINY_QWEN2["hidden_size"],
                   fullatt_block_indexes=[0])  # fmt: skip


def build_tiny_qwen25vl_policy(out_dir: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """A random-weight Qwen2_5_VLForConditionalGeneration (bf16 safetensors) with the offline
    Qwen2.5-VL processor: loadable by verl's FSDP actor and vLLM."""
    processor_dir = build_qwen25vl_processor()

    def build(d: Path) -> None:
        import shutil

        import torch
        from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

        torch.manual_seed(seed)
        cfg = Qwen2_5_VLConfig(text_config=dict(TINY_QWEN2), vision_config=dict(TINY_VISION), torch_dtype="bfloat16",
                               bos_token_id=151643, eos_token_id=151645)  # fmt: skip
        model = Qwen2_5_VLForConditionalGeneration(cfg).to(torch.bfloat16)
        model.save_pretrained(d, safe_serialization=True)
        GenerationConfig(eos_token_id=151645, pad_token_id=151643, do_sample=False).save_pretrained(d)
        for f in processor_dir.iterdir():  # tokenizer, image processor, chat template (not config.json)
            if f.is_file() and f.name not in ("config.json", ".complete"):
                shutil.copy2(f, d / f.name)

    return _cached(f"tiny-qwen25vl-policy-s{seed}", build, out_dir)


def prepare_smoke_data(out_dir: str | os.PathLike, rows: int = 64, val_rows: int = 8, seed: int = 0) -> dict[str, str]:
    """Synthetic WeThink rows (every category, real images) -> verl parquet with a held-out split."""
    from ..data.prepare import PrepareConfig, prepare
    from ..data.synthetic import write_synthetic_wethink

    out = Path(out_dir).resolve()
    records, image_root = write_synthetic_wethink(out / "raw", rows + val_rows, seed=seed)
    result = prepare(PrepareConfig(input=records, image_root=image_root, output_dir=str(out / "verl"), val_size=val_rows,
                                   seed=seed, progress=False, force=True))  # fmt: skip
    return {"train": result.files["train.parquet"], "val": result.files["val.parquet"], "dir": str(out / "verl")}


def build(out_dir: str | os.PathLike, rows: int = 64) -> dict[str, str]:
    """Policy, judge and data for the smoke run; the keys are the smoke script's variables."""
    out = Path(out_dir).resolve()
    data = prepare_smoke_data(out / "data", rows=rows)
    return {
        "SMOKE_POLICY": str(build_tiny_qwen25vl_policy(out / "policy")),
        "SMOKE_JUDGE": str(build_tiny_qwen2_lm(out / "judge")),
        "SMOKE_DATA": data["dir"],
    }


# verl's console logger prints "step:N - key:value - key:value ..."
_STEP = re.compile(r"step:(\d+) - (.*)")
REPORT_KEYS = ("critic/score/mean", "critic/score/max", "critic/score/min")
JUDGE_KEY = re.compile(r"val-(?:core|aux)/[^/]+/(acc|judge_used|judge_failed|fallback|error|timed_out)/mean@\d+$")


def parse_console_log(text: str) -> list[dict]:
    """One dict per logged step: the reward statistics and the judge counters verl printed."""
    steps = []
    for line in text.splitlines():
        m = _STEP.search(line)
        if not m:
            continue
        metrics = {}
        for part in m.group(2).split(" - "):
            key, sep, value = part.rpartition(":")
            if not sep:
                continue
            try:
                metrics[key.strip()] = float(value)
            except ValueError:
                continue
        picked = {k: metrics[k] for k in REPORT_KEYS if k in metrics}
        for key, value in metrics.items():
            jm = JUDGE_KEY.search(key)
            if jm:
                picked[f"val/{jm.group(1)}"] = value
        steps.append({"step": int(m.group(1)), **picked})
    return steps


def report(log_path: str) -> int:
    from ..text_table import format_table

    steps = parse_console_log(Path(log_path).read_text(encoding="utf-8", errors="replace"))
    if not steps:
        print(f"no 'step:N - ...' lines in {log_path}: the trainer did not finish a step", file=sys.stderr)
        return 1
    cols = ["step", *REPORT_KEYS, "val/acc", "val/judge_used", "val/judge_failed", "val/fallback", "val/error"]
    rows = [[s.get(c, "") if not isinstance(s.get(c), float) else f"{s[c]:.3f}" for c in cols] for s in steps]
    print(format_table(cols, rows, title="smoke run: reward per step, judge counters (validation)"))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m wethink_verl.demo.gpu_smoke", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the tiny policy, the tiny judge and the data; print KEY=VALUE lines")
    b.add_argument("--out", required=True)
    b.add_argument("--rows", type=int, default=64)
    r = sub.add_parser("report", help="reward per step and judge counters from verl's console log")
    r.add_argument("log")
    args = p.parse_args(argv)
    if args.cmd == "build":
        for key, value in build(args.out, rows=args.rows).items():
            print(f"{key}={value}")
        return 0
    return report(args.log)


if __name__ == "__main__":
    sys.exit(main())
