"""``wethink-verl prepare``: WeThink JSON(L) + images -> verl parquet, EasyR1 JSONL or SFT JSON.

Streaming end to end: records are read one at a time (JSONL line by line; a JSON array through a
small incremental reader: ``readers.py``), cleaned and checked (``row_builder.py``), and written
in batches (parquet row groups, JSON lines: ``writers.py``). Memory does not grow with the number
of rows: only counters and the set of validation indices are kept.

Outputs are written into a hidden staging directory inside the output directory and published
as one set after the last row (``publish.py``: one link switched by one rename, so a reader sees
the previous set or the new one, never a mix); an error, Ctrl-C or SIGTERM removes the staging
directory, and what a killed run left is removed by the next run. Existing outputs are never
replaced without ``force``; the input file is only ever opened for reading; images are read only
inside the image root unless ``allow_images_outside_root``.

No verl, torch or Ray imports here (see ``dataset.py`` for the verl side).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field, replace

from ..procs import sigint_ignored
from . import publish
from .bad_rows import BadRowError
from .output_rows import output_row
from .readers import InputError, RawRow, count_records, iter_records, sniff_input  # noqa: F401 - also their old home
from .row_builder import RowOptions, build_rows
from .stats import Stats
from .writers import (  # noqa: F401 - also their old home
    JsonArray,
    JsonLines,
    ParquetRows,
    format_prompt_template,
    llamafactory_dataset_info,
    open_writer,
    verl_arrow_schema,
)

FORMATS = ("verl", "easyr1", "sft")
# the files each format writes (besides the summary), train first
OUTPUT_NAMES = {
    "verl": ("train.parquet", "val.parquet"),
    "easyr1": ("train.jsonl", "val.jsonl", "wethink_format.jinja"),
    "sft": ("train.json", "val.json", "dataset_info.json"),
}
SUMMARY_NAMES = ("prepare_summary.json", "prepare_summary.txt")
DEFAULT_SYSTEM_PROMPT = {"verl": "system", "easyr1": "user", "sft": "system"}
AUTO_WORKERS_MIN_ROWS = 2000  # below this, starting worker processes costs more than it saves


class OutputExistsError(FileExistsError):
    pass


@dataclass
class PrepareConfig:
    input: str
    image_root: str
    output_dir: str
    format: str = "verl"
    val_size: float = 0  # a row count, or a fraction when < 1
    seed: int = 0
    embed_images: bool = False
    skip_bad: bool = False
    force: bool = False
    limit: int | None = None
    system_prompt: str | None = None  # None: per format (verl/sft: system turn; easyr1: user turn)
    data_source: str = "wethink"
    image_paths: str = "absolute"
    image_check: str = "decode"
    allow_images_outside_root: bool = False  # image paths may resolve outside image_root
    on_unknown: str = "keep"
    sft_target: str = "think-answer"
    workers: int = 1  # processes checking images; 0: auto (in process below AUTO_WORKERS_MIN_ROWS rows)
    progress: bool = True


@dataclass
class PrepareResult:
    stats: Stats
    files: dict[str, str] = field(default_factory=dict)  # name -> final path
    seconds: float = 0.0
    summary: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.stats.rows_in / self.seconds if self.seconds > 0 else 0.0


def _val_indices(total: int, val_size: float, seed: int) -> set[int]:
    n = int(round(val_size * total)) if 0 < val_size < 1 else int(val_size)
    if n < 0:
        raise ValueError(f"--val-size must be >= 0, got {val_size}")
    if n == 0:
        return set()
    if n >= total:
        raise ValueError(f"--val-size {n} leaves no training rows (the input has {total} rows)")
    return set(random.Random(seed).sample(range(total), n))


def _check_config(cfg: PrepareConfig) -> None:
    if cfg.format not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS}, got {cfg.format!r}")
    if cfg.embed_images and cfg.format != "verl":
        raise ValueError(
            "--embed-images applies to --format verl only: EasyR1 and LLaMA-Factory read image files "
            "(use --image-paths relative with EasyR1's data.image_dir / LLaMA-Factory's media_dir to move data)"
        )
    if cfg.format == "easyr1" and (cfg.system_prompt or "user") == "system":
        raise ValueError("EasyR1's dataset has no system turn: use --system-prompt user (the format_prompt template) or none")
    if not os.path.isfile(cfg.input):
        raise InputError(f"input {cfg.input} does not exist or is not a file")
    if not os.path.isdir(cfg.image_root):
        raise InputError(f"image root {cfg.image_root} is not a directory")
    if cfg.limit is not None and cfg.limit < 0:
        raise ValueError("--limit must be >= 0")


def row_options(cfg: PrepareConfig) -> RowOptions:
    return RowOptions(
        image_root=cfg.image_root,
        system_prompt=cfg.system_prompt or DEFAULT_SYSTEM_PROMPT[cfg.format],
        data_source=cfg.data_source,
        image_paths=cfg.image_paths,
        image_check=cfg.image_check,
        embed_images=cfg.embed_images,
        allow_outside_root=cfg.allow_images_outside_root,
        on_unknown=cfg.on_unknown,
        need_cot=cfg.format == "sft",
        sft_target=cfg.sft_target,
    )


def prepare(cfg: PrepareConfig) -> PrepareResult:
    """Run one conversion. Raises BadRowError (unless ``skip_bad``), InputError, OutputExistsError."""
    _check_config(cfg)
    started = time.perf_counter()
    opts = row_options(cfg)
    out_dir, created_out_dir = _claim_output_dir(cfg)
    total = count_records(cfg.input, cfg.limit)
    val = _val_indices(total, cfg.val_size, cfg.seed)
    names = _output_names(cfg.format, bool(val))
    staging = publish.new_staging(out_dir)
    try:
        stats = _write_rows(cfg, opts, staging, val, total)
        _write_side_files(cfg, opts, staging, names)
        result = PrepareResult(stats, {n: os.path.join(out_dir, n) for n in names}, time.perf_counter() - started)
        _write_summaries(cfg, opts, result, staging)
        stale = [n for n in _output_names(cfg.format, True) if n not in names]  # a val file an earlier run left
        with sigint_ignored():  # a Ctrl-C now would leave a published set reported as "nothing written"
            warning = publish.publish(out_dir, staging, names, stale)
        if warning:
            result.summary += f"\n\nwarning: {warning}"
        return result
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created_out_dir:
            try:
                os.rmdir(out_dir)  # only when empty
            except OSError:
                pass
        raise


def _output_names(fmt: str, with_val: bool) -> list[str]:
    """The files a run publishes, in order: train, val (if any), the side files, the summaries."""
    train_name, val_name, *extra_names = OUTPUT_NAMES[fmt]
    return [train_name] + ([val_name] if with_val else []) + extra_names + list(SUMMARY_NAMES)


def _claim_output_dir(cfg: PrepareConfig) -> tuple[str, bool]:
    """(the output directory, whether this run created it): never the input, nothing of an earlier
    set replaced without ``force``; what a killed run left is removed."""
    out_dir = os.path.abspath(cfg.output_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise OutputExistsError(f"--output-dir {cfg.output_dir} is a file, not a directory")
    created = not os.path.exists(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    publish.remove_leftovers(out_dir)
    all_names = _output_names(cfg.format, True)
    input_real = os.path.realpath(cfg.input)
    for name in all_names:
        if os.path.realpath(os.path.join(out_dir, name)) == input_real:
            raise OutputExistsError(f"{os.path.join(out_dir, name)} is the input file: choose another --output-dir")
    existing = publish.existing_outputs(out_dir, all_names)
    if existing and not cfg.force:
        raise OutputExistsError(f"{out_dir} already has {', '.join(existing)}: pass --force to overwrite")
    return out_dir, created


def _write_rows(cfg: PrepareConfig, opts: RowOptions, staging: str, val: set[int], total: int) -> Stats:
    """Every record into its split's file in ``staging`` (closed, complete, on return)."""
    # EasyR1 adds the instruction through its format_prompt template, not in the rows
    row_opts = replace(opts, system_prompt="none") if cfg.format == "easyr1" else opts
    train_name, val_name = OUTPUT_NAMES[cfg.format][:2]
    writers: dict = {}
    try:
        for split, name in (("train", train_name), ("val", val_name)) if val else (("train", train_name),):
            writers[split] = open_writer(cfg.format, os.path.join(staging, name), cfg.embed_images)
        stats = _stream_rows(cfg, row_opts, writers, val, total)
        for w in writers.values():
            w.close()
        writers.clear()
    except BaseException:
        for w in writers.values():
            try:
                w.close()
            except Exception:
                pass
        raise
    return stats


def _stream_rows(cfg: PrepareConfig, row_opts: RowOptions, writers: dict, val: set[int], total: int) -> Stats:
    from tqdm import tqdm

    stats = Stats()
    bar = tqdm(total=total, unit="row", desc=f"prepare {cfg.format}", disable=None if cfg.progress else True, file=sys.stderr, mininterval=0.5)
    rows = build_rows(iter_records(cfg.input, cfg.limit), row_opts, source=cfg.input, workers=_worker_count(cfg, total))
    try:
        for result in rows:
            stats.rows_in += 1
            bar.update(1)
            if isinstance(result, BadRowError):
                if not cfg.skip_bad:
                    raise result
                stats.skip(result)
                continue
            split = "val" if result.index in val else "train"
            writers[split].write(output_row(cfg.format, result, row_opts, split))
            stats.add(result, split)
    finally:
        rows.close()  # stops worker processes now, not when the traceback is freed
        bar.close()
    return stats


def _worker_count(cfg: PrepareConfig, total: int) -> int:
    if cfg.workers > 0:
        return cfg.workers
    return 1 if total < AUTO_WORKERS_MIN_ROWS else min(8, os.cpu_count() or 1)


def _write_side_files(cfg: PrepareConfig, opts: RowOptions, staging: str, names: list[str]) -> None:
    if cfg.format == "easyr1":
        with open(os.path.join(staging, "wethink_format.jinja"), "w", encoding="utf-8") as f:
            f.write(format_prompt_template(opts.system_prompt))
    elif cfg.format == "sft":
        splits = [n for n in names if n in OUTPUT_NAMES["sft"][:2]]
        with open(os.path.join(staging, "dataset_info.json"), "w", encoding="utf-8") as f:
            json.dump(llamafactory_dataset_info(splits, opts.system_prompt == "system"), f, indent=2)


def _write_summaries(cfg: PrepareConfig, opts: RowOptions, result: PrepareResult, staging: str) -> None:
    result.summary = _summary_text(cfg, opts, result)
    with open(os.path.join(staging, "prepare_summary.json"), "w", encoding="utf-8") as f:
        json.dump(_summary_json(cfg, opts, result), f, indent=2, ensure_ascii=False)
    with open(os.path.join(staging, "prepare_summary.txt"), "w", encoding="utf-8") as f:
        f.write(result.summary + "\n")


def _summary_json(cfg: PrepareConfig, opts: RowOptions, result: PrepareResult) -> dict:
    return {
        "input": os.path.abspath(cfg.input),
        "image_root": os.path.abspath(cfg.image_root),
        "format": cfg.format,
        "system_prompt": opts.system_prompt,
        "data_source": cfg.data_source,
        "embed_images": cfg.embed_images,
        "image_paths": cfg.image_paths,
        "image_check": cfg.image_check,
        "seed": cfg.seed,
        "files": result.files,
        "seconds": round(result.seconds, 3),
        "rows_per_second": round(result.rows_per_second, 1),
        **result.stats.to_dict(),
    }


def _summary_text(cfg: PrepareConfig, opts: RowOptions, result: PrepareResult) -> str:
    head = (
        f"wethink-verl prepare --format {cfg.format}: {os.path.abspath(cfg.input)} -> {os.path.abspath(cfg.output_dir)}\n"
        f"system prompt: {opts.system_prompt}; images: {'embedded bytes' if cfg.embed_images else cfg.image_paths + ' paths'} "
        f"(check: {cfg.image_check}); {result.seconds:.1f} s, {result.rows_per_second:.0f} rows/s"
    )
    return head + "\n\n" + result.stats.tables("rows")
