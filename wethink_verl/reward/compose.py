"""Composition of accuracy and format into the reward, with the fixed result keys.

verl builds ``reward_extra_info`` arrays from the first sample's keys, so every result carries
exactly EXTRA_INFO_KEYS (numbers, plus the verifier name).
"""

from __future__ import annotations

from typing import Any

RESULT_KEYS = (
    "score",  # the reward: accuracy_weight * accuracy + format_weight * format
    "accuracy",
    "format",
    "verifier",  # the verifier that decided accuracy ("judge" when the judge did)
    "judge_used",  # 1 when a judge verdict decided accuracy
    "judge_failed",  # 1 when the judge was asked and could not answer
    "fallback",  # 1 when a configured fallback decided (judge off/failed, unmapped route)
    "unmapped",  # 1 when the row's reward/category value was in no routing table
    "timed_out",  # 1 when a bounded verifier or the judge ran out of time
    "cached",  # 1 when the verdict came from a cache
    "latency_ms",
)
# reward_extra_info: RESULT_KEYS plus "acc", the accuracy under the name verl's validation makes its
# headline metric (val-core/<data_source>/acc/mean@N; without it verl falls back to the reward)
EXTRA_INFO_KEYS = RESULT_KEYS + ("acc",)


def overall(accuracy: float, fmt: float | None, cfg: dict, status: str = "ok") -> float:
    if status == "error":  # the row could not be scored (bad config or input): no format credit either
        return 0.0
    wa, wf = float(cfg["accuracy_weight"]), float(cfg["format_weight"])
    if fmt is None:  # no format term (answer-only scoring, format_rule "none")
        return accuracy
    if cfg.get("require_format_for_accuracy") and fmt < 1.0:
        accuracy = 0.0
    return wa * accuracy + wf * fmt


def result(
    *,
    accuracy: float,
    fmt: float | None,
    verifier: str,
    cfg: dict,
    judge_used: bool = False,
    judge_failed: bool = False,
    fallback: bool = False,
    unmapped: bool = False,
    timed_out: bool = False,
    cached: bool = False,
    latency_ms: float = 0.0,
    **details: Any,
) -> dict:
    out = {
        "score": round(overall(accuracy, fmt, cfg, details.get("status", "ok")), 6),
        "accuracy": float(accuracy),
        "format": None if fmt is None else float(fmt),
        "verifier": verifier,
        "judge_used": int(judge_used),
        "judge_failed": int(judge_failed),
        "fallback": int(fallback),
        "unmapped": int(unmapped),
        "timed_out": int(timed_out),
        "cached": int(cached),
        "latency_ms": round(latency_ms, 3),
    }
    out.update(details)  # reason, extracted, status, error, route: for logs and the offline scorer
    return out


def extra_info(res: dict) -> dict:
    """The fixed, numeric (+ verifier name) subset for verl's reward_extra_info / EasyR1 metrics:
    exactly EXTRA_INFO_KEYS."""
    out = {k: res[k] for k in RESULT_KEYS}
    if out["format"] is None:
        out["format"] = 0.0
    out["acc"] = out["accuracy"]
    return out
