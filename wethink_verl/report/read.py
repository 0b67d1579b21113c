"""Read every source into one ``Aggregate``: one file per task, files in parallel worker processes
(their partial aggregates merge), a progress bar over the bytes read."""

from __future__ import annotations

import os
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable

from .aggregate import Aggregate
from .sources import EASYR1_METRICS, VERL_METRICS, Source, derive, flatten, iter_records, normalize, step_of

# metric-log names -> the row series they are the per-step mean of
EASYR1_NAMES = {"reward/overall": "score", "response_length/mean": "length_tokens_mean"}
VERL_NAMES = {"critic/score/mean": "score", "response_length/mean": "length_tokens_mean"}
EXPECTED_KEYS = ("accuracy", "format", "verifier", "category", "status", "reason")
_EASYR1_REWARD_KEYS = ("accuracy", "format", "judge_used", "judge_failed", "fallback", "judge_rescued", "timed_out", "error")


def _metric_values(flat: dict, kind: str) -> dict[str, float]:
    names = dict(EASYR1_NAMES if kind == EASYR1_METRICS else VERL_NAMES)
    if kind == EASYR1_METRICS:
        names.update({f"reward/{k}": k for k in _EASYR1_REWARD_KEYS})
    return {ours: float(flat[theirs]) for theirs, ours in names.items() if isinstance(flat.get(theirs), (int, float))}


def read_source(source: Source, progress: Callable[[int], None] | None = None) -> Aggregate:
    """One file -> a partial aggregate (runs in a worker process)."""
    agg = Aggregate()
    default_step = step_of(source)
    checked_keys = False
    for record, _ in iter_records(source, progress):
        if record is None:
            agg.bad_lines += 1
            continue
        if source.kind in (EASYR1_METRICS, VERL_METRICS):
            flat = flatten(record.get("data", record) if source.kind == VERL_METRICS else record)
            step = record.get("step")
            if isinstance(step, (int, float)):
                agg.add_metrics(source.split, int(step), _metric_values(flat, source.kind))
            continue
        if not checked_keys:  # what the source lacks, once per file
            agg.missing_keys.update({k: 1 for k in EXPECTED_KEYS if k not in record})
            checked_keys = True
        row = derive(normalize(record, source.kind, default_step), record, agg.recomputed)
        agg.add_row(row, source.split)
    return agg


def read_sources(sources: list[Source]) -> tuple[Aggregate, Counter]:
    """Several files -> one partial aggregate and its rows per kind (one worker task)."""
    agg, per_kind = Aggregate(), Counter()
    for s in sources:
        part = read_source(s)
        per_kind[s.kind] += part.rows
        agg.merge(part)
    return agg, per_kind


def read_all(sources: list[Source], workers: int = 2, quiet: bool = False) -> tuple[Aggregate, Counter]:
    """Every source, merged; also the rows read per source kind. With workers, files go in about
    4 batches per worker (a partial aggregate carries its samples: fewer, larger tasks send less)."""
    from tqdm import tqdm

    bar = tqdm(total=sum(s.size for s in sources), unit="B", unit_scale=True, desc="reading", file=sys.stderr,
               disable=quiet, mininterval=0.5)  # fmt: skip
    agg, per_kind = Aggregate(), Counter()
    try:
        if workers <= 1 or len(sources) == 1:
            for s in sources:
                part = read_source(s, bar.update)
                per_kind[s.kind] += part.rows
                agg.merge(part)
        else:
            batches = [sources[i :: workers * 4] for i in range(min(len(sources), workers * 4))]
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(read_sources, batch): batch for batch in batches}
                for fut in as_completed(futures):
                    part, kinds = fut.result()
                    per_kind.update(kinds)
                    agg.merge(part)
                    bar.update(sum(s.size for s in futures[fut]))
    finally:
        bar.close()
    return agg, per_kind


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))

