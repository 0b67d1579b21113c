"""The judge's counters (``JudgeStats``, behind ``LLMJudge.stats_dict()``) and the one-line summary
of its rate-limiter and image activity that ``score`` prints."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Mapping

from .types import JudgeOutcome


class JudgeStats:
    """Counters (thread-safe). Item level: requests, cache_hits, inflight_hits, verdicts, failed and
    failed_by_kind. Request level: calls (requests sent), retries, errors_by_kind (every failed attempt)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.c: Counter = Counter()
        self.failed_by_kind: Counter = Counter()
        self.errors_by_kind: Counter = Counter()
        self.verdicts_by_score: Counter = Counter()
        self.latency_ms_sum = 0.0
        self.latency_ms_max = 0.0
        self.limiter_wait_s = 0.0
        self.limiter_wait_max_s = 0.0

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.c[name] += n

    def waited(self, seconds: float) -> None:
        with self._lock:
            self.c["limiter_waits"] += 1
            self.limiter_wait_s += seconds
            self.limiter_wait_max_s = max(self.limiter_wait_max_s, seconds)

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors_by_kind[kind] += 1

    def finish(self, out: JudgeOutcome) -> None:
        with self._lock:
            if out.failed:
                self.c["failed"] += 1
                self.failed_by_kind[out.kind] += 1
            else:
                self.c["verdicts"] += 1
                self.verdicts_by_score[out.score] += 1
            if not out.cached:
                self.latency_ms_sum += out.latency_ms
                self.latency_ms_max = max(self.latency_ms_max, out.latency_ms)

    def snapshot(self) -> dict:
        with self._lock:
            c = self.c
            requests = c["requests"]
            dedupe = c["cache_hits"] + c["inflight_hits"]
            judged = requests - dedupe
            return {
                "requests": requests,
                "cache_hits": c["cache_hits"],
                "inflight_hits": c["inflight_hits"],
                "dedupe_hit_rate": dedupe / requests if requests else 0.0,
                "calls": c["calls"],
                "retries": c["retries"],
                "verdicts": c["verdicts"],
                "failed": c["failed"],
                "failed_by_kind": dict(self.failed_by_kind),
                "errors_by_kind": dict(self.errors_by_kind),
                "verdicts_by_score": {f"{k:g}": v for k, v in sorted(self.verdicts_by_score.items())},
                "latency_ms_mean": self.latency_ms_sum / judged if judged > 0 else 0.0,
                "latency_ms_max": self.latency_ms_max,
                # the rate limiter (judge.rate_limit): requests that waited, for how long in all,
                # requests refused because the wait would pass their budget, pauses on Retry-After
                "limiter_waits": c["limiter_waits"],
                "limiter_wait_s": round(self.limiter_wait_s, 3),
                "limiter_wait_max_s": round(self.limiter_wait_max_s, 3),
                "limiter_refused": c["limiter_refused"],
                "limiter_pauses": c["limiter_pauses"],
                "tokens_estimated": c["tokens_estimated"],
                "tokens_reported": c["tokens_reported"],
                # image parts the judge rejected (HTTP 4xx): those items were judged on the text alone
                "image_rejected": c["image_rejected"],
            }


def activity_line(stats: Mapping[str, Any]) -> str:
    """What a judge's ``stats_dict()`` says beyond verdicts: time on the rate limiter, refused
    images ("" when neither happened)."""
    parts = []
    if stats.get("limiter_waits") or stats.get("limiter_refused") or stats.get("limiter_pauses"):
        parts.append(f"rate limit: {stats['limiter_waits']} requests waited {stats['limiter_wait_s']:g} s in all "
                     f"(max {stats['limiter_wait_max_s']:g} s), {stats['limiter_refused']} refused past their budget, "
                     f"{stats['limiter_pauses']} Retry-After pauses")  # fmt: skip
    if stats.get("image_rejected"):
        parts.append(f"{stats['image_rejected']} requests with an image refused by the judge (judged on the text alone)")
    return "; ".join(parts)
