"""The judge's retry loop: one item's requests until a verdict or a failure, within its budget.

Each turn checks the item's budget and the circuit breaker, sends one request (a free slot, the
quota's share, the call), then reads the verdict or decides on the endpoint's error: resend
without the image (a judge that refuses image parts), back off and retry, or give up. An
unparseable verdict is asked again up to ``judge.parse_retries`` times. ``RetryLoop`` is the part
of ``client.LLMJudge`` that does this; it imports no verl, Ray or torch.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any, Mapping

from .prompt import parse_verdict
from .types import BREAKER_KINDS, FAILURE_KINDS, JudgeOutcome, TransportError

logger = logging.getLogger("wethink_verl.judge")

REPLY_LOG_CHARS = 400
PARSE_ON_LOOP_CHARS = 65536  # longer replies are parsed in a thread: the event loop serves other samples
IMAGE_REJECTIONS_OFF = 3


def _has_image(messages: list[dict]) -> bool:
    return any(isinstance(m.get("content"), list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in m["content"])
               for m in messages)  # fmt: skip


class _Trace:
    """What one item's attempts did besides answering: time on the limiter, a dropped image."""

    def __init__(self):
        self.waited_s = 0.0
        self.image_dropped = False


@dataclass
class _Run:
    """One item's turn through the loop: what it sends (without the image once refused), its
    deadline on the loop's clock, its counters."""

    st: Any  # the event loop's client._LoopState: its loop and request slots
    messages: list[dict]
    deadline: float
    budget: str
    trace: _Trace
    attempts: int = 0
    transport_retries: int = 0
    parse_retries: int = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.st.loop


class RetryLoop:
    """``LLMJudge``'s requests for one item (a base class of it). Uses the judge's transport,
    params, opts, tiers, timeouts and retry counts, breaker, stats, quota and estimator, and its
    ``_state()`` (this event loop's slots) and ``_messages()`` (the prompt, with or without the image)."""

    async def _judge_uncached(self, item: Mapping[str, Any]) -> JudgeOutcome:
        trace = _Trace()
        out = await self._attempts(item, trace)
        return out.but(wait_ms=trace.waited_s * 1000.0, image_dropped=trace.image_dropped)

    async def _attempts(self, item: Mapping[str, Any], trace: "_Trace") -> JudgeOutcome:
        """Until a verdict or a failure: refuse (budget, breaker), send, then read the verdict or
        decide on the error."""
        try:
            messages = self._messages(item, self.opts.include_image and not self._images_off)
        except Exception as e:  # noqa: BLE001 - e.g. an unreadable image file
            return self._fail("bad_input", f"cannot build the judge prompt: {type(e).__name__}: {e}", 0)
        st = self._state()
        deadline = st.loop.time() + self.total_timeout_s  # the item's whole budget: queueing, limiter, requests, backoff
        run = _Run(st, messages, deadline, f"the item budget of {self.total_timeout_s:g} s", trace)
        while True:
            remaining = run.deadline - run.loop.time()
            refused = self._refusal(run, remaining)
            if refused is not None:
                return refused
            run.attempts += 1
            est = self.estimator.estimate(run.messages, self.params.get("max_tokens", 0)) if self.quota is not None else None
            try:
                sent = await self._send(run, est, remaining)
            except TransportError as e:
                out = await self._after_error(item, run, e)
            else:
                out = sent if isinstance(sent, JudgeOutcome) else await self._verdict(run, est, sent)
            if out is not None:  # None: try again
                return out

    def _refusal(self, run: _Run, remaining: float) -> JudgeOutcome | None:
        """The failure that ends the loop before another request: the budget spent, the circuit open."""
        if remaining <= 0:
            return self._fail("timeout", f"no verdict within {run.budget}", run.attempts)
        if not self.breaker.allow():
            return self._fail("circuit_open", f"circuit open: the judge endpoint kept failing (next probe in {self.breaker.retry_in():.0f} s)", run.attempts)
        return None

    async def _send(self, run: _Run, est, remaining: float) -> str | JudgeOutcome:
        """One request: a free slot (waited for within the budget), the quota's share, the call. The
        reply, or the failure when no slot or no quota came in time; the endpoint's failure raises
        TransportError."""
        st, loop, deadline, budget, attempts = run.st, run.loop, run.deadline, run.budget, run.attempts
        try:
            if st.sem.locked():  # all slots busy: wait for one, within the budget
                await asyncio.wait_for(st.sem.acquire(), remaining)
            else:
                await st.sem.acquire()
            try:
                if est is not None and not await self._book(est, deadline - loop.time(), run.trace):
                    self.breaker.release_probe()
                    return self._fail("rate_limited", f"judge.rate_limit: the quota would delay this request past {budget}", attempts - 1)
                self.stats.add("calls")
                reply = await self.transport.complete(run.messages, self.params, min(self.timeout_s, max(0.001, deadline - loop.time())))
            finally:
                st.sem.release()
        except asyncio.TimeoutError:
            self.breaker.release_probe()
            return self._fail("timeout", f"no free request slot within {budget} (judge.concurrency={self.concurrency})", attempts)
        except asyncio.CancelledError:
            self.breaker.release_probe()
            raise
        return reply

    async def _after_error(self, item: Mapping[str, Any], run: _Run, e: TransportError) -> JudgeOutcome | None:
        """The endpoint failed this request: count it, pause the quota on a Retry-After, then resend
        without the image, back off and retry, or give up (the failure). None: try again."""
        self.stats.error(e.kind)
        if e.kind in BREAKER_KINDS:
            self.breaker.record_failure()
        else:
            self.breaker.record_success()  # it answered: the endpoint is up
        if e.kind == "rate_limited" and e.retry_after and self.quota is not None:
            self.stats.add("limiter_pauses")
            await self.quota.pause(e.retry_after)  # every request waits, not only this one
        if e.kind == "client_error" and _has_image(run.messages):
            run.messages = self._drop_image(item, e, run.trace)  # a text-only judge: judged without it
            return None
        return await self._back_off(run, e)

    async def _back_off(self, run: _Run, e: TransportError) -> JudgeOutcome | None:
        """Wait before retrying ``e``; the failure instead when it is final, the retries are used up
        or the wait would pass the budget. None: try again."""
        if not e.retryable or run.transport_retries >= self.max_retries:
            return self._fail(e.kind, str(e), run.attempts)
        delay = self._backoff(run.transport_retries + 1, e.retry_after)
        if delay >= run.deadline - run.loop.time():
            return self._fail(e.kind, f"{e}; no time left in {run.budget}", run.attempts)
        run.transport_retries += 1
        self.stats.add("retries")
        await asyncio.sleep(delay)
        return None

    async def _verdict(self, run: _Run, est, reply: str) -> JudgeOutcome | None:
        """The endpoint answered: settle its tokens and parse the verdict; the failure when it stays
        unparseable past judge.parse_retries. None: ask again."""
        self.breaker.record_success()
        if est is not None:
            await self._account(est, getattr(reply, "usage", None))
        if _has_image(run.messages):
            self._image_successes += 1
        if len(reply) < PARSE_ON_LOOP_CHARS:
            parsed = parse_verdict(reply, self.tiers)
        else:
            parsed = await run.loop.run_in_executor(None, parse_verdict, reply, self.tiers)
        if parsed.score is not None:
            return JudgeOutcome(score=parsed.score, reason=parsed.reason, reply=reply[:REPLY_LOG_CHARS], attempts=run.attempts)
        self.stats.error("unparseable")
        if run.parse_retries >= self.parse_retries:
            return self._fail("unparseable", f"unparseable verdict: {parsed.reason}", run.attempts, reply)
        run.parse_retries += 1
        self.stats.add("retries")
        return None

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
