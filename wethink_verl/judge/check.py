"""One test item to a judge: what ``wethink-verl judge check`` sends and ``wethink-verl doctor
--judge-url`` reports (``check_endpoint``: OK a verdict, WARN a reply without one, FAIL no reply).
"""

from __future__ import annotations

import time

CHECK_ITEM = {
    "question": "What animal is sitting on the sofa in the picture, and what colour is it?",
    "reference": "A grey tabby cat.",
    "answer": "It is a grey cat with tabby stripes.",
}


def check_endpoint(url: str, model: str | None = None, api_key_env: str | None = None, timeout: float = 30.0) -> tuple[str, str]:
    """One test item to an OpenAI-compatible judge: ("OK" | "WARN" | "FAIL", what happened).
    WARN: the endpoint replied, but without a valid verdict (the model cannot follow the template)."""
    from . import build_judge

    cfg = {"enable": True, "backend": "http", "url": url, "model": model, "api_key_env": api_key_env, "timeout_s": timeout,
           "max_retries": 0, "parse_retries": 0, "cache_size": 0, "circuit_breaker": {"failures": 0}}  # fmt: skip
    try:
        judge = build_judge(cfg)
    except (ValueError, FileNotFoundError) as e:
        return "FAIL", f"bad judge config: {e}"
    out, latency_ms = judge_once(judge, dict(CHECK_ITEM))
    where = judge.transport.describe()
    if not out.failed:
        return "OK", f"{where}: verdict {out.score:g} in {latency_ms:.0f} ms"
    if out.kind == "unparseable":
        return "WARN", f"{where} replied in {latency_ms:.0f} ms without a valid verdict: {out.reason}"[:300]
    return "FAIL", f"{where}: {out.kind}: {out.reason}"[:300]


def judge_once(judge, item: dict):
    """(the outcome, its latency in ms) of one item; the judge is closed after it."""
    try:
        t0 = time.perf_counter()
        out = judge.judge_sync(item)
        return out, (time.perf_counter() - t0) * 1000.0
    finally:
        judge.close()
