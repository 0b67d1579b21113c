"""``wethink-verl prepare``: WeThink JSON(L) + images -> verl parquet, EasyR1 JSONL or SFT JSON.

Streaming end to end: records are read one at a time (JSONL line by line; a JSON array through a
small incremental reader), cleaned and checked (``schema.RowBuilder``), and written in batches
(parquet row groups, JSON lines). Memory does not grow with the number of rows: only counters and
the set of validation indices are kept.

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
from importlib.resources import files as package_files
from typing import Any, Iterator

from ..rows import VERL_EXTRA_INFO_FIELDS
from . import publish
from .schema import (
    BadRowError,
    CleanRow,
    Reason,
    RowBuilder,
    RowOptions,
    Stats,
    easyr1_row,
    sft_row,
    verl_row,
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
READ_CHUNK = 1 << 20
MAX_ARRAY_ELEMENT = 64 << 20  # a JSON array element larger than this is treated as malformed
AUTO_WORKERS_MIN_ROWS = 2000  # below this, starting worker processes costs more than it saves


class InputError(ValueError):
    """The input as a whole cannot be read (not JSON/JSONL, a malformed JSON array, …)."""


class OutputExistsError(FileExistsError):
    pass


# ---- reading ------------------------------------------------------------------------------------
@dataclass
class RawRow:
    index: int  # 0-based position among the input's records
    line: int | None  # 1-based line (JSONL only)
    record: Any
    error: str | None = None  # the JSON error, for a line that does not parse


def sniff_input(path: str) -> str:
    """"array" when the first non-blank character is '[', else "jsonl" (whatever the extension)."""
    with open(path, "rb") as f:
        head = f.read(4096)
        while head:
            stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            if stripped:
                return "array" if stripped[:1] == b"[" else "jsonl"
            head = f.read(4096)
    raise InputError(f"{path} is empty")


def _iter_jsonl(path: str) -> Iterator[RawRow]:
    index = 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                yield RawRow(index, lineno, json.loads(raw))
            except (ValueError, UnicodeDecodeError) as e:
                yield RawRow(index, lineno, None, f"{type(e).__name__}: {e}")
            index += 1


def _iter_json_array(path: str, chunk_size: int = READ_CHUNK) -> Iterator[RawRow]:
    """Elements of a top-level JSON array, one at a time, without loading the file."""
    decoder = json.JSONDecoder()
    with open(path, "r", encoding="utf-8-sig") as f:
        buf, pos, eof = "", 0, False

        def more() -> None:
            nonlocal buf, pos, eof
            data = f.read(chunk_size)
            eof = not data
            buf, pos = buf[pos:] + data, 0

        def peek() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf):
                    return buf[pos]
                if eof:
                    return ""
                more()

        try:
            if peek() != "[":
                raise InputError(f"{path}: not a JSON array or JSON lines file")
            pos += 1
            if peek() == "]":
                return
            index = 0
            while True:
                if not peek():  # raw_decode does not skip leading whitespace; peek does
                    raise InputError(f"{path}: the array ends without ']' after element {index - 1}")
                while True:
                    try:
                        value, end = decoder.raw_decode(buf, pos)
                    except json.JSONDecodeError as e:
                        # an error well inside the buffer is real; near its end we may only lack data
                        real = e.pos < len(buf) - 16 and not e.msg.startswith("Unterminated string")
                        if eof or real:
                            raise InputError(
                                f"{path}: array element {index} is not valid JSON ({e.msg}); "
                                "a malformed JSON array cannot be resynchronised, fix the file or convert it to JSONL"
                            ) from None
                        if len(buf) - pos > MAX_ARRAY_ELEMENT:
                            raise InputError(f"{path}: array element {index} is larger than {MAX_ARRAY_ELEMENT >> 20} MiB or malformed") from None
                        more()
                        continue
                    if end == len(buf) and not eof:  # a scalar may continue in the next chunk
                        more()
                        continue
                    break
                yield RawRow(index, None, value)
                index += 1
                pos = end
                c = peek()
                if c == ",":
                    pos += 1
                elif c == "]":
                    return
                else:
                    raise InputError(f"{path}: expected ',' or ']' after array element {index - 1}, found {c or 'end of file'!r}")
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not UTF-8 ({e})") from None


def iter_records(path: str, limit: int | None = None) -> Iterator[RawRow]:
    rows = _iter_json_array(path) if sniff_input(path) == "array" else _iter_jsonl(path)
    for raw in rows:
        if limit is not None and raw.index >= limit:
            return
        yield raw


def count_records(path: str, limit: int | None = None) -> int:
    if sniff_input(path) == "jsonl":
        n = 0
        with open(path, "rb") as f:
            for raw in f:
                if raw.strip(b"\xef\xbb\xbf \t\r\n"):
                    n += 1
                    if limit is not None and n >= limit:
                        break
        return n
    return sum(1 for _ in iter_records(path, limit))


# ---- cleaning, in process or in worker processes --------------------------------------------------
def _build_one(builder: RowBuilder, raw: RawRow) -> CleanRow | BadRowError:
    if raw.error is not None:
        return builder.bad(raw.index, Reason.INVALID_JSON, raw.error, raw.line)
    try:
        return builder.build(raw.record, raw.index, raw.line)
    except BadRowError as e:
        return e


_WORKER_BUILDER: RowBuilder | None = None


def _init_worker(opts: RowOptions, source: str | None) -> None:
    global _WORKER_BUILDER
    _WORKER_BUILDER = RowBuilder(opts, source)


def _work(batch: list[RawRow]) -> list[CleanRow | BadRowError]:
    assert _WORKER_BUILDER is not None
    return [_build_one(_WORKER_BUILDER, raw) for raw in batch]


def _batches(raws: Iterator[RawRow], size: int) -> Iterator[list[RawRow]]:
    batch: list[RawRow] = []
    for raw in raws:
        batch.append(raw)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def build_rows(
    raws: Iterator[RawRow], opts: RowOptions, source: str | None = None, workers: int = 1, batch_size: int = 128
) -> Iterator[CleanRow | BadRowError]:
    """Clean rows in input order. ``workers > 1`` checks images in that many spawned processes
    (``workers.OrderedPool``: two batches in flight per worker; stopped within a bound on any exit)."""
    if workers <= 1:
        builder = RowBuilder(opts, source)
        for raw in raws:
            yield _build_one(builder, raw)
        return

    from .workers import OrderedPool

    pool = OrderedPool(workers, _work, _init_worker, (opts, source))
    finished = False
    try:
        for results in pool.map(_batches(raws, batch_size)):
            yield from results
        finished = True
    finally:
        pool.close(graceful=finished)


# ---- writers ------------------------------------------------------------------------------------
def verl_arrow_schema(embed_images: bool = False):
    import pyarrow as pa

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())]) if embed_images else pa.string()
    types = {"image_size": pa.list_(pa.int64()), "index": pa.int64()}  # the other extra_info fields are strings
    extra = pa.struct([(name, types.get(name, pa.string())) for name in VERL_EXTRA_INFO_FIELDS])
    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("images", pa.list_(image)),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            ("extra_info", extra),
        ]
    )


class ParquetRows:
    """Parquet written in row groups: flushed every ``batch_rows`` rows or ``batch_bytes`` of images."""

    def __init__(self, path: str, schema, batch_rows: int = 1024, batch_bytes: int = 64 << 20):
        import pyarrow.parquet as pq

        self.schema = schema
        self._writer = pq.ParquetWriter(path, schema)
        self._rows: list[dict] = []
        self._bytes = 0
        self.batch_rows, self.batch_bytes = batch_rows, batch_bytes

    def write(self, row: dict) -> None:
        self._rows.append(row)
        for image in row.get("images") or ():
            if isinstance(image, dict):
                self._bytes += len(image.get("bytes") or b"")
        if len(self._rows) >= self.batch_rows or self._bytes >= self.batch_bytes:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self.schema))
            self._rows, self._bytes = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


class JsonLines:
    def __init__(self, path: str):
        self._f = open(path, "w", encoding="utf-8")

    def write(self, row: dict) -> None:
        self._f.write(json.dumps(row, ensure_ascii=False))
        self._f.write("\n")

    def close(self) -> None:
        self._f.close()


class JsonArray:
    """A JSON array written one element at a time (LLaMA-Factory reads .json arrays)."""

    def __init__(self, path: str):
        self._f = open(path, "w", encoding="utf-8")
        self._f.write("[")
        self._first = True

    def write(self, row: dict) -> None:
        self._f.write("\n" if self._first else ",\n")
        self._f.write(json.dumps(row, ensure_ascii=False))
        self._first = False

    def close(self) -> None:
        self._f.write("\n]\n")
        self._f.close()


# ---- the run ------------------------------------------------------------------------------------
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


def format_prompt_template(system_prompt: str) -> str:
    """The EasyR1 ``format_prompt`` jinja text for a system-prompt mode ("user" or "none")."""
    name = "wethink_user.jinja" if system_prompt == "user" else "plain.jinja"
    return package_files("wethink_verl.data").joinpath("templates", name).read_text(encoding="utf-8")


def _llamafactory_dataset_info(files: list[str], with_system: bool) -> dict:
    info = {}
    for name in files:
        columns = {"messages": "conversations", "images": "images"}
        if with_system:
            columns["system"] = "system"
        info[f"wethink_{os.path.splitext(name)[0]}"] = {"file_name": name, "formatting": "sharegpt", "columns": columns}
    return info


def prepare(cfg: PrepareConfig) -> PrepareResult:
    """Run one conversion. Raises BadRowError (unless ``skip_bad``), InputError, OutputExistsError."""
    _check_config(cfg)
    started = time.perf_counter()
    opts = row_options(cfg)
    # EasyR1 adds the instruction through its format_prompt template, not in the rows
    row_opts = replace(opts, system_prompt="none") if cfg.format == "easyr1" else opts

    out_dir = os.path.abspath(cfg.output_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise OutputExistsError(f"--output-dir {cfg.output_dir} is a file, not a directory")
    created_out_dir = not os.path.exists(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    publish.remove_leftovers(out_dir)

    train_name, val_name, *extra_names = OUTPUT_NAMES[cfg.format]
    input_real = os.path.realpath(cfg.input)
    all_names = (train_name, val_name, *extra_names, *SUMMARY_NAMES)
    for name in all_names:
        if os.path.realpath(os.path.join(out_dir, name)) == input_real:
            raise OutputExistsError(f"{os.path.join(out_dir, name)} is the input file: choose another --output-dir")
    existing = publish.existing_outputs(out_dir, all_names)
    if existing and not cfg.force:
        raise OutputExistsError(f"{out_dir} already has {', '.join(existing)}: pass --force to overwrite")

    total = count_records(cfg.input, cfg.limit)
    val = _val_indices(total, cfg.val_size, cfg.seed)
    workers = cfg.workers
    if workers <= 0:
        workers = 1 if total < AUTO_WORKERS_MIN_ROWS else min(8, os.cpu_count() or 1)
    names = [train_name] + ([val_name] if val else []) + extra_names

    staging = publish.new_staging(out_dir)
    stats = Stats()
    writers: dict[str, Any] = {}
    try:
        for split, name in (("train", train_name), ("val", val_name)):
            if split == "val" and not val:
                continue
            path = os.path.join(staging, name)
            if cfg.format == "verl":
                writers[split] = ParquetRows(path, verl_arrow_schema(cfg.embed_images))
            elif cfg.format == "easyr1":
                writers[split] = JsonLines(path)
            else:
                writers[split] = JsonArray(path)

        from tqdm import tqdm

        bar = tqdm(total=total, unit="row", desc=f"prepare {cfg.format}", disable=None if cfg.progress else True, file=sys.stderr, mininterval=0.5)
        rows = build_rows(iter_records(cfg.input, cfg.limit), row_opts, source=cfg.input, workers=workers)
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
                if cfg.format == "verl":
                    writers[split].write(verl_row(result, row_opts, split))
                elif cfg.format == "easyr1":
                    writers[split].write(easyr1_row(result, row_opts))
                else:
                    writers[split].write(sft_row(result, row_opts))
                stats.add(result, split)
        finally:
            rows.close()  # stops worker processes now, not when the traceback is freed
            bar.close()
        for w in writers.values():
            w.close()
        writers.clear()

        if cfg.format == "easyr1":
            with open(os.path.join(staging, "wethink_format.jinja"), "w", encoding="utf-8") as f:
                f.write(format_prompt_template(opts.system_prompt))
        elif cfg.format == "sft":
            info = _llamafactory_dataset_info([train_name] + ([val_name] if val else []), opts.system_prompt == "system")
            with open(os.path.join(staging, "dataset_info.json"), "w", encoding="utf-8") as f:
                json.dump(info, f, indent=2)

        seconds = time.perf_counter() - started
        result = PrepareResult(stats, {n: os.path.join(out_dir, n) for n in names + list(SUMMARY_NAMES)}, seconds)
        result.summary = _summary_text(cfg, opts, result)
        with open(os.path.join(staging, "prepare_summary.json"), "w", encoding="utf-8") as f:
            json.dump(_summary_json(cfg, opts, result), f, indent=2, ensure_ascii=False)
        with open(os.path.join(staging, "prepare_summary.txt"), "w", encoding="utf-8") as f:
            f.write(result.summary + "\n")

        warning = publish.publish(out_dir, staging, names + list(SUMMARY_NAMES), [n for n in all_names if n not in names and n not in SUMMARY_NAMES])
        if warning:
            result.summary += f"\n\nwarning: {warning}"
        return result
    except BaseException:
        for w in writers.values():
            try:
                w.close()
            except Exception:
                pass
        shutil.rmtree(staging, ignore_errors=True)
        if created_out_dir:
            try:
                os.rmdir(out_dir)  # only when empty
            except OSError:
                pass
        raise


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
