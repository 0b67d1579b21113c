"""Client-side quotas for an external judge endpoint: requests and tokens per minute.

Hosted judges (DeepSeek, OpenAI, …) answer 429 past their quotas; a training step that keeps
hitting them wastes its judge budget on retries. ``RateLimiter`` keeps the client inside the
quota instead: every request *reserves* its share before it is sent and learns how long to wait.

- Two token buckets (requests, tokens) that reserve with debt: a request larger than the burst
  waits its share instead of starving. A bucket of capacity C refills at (limit - C) / 60 per
  second, so no 60-second window ever sees more than ``limit`` units (C = ``burst_s`` seconds'
  worth, at least one request).
- Tokens are estimated from the prompt (``TokenEstimator``: characters per token, images at a
  fixed cost, plus the request's ``max_tokens``), then corrected: the reply's ``usage`` is
  charged against the estimate, and the characters-per-token ratio learns from it.
- A 429's ``Retry-After`` pauses the whole limiter, not only the request that got it.
- ``scope: cluster``: one ``QuotaActor`` per endpoint in the Ray cluster holds the buckets, so
  verl's reward workers (``reward.num_workers`` processes) share one quota.

Nothing here blocks an event loop: ``reserve`` returns a delay, the caller sleeps it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping

from .config import RateLimitConfig

logger = logging.getLogger("wethink_verl.judge")

QUOTA_NAMESPACE = "wethink"
LEARN_RATE = 0.2
ACTOR_TIMEOUT_S = 10.0  # a quota actor slower than this is treated as lost: book locally  # weight of the latest reply in the learned characters-per-token ratio


class Bucket:
    """A reserving token bucket: ``take(n)`` books n units and returns the seconds until they
    are available (0: now); ``give(n)`` returns units (a cancelled or over-estimated request)."""

    def __init__(self, per_minute: float, burst_s: float, unit: float = 0.0):
        self.per_minute = float(per_minute)
        self.capacity = max(self.per_minute * burst_s / 60.0, unit)
        # C + 60 r = limit: any 60 s window holds at most the limit (below two units a minute
        # the capacity is one unit and the bound one unit over)
        spare = self.per_minute - self.capacity
        self.rate = (spare if spare >= self.per_minute / 2 else self.per_minute / 2) / 60.0
        self.level = self.capacity
        self.stamp = time.monotonic()

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, n: float, now: float) -> float:
        self._refill(now)
        self.level -= n
        return 0.0 if self.level >= 0 else -self.level / self.rate

    def give(self, n: float, now: float) -> None:
        self._refill(now)
        self.level = min(self.capacity, self.level + n)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute buckets plus a pause (Retry-After); thread-safe."""

    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None, burst_s: float = 1.0):
        self.requests = Bucket(requests_per_minute, burst_s, unit=1.0) if requests_per_minute else None
        self.tokens = Bucket(tokens_per_minute, burst_s) if tokens_per_minute else None
        self.paused_until = 0.0
        self._lock = threading.Lock()

    def describe(self) -> dict:
        return {"requests_per_minute": self.requests.per_minute if self.requests else None,
                "tokens_per_minute": self.tokens.per_minute if self.tokens else None}  # fmt: skip

    def reserve(self, tokens: float) -> float:
        """Book one request of ``tokens``; the seconds to wait before sending it."""
        with self._lock:
            now = time.monotonic()
            delay = max(0.0, self.paused_until - now)
            if self.requests is not None:
                delay = max(delay, self.requests.take(1.0, now))
            if self.tokens is not None:
                delay = max(delay, self.tokens.take(tokens, now))
            return delay

    def cancel(self, tokens: float) -> None:
        """Give back a reservation that was not used."""
        with self._lock:
            now = time.monotonic()
            if self.requests is not None:
                self.requests.give(1.0, now)
            if self.tokens is not None:
                self.tokens.give(tokens, now)

    def correct(self, delta_tokens: float) -> None:
        """Charge (or refund) the difference between a request's real and estimated tokens."""
        if self.tokens is None or not delta_tokens:
            return
        with self._lock:
            now = time.monotonic()
            if delta_tokens > 0:
                self.tokens.take(delta_tokens, now)
            else:
                self.tokens.give(-delta_tokens, now)

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (the endpoint said Retry-After)."""
        with self._lock:
            self.paused_until = max(self.paused_until, time.monotonic() + max(0.0, seconds))


# ---- token estimates ----------------------------------------------------------------------------
def _message_size(messages: list[dict]) -> tuple[int, int]:
    """(characters of text, images) in chat messages."""
    chars = images = 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict):
                    if part.get("type") == "text":
                        chars += len(part.get("text") or "")
                    elif part.get("type") == "image_url":
                        images += 1
    return chars, images


@dataclass
class TokenEstimate:
    chars: int
    images: int
    prompt: float
    total: float


class TokenEstimator:
    """Tokens of a request before it is sent: text at ``chars_per_token`` (learned from the
    replies' ``usage.prompt_tokens``), each image at ``image_tokens``, plus ``max_tokens``."""

    def __init__(self, chars_per_token: float = 3.0, image_tokens: float = 1000.0):
        self.chars_per_token = float(chars_per_token)
        self.image_tokens = float(image_tokens)
        self._lock = threading.Lock()

    def estimate(self, messages: list[dict], max_tokens: int) -> TokenEstimate:
        chars, images = _message_size(messages)
        prompt = chars / self.chars_per_token + images * self.image_tokens
        return TokenEstimate(chars, images, prompt, prompt + max(0, int(max_tokens)))

    def learn(self, est: TokenEstimate, usage: Mapping[str, Any] | None) -> float | None:
        """The request's real total from ``usage`` (None when the reply has none); refines the ratio."""
        if not isinstance(usage, Mapping):
            return None
        prompt, completion, total = (_number(usage.get(k)) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
        if total is None and prompt is not None:
            total = prompt + (completion or 0.0)
        text_tokens = None if prompt is None else prompt - est.images * self.image_tokens
        if text_tokens is not None and text_tokens > 0 and est.chars > 0:
            with self._lock:
                seen = est.chars / text_tokens
                self.chars_per_token += LEARN_RATE * (seen - self.chars_per_token)
        return total if total else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else None


# ---- where the quota lives ----------------------------------------------------------------------
class LocalQuota:
    """A limiter in this process (one judge client)."""

    scope = "process"

    def __init__(self, limiter: RateLimiter):
        self.limiter = limiter

    async def reserve(self, tokens: float) -> float:
        return self.limiter.reserve(tokens)

    async def cancel(self, tokens: float) -> None:
        self.limiter.cancel(tokens)

    async def correct(self, delta: float) -> None:
        self.limiter.correct(delta)

    async def pause(self, seconds: float) -> None:
        self.limiter.pause(seconds)


class QuotaActor:
    """The Ray actor behind ``scope: cluster``: a ``RateLimiter`` every reward worker books from."""

    def __init__(self, requests_per_minute, tokens_per_minute, burst_s):
        self.limiter = RateLimiter(requests_per_minute, tokens_per_minute, burst_s)

    def describe(self) -> dict:
        return self.limiter.describe()

    def reserve(self, tokens: float) -> float:
        return self.limiter.reserve(tokens)

    def cancel(self, tokens: float) -> None:
        self.limiter.cancel(tokens)

    def correct(self, delta: float) -> None:
        self.limiter.correct(delta)

    def pause(self, seconds: float) -> None:
        self.limiter.pause(seconds)


def quota_actor_name(endpoint: str) -> str:
    return "wethink_judge_quota_" + hashlib.blake2b(endpoint.encode(), digest_size=8).hexdigest()


class ClusterQuota:
    """The limiter in a named Ray actor per endpoint (created by the first client, found by the
    rest). If the actor cannot be reached, this process books from a local limiter meanwhile
    (logged once): a lost actor must not stop judging."""

    scope = "cluster"

    def __init__(self, endpoint: str, limits: dict, fallback: RateLimiter):
        self.name = quota_actor_name(endpoint)
        self.limits = limits
        self.fallback = fallback
        self._handle = None
        self._lock = threading.Lock()
        self._warned = False

    def _actor(self):
        import ray

        with self._lock:
            if self._handle is None:
                cls = ray.remote(num_cpus=0, max_concurrency=1)(QuotaActor)
                self._handle = cls.options(name=self.name, namespace=QUOTA_NAMESPACE, get_if_exists=True).remote(
                    self.limits["requests_per_minute"], self.limits["tokens_per_minute"], self.limits["burst_s"]
                )
                theirs = ray.get(self._handle.describe.remote(), timeout=30)
                ours = {k: self.limits[k] for k in theirs}
                if theirs != ours:
                    logger.warning("judge quota actor %s keeps the limits it was created with, %s, not this client's %s", self.name, theirs, ours)
            return self._handle

    async def _call(self, method: str, *args):
        try:
            handle = await asyncio.get_running_loop().run_in_executor(None, self._actor) if self._handle is None else self._handle
            return await asyncio.wait_for(getattr(handle, method).remote(*args), ACTOR_TIMEOUT_S)
        except Exception as e:  # noqa: BLE001 - the Ray actor died, hangs, or Ray went away
            with self._lock:
                self._handle = None
            if not self._warned:
                self._warned = True
                logger.warning("judge quota actor %s unreachable (%s: %s): this process books from its own limiter", self.name, type(e).__name__, e)
            return getattr(self.fallback, method)(*args)

    async def reserve(self, tokens: float) -> float:
        return float(await self._call("reserve", tokens))

    async def cancel(self, tokens: float) -> None:
        await self._call("cancel", tokens)

    async def correct(self, delta: float) -> None:
        await self._call("correct", delta)

    async def pause(self, seconds: float) -> None:
        await self._call("pause", seconds)


def build_quota(rate_cfg: RateLimitConfig | Mapping[str, Any] | None, endpoint: str):
    """The configured quota (``judge.rate_limit``) for an endpoint, or None when unlimited."""
    cfg = RateLimitConfig.from_mapping(rate_cfg)
    rpm, tpm = cfg.requests_per_minute, cfg.tokens_per_minute
    if not rpm and not tpm:
        return None
    limits = {"requests_per_minute": rpm, "tokens_per_minute": tpm, "burst_s": float(cfg.burst_s)}
    local = RateLimiter(rpm, tpm, limits["burst_s"])
    scope = cfg.scope
    if scope == "auto":
        scope = "cluster" if _ray_initialized() else "process"
    if scope == "cluster":
        return ClusterQuota(endpoint, limits, local)
    return LocalQuota(local)


def _ray_initialized() -> bool:
    try:
        import ray
    except ImportError:
        return False
    return ray.is_initialized()
