"""The judge client: one async interface over any transport (HTTP endpoint, verl's router, Ray).

``LLMJudge.judge(item)`` turns an item (question, reference, answer, reasoning, image) into chat
messages, sends them through its transport with bounded concurrency, a per-request timeout, a
total budget per item, jittered exponential backoff on retryable failures, retries on unparseable
verdicts and a circuit breaker, and returns a ``JudgeOutcome``: it never raises and never hangs.

Identical items are judged once: finished verdicts sit in a bounded LRU (keyed by a digest of
template, question, reference, answer, and image/reasoning when those are sent), and an item
identical to one still in flight waits for that request instead of sending its own.

Event loops: ``judge`` runs on the caller's loop (one HTTP session, semaphore and in-flight map per
loop, created on first use). ``judge_sync`` runs ``judge`` on a background event-loop thread owned
by the judge (safe from any thread without a loop, e.g. verl's executor threads). The cache,
statistics and circuit breaker are shared by all loops. This module imports no verl, Ray or torch.

Where the parts live: one item's requests (budget, breaker, quota, backoff, image drop, parse
retries) in ``retry.RetryLoop``, the HTTP transports in ``transport``, the counters in ``stats``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import hashlib
import logging
import threading
import time
import weakref
from dataclasses import replace
from typing import Any, Iterable, Mapping

from ..lru_cache import LRU
from ..settings import thaw
from .breaker import CircuitBreaker
from .config import JudgeConfig
from .limits import TokenEstimator, build_quota
from .prompt import PromptOptions, build_messages, image_identity, load_template, normalize_tiers
from .retry import RetryLoop
from .stats import JudgeStats
from .transport import HTTPTransport, VerlRouterTransport
from .types import JudgeOutcome

# the transports' and the counters' old home: importable from here as before
__all__ = ["HTTPTransport", "JudgeStats", "LLMJudge", "VerlRouterTransport", "judge_config"]

logger = logging.getLogger("wethink_verl.judge")


def judge_config(judge_cfg: JudgeConfig | Mapping[str, Any] | None) -> JudgeConfig:
    """The validated judge config: ``judge_cfg`` over the documented defaults (``judge.config``);
    raises ConfigError (a ValueError) naming every bad ``judge.*`` key."""
    return JudgeConfig.from_mapping(judge_cfg)


# ---- the judge ----------------------------------------------------------------------------------
class _LoopState:
    def __init__(self, loop: asyncio.AbstractEventLoop, concurrency: int):
        self.loop = loop
        self.sem = asyncio.Semaphore(concurrency)
        self.inflight: dict[bytes, asyncio.Future] = {}


_live_judges: "weakref.WeakSet[LLMJudge]" = weakref.WeakSet()


@atexit.register
def _close_live_judges() -> None:  # pragma: no cover - interpreter exit
    for judge in list(_live_judges):
        try:
            judge.close(timeout=2.0)
        except Exception:  # noqa: BLE001
            pass


class LLMJudge(RetryLoop):
    """The judge the reward scorer calls (``judge`` / ``judge_sync``); see the module docstring."""

    def __init__(self, cfg: Mapping[str, Any] | None, transport: Any):
        cfg = judge_config(cfg)
        self.cfg = cfg
        self.transport = transport
        self.template = load_template(cfg.template)
        # the rescue template (judge.rescue): items with {"purpose": "rescue"} are asked with it
        self.templates = {"judge": self.template, "rescue": load_template(cfg.rescue.template or "rescue")}
        self.tiers = normalize_tiers(cfg.tiers)
        self.opts = PromptOptions(
            tiers=self.tiers,
            max_question_chars=cfg.max_question_chars,
            max_reference_chars=cfg.max_reference_chars,
            max_answer_chars=cfg.max_answer_chars,
            include_reasoning=bool(cfg.include_reasoning),
            max_reasoning_chars=cfg.max_reasoning_chars,
            include_image=bool(cfg.include_image),
            image_dir=cfg.image_dir,
        )
        self.params = {"temperature": float(cfg.temperature), "max_tokens": int(cfg.max_tokens)}
        self.params.update(thaw(cfg.request_kwargs))  # plain dicts and lists: the request body is JSON
        self.timeout_s = float(cfg.timeout_s)
        self.max_retries = max(0, int(cfg.max_retries))
        self.parse_retries = max(0, int(cfg.parse_retries))
        self.backoff_s = float(cfg.backoff_s)
        self.backoff_max_s = float(cfg.backoff_max_s)
        total = cfg.total_timeout_s
        self.total_timeout_s = float(total) if total else self.timeout_s * (self.max_retries + 1) + self.backoff_max_s * self.max_retries
        self.concurrency = max(1, int(cfg.concurrency))
        self.cache = LRU(int(cfg.cache_size))
        cb = cfg.circuit_breaker
        self.breaker = CircuitBreaker(failures=int(cb.failures), reset_s=float(cb.reset_s),
                                      down_s=float(cb.down_s))  # fmt: skip
        self.stats = JudgeStats()
        rate = cfg.rate_limit
        describe = getattr(transport, "describe", None)
        self.quota = build_quota(rate, getattr(transport, "endpoint", None) or (describe() if describe else repr(transport)))
        self.estimator = TokenEstimator(float(rate.chars_per_token), float(rate.image_tokens))
        self._images_off = False  # set once the endpoint kept rejecting image parts
        self._image_successes = 0
        self._states: dict[int, _LoopState] = {}
        self._states_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._logged_failures = 0
        _live_judges.add(self)

    def __repr__(self) -> str:
        return f"LLMJudge({self.describe()})"

    def describe(self) -> str:
        limits = f", quota {self.quota.scope}" if self.quota is not None else ""
        return f"{self.transport.describe()}, template {self.template.name}, tiers {list(self.tiers)}{limits}"

    def template_for(self, item: Mapping[str, Any]):
        return self.templates["rescue"] if item.get("purpose") == "rescue" else self.template

    # ---- public API ---------------------------------------------------------------------------
    def key(self, item: Mapping[str, Any]) -> bytes:
        parts = [self.template_for(item).name, item.get("question") or "", item.get("reference") or "", item.get("answer") or ""]
        if self.opts.include_image:
            parts.append(image_identity(item.get("image")) or "")
        if self.opts.include_reasoning:
            parts.append(item.get("reasoning") or "")
        h = hashlib.blake2b(digest_size=16)
        for p in parts:
            b = str(p).encode("utf-8", "surrogatepass")
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
        return h.digest()

    async def judge(self, item: Mapping[str, Any]) -> JudgeOutcome:
        t0 = time.perf_counter()
        self.stats.add("requests")
        key = self.key(item)
        hit = self.cache.get(key) if self.cache.maxsize > 0 else None
        if hit is not None:
            self.stats.add("cache_hits")
            out = hit.but(cached=True, attempts=0, wait_ms=0.0, latency_ms=(time.perf_counter() - t0) * 1000.0)
            self.stats.finish(out)
            return out
        st = self._state()
        shared = st.inflight.get(key)
        if shared is not None:
            self.stats.add("inflight_hits")
            out = await asyncio.shield(shared)
            out = out.but(cached=not out.failed, attempts=0, wait_ms=0.0, latency_ms=(time.perf_counter() - t0) * 1000.0)
            self.stats.finish(out)
            return out
        fut = st.loop.create_future()
        st.inflight[key] = fut
        try:
            out = await self._judge_uncached(item)
        except asyncio.CancelledError:
            fut.set_result(JudgeOutcome(failed=True, kind="cancelled", reason="the first identical request was cancelled"))
            raise
        except Exception as e:  # noqa: BLE001 - a judge bug must not crash a training step
            logger.exception("judge client error (counted as internal_error)")
            out = JudgeOutcome(failed=True, kind="internal_error", reason=f"internal error {type(e).__name__}: {e}"[:300])
        finally:
            if st.inflight.get(key) is fut:
                del st.inflight[key]
        out = out.but(latency_ms=(time.perf_counter() - t0) * 1000.0)
        if not fut.done():
            fut.set_result(out)
        if not out.failed and self.cache.maxsize > 0:
            self.cache.put(key, out)
        self.stats.finish(out)
        if out.failed:
            self._log_failure(out)
        return out

    def judge_sync(self, item: Mapping[str, Any]) -> JudgeOutcome:
        """``judge`` from synchronous code, on the judge's own event-loop thread."""
        loop = self._background_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("judge_sync called from the judge's own event loop; await judge() instead")
        cf = asyncio.run_coroutine_threadsafe(self.judge(item), loop)
        try:
            return cf.result(timeout=self.total_timeout_s + 10.0)
        except concurrent.futures.TimeoutError:
            cf.cancel()
            return JudgeOutcome(failed=True, timed_out=True, kind="timeout", reason=f"no verdict within {self.total_timeout_s:g} s")

    async def judge_many(self, items: Iterable[Mapping[str, Any]]) -> list[JudgeOutcome]:
        return list(await asyncio.gather(*(self.judge(i) for i in items)))

    def judge_many_sync(self, items: Iterable[Mapping[str, Any]]) -> list[JudgeOutcome]:
        loop = self._background_loop()
        cf = asyncio.run_coroutine_threadsafe(self.judge_many(list(items)), loop)
        return cf.result()

    def stats_dict(self) -> dict:
        out = self.stats.snapshot()
        out["circuit"] = self.breaker.state
        out["circuit_opened"] = self.breaker.opened
        out["endpoint"] = self.transport.describe()
        return out

    async def aclose(self) -> None:
        """Release this event loop's resources (the HTTP session)."""
        with self._states_lock:
            self._states.pop(id(asyncio.get_running_loop()), None)
        await self.transport.aclose()

    def close(self, timeout: float = 5.0) -> None:
        """Release everything: the background loop thread and every session."""
        with self._thread_lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout)
            except Exception:  # noqa: BLE001
                pass
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(timeout)
            if not loop.is_running():
                loop.close()
        close_all = getattr(self.transport, "close_all", None)
        if close_all is not None:
            close_all()
        _live_judges.discard(self)

    # ---- internals ----------------------------------------------------------------------------
    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        st = self._states.get(id(loop))
        if st is not None and st.loop is loop:
            return st
        with self._states_lock:
            for k, s in list(self._states.items()):
                if s.loop.is_closed():
                    del self._states[k]
            st = self._states[id(loop)] = _LoopState(loop, self.concurrency)
        return st

    def _background_loop(self) -> asyncio.AbstractEventLoop:
        with self._thread_lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run():
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=run, name="wethink-judge-loop", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def _messages(self, item: Mapping[str, Any], with_image: bool) -> list[dict]:
        opts = self.opts if with_image == self.opts.include_image else replace(self.opts, include_image=with_image)
        return build_messages(self.template_for(item), item, opts)

    def _log_failure(self, out: JudgeOutcome) -> None:
        self._logged_failures += 1
        n = self._logged_failures
        if n <= 20 or n % 100 == 0:
            s = self.stats.snapshot()
            logger.warning("judge failed (%s): %s [%d of %d items failed so far%s]", out.kind, out.reason, s["failed"], s["requests"],
                           "; logging every 100th from now" if n == 20 else "")  # fmt: skip
