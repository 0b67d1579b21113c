"""What a judge returns, and the failure kinds every transport reports."""

from __future__ import annotations

from dataclasses import dataclass, replace

# Why a judge call did not produce a verdict. Each is counted separately in JudgeStats.
FAILURE_KINDS = (
    "timeout",  # no reply within judge.timeout_s (or the item's total budget)
    "rate_limited",  # HTTP 429
    "server_error",  # HTTP 5xx, or the Ray service's backend raised
    "client_error",  # HTTP 4xx other than 429 (bad model name, auth, prompt too long): not retried
    "connection",  # refused / reset / DNS, or the Ray actor is dead or missing
    "bad_response",  # a 200 whose body is not a chat completion
    "unparseable",  # a reply without exactly one verdict in the tier set
    "circuit_open",  # the circuit breaker refused to call a failing endpoint
    "bad_input",  # the item itself could not be turned into a prompt (unreadable image, …)
    "cancelled",  # the caller gave up (shared with in-flight duplicates)
    "internal_error",  # a bug in the judge client itself (logged with its traceback)
)
RETRYABLE = frozenset({"timeout", "rate_limited", "server_error", "connection", "bad_response"})
# failures that say the endpoint is unhealthy (they move the circuit breaker)
BREAKER_KINDS = frozenset({"timeout", "rate_limited", "server_error", "connection"})


@dataclass(frozen=True)
class JudgeOutcome:
    """One judged item. ``score`` is a tier value when ``failed`` is False (else 0.0)."""

    score: float = 0.0
    failed: bool = False
    cached: bool = False  # served by the dedupe cache or shared with an identical in-flight item
    timed_out: bool = False
    reason: str = ""
    kind: str = "ok"  # "ok" or one of FAILURE_KINDS
    reply: str | None = None  # the judge's reply (truncated), for logs
    attempts: int = 0  # requests sent for this item (0 when served from the cache)
    latency_ms: float = 0.0
    wait_ms: float = 0.0  # time its requests waited on the rate limiter (judge.rate_limit)
    image_dropped: bool = False  # the judge rejected the image (4xx): judged on the text alone

    def but(self, **changes) -> "JudgeOutcome":
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return {
            "score": self.score, "failed": self.failed, "cached": self.cached, "timed_out": self.timed_out,
            "reason": self.reason, "kind": self.kind, "reply": self.reply, "attempts": self.attempts,
            "latency_ms": round(self.latency_ms, 3), "wait_ms": round(self.wait_ms, 3), "image_dropped": self.image_dropped,
        }  # fmt: skip


class TransportError(Exception):
    """A failed request. ``kind`` is one of FAILURE_KINDS; ``retry_after`` (s) from a 429/503."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE
