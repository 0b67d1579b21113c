"""Streaming aggregation of scored rows: per (split, step) sums, per verifier / category, a bounded
set of sample responses per verifier, and the step jumps worth a look.

Memory is flat in the number of rows: a step keeps sums and a fixed length histogram, a verifier
keeps at most ``KEEP`` highest and lowest samples and ``REASONS`` distinct failure reasons (with
two examples each). Partial aggregates (one per file, in worker processes) merge by addition.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .sources import RESPONSE_CAP

# per-row series: means of numbers, rates of 0/1 flags
NUMBERS = ("score", "accuracy", "format")
RATES = ("judge_used", "judge_failed", "fallback", "judge_rescued", "timed_out", "error", "no_answer", "hedged", "format_failure")
LENGTH_BINS = sorted({0} | {int(round(10 ** (k / 32))) for k in range(0, 193)})  # 1 char .. 1e6 chars, ~7% apart
SERIES = NUMBERS + RATES
KEEP, REASONS, EXAMPLES = 3, 200, 2
_VOLATILE = re.compile(r"'[^']*'|\"[^\"]*\"|-?\d+(?:\.\d+)?")
_seq = itertools.count()


def reason_key(reason: str | None) -> str:
    """A failure reason with its row-specific parts (quoted text, numbers) blanked, for counting."""
    return _VOLATILE.sub("…", (reason or "(no reason given)").strip())[:160]


def _bin(length: int) -> int:
    return bisect.bisect_right(LENGTH_BINS, length) - 1


@dataclass
class GroupStats:
    """Sums for one verifier or category at one step."""

    n: int = 0
    score: float = 0.0
    accuracy: float = 0.0
    accuracy_n: int = 0

    def add(self, row: dict) -> None:
        self.n += 1
        self.score += row["score"] or 0.0
        if row["accuracy"] is not None:
            self.accuracy += row["accuracy"]
            self.accuracy_n += 1

    def merge(self, other: "GroupStats") -> None:
        self.n += other.n
        self.score += other.score
        self.accuracy += other.accuracy
        self.accuracy_n += other.accuracy_n


@dataclass
class StepStats:
    n: int = 0
    sums: dict = field(default_factory=dict)  # name -> [sum, count of rows that had it]
    lengths: list = field(default_factory=lambda: [0] * len(LENGTH_BINS))
    length_sum: int = 0
    by_verifier: dict = field(default_factory=dict)
    by_category: dict = field(default_factory=dict)

    def add(self, row: dict) -> None:
        self.n += 1
        sums = self.sums
        for name in SERIES:  # the hot loop of a report: one pass, no calls
            value = row.get(name)
            if value is not None:
                s = sums.get(name)
                if s is None:
                    s = sums[name] = [0.0, 0]
                s[0] += value
                s[1] += 1
        length = len(row["response"])
        self.length_sum += length
        self.lengths[_bin(length)] += 1
        if row["verifier"] is not None:
            self.by_verifier.setdefault(row["verifier"], GroupStats()).add(row)
        if row["category"] is not None:
            self.by_category.setdefault(row["category"] or "(none)", GroupStats()).add(row)

    def merge(self, other: "StepStats") -> None:
        self.n += other.n
        for name, (total, count) in other.sums.items():
            s = self.sums.setdefault(name, [0.0, 0])
            s[0] += total
            s[1] += count
        self.lengths = [a + b for a, b in zip(self.lengths, other.lengths)]
        self.length_sum += other.length_sum
        for mine, theirs in ((self.by_verifier, other.by_verifier), (self.by_category, other.by_category)):
            for key, stats in theirs.items():
                mine.setdefault(key, GroupStats()).merge(stats)

    def mean(self, name: str) -> float | None:
        s = self.sums.get(name)
        return s[0] / s[1] if s and s[1] else None

    def length_quantile(self, q: float) -> float:
        target, seen = q * self.n, 0
        for k, count in enumerate(self.lengths):
            seen += count
            if count and seen >= target:
                return float(LENGTH_BINS[k])
        return 0.0


def _sample(row: dict, split: str) -> dict:
    response = row["response"]
    if len(response) > RESPONSE_CAP:
        response = response[:RESPONSE_CAP] + f"[… {len(row['response']) - RESPONSE_CAP} characters cut …]"
    gts = row.get("gts")
    return {
        "split": split, "step": row["step"], "score": row["score"], "accuracy": row["accuracy"], "format": row["format"],
        "category": row["category"], "route": row["route"], "status": row["status"], "reason": row["reason"],
        "response": response, "ground_truth": None if gts is None else str(gts)[:500],
    }  # fmt: skip


class SampleKeeper:
    """For one verifier: the KEEP highest- and lowest-scored rows (later steps first among equals) and
    the most common failure reasons with EXAMPLES rows each."""

    def __init__(self):
        self.high: list = []
        self.low: list = []
        self.reasons: Counter = Counter()
        self.examples: dict[str, list[dict]] = {}
        self.failures = 0
        self.other_reasons = 0

    @staticmethod
    def _push(heap: list, item) -> None:
        for i, kept in enumerate(heap):  # show different responses, not one response three times
            if kept[2]["response"] == item[2]["response"]:
                if item[0] > kept[0]:  # the same response at a later step
                    heap[i] = item
                    heapq.heapify(heap)
                return
        if len(heap) < KEEP:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)

    def add(self, row: dict, split: str) -> None:
        score = row["score"] or 0.0
        high_key, low_key = (score, row["step"]), (-score, row["step"])
        if len(self.high) < KEEP or high_key > self.high[0][0] or len(self.low) < KEEP or low_key > self.low[0][0]:
            sample = _sample(row, split)
            self._push(self.high, (high_key, next(_seq), sample))
            self._push(self.low, (low_key, next(_seq), sample))
        accuracy = row["accuracy"] if row["accuracy"] is not None else score
        if accuracy < 1.0:
            self.failures += 1
            key = reason_key(row["reason"])
            if key in self.reasons or len(self.reasons) < REASONS:
                self.reasons[key] += 1
                examples = self.examples.setdefault(key, [])
                if len(examples) < EXAMPLES:
                    examples.append(_sample(row, split))
            else:
                self.other_reasons += 1

    def merge(self, other: "SampleKeeper") -> None:
        for item in other.high:
            self._push(self.high, item)
        for item in other.low:
            self._push(self.low, item)
        self.failures += other.failures
        self.other_reasons += other.other_reasons
        for key, count in other.reasons.items():
            if key in self.reasons or len(self.reasons) < REASONS:
                self.reasons[key] += count
                mine = self.examples.setdefault(key, [])
                mine.extend(other.examples.get(key, [])[: EXAMPLES - len(mine)])
            else:
                self.other_reasons += count

    def summary(self) -> dict:
        top = self.reasons.most_common(3)
        return {
            "highest": [s for _, _, s in sorted(self.high, reverse=True)],
            "lowest": [s for _, _, s in sorted(self.low, reverse=True)],
            "failures": self.failures,
            "top_reasons": [{"reason": k, "count": c, "examples": self.examples.get(k, [])} for k, c in top],
        }


class Aggregate:
    """Everything the page shows, built by streaming rows (``add_row``) and metric-log lines."""

    def __init__(self):
        self.steps: dict[str, dict[int, StepStats]] = {}
        self.metrics: dict[str, dict[int, dict[str, float]]] = {}
        self.samples: dict[str, SampleKeeper] = {}
        self.rows = 0
        self.bad_lines = 0
        self.recomputed: Counter = Counter()
        self.missing_keys: Counter = Counter()

    def add_row(self, row: dict, split: str) -> None:
        self.rows += 1
        stats = self.steps.setdefault(split, {}).get(row["step"])
        if stats is None:
            stats = self.steps[split][row["step"]] = StepStats()
        stats.add(row)
        verifier = row["verifier"] or "(verifier not in the dump)"
        keeper = self.samples.get(verifier)
        if keeper is None:
            keeper = self.samples[verifier] = SampleKeeper()
        keeper.add(row, split)

    def add_metrics(self, split: str, step: int, values: dict[str, float]) -> None:
        self.metrics.setdefault(split, {}).setdefault(step, {}).update(values)

    def merge(self, other: "Aggregate") -> None:
        for split, steps in other.steps.items():
            mine = self.steps.setdefault(split, {})
            for step, stats in steps.items():
                if step in mine:
                    mine[step].merge(stats)
                else:
                    mine[step] = stats
        for split, steps in other.metrics.items():
            for step, values in steps.items():
                self.add_metrics(split, step, values)
        for verifier, keeper in other.samples.items():
            if verifier in self.samples:
                self.samples[verifier].merge(keeper)
            else:
                self.samples[verifier] = keeper
        self.rows += other.rows
        self.bad_lines += other.bad_lines
        self.recomputed.update(other.recomputed)
        self.missing_keys.update(other.missing_keys)

    # ---- the finished numbers --------------------------------------------------------------------
    def series(self) -> dict[str, dict[str, Any]]:
        """Per split: steps and, for each, the means / rates / lengths, per verifier and category."""
        out: dict[str, dict[str, Any]] = {}
        for split, steps in self.steps.items():
            order = sorted(steps)
            stats = [steps[s] for s in order]
            values = {name: [st.mean(name) for st in stats] for name in SERIES}
            values["length_mean"] = [st.length_sum / st.n for st in stats]
            values["length_p90"] = [st.length_quantile(0.9) for st in stats]
            out[split] = {"source": "rows", "steps": order, "rows": [st.n for st in stats], "values": values,
                          "by_verifier": _groups(stats, "by_verifier"), "by_category": _groups(stats, "by_category")}  # fmt: skip
        for split, steps in self.metrics.items():
            order = sorted(steps)
            names = sorted({k for s in order for k in steps[s]})
            out[split] = {"source": "metrics", "steps": order, "rows": None, "by_verifier": {}, "by_category": {},
                          "values": {n: [steps[s].get(n) for s in order] for n in names}}  # fmt: skip
        return out


def _groups(stats: list[StepStats], attr: str) -> dict[str, dict[str, list]]:
    keys = sorted({k for st in stats for k in getattr(st, attr)})
    out = {}
    for key in keys:
        acc, share, n = [], [], []
        for st in stats:
            g = getattr(st, attr).get(key)
            n.append(g.n if g else 0)
            share.append((g.n / st.n) if g else 0.0)
            acc.append((g.accuracy / g.accuracy_n) if g and g.accuracy_n else None)
        out[key] = {"accuracy": acc, "share": share, "n": n}
    return out


# ---- step jumps ---------------------------------------------------------------------------------
# (series, absolute floor): a value is flagged when it moves more than max(floor, 4 x the series'
# typical step-to-step change, 4 x the sampling noise of a rate over that step's rows) away from
# the median of the WINDOW steps before it, and also that far from the step just before (so a new
# level is flagged once, where it starts).
JUMP_SERIES = {"length_mean": None, "no_answer": 0.05, "hedged": 0.05, "format_failure": 0.05, "judge_failed": 0.05, "error": 0.02}
WINDOW, MIN_HISTORY, SIGMAS, LENGTH_FLOOR = 5, 3, 4.0, 0.2


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def find_jumps(steps: list[int], values: list[float | None], floor: float | None, rows: list[int] | None = None) -> list[dict]:
    """Steps where ``values`` jumps (see JUMP_SERIES). ``floor`` None: a length (relative floor,
    LENGTH_FLOOR of the baseline); else a rate, whose noise over ``rows`` rows is allowed for."""
    rows = rows or [0] * len(steps)
    points = [(s, v, n) for s, v, n in zip(steps, values, rows) if v is not None and not math.isnan(v)]
    diffs = [abs(b[1] - a[1]) for a, b in zip(points, points[1:])]
    typical = 1.4826 * _median(diffs) if diffs else 0.0
    jumps = []
    for i in range(MIN_HISTORY, len(points)):
        step, value, n = points[i]
        base = _median([v for _, v, _ in points[max(0, i - WINDOW) : i]])
        limit = max(LENGTH_FLOOR * abs(base) if floor is None else floor, SIGMAS * typical)
        if floor is not None and n:
            p = (base + value) / 2
            limit = max(limit, SIGMAS * math.sqrt(p * (1 - p) / n))
        if abs(value - base) > limit and abs(value - points[i - 1][1]) > limit:
            jumps.append({"step": step, "baseline": base, "value": value})
    return jumps


def all_jumps(series: dict[str, dict[str, Any]]) -> list[dict]:
    out = []
    for split, s in series.items():
        for name, floor in JUMP_SERIES.items():
            for j in find_jumps(s["steps"], s["values"].get(name, []), floor, s["rows"]):
                out.append({"split": split, "series": name, **j})
    return out

