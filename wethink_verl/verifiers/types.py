"""The one return type every verifier shares."""

from __future__ import annotations

from dataclasses import dataclass

# Why a verdict is not an ordinary right/wrong judgement. "ok" covers both right and wrong;
# "timeout": the work ran out of its budget; "busy": no bounded worker was free in time.
STATUSES = ("ok", "no_answer", "hedged", "invalid_gold", "timeout", "busy", "error")


@dataclass(frozen=True)
class Verdict:
    """A verifier's judgement of one answer.

    score:     in [0, 1].
    extracted: what the verifier read from the answer (normalised), or None.
    reason:    a short human-readable why.
    status:    one of STATUSES; anything but "ok" explains a 0 that is not a plain wrong answer.
    """

    score: float
    extracted: str | None
    reason: str
    status: str = "ok"
    cached: bool = False  # served from a cache (math-verify results, judge verdicts)

    def __post_init__(self):
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"verdict score {self.score} outside [0, 1]")
        if self.status not in STATUSES:
            raise ValueError(f"unknown verdict status {self.status!r}")

    def as_dict(self) -> dict:
        return {"score": self.score, "extracted": self.extracted, "reason": self.reason, "status": self.status, "cached": self.cached}


def right(extracted: str | None, reason: str = "match", score: float = 1.0) -> Verdict:
    return Verdict(score, extracted, reason)


def wrong(extracted: str | None, reason: str = "mismatch") -> Verdict:
    return Verdict(0.0, extracted, reason)


def no_answer(reason: str = "no answer found") -> Verdict:
    return Verdict(0.0, None, reason, "no_answer")


def hedged(extracted: str | None, reason: str) -> Verdict:
    return Verdict(0.0, extracted, reason, "hedged")


def invalid_gold(ground_truth: object, reason: str = "ground truth could not be parsed") -> Verdict:
    return Verdict(0.0, None, f"{reason}: {str(ground_truth)[:80]!r}", "invalid_gold")
