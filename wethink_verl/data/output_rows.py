"""A :class:`CleanRow` in each output shape: verl's RLHFDataset row, EasyR1's row (the packed
answer), LLaMA-Factory's sharegpt row."""

from __future__ import annotations

from ..rows import pack_ground_truth
from .cleaning import escape_media_literals
from .row_builder import CleanRow, RowOptions


def verl_messages(row: CleanRow, opts: RowOptions) -> list[dict]:
    messages = []
    if opts.system_prompt == "system":
        messages.append({"role": "system", "content": opts.system_prompt_text})
    messages.append({"role": "user", "content": row.prompt_text})
    return messages


def verl_row(row: CleanRow, opts: RowOptions, split: str) -> dict:
    """One row in verl's RLHFDataset schema (geo3k layout + WeThink routing fields)."""
    if row.image_bytes is not None:
        images: list = [{"bytes": b, "path": p} for b, p in zip(row.image_bytes, row.image_paths)]
    else:
        images = row.image_refs(opts.image_paths)
    size = row.image_sizes[0] if row.image_sizes and row.image_sizes[0] else None
    return {
        "data_source": opts.data_source,
        "prompt": verl_messages(row, opts),
        "images": images,
        "ability": row.abilities or "",
        "reward_model": {"style": row.style, "ground_truth": row.answer},
        "extra_info": {
            "reward": row.reward,
            "category": row.category,
            "abilities": row.abilities,
            "problem": row.problem,
            "image_path": row.image_paths[0],
            "image_size": list(size) if size else None,
            "index": row.index,
            "split": split,
        },
    }


def easyr1_row(row: CleanRow, opts: RowOptions) -> dict:
    """EasyR1: ``problem`` (the format_prompt template adds the instruction), ``answer`` (the packed
    ground truth our EasyR1 reward file unpacks), ``images``. Nothing list-valued besides images:
    EasyR1 collates every extra column into a numpy object array."""
    packed = pack_ground_truth(
        row.answer, category=row.category, reward=row.reward, problem=row.problem, image_path=row.image_paths[0]
    )
    return {"problem": row.prompt_text, "answer": packed, "images": row.image_refs(opts.image_paths)}


def sft_target(row: CleanRow, opts: RowOptions) -> str:
    if opts.sft_target == "cot":
        return row.cot or ""
    return f"<think>\n{row.cot}\n</think>\n<answer>\n{row.answer}\n</answer>"


def sft_row(row: CleanRow, opts: RowOptions) -> dict:
    """LLaMA-Factory sharegpt (the WeThink README's SFT format). LLaMA-Factory counts ``<image>``
    in every message against ``images``, so the target is escaped too."""
    target, _ = escape_media_literals(sft_target(row, opts))
    out = {
        "conversations": [{"from": "human", "value": row.prompt_text}, {"from": "gpt", "value": target}],
        "images": row.image_refs(opts.image_paths),
    }
    if opts.system_prompt == "system":
        out["system"] = opts.system_prompt_text
    return out


def output_row(fmt: str, row: CleanRow, opts: RowOptions, split: str) -> dict:
    """``row`` in the shape of output format ``fmt`` ("verl", "easyr1" or "sft")."""
    if fmt == "verl":
        return verl_row(row, opts, split)
    if fmt == "easyr1":
        return easyr1_row(row, opts)
    return sft_row(row, opts)
