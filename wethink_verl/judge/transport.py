"""HTTP transports for the judge: any OpenAI-compatible chat-completions endpoint, and verl's
reward-model router in front of one.

A transport's ``complete(messages, params, timeout)`` returns the reply text (a ``Reply``, with the
endpoint's token ``usage``) or raises ``TransportError`` with one of ``FAILURE_KINDS``; the client
(``client.LLMJudge``) owns retries, budgets and the circuit breaker. This module imports no verl,
Ray or torch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any, Mapping
from urllib.parse import urlsplit

from .types import TransportError

logger = logging.getLogger("wethink_verl.judge")


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
