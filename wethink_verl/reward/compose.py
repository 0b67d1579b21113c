"""Composition of accuracy and format into the reward, with the fixed result keys.

verl builds ``reward_extra_info`` arrays from the first sample's keys, so every result carries
exactly EXTRA_INFO_KEYS: the RESULT_KEYS numbers, the TEXT_KEYS strings (verl's metric reducer skips
strings; its rollout dumps keep them, which is what ``wethink-verl report`` reads), and ``acc``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import RewardConfig

RESULT_KEYS = (
    "score",  # the reward: accuracy_weight * accuracy + format_weight * format
    "accuracy",
    "format",
    "verifier",  # the verifier that decided accuracy ("judge" when the judge did)
    "judge_used",  # 1 when a judge verdict decided accuracy
    "judge_failed",  # 1 when the judge was asked and could not answer
    "judge_rescued",  # 1 when a rule verifier abstained and the judge decided instead (judge.rescue)
    "fallback",  # 1 when a configured fallback decided (judge off/failed, unmapped route)
    "unmapped",  # 1 when the row's reward/category value was in no routing table
    "timed_out",  # 1 when a bounded verifier or the judge ran out of time (waiting for a worker included)
    "error",  # 1 when the row could not be scored (bad verifier/options/gold, memory blow-up, crash): see `reason`
    "cached",  # 1 when the verdict came from a cache
    "latency_ms",
    "judge_wait_ms",  # time this sample's judge requests waited on the rate limiter (judge.rate_limit)
    "category",  # the row's category ("" when it has none)
    "route",  # why this verifier: verifier | reward | category | default | unmapped ("" when not routed)
    "status",  # the verdict's status (verifiers/types.py STATUSES): ok, no_answer, hedged, timeout, error...
    "reason",  # the verdict's short human-readable why (capped at REASON_CHARS)
)
TEXT_KEYS = ("verifier", "category", "route", "status", "reason")  # the string-valued RESULT_KEYS
REASON_CHARS = 200
# reward_extra_info: RESULT_KEYS plus "acc", the accuracy under the name verl's validation makes its
# headline metric (val-core/<data_source>/acc/mean@N; without it verl falls back to the reward)
EXTRA_INFO_KEYS = RESULT_KEYS + ("acc",)


def overall(accuracy: float, fmt: float | None, cfg: "RewardConfig", status: str = "ok") -> float:
    if status == "error":  # the row could not be scored (bad config or input): no format credit either
        return 0.0
    wa, wf = float(cfg.accuracy_weight), float(cfg.format_weight)
    if fmt is None:  # no format term (answer-only scoring, format_rule "none")
        return accuracy
    if cfg.require_format_for_accuracy and fmt < 1.0:
        accuracy = 0.0
    return wa * accuracy + wf * fmt


def result(
    *,
    accuracy: float,
    fmt: float | None,
    verifier: str,
    cfg: "RewardConfig",
    judge_used: bool = False,
    judge_failed: bool = False,
    judge_rescued: bool = False,
    fallback: bool = False,
    unmapped: bool = False,
    timed_out: bool = False,
    error: bool = False,
    cached: bool = False,
    latency_ms: float = 0.0,
    judge_wait_ms: float = 0.0,
    **details: Any,
) -> dict:
    out = {
        "score": round(overall(accuracy, fmt, cfg, details.get("status", "ok")), 6),
        "accuracy": float(accuracy),
        "format": None if fmt is None else float(fmt),
        "verifier": verifier,
        "judge_used": int(judge_used),
        "judge_failed": int(judge_failed),
        "judge_rescued": int(judge_rescued),
        "fallback": int(fallback),
        "unmapped": int(unmapped),
        "timed_out": int(timed_out),
        "error": int(error),
        "cached": int(cached),
        "latency_ms": round(latency_ms, 3),
        "judge_wait_ms": round(judge_wait_ms, 3),
    }
    out.update(details)  # reason, extracted, status, error, route, category, fallback_reason: for logs and the offline scorer
    for key in TEXT_KEYS:
        out[key] = "" if out.get(key) is None else str(out[key])
    out["status"] = out["status"] or "ok"
    return out


def failure_reason(res: dict) -> str | None:
    """Why a row got no real verdict (error, timeout, no free worker, unreadable gold), else None."""
    if res.get("error") or res.get("timed_out") or res.get("status") in ("invalid_gold", "busy", "error", "timeout"):
        return str(res.get("reason") or res.get("status"))
    return None


def extra_info(res: dict) -> dict:
    """The fixed subset for verl's reward_extra_info: exactly EXTRA_INFO_KEYS (numbers + TEXT_KEYS
    strings + ``acc``; EasyR1 takes the numbers)."""
    out = {k: res[k] for k in RESULT_KEYS}
    if out["format"] is None:
        out["format"] = 0.0
    out["reason"] = out["reason"][:REASON_CHARS]
    out["acc"] = out["accuracy"]
    return out
