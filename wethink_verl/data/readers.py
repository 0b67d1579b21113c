"""Reading WeThink records, streaming: JSON lines line by line, or a top-level JSON array through
a small incremental reader; whatever the extension, the first non-blank character decides. A line
that does not parse is a row with an ``error`` (a bad row, named); an input that cannot be read as
a whole raises :class:`InputError`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

READ_CHUNK = 1 << 20
MAX_ARRAY_ELEMENT = 64 << 20  # a JSON array element larger than this is treated as malformed


class InputError(ValueError):
    """The input as a whole cannot be read (not JSON/JSONL, a malformed JSON array, …)."""


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
    with open(path, "r", encoding="utf-8-sig") as f:
        try:
            yield from _JsonArrayReader(f, path, chunk_size)
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not UTF-8 ({e})") from None


class _JsonArrayReader:
    """A text buffer over the file, refilled by ``chunk_size``; ``pos`` is the next unread character."""

    def __init__(self, f, path: str, chunk_size: int):
        self.f, self.path, self.chunk_size = f, path, chunk_size
        self.buf, self.pos, self.eof = "", 0, False
        self.decoder = json.JSONDecoder()

    def __iter__(self) -> Iterator[RawRow]:
        if self._peek() != "[":
            raise InputError(f"{self.path}: not a JSON array or JSON lines file")
        self.pos += 1
        if self._peek() == "]":
            return
        index = 0
        while True:
            if not self._peek():  # raw_decode does not skip leading whitespace; _peek does
                raise InputError(f"{self.path}: the array ends without ']' after element {index - 1}")
            value, self.pos = self._element(index)
            yield RawRow(index, None, value)
            index += 1
            c = self._peek()
            if c == ",":
                self.pos += 1
            elif c == "]":
                return
            else:
                raise InputError(f"{self.path}: expected ',' or ']' after array element {index - 1}, found {c or 'end of file'!r}")

    def _more(self) -> None:
        data = self.f.read(self.chunk_size)
        self.eof = not data
        self.buf, self.pos = self.buf[self.pos :] + data, 0

    def _peek(self) -> str:
        """The next non-whitespace character ("" at the end of the file), not consumed."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return ""
            self._more()

    def _element(self, index: int) -> tuple[Any, int]:
        """(the value starting at ``pos``, where it ends), reading on while it may be incomplete."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                # an error well inside the buffer is real; near its end we may only lack data
                real = e.pos < len(self.buf) - 16 and not e.msg.startswith("Unterminated string")
                if self.eof or real:
                    raise InputError(
                        f"{self.path}: array element {index} is not valid JSON ({e.msg}); "
                        "a malformed JSON array cannot be resynchronised, fix the file or convert it to JSONL"
                    ) from None
                if len(self.buf) - self.pos > MAX_ARRAY_ELEMENT:
                    raise InputError(f"{self.path}: array element {index} is larger than {MAX_ARRAY_ELEMENT >> 20} MiB or malformed") from None
                self._more()
                continue
            if end == len(self.buf) and not self.eof:  # a scalar may continue in the next chunk
                self._more()
                continue
            return value, end
