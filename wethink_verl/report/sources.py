"""What ``wethink-verl report`` reads, found by looking, and each row made one shape.

- **verl rollout dumps**: ``{step}.jsonl`` written by ``RayPPOTrainer._write_generations`` under
  ``trainer.rollout_data_dir`` / ``trainer.validation_data_dir``: ``input``, ``output``, ``gts``,
  ``score``, ``step`` and every ``reward_extra_info`` key our manager returns (RESULT_KEYS). verl
  0.9.1's V1 trainer dumps training rollouts with ``uid`` only (no reward_extra_info): format and
  no-answer are then recomputed from the text, and per-verifier views need the validation dumps.
- **``wethink-verl score`` output**: the input lines plus ``score``, ``accuracy``, ``format``,
  ``verifier``, ``reason``, ``error`` (one step unless the lines carry ``step``).
- **metric logs** (per-step means, no samples): EasyR1's ``experiment_log.jsonl`` (its ``file``
  logger: ``{"step", "reward": {...}, ...}``, the ``reward/<key>`` metrics) and verl's ``file``
  logger (``{"step", "data": {"critic/score/mean", ...}}``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

try:
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - verl brings orjson
    import json

    _loads = json.loads

VERL_DUMP, SCORE_OUTPUT, EASYR1_METRICS, VERL_METRICS = "verl dump", "score output", "EasyR1 metrics", "verl metrics"
STEP_FILE = re.compile(r"^-?\d+\.jsonl$")
FLAG_KEYS = ("judge_used", "judge_failed", "fallback", "judge_rescued", "timed_out")
RESPONSE_CAP = 4000  # characters of a response kept for the samples section


@dataclass
class Source:
    kind: str
    path: str
    split: str  # what the lines plotted from this source are called (rollouts, validation, …)
    size: int = 0


@dataclass
class Discovery:
    sources: list[Source]
    skipped: list[tuple[str, str]]  # (path, why)


def _first_record(path: str) -> Any:
    with open(path, "rb") as f:
        for raw in f:
            if raw.strip():
                try:
                    return _loads(raw)
                except ValueError:
                    return None
    return None


def _classify(path: str) -> str | None:
    name = os.path.basename(path)
    first = _first_record(path)
    if not isinstance(first, dict):
        return None
    if "output" in first and "step" in first and ("score" in first or "input" in first):
        return VERL_DUMP
    if name == "experiment_log.jsonl" or ("step" in first and isinstance(first.get("reward"), dict)):
        return EASYR1_METRICS
    if "step" in first and isinstance(first.get("data"), dict):
        return VERL_METRICS
    if "response" in first and "score" in first:
        return SCORE_OUTPUT
    return None


def _split_name(path: Path, base: Path, kind: str) -> str:
    if kind == VERL_DUMP:  # the dump directory under the run: rollouts, validation, a/rollouts, …
        rel = path.parent.relative_to(base) if path.parent.is_relative_to(base) else Path(path.parent.name)
        return str(rel) if str(rel) != "." else (path.parent.name or "rollouts")
    if kind == SCORE_OUTPUT:
        return path.stem
    return f"{kind}: {path.stem}"


def discover(target: str | os.PathLike) -> Discovery:
    """Every readable source under ``target`` (a directory, searched recursively, or one file)."""
    root = Path(target)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*.jsonl") if p.is_file())
    sources, skipped = [], []
    base = root.parent if root.is_file() else root
    for p in files:
        try:
            kind = _classify(str(p))
        except OSError as e:
            skipped.append((str(p), f"unreadable: {e}"))
            continue
        if kind is None:
            skipped.append((str(p), "not a verl dump, score output or metrics log"))
            continue
        sources.append(Source(kind, str(p), _split_name(p, base, kind), p.stat().st_size))
    return Discovery(sources, skipped)


# ---- rows -----------------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def normalize(record: dict, kind: str, default_step: int) -> dict:
    """One row, whatever wrote it: step, score, accuracy, format, verifier, category, route, status,
    reason, response, gts, the judge flags and error (None where the source does not say)."""
    if kind == VERL_DUMP:
        response, gts = record.get("output"), record.get("gts")
    else:
        response, gts = record.get("response"), record.get("answer", record.get("ground_truth"))
    error = record.get("error")
    if isinstance(error, str) or (error is None and kind == SCORE_OUTPUT):
        error = 1.0 if error else 0.0  # the score CLI writes the error text (or null)
    step = record.get("step", default_step)
    row = {
        "step": int(step) if isinstance(step, (int, float)) else default_step,
        "score": _number(record.get("score")),
        "accuracy": _number(record.get("accuracy", record.get("acc"))),
        "format": _number(record.get("format")),
        "verifier": _text(record.get("verifier")),
        "category": _text(record.get("category")),
        "route": _text(record.get("route")),
        "status": _text(record.get("status")),
        "reason": _text(record.get("reason")),
        "response": response if isinstance(response, str) else ("" if response is None else str(response)),
        "gts": gts,
        "error": _number(error),
    }
    for key in FLAG_KEYS:
        row[key] = _number(record.get(key))
    return row


def derive(row: dict, record: dict, recomputed) -> dict:
    """The reward-hacking signs of a row: no_answer, hedged, format_failure (and error from the
    status). What the source lacks is recomputed from the response text with our own extract and
    format check at their defaults (counted in ``recomputed``); a hedge needs the verifier's status."""
    status = row["status"]
    if "format" not in record:  # verl's V1 training dumps: no reward_extra_info at all
        from ..verifiers.format import check_format

        row["format"] = check_format(row["response"]).score
        recomputed["format"] += 1
    if status:
        row["no_answer"], row["hedged"] = float(status == "no_answer"), float(status == "hedged")
        if row["error"] is None:
            row["error"] = float(status == "error")
    else:
        if row["format"] is None:  # answer-only scoring: the whole response is the answer
            row["no_answer"] = float(not row["response"].strip())
        else:
            from ..verifiers.extract import extract_answer

            row["no_answer"] = float(extract_answer(row["response"]).answer is None)
            recomputed["no_answer"] += 1
        row["hedged"] = None
    row["format_failure"] = None if row["format"] is None else float(row["format"] < 1.0)
    return row


def iter_records(source: Source, progress=None) -> Iterator[tuple[dict | None, int]]:
    """(record or None for a bad line, bytes read) for each non-empty line, streaming."""
    with open(source.path, "rb") as f:
        for raw in f:
            if progress is not None:
                progress(len(raw))
            if not raw.strip():
                continue
            try:
                record = _loads(raw)
            except ValueError:
                yield None, len(raw)
                continue
            yield (record if isinstance(record, dict) else None), len(raw)


def step_of(source: Source) -> int:
    """The step a verl dump's name says (``{step}.jsonl``), else 0."""
    name = os.path.basename(source.path)
    return int(name[:-6]) if STEP_FILE.match(name) else 0


def flatten(record: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in record.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        else:
            out[key] = v
    return out
