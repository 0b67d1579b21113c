"""``WeThinkDataset``: verl's ``data.custom_cls`` reading the WeThink release directly.

    data.train_files=/data/WeThink_Multimodal_Reasoning_120K.jsonl
    data.custom_cls.path=pkg://wethink_verl.data.dataset data.custom_cls.name=WeThinkDataset
    +data.wethink.image_root=/data/llava-cot        # the LLaVA-CoT unzip root

A subclass of verl's ``RLHFDataset``: rows are built by the same code as ``wethink-verl prepare
--format verl`` (``row_builder.RowBuilder`` + ``output_rows.verl_row``), so everything downstream —
``_build_messages``, ``filter_overlong_prompts``/``max_prompt_length``, ``collate_fn``, the
AgentLoop's ``process_multi_modal_info`` — is verl's own. Images stay paths until the AgentLoop
opens them. ``.parquet`` files (``prepare`` output) are read as verl reads them, so train and
val can mix both.

Options under ``data.wethink`` (all optional; unknown keys are an error, to catch typos):

- ``image_root``: what ``image_path`` is relative to (default: the data file's directory)
- ``system_prompt``: ``system`` (default) | ``user`` (appended to the user turn) | ``none``
- ``data_source``: verl's ``data_source`` (default ``wethink``)
- ``split``: ``extra_info.split`` (default ``train``; verl builds train and val from one config)
- ``skip_bad``: skip and count bad rows instead of raising :class:`BadRowError` (default false)
- ``image_check``: ``header`` (default: each image opened at start, its size read; catches missing
  and non-image files, not truncated ones) | ``exists`` | ``decode`` (every image decoded at
  start, as ``prepare`` does: slow on 120K real images, so validate once with ``prepare`` instead)
- ``on_unknown``: ``keep`` (default) | ``reject`` a category/reward the reward router does not map
- ``allow_images_outside_root``: let ``image_path`` resolve outside ``image_root`` (absolute paths,
  ``..``, symlinks); by default such a row is bad (``image outside the image root``)
- ``min_pixels`` / ``max_pixels``: put on every image item, so ``qwen_vl_utils`` resizes within
  them in the length filter and in the AgentLoop (also read from ``data.min_pixels`` /
  ``data.max_pixels``, EasyR1's names)
- ``workers``: processes checking images at start (default 1: in process)
"""

from __future__ import annotations

import logging
import os
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
from datasets.table import InMemoryTable
from omegaconf import DictConfig, OmegaConf

from verl.utils.dataset.rl_dataset import RLHFDataset

from .bad_rows import BadRowError
from .output_rows import verl_row
from .readers import iter_records
from .row_builder import RowOptions, build_rows
from .stats import Stats
from .writers import verl_arrow_schema

logger = logging.getLogger(__name__)

WETHINK_DEFAULTS: dict[str, Any] = {
    "image_root": None,
    "system_prompt": "system",
    "data_source": "wethink",
    "split": "train",
    "skip_bad": False,
    "image_check": "header",
    "on_unknown": "keep",
    "allow_images_outside_root": False,
    "min_pixels": None,
    "max_pixels": None,
    "workers": 1,
}
_TABLE_BATCH = 4096


def wethink_options(config: Any) -> dict[str, Any]:
    raw = config.get("wethink", None) if config is not None else None
    if isinstance(raw, DictConfig):
        raw = OmegaConf.to_container(raw, resolve=True)
    raw = dict(raw or {})
    unknown = set(raw) - set(WETHINK_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown data.wethink options {sorted(unknown)}; known: {sorted(WETHINK_DEFAULTS)}")
    opts = {**WETHINK_DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    for name in ("min_pixels", "max_pixels"):
        if opts[name] is None and config is not None and config.get(name, None) is not None:
            opts[name] = config.get(name)
    return opts


class WeThinkDataset(RLHFDataset):
    """verl's RLHFDataset over WeThink JSON/JSONL records (and/or prepared parquet)."""

    def __init__(self, data_files, tokenizer, config, processor=None, max_samples: int = -1):
        # read before super().__init__, which loads the files
        self.wethink = wethink_options(config)
        self.pixel_bounds = {k: int(self.wethink[k]) for k in ("min_pixels", "max_pixels") if self.wethink[k] is not None}
        self.skipped = Stats()
        self._rows_table: pa.Table | None = None
        self._rows_source: Any = None
        super().__init__(data_files, tokenizer, config, processor=processor, max_samples=max_samples)

    # ---- loading --------------------------------------------------------------------------------
    def _row_options(self, data_file: str) -> RowOptions:
        root = self.wethink["image_root"] or os.path.dirname(os.path.abspath(data_file))
        return RowOptions(
            image_root=os.path.expanduser(str(root)),
            system_prompt=self.wethink["system_prompt"],
            data_source=self.wethink["data_source"],
            image_paths="absolute",
            image_check=self.wethink["image_check"],
            on_unknown=self.wethink["on_unknown"],
            allow_outside_root=bool(self.wethink["allow_images_outside_root"]),
        )

    def _read_wethink(self, local_file: str, original_file: str) -> datasets.Dataset:
        opts = self._row_options(original_file)
        split = self.wethink["split"]
        schema = verl_arrow_schema(embed_images=False)
        stats = Stats()
        tables, batch = [], []
        rows = build_rows(iter_records(local_file), opts, source=original_file, workers=int(self.wethink["workers"]))
        try:
            for result in rows:
                stats.rows_in += 1
                if isinstance(result, BadRowError):
                    if not self.wethink["skip_bad"]:
                        raise result
                    stats.skip(result)
                    self.skipped.skip(result)
                    continue
                batch.append(verl_row(result, opts, split))
                stats.add(result, split)
                if len(batch) >= _TABLE_BATCH:
                    tables.append(pa.Table.from_pylist(batch, schema=schema))
                    batch = []
        finally:
            rows.close()
        tables.append(pa.Table.from_pylist(batch, schema=schema))
        self.skipped.rows_in += stats.rows_in
        print(stats.tables(f"WeThinkDataset {original_file} (image root {opts.image_root})"))
        return datasets.Dataset(InMemoryTable(pa.concat_tables(tables)))

    def _read_files_and_tokenize(self):
        frames = []
        for local_file, original_file in zip(self.data_files, self.original_data_files):
            if local_file.endswith(".parquet"):
                frames.append(datasets.load_dataset("parquet", data_files=local_file)["train"])
            elif local_file.endswith((".json", ".jsonl")):
                frames.append(self._read_wethink(local_file, str(original_file)))
            else:
                raise ValueError(f"WeThinkDataset reads .json/.jsonl (WeThink records) or .parquet (prepared rows), not {local_file}")
        self.dataframe = datasets.concatenate_datasets(frames) if len(frames) > 1 else frames[0]
        total = len(self.dataframe)
        print(f"dataset len: {total}")

        # as RLHFDataset does
        if self.max_samples > 0 and self.max_samples < total:
            if self.shuffle:
                rng = np.random.default_rng(*((self.seed,) if self.seed is not None else ()))
                indices = rng.choice(total, size=self.max_samples, replace=False)
            else:
                indices = np.arange(self.max_samples)
            self.dataframe = self.dataframe.select(indices.tolist())
            print(f"selected {self.max_samples} random samples out of {total}")
        self.dataframe = self.maybe_filter_out_long_prompts(self.dataframe)

    def __getstate__(self):
        state = super().__getstate__()
        if "dataframe" not in state:  # verl re-reads the files on resume; drop our view of them too
            state.pop("_rows_table", None)
            state["_rows_source"] = None
        return state

    # ---- rows -----------------------------------------------------------------------------------
    def _build_messages(self, example: dict, key: str):
        messages = super()._build_messages(example, key)
        if self.pixel_bounds:
            for message in messages:
                content = message.get("content")
                if isinstance(content, list):
                    for part in content:
                        if isinstance(part, dict) and part.get("type") == "image":
                            part.update(self.pixel_bounds)
        return messages

    def _row(self, item) -> dict:
        """``self.dataframe[item]`` through pyarrow directly (about half the cost of datasets' row
        formatting); re-derived whenever ``self.dataframe`` is replaced (split, resume, filters)."""
        if self._rows_source is not self.dataframe:
            frame = self.dataframe.flatten_indices() if self.dataframe._indices is not None else self.dataframe
            self._rows_table = frame.data.table
            self._rows_source = self.dataframe
        index = int(item)
        if index < 0:
            index += self._rows_table.num_rows
        if not 0 <= index < self._rows_table.num_rows:
            raise IndexError(f"index {item} out of range for {self._rows_table.num_rows} rows")
        return self._rows_table.slice(index, 1).to_pylist()[0]

    def __getitem__(self, item):
        if not isinstance(item, (int, np.integer)):
            return super().__getitem__(item)
        import torch

        # RLHFDataset.__getitem__, with the faster row fetch (tests assert the two stay equal)
        row_dict: dict = self._row(item)
        row_dict["raw_prompt"] = self._build_messages(row_dict, key=self.prompt_key)
        row_dict.pop(self.image_key, None)
        row_dict.pop(self.video_key, None)
        row_dict.pop(self.audio_key, None)
        row_dict["dummy_tensor"] = torch.tensor([0], dtype=torch.uint8)
        if row_dict.get("extra_info") is None:
            row_dict["extra_info"] = dict()
        extra = row_dict["extra_info"]
        index = extra.get("index", 0)
        tools_kwargs = extra.get("tools_kwargs", {})
        interaction_kwargs = extra.get("interaction_kwargs", {})
        need_tools_kwargs = extra.get("need_tools_kwargs", self.need_tools_kwargs)
        if need_tools_kwargs and not tools_kwargs:
            logger.warning("tools_kwargs is empty for index %s, data source: %s", index, row_dict["data_source"])
        row_dict["index"] = index
        row_dict["tools_kwargs"] = tools_kwargs
        row_dict["interaction_kwargs"] = interaction_kwargs
        return row_dict

    def split(self, num_splits: int):
        """RLHFDataset.split builds RLHFDataset objects (which cannot read WeThink JSON): keep the class."""
        if not isinstance(num_splits, int) or num_splits <= 0:
            raise ValueError(f"num_splits must be a positive integer, got {num_splits}")
        total = len(self.dataframe)
        if total == 0:
            raise ValueError("Cannot split an empty dataset")
        usable = total - total % num_splits
        size = usable // num_splits
        splits = []
        for i in range(num_splits):
            part = object.__new__(type(self))
            part.__dict__.update(self.__dict__)
            part.dataframe = self.dataframe.select(range(i * size, (i + 1) * size))
            part._rows_table, part._rows_source = None, None
            splits.append(part)
        return splits
