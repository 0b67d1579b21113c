"""The files ``prepare`` writes, a row at a time: verl parquet (row groups), JSON lines (EasyR1),
a JSON array (LLaMA-Factory), and the side files (EasyR1's format_prompt template,
LLaMA-Factory's ``dataset_info.json``)."""

from __future__ import annotations

import json
import os
from importlib.resources import files as package_files

from ..rows import VERL_EXTRA_INFO_FIELDS


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


def open_writer(fmt: str, path: str, embed_images: bool = False):
    """The row writer of an output format (``write(row)``, ``close()``)."""
    if fmt == "verl":
        return ParquetRows(path, verl_arrow_schema(embed_images))
    if fmt == "easyr1":
        return JsonLines(path)
    return JsonArray(path)


def format_prompt_template(system_prompt: str) -> str:
    """The EasyR1 ``format_prompt`` jinja text for a system-prompt mode ("user" or "none")."""
    name = "wethink_user.jinja" if system_prompt == "user" else "plain.jinja"
    return package_files("wethink_verl.data").joinpath("templates", name).read_text(encoding="utf-8")


def llamafactory_dataset_info(files: list[str], with_system: bool) -> dict:
    info = {}
    for name in files:
        columns = {"messages": "conversations", "images": "images"}
        if with_system:
            columns["system"] = "system"
        info[f"wethink_{os.path.splitext(name)[0]}"] = {"file_name": name, "formatting": "sharegpt", "columns": columns}
    return info
