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
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import hashlib
import json
import logging
import random
import threading
import time
import weakref
from collections import Counter
from dataclasses import replace
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from ..lru_cache import LRU
from ..settings import thaw
from .breaker import CircuitBreaker
from .config import JudgeConfig
from .limits import TokenEstimator, build_quota
from .prompt import PromptOptions, build_messages, image_identity, load_template, normalize_tiers, parse_verdict
from .types import BREAKER_KINDS, FAILURE_KINDS, JudgeOutcome, TransportError

logger = logging.getLogger("wethink_verl.judge")

REPLY_LOG_CHARS = 400
PARSE_ON_LOOP_CHARS = 65536  # longer replies are parsed in a thread: the event loop serves other samples


def judge_config(judge_cfg: JudgeConfig | Mapping[str, Any] | None) -> JudgeConfig:
    """The validated judge config: ``judge_cfg`` over the documented defaults (``judge.config``);
    raises ConfigError (a ValueError) naming every bad ``judge.*`` key."""
    return JudgeConfig.from_mapping(judge_cfg)


# ---- statistics ---------------------------------------------------------------------------------
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


# ---- HTTP transport (any OpenAI-compatible endpoint, verl's reward-model router) ---------------
def chat_completions_url(url: str) -> str:
    """``host:port`` / ``http://host:port`` -> ``…/v1/chat/completions``; ``…/v1`` (any base path)
    -> ``…/v1/chat/completions``; a full ``…/chat/completions`` URL is kept."""
    u = url.strip().rstrip("/")
    if "://" not in u:
        u = "http://" + u
    if u.endswith("/chat/completions"):
        return u
    if urlsplit(u).path in ("", "/"):
        return u + "/v1/chat/completions"
    return u + "/chat/completions"


def models_url(chat_url: str) -> str:
    return chat_url[: -len("/chat/completions")] + "/models"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time()) if when.tzinfo is not None else None


class Reply(str):
    """A judge reply's text, with the endpoint's ``usage`` (token counts) when it sent one."""

    usage: dict | None = None


def _reply(content: str, usage: Any) -> Reply:
    out = Reply(content)
    out.usage = usage if isinstance(usage, dict) else None
    return out


def _snippet(raw: bytes, n: int = 200) -> str:
    return raw[:n].decode("utf-8", "replace").replace("\n", " ")


async def _read_capped(resp, limit: int) -> bytes:
    """The body, refused past ``limit`` bytes (a hostile or broken endpoint can send anything)."""
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:  # nothing a verdict needs; the candidate may have asked for it: not a fallback
            raise TransportError("unparseable", f"reply over judge.max_reply_bytes={limit} bytes: not read")
        chunks.append(chunk)
    return b"".join(chunks)


class HTTPTransport:
    """OpenAI chat-completions over a pooled aiohttp session (one per event loop)."""

    name = "http"

    def __init__(self, url: str, model: str | None = None, api_key: str | None = None, pool_size: int = 64,
                 max_reply_bytes: int = 1 << 20):  # fmt: skip
        self.endpoint = chat_completions_url(url)
        self.max_reply_bytes = int(max_reply_bytes)
        self.models_endpoint = models_url(self.endpoint)
        self.model = model or None
        self._discovered: str | None = None  # "" = the endpoint has no usable /models
        self._discovering: dict[int, asyncio.Future] = {}
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self.pool_size = max(1, int(pool_size))
        self._sessions: dict[int, tuple[asyncio.AbstractEventLoop, Any]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the key
        return f"HTTPTransport({self.endpoint!r}, model={self.model or self._discovered or 'auto'!r})"

    def describe(self) -> str:
        return f"{self.endpoint} (model {self.model or self._discovered or 'auto'})"

    def _session(self):
        import aiohttp

        loop = asyncio.get_running_loop()
        entry = self._sessions.get(id(loop))
        if entry is not None and entry[0] is loop and not entry[1].closed:
            return entry[1]
        with self._lock:
            for key, (lp, _s) in list(self._sessions.items()):
                if lp.is_closed():
                    del self._sessions[key]  # a finished asyncio.run(): its session died with it
            connector = aiohttp.TCPConnector(limit=self.pool_size, limit_per_host=self.pool_size, ttl_dns_cache=300)
            session = aiohttp.ClientSession(connector=connector, headers=self._headers, timeout=aiohttp.ClientTimeout(total=None))
            self._sessions[id(loop)] = (loop, session)
        return session

    async def _model_name(self, session, timeout: float) -> str | None:
        if self.model:
            return self.model
        if self._discovered is not None:
            return self._discovered or None
        loop = asyncio.get_running_loop()
        pending = self._discovering.get(id(loop))
        if pending is not None and not pending.done():
            return await asyncio.shield(pending)  # one GET /v1/models per loop, not one per request
        fut = self._discovering[id(loop)] = loop.create_future()
        try:
            found = await self._discover(session, timeout)
        finally:
            if not fut.done():
                fut.set_result(self._discovered or None)
            self._discovering.pop(id(loop), None)
        return found

    async def _discover(self, session, timeout: float) -> str | None:
        import aiohttp

        try:
            async with session.get(self.models_endpoint, timeout=aiohttp.ClientTimeout(total=min(timeout, 10.0))) as resp:
                body = await resp.read()
                found = ""
                if resp.status == 200:
                    ids = [m.get("id") for m in (json.loads(body).get("data") or []) if isinstance(m, dict)]
                    found = next((i for i in ids if i), "")
                self._discovered = found
                if found:
                    logger.info("judge endpoint %s serves model %r", self.endpoint, found)
                else:
                    logger.info("judge endpoint %s lists no model (HTTP %s): sending requests without one", self.endpoint, resp.status)
        except Exception:  # noqa: BLE001 - unreachable now: try again with the next request
            return None
        return self._discovered or None

    async def complete(self, messages: list[dict], params: Mapping[str, Any], timeout: float) -> str:
        import aiohttp

        session = self._session()
        body = {"messages": messages, **params}
        try:
            model = await self._model_name(session, timeout)
            if model:
                body["model"] = model
            async with session.post(self.endpoint, data=json.dumps(body), timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                raw = await _read_capped(resp, self.max_reply_bytes)
                status = resp.status
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except asyncio.TimeoutError as e:  # aiohttp's timeout errors derive from it
            raise TransportError("timeout", f"no reply within {timeout:g} s") from e
        except aiohttp.ClientError as e:
            raise TransportError("connection", f"{type(e).__name__}: {e}"[:300]) from e
        except OSError as e:
            raise TransportError("connection", f"{type(e).__name__}: {e}"[:300]) from e
        if status == 429:
            raise TransportError("rate_limited", f"HTTP 429: {_snippet(raw)}", retry_after)
        if status >= 500:
            raise TransportError("server_error", f"HTTP {status}: {_snippet(raw)}", retry_after)
        if status >= 400:
            raise TransportError("client_error", f"HTTP {status}: {_snippet(raw)}")
        try:
            data = json.loads(raw)
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise TransportError("bad_response", f"not a chat completion: {_snippet(raw, 120)!r}") from e
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise TransportError("bad_response", "chat completion without text content")
        return _reply(content, data.get("usage"))

    async def aclose(self) -> None:
        """Close this event loop's session."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._sessions.pop(id(loop), None)
        if entry is not None and not entry[1].closed:
            await entry[1].close()

    def close_all(self) -> None:
        """Best effort for sessions on other loops (scheduled on them if they still run)."""
        with self._lock:
            entries = list(self._sessions.values())
            self._sessions.clear()
        for loop, session in entries:
            if not session.closed and not loop.is_closed() and loop.is_running():
                try:
                    loop.call_soon_threadsafe(lambda s=session: asyncio.ensure_future(s.close()))
                except RuntimeError:
                    pass


# what verl's reward-model router (experimental/reward_loop/router/naive_router.py) answers when the
# judge behind it answered >= 400: it re-raises, and FastAPI turns that into this bare 500
ROUTER_WRAPPED_ERROR = "HTTP 500: Internal Server Error"


class VerlRouterTransport(HTTPTransport):
    """HTTP through verl's reward-model router, which turns the judge's 4xx (prompt too long, image
    parts to a text-only model, unknown model) into a bare 500. Such a 500 while the judge answers
    GET /v1/models through the same router is the judge's client error: not retried, not counted
    toward the circuit breaker. Any other 500 stays a server error."""

    name = "router"

    async def complete(self, messages: list[dict], params: Mapping[str, Any], timeout: float) -> str:
        try:
            return await super().complete(messages, params, timeout)
        except TransportError as e:
            if e.kind != "server_error" or str(e) != ROUTER_WRAPPED_ERROR or not await self._judge_answers(timeout):
                raise
            raise TransportError("client_error", f"{e} from verl's reward router while the judge behind it is up: "
                                 "the judge rejected the request (HTTP 4xx, e.g. prompt too long or image parts "
                                 "to a text-only model); not retried") from e  # fmt: skip

    async def _judge_answers(self, timeout: float) -> bool:
        import aiohttp

        try:
            async with self._session().get(self.models_endpoint, timeout=aiohttp.ClientTimeout(total=min(timeout, 10.0))) as resp:
                await resp.read()
                return resp.status == 200
        except Exception:  # noqa: BLE001 - unreachable: the 500 was the server's
            return False


# ---- the judge ----------------------------------------------------------------------------------
IMAGE_REJECTIONS_OFF = 3


def _has_image(messages: list[dict]) -> bool:
    return any(isinstance(m.get("content"), list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in m["content"])
               for m in messages)  # fmt: skip


class _Trace:
    """What one item's attempts did besides answering: time on the limiter, a dropped image."""

    def __init__(self):
        self.waited_s = 0.0
        self.image_dropped = False


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


class LLMJudge:
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

    def _backoff(self, n: int, retry_after: float | None) -> float:
        base = min(self.backoff_max_s, self.backoff_s * (2 ** (n - 1)))
        delay = base / 2 + random.uniform(0, base / 2)  # "equal jitter": spreads a retry storm
        if retry_after is not None:  # honoured in full: a retry before it would be refused again
            delay = max(delay, retry_after)
        return delay

    @staticmethod
    def _fail(kind: str, reason: str, attempts: int, reply: str | None = None) -> JudgeOutcome:
        assert kind in FAILURE_KINDS, kind
        return JudgeOutcome(failed=True, timed_out=kind == "timeout", kind=kind, reason=reason[:300],
                            reply=None if reply is None else reply[:REPLY_LOG_CHARS], attempts=attempts)  # fmt: skip

    async def _judge_uncached(self, item: Mapping[str, Any]) -> JudgeOutcome:
        trace = _Trace()
        out = await self._attempts(item, trace)
        return out.but(wait_ms=trace.waited_s * 1000.0, image_dropped=trace.image_dropped)

    def _messages(self, item: Mapping[str, Any], with_image: bool) -> list[dict]:
        opts = self.opts if with_image == self.opts.include_image else replace(self.opts, include_image=with_image)
        return build_messages(self.template_for(item), item, opts)

    async def _attempts(self, item: Mapping[str, Any], trace: "_Trace") -> JudgeOutcome:
        try:
            messages = self._messages(item, self.opts.include_image and not self._images_off)
        except Exception as e:  # noqa: BLE001 - e.g. an unreadable image file
            return self._fail("bad_input", f"cannot build the judge prompt: {type(e).__name__}: {e}", 0)
        st = self._state()
        loop = st.loop
        deadline = loop.time() + self.total_timeout_s  # the item's whole budget: queueing, limiter, requests, backoff
        budget = f"the item budget of {self.total_timeout_s:g} s"
        attempts = transport_retries = parse_retries = 0
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return self._fail("timeout", f"no verdict within {budget}", attempts)
            if not self.breaker.allow():
                return self._fail("circuit_open", f"circuit open: the judge endpoint kept failing (next probe in {self.breaker.retry_in():.0f} s)", attempts)
            attempts += 1
            est = self.estimator.estimate(messages, self.params.get("max_tokens", 0)) if self.quota is not None else None
            try:
                if st.sem.locked():  # all slots busy: wait for one, within the budget
                    await asyncio.wait_for(st.sem.acquire(), remaining)
                else:
                    await st.sem.acquire()
                try:
                    if est is not None and not await self._book(est, deadline - loop.time(), trace):
                        self.breaker.release_probe()
                        return self._fail("rate_limited", f"judge.rate_limit: the quota would delay this request past {budget}", attempts - 1)
                    self.stats.add("calls")
                    reply = await self.transport.complete(messages, self.params, min(self.timeout_s, max(0.001, deadline - loop.time())))
                finally:
                    st.sem.release()
            except asyncio.TimeoutError:
                self.breaker.release_probe()
                return self._fail("timeout", f"no free request slot within {budget} (judge.concurrency={self.concurrency})", attempts)
            except TransportError as e:
                self.stats.error(e.kind)
                if e.kind in BREAKER_KINDS:
                    self.breaker.record_failure()
                else:
                    self.breaker.record_success()  # it answered: the endpoint is up
                if e.kind == "rate_limited" and e.retry_after and self.quota is not None:
                    self.stats.add("limiter_pauses")
                    await self.quota.pause(e.retry_after)  # every request waits, not only this one
                if e.kind == "client_error" and _has_image(messages):
                    messages = self._drop_image(item, e, trace)  # a text-only judge: judged without it
                    continue
                if not e.retryable or transport_retries >= self.max_retries:
                    return self._fail(e.kind, str(e), attempts)
                delay = self._backoff(transport_retries + 1, e.retry_after)
                if delay >= deadline - loop.time():
                    return self._fail(e.kind, f"{e}; no time left in {budget}", attempts)
                transport_retries += 1
                self.stats.add("retries")
                await asyncio.sleep(delay)
                continue
            except asyncio.CancelledError:
                self.breaker.release_probe()
                raise
            self.breaker.record_success()
            if est is not None:
                await self._account(est, getattr(reply, "usage", None))
            if _has_image(messages):
                self._image_successes += 1
            if len(reply) < PARSE_ON_LOOP_CHARS:
                parsed = parse_verdict(reply, self.tiers)
            else:
                parsed = await loop.run_in_executor(None, parse_verdict, reply, self.tiers)
            if parsed.score is not None:
                return JudgeOutcome(score=parsed.score, reason=parsed.reason, reply=reply[:REPLY_LOG_CHARS], attempts=attempts)
            self.stats.error("unparseable")
            if parse_retries >= self.parse_retries:
                return self._fail("unparseable", f"unparseable verdict: {parsed.reason}", attempts, reply)
            parse_retries += 1
            self.stats.add("retries")

    async def _book(self, est, remaining: float, trace: "_Trace") -> bool:
        """Reserve this request's share of the quota and wait for it; False (nothing booked) when
        the wait would pass the item's budget."""
        delay = await self.quota.reserve(est.total)
        if delay >= remaining:
            await self.quota.cancel(est.total)
            self.stats.add("limiter_refused")
            return False
        self.stats.add("tokens_estimated", int(est.total))
        if delay > 0:
            self.stats.waited(delay)
            trace.waited_s += delay
            await asyncio.sleep(delay)
        return True

    async def _account(self, est, usage: Any) -> None:
        """Correct the booked tokens with the reply's ``usage`` (and refine the estimate)."""
        actual = self.estimator.learn(est, usage)
        if actual is not None:
            self.stats.add("tokens_reported", int(actual))
            await self.quota.correct(actual - est.total)

    def _drop_image(self, item: Mapping[str, Any], error: TransportError, trace: "_Trace") -> list[dict]:
        """The endpoint refused a request with image parts (HTTP 4xx): the same item without them.
        After IMAGE_REJECTIONS_OFF refusals and no image ever accepted, images are no longer sent."""
        trace.image_dropped = True
        self.stats.add("image_rejected")
        n = self.stats.c["image_rejected"]
        if n <= 3 or n % 100 == 0:
            logger.warning("the judge refused a request with an image (%s): judged without it [%d so far]; a text-only judge "
                           "needs judge.include_image=false", str(error)[:200], n)  # fmt: skip
        if n >= IMAGE_REJECTIONS_OFF and self._image_successes == 0 and not self._images_off:
            self._images_off = True
            logger.warning("the judge refused images %d times and never accepted one: no more images are sent to it", n)
        return self._messages(item, False)

    def _log_failure(self, out: JudgeOutcome) -> None:
        self._logged_failures += 1
        n = self._logged_failures
        if n <= 20 or n % 100 == 0:
            s = self.stats.snapshot()
            logger.warning("judge failed (%s): %s [%d of %d items failed so far%s]", out.kind, out.reason, s["failed"], s["requests"],
                           "; logging every 100th from now" if n == 20 else "")  # fmt: skip
