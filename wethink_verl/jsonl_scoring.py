"""Scoring a JSONL file with the training reward (the engine of ``wethink-verl score``).

Lines are read as bytes and decoded one by one, parsed into scorer samples
(``rows.sample_from_score_line``), scored in chunks of CHUNK with the scorer's own concurrency, and
written as they finish, each output line the input plus the result. A bad line never stops the run:
it gets an ``error`` (encoding its output is part of that isolation), and every input line is
counted (blank ones as skipped).
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterator

from .reward.compose import failure_reason
from .rows import sample_from_score_line
from .text_table import format_table

CHUNK = 512
JSON_BLANK = b" \t\r\n"  # JSON's whitespace: a line of only these is blank (U+2028 is not)
# str.splitlines() also breaks at these, which json.dumps(ensure_ascii=False) leaves raw
LINE_BREAKERS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


class _BadLine(str):
    """A line that could not even be decoded; its text is the reason."""


class _BlankLine(str):
    pass


def _read_lines(stream) -> Iterator[tuple[int, str]]:
    """Every line, numbered: bytes decoded line by line (one undecodable line must not stop the run)."""
    for lineno, raw in enumerate(stream, 1):
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip(JSON_BLANK):
            yield lineno, _BlankLine()
            continue
        try:
            yield lineno, raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield lineno, _BadLine(f"invalid UTF-8: {e}")


def encode_line(record: Any) -> bytes:
    """One JSON line, UTF-8, that every reader sees as one line (U+2028/U+2029/U+0085 escaped);
    raises UnicodeEncodeError for text that is no valid Unicode (a lone surrogate)."""
    text = json.dumps(record, ensure_ascii=False)
    for char, escape in LINE_BREAKERS.items():
        if char in text:
            text = text.replace(char, escape)
    return text.encode("utf-8") + b"\n"


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    return value


def _lone_surrogate(line: str, record: Any) -> str | None:
    """Why ``record`` is no valid Unicode (a JSON escape such as \\ud800 without its pair), or None."""
    if "\\u" not in line:
        return None
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        return f"invalid Unicode: a lone surrogate U+{ord(e.object[e.start]):04X} (a \\u escape without its pair)"
    return None


def summary_table(rows: list[tuple[str, str, dict]]) -> str:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    categories: dict[str, set] = defaultdict(set)
    for verifier, category, res in rows:
        groups[(verifier, category)].append(res)
        groups[(verifier, "(all)")].append(res)
        categories[verifier].add(category)
    table_rows = []
    for (verifier, category), results in sorted(groups.items()):
        if category == "(all)" and len(categories[verifier]) == 1:
            continue
        n = len(results)
        fmts = [r["format"] for r in results if r.get("format") is not None]
        table_rows.append(
            [
                verifier,
                category,
                n,
                sum(r["score"] for r in results) / n,
                sum(r["accuracy"] for r in results) / n,
                (sum(fmts) / len(fmts)) if fmts else None,
                sum(1 for r in results if failure_reason(r)),
                sum(r.get("fallback", 0) for r in results),
            ]
        )
    headers = ["verifier", "category", "n", "score", "accuracy", "format", "errors", "fallbacks"]
    return format_table(headers, table_rows, title="Scores by verifier and category")


class ScoreRun:
    """What one run counts: every input line ends up in exactly one of these."""

    def __init__(self):
        self.rows: list[tuple[str, str, dict]] = []  # (verifier, category, result) per written line
        self.errors = 0
        self.blank: list[int] = []
        self.no_answer: list[int] = []
        self.first_warning = ""

    @property
    def lines(self) -> int:
        return len(self.rows) + len(self.blank)

    def count(self, line: _Line, written: dict, res: dict) -> None:
        if failure_reason(res):
            self.errors += 1
        if line.warning:
            self.no_answer.append(line.lineno)
            self.first_warning = self.first_warning or f"line {line.lineno}: {line.warning}"
        self.rows.append((res["verifier"], str(written.get("category") or "-"), res))


@dataclass
class _Line:
    """A non-blank input line, parsed: a sample to score, or why it cannot be scored."""

    lineno: int
    record: Any  # the parsed JSON (or the start of the raw text, when it is none)
    sample: dict | None = None
    error: str | None = None
    warning: str | None = None


async def score_jsonl(scorer, instream, out, *, answer_only: bool = False, concurrency: int = 64, progress: bool = True) -> ScoreRun:
    """Score every line of ``instream`` (bytes) into ``out`` (bytes), in input order, CHUNK lines
    at a time; returns what the run counted."""
    from tqdm import tqdm

    run = ScoreRun()
    bar = tqdm(desc="scoring", unit="resp", file=sys.stderr, disable=not progress)
    lines = _parsed_lines(instream, answer_only, run.blank)
    try:
        while chunk := list(itertools.islice(lines, CHUNK)):
            results = await _score_chunk(scorer, chunk, concurrency)
            for line, res in zip(chunk, results):
                written, res = _write_line(out, line, res)
                run.count(line, written, res)
            bar.update(len(chunk))
    finally:
        bar.close()
    return run


def _parsed_lines(instream, answer_only: bool, blank: list[int]) -> Iterator[_Line]:
    """Every non-blank line, parsed; blank lines are numbered into ``blank``."""
    for lineno, line in _read_lines(instream):
        if isinstance(line, _BlankLine):
            blank.append(lineno)
        else:
            yield _parse_line(lineno, line, answer_only)


def _parse_line(lineno: int, line: str, answer_only: bool) -> _Line:
    if isinstance(line, _BadLine):
        return _Line(lineno, None, error=str(line))
    try:
        record = json.loads(line)
    except ValueError as e:
        return _Line(lineno, line.rstrip("\r\n")[:200], error=f"invalid JSON: {e}")
    why = _lone_surrogate(line, record)
    if why:
        return _Line(lineno, _without_surrogates(record), error=why)
    try:
        sample, warning = sample_from_score_line(record, answer_only)
    except ValueError as e:
        return _Line(lineno, record, error=str(e))
    return _Line(lineno, record, sample, warning=warning)


async def _score_chunk(scorer, chunk: list[_Line], concurrency: int) -> list[dict]:
    """Each line's result: the scorer's, or an error result for a line that could not be parsed."""
    scored = iter(await scorer.ascore_many([line.sample for line in chunk if line.sample is not None], concurrency=concurrency))
    return [next(scored) if line.sample is not None else _error_result(line.lineno, line.error) for line in chunk]


def _write_line(out, line: _Line, res: dict) -> tuple[dict, dict]:
    """Write the input plus its result; returns (the input as written, the result as written)."""
    base = line.record if isinstance(line.record, dict) else {"line": line.lineno, "input": line.record}
    try:
        data = encode_line(_output_line(base, res, line.warning))
    except UnicodeEncodeError as e:  # encoding is part of the line's isolation
        base, res = _without_surrogates(base), _error_result(line.lineno, f"output not encodable as UTF-8: {e.reason}")
        data = encode_line(_output_line(base, res, line.warning))
    out.write(data)
    return base, res


def _error_result(lineno: int, why: str) -> dict:
    return {"score": 0.0, "accuracy": 0.0, "format": 0.0, "verifier": "none", "reason": f"line {lineno}: {why}", "error": 1}


def _output_line(base: Any, res: dict, warning: str | None) -> dict:
    merged = dict(base)
    merged.update(score=res["score"], accuracy=res["accuracy"], format=res["format"], verifier=res["verifier"],
                  reason=res.get("reason"), error=failure_reason(res), warning=warning)  # fmt: skip
    return merged
