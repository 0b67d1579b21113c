"""The reward for one sample: extract -> route -> verify (or judge) -> compose.

One implementation serves sync and async callers: ``_score`` is a coroutine that only suspends
when it must wait (a bounded worker or the judge) and the caller is async; the sync ``score``
drives it to completion without an event loop. Cheap verifiers run inline; math-verify and user
verifiers run in the scorer's bounded worker pool (one per ``bounded.*`` settings in the process,
never reconfigured under a running batch).

Nothing fails silently: a row that could not be scored has ``error`` 1 and its reason, one that
ran out of time (or found no free worker) ``timed_out`` 1, and both are logged at WARNING with a
running count.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Any, Iterable, Mapping, Protocol

from ..settings import thaw
from ..verifiers import bounded
from ..verifiers.extract import answer_only, extract_answer
from ..verifiers.format import check_format
from ..verifiers.registry import VerifierSpec, get_verifier, validate_verifier_config
from ..verifiers.types import Verdict
from . import compose
from .config import RewardConfig, load_config
from .rescue import ABSTAIN, RESCUED_STATUSES, RescuePolicy, reference_text, screen
from .router import JUDGE, Route, normalize_routing, route

logger = logging.getLogger("wethink_verl.reward")

from ..rows import SAMPLE_FIELDS  # noqa: E402,F401 - the sample's fields live with the row contract


class JudgeOutcome(Protocol):
    score: float
    failed: bool
    cached: bool
    timed_out: bool
    reason: str
    kind: str  # "ok" or why it failed (wethink_verl.judge.types.FAILURE_KINDS)


# Judge failures the candidate's own text can cause (a reply it talked into an unreadable shape, a
# request the endpoint refused for its content): scored 0, never by the fallback, or injection
# would pay whatever the fallback pays a near-copy of the reference.
CANDIDATE_CAUSED = frozenset({"unparseable", "client_error"})


class Judge(Protocol):
    """What the scorer needs of a judge (``wethink_verl.judge`` implements it)."""

    async def judge(self, item: Mapping[str, Any]) -> JudgeOutcome: ...

    def judge_sync(self, item: Mapping[str, Any]) -> JudgeOutcome: ...


@dataclass(frozen=True)
class Decision:
    """How a sample's accuracy was decided: the verdict, the verifier name to report (``judge>text``
    when a fallback decided, ``choice>judge`` when the judge rescued a rule), and the flags."""

    verdict: Verdict
    verifier: str
    judge_used: bool = False
    judge_failed: bool = False
    judge_rescued: bool = False
    fallback: bool = False
    timed_out: bool = False
    wait_ms: float = 0.0  # this sample's judge requests on the rate limiter


class ScoreStats:
    """Counters for a run: per verifier, statuses, fallbacks, unmapped values by name."""

    def __init__(self):
        self._lock = threading.Lock()
        self.verifiers: Counter = Counter()
        self.statuses: Counter = Counter()
        self.unmapped_values: Counter = Counter()
        self.fallbacks: Counter = Counter()
        self.rescues: Counter = Counter()  # "<rule status>: rescued | screened out | judge failed"
        self.errors = 0
        self.samples = 0
        self.not_scored = 0  # errors, busy rows and unreadable golds: logged with a running count

    def record(self, res: dict, unmapped_value: str | None) -> None:
        status = res.get("status", "ok")
        with self._lock:
            self.samples += 1
            self.verifiers[res["verifier"]] += 1
            self.statuses[status] += 1
            if res["fallback"]:
                self.fallbacks[res.get("fallback_reason", "fallback")] += 1
            if res.get("error"):
                self.errors += 1
            if res.get("error") or status == "busy":
                self.not_scored += 1
                n, total = self.not_scored, self.samples
                if n <= 20 or n % 100 == 0:
                    logger.warning("sample not scored (%s): %s [%d of %d samples not scored so far%s]", status,
                                   str(res.get("reason"))[:300], n, total, "; logging every 100th from now" if n == 20 else "")  # fmt: skip
            if unmapped_value:
                first = unmapped_value not in self.unmapped_values
                self.unmapped_values[unmapped_value] += 1
                if first:
                    logger.warning("unmapped routing value %r: routed by the ground truth's shape (counted)", unmapped_value)

    def rescue(self, what: str) -> None:
        with self._lock:
            self.rescues[what] += 1

    def as_dict(self) -> dict:
        with self._lock:
            return {
                "rescues": dict(self.rescues),
                "verifiers": dict(self.verifiers),
                "statuses": dict(self.statuses),
                "unmapped_values": dict(self.unmapped_values),
                "fallbacks": dict(self.fallbacks),
                "errors": self.errors,
                "not_scored": self.not_scored,
            }


def _isolated_verdict(spec: VerifierSpec, out: bounded.Outcome) -> Verdict:
    """A user verifier's outcome from the pool as a verdict (a plain number becomes the score)."""
    if out.status in ("timeout", "busy"):
        return Verdict(0.0, None, f"verifier {spec.name} {out.detail}", out.status)
    if not out.ok:
        return Verdict(0.0, None, f"verifier {spec.name} {out.status}: {out.detail}"[:300], "error")
    if isinstance(out.value, Verdict):
        return out.value
    return Verdict(min(1.0, max(0.0, float(out.value))), None, f"{spec.name} returned {out.value!r}")


class RewardScorer:
    """WeThink's reward for a sample mapping (fields: SAMPLE_FIELDS; ``answer`` is an alias of
    ``ground_truth``). ``judge`` is anything with ``judge``/``judge_sync`` (see ``Judge``)."""

    def __init__(self, config: RewardConfig | Mapping | None = None, judge: Judge | None = None):
        self.config: RewardConfig = load_config(config)  # a mapping is validated (ConfigError) here, once
        validate_verifier_config(self.config.to_dict())  # bad verifiers.<name> / format options: an error up front
        self.judge = judge
        self.stats = ScoreStats()
        b = self.config.bounded
        self.pool_settings = bounded.PoolSettings(size=int(b.workers), timeout=float(b.timeout_s), memory_limit_mb=b.memory_limit_mb,
                                                  queue_timeout=float(b.queue_timeout_s))  # fmt: skip
        self._format_spec = self._resolve_format_rule(self.config.format_rule)
        self._routing = normalize_routing(self.config.routing)
        self.rescue_policy = RescuePolicy(self.config.judge.rescue)
        if self.rescue_policy.anything and (judge is None or not self.config.judge.enable):
            logger.warning("judge.rescue asks the judge where rules abstain, but the judge is off: nothing is rescued")

    @staticmethod
    def _resolve_format_rule(rule: str) -> VerifierSpec | None:
        if rule in ("wethink", "format"):
            return None  # the built-in check, called directly
        if rule == "none":
            return None
        return get_verifier(rule)

    @property
    def pool(self) -> bounded.WorkerPool:
        """This scorer's bounded pool (the process's pool for its settings; a fresh one after a fork)."""
        return bounded.get_pool(self.pool_settings)

    # ---- public API ------------------------------------------------------------------------
    def score(self, sample: Mapping[str, Any]) -> dict:
        try:
            return bounded.run_sync(self._score(sample, sync=True))
        except Exception as e:  # noqa: BLE001 - a bad sample never stops a batch; it is counted
            return self.error_result(f"scoring raised {type(e).__name__}: {e}", sample)

    async def ascore(self, sample: Mapping[str, Any]) -> dict:
        try:
            return await self._score(sample, sync=False)
        except Exception as e:  # noqa: BLE001
            return self.error_result(f"scoring raised {type(e).__name__}: {e}", sample)

    def error_result(self, message: str, sample: Mapping[str, Any] | None = None) -> dict:
        """The result of a sample that could not be scored: score 0, the error logged and counted."""
        verifier = str((sample or {}).get("verifier") or "none")
        res = compose.result(accuracy=0.0, fmt=0.0, verifier=verifier, cfg=self.config, status="error", error=True,
                             reason=message[:300], category=(sample or {}).get("category"))  # fmt: skip
        self.stats.record(res, None)
        return res

    async def ascore_many(self, samples: Iterable[Mapping[str, Any]], concurrency: int = 64) -> list[dict]:
        sem = asyncio.Semaphore(concurrency)

        async def one(s):
            async with sem:
                return await self.ascore(s)

        return await asyncio.gather(*(one(s) for s in samples))

    # ---- internals -------------------------------------------------------------------------
    def route(self, sample: Mapping[str, Any]) -> Route:
        """Where the routing tables send a sample (a verifier name or "judge")."""
        return route(sample, self._routing)

    def verifier_options(self, name: str, sample: Mapping[str, Any]) -> dict:
        """A verifier's options for a sample: config, the row's verifier_kwargs, its problem and image size."""
        opts = thaw(self.config.verifiers.get(name) or {})  # plain dicts and lists, as a verifier expects
        kwargs = sample.get("verifier_kwargs") or {}
        if not isinstance(kwargs, Mapping):
            raise TypeError(f"verifier_kwargs must be an object, not {type(kwargs).__name__}")
        opts.update(kwargs)
        if (name == "choice" and "choices" not in opts or name == "yesno") and sample.get("problem"):
            opts.setdefault("problem", sample["problem"])
        if name == "iou" and sample.get("image_size") and "image_size" not in opts:
            opts["image_size"] = sample["image_size"]
        return opts

    async def _run_verifier(self, spec: VerifierSpec, text: str, gold: Any, opts: dict, sync: bool) -> Verdict:
        try:
            if not (spec.isolate or spec.blocking):
                return spec.fn(text, gold, **opts)  # bounded by construction: no pool needed
            pool = self.pool
            if spec.isolate:
                out = pool.call(spec.ref, text, gold, **opts) if sync else await pool.acall(spec.ref, text, gold, **opts)
                return _isolated_verdict(spec, out)
            # verifiers that call the pool from inside (math) use this scorer's, and their wait for a
            # worker starts now: a job queued in the executor spends its wait budget there
            wait_until = time.monotonic() + pool.queue_timeout
            job = partial(bounded.run_in, pool, wait_until, partial(spec.fn, text, gold, **opts))
            if sync:
                return job()
            return await asyncio.get_running_loop().run_in_executor(pool.executor, job)
        except Exception as e:  # noqa: BLE001 - a bad sample never stops a batch; it is counted
            logger.debug("verifier %s failed", spec.name, exc_info=True)
            return Verdict(0.0, None, f"verifier {spec.name} raised {type(e).__name__}: {e}"[:300], "error")

    async def _fallback(self, answer: str | None, gold: Any, sample: Mapping, sync: bool) -> tuple[Verdict, str]:
        judge_cfg = self.config.judge
        policy = judge_cfg.fallback
        if policy == "zero":
            return Verdict(0.0, answer, "judge fallback: zero"), "zero"
        if policy == "fixed":
            return Verdict(float(judge_cfg.fallback_score), answer, "judge fallback: fixed score"), "fixed"
        spec = get_verifier(self.config.aliases.get(policy, policy))
        if answer is None:
            return Verdict(0.0, None, "no answer found", "no_answer"), policy
        return await self._run_verifier(spec, answer, gold, self.verifier_options(policy, sample), sync), policy

    async def _score(self, sample: Mapping[str, Any], sync: bool) -> dict:
        t0 = time.perf_counter()
        cfg = self.config
        sample = dict(sample)
        if "ground_truth" not in sample and "answer" in sample:
            sample["ground_truth"] = sample["answer"]
        response = sample.get("response")
        if not isinstance(response, str):
            return self.error_result(f"response must be a string, got {type(response).__name__}")
        gold = clean_gold(sample.get("ground_truth"))

        is_answer_only = bool(sample.get("answer_only", cfg.answer_only))
        extraction = answer_only(response) if is_answer_only else extract_answer(response, boxed_fallback=cfg.boxed_fallback)

        fmt: float | None = None
        if not is_answer_only and cfg.format_rule != "none":
            if self._format_spec is None:
                fmt = check_format(response, **cfg.format.to_dict()).score
            else:
                fmt = (await self._run_verifier(self._format_spec, response, None, cfg.format.to_dict(), sync)).score

        rt: Route = self.route(sample)
        details: dict[str, Any] = {"route": rt.via, "extraction": extraction.source, "category": sample.get("category")}
        if rt.via == "unmapped" and rt.verifier == "error":
            d = Decision(Verdict(0.0, extraction.answer, f"unmapped routing value {rt.unmapped}", "error"), rt.verifier)
        elif rt.verifier == JUDGE:
            d = await self._judge(extraction, gold, sample, sync, details)
        else:
            d = await self._rule(rt.verifier, response, extraction, gold, sample, sync, details)
        v = d.verdict
        res = compose.result(
            accuracy=v.score, fmt=fmt, verifier=d.verifier, cfg=cfg, judge_used=d.judge_used, judge_failed=d.judge_failed,
            judge_rescued=d.judge_rescued, fallback=d.fallback or rt.unmapped is not None, unmapped=rt.unmapped is not None,
            timed_out=d.timed_out or v.status in ("timeout", "busy"), error=v.status in ("error", "invalid_gold"), cached=v.cached,
            latency_ms=(time.perf_counter() - t0) * 1000.0, judge_wait_ms=d.wait_ms, reason=v.reason,
            extracted=v.extracted, status=v.status, **details,
        )  # fmt: skip
        if rt.unmapped is not None:
            res.setdefault("fallback_reason", f"unmapped {rt.unmapped}")
        self.stats.record(res, rt.unmapped)
        return res

    async def _rule(self, name: str, response: str, extraction, gold, sample: Mapping, sync: bool, details: dict) -> "Decision":
        """A rule-checked sample: the verifier's verdict, or the judge's where it abstains (rescue)."""
        try:
            spec = get_verifier(self.config.aliases.get(name, name))
        except KeyError as e:
            return Decision(Verdict(0.0, extraction.answer, str(e).strip("'\""), "error"), name)
        text = response if spec.reads == "response" else extraction.answer
        if text is None:
            return Decision(Verdict(0.0, None, f"no answer found ({extraction.source})", "no_answer"), name)
        try:
            opts = self.verifier_options(name, sample)
        except TypeError as e:
            return Decision(Verdict(0.0, None, str(e), "error"), name)
        verdict = await self._run_verifier(spec, text, gold, opts, sync)
        if spec.reads == "answer" and self._rescue_wanted(sample, name, gold, verdict):
            return await self._rescue(name, extraction.answer, gold, sample, opts, verdict, sync, details)
        return Decision(verdict, name)

    def _rescue_wanted(self, sample: Mapping, name: str, gold, verdict: Verdict) -> bool:
        """Whether a rule verdict goes to the judge (``judge.rescue``; README "Judge rescue"):
        only an abstention (``RESCUED_STATUSES``), never a verdict, and only with the judge on."""
        if verdict.status not in RESCUED_STATUSES or self.judge is None or not self.config.judge.enable:
            return False
        if verdict.status == "invalid_gold" and not str(gold or "").strip():
            return False  # nothing to compare with
        return self.rescue_policy.of(sample, name) == ABSTAIN

    async def _rescue(self, name: str, answer: str, gold, sample: Mapping, opts: Mapping, rule: Verdict, sync: bool, details: dict) -> "Decision":
        """The judge's verdict on an answer the rule abstained on, paid as the rule pays (1.0 at or
        above ``min_score``, else 0; format stays the rule's). A screened-out answer and a failed
        judge call keep the rule's 0 (the latter with judge_failed and fallback "rule")."""
        why_not = screen(answer, self.rescue_policy.max_answer_chars)
        if why_not is not None:
            self.stats.rescue(f"{rule.status}: screened out")
            return Decision(Verdict(rule.score, rule.extracted, f"{rule.reason}; not rescued: {why_not}", rule.status), name)
        item = {
            "purpose": "rescue",
            "question": sample.get("problem") or "",
            "reference": reference_text(gold, name, opts),
            "answer": answer,
            "reasoning": "",  # the judge sees what the rule saw: never the reasoning
            "image": sample.get("image"),
        }
        outcome = self.judge.judge_sync(item) if sync else await self.judge.judge(item)
        wait_ms = float(getattr(outcome, "wait_ms", 0.0))
        if outcome.failed:
            self.stats.rescue(f"{rule.status}: judge failed")
            details["fallback_reason"] = f"rescue judge {getattr(outcome, 'kind', 'failed')}: rule"
            verdict = Verdict(rule.score, rule.extracted, f"rescue failed ({outcome.reason}); {rule.reason}"[:300], rule.status)
            return Decision(verdict, name, judge_failed=True, fallback=True, timed_out=outcome.timed_out, wait_ms=wait_ms)
        self.stats.rescue(f"{rule.status}: rescued")
        reason = f"rescued ({rule.status}: {rule.reason}); {outcome.reason}{_image_note(outcome)}"
        verdict = Verdict(self.rescue_policy.pays(outcome.score), answer[:200], reason[:300], cached=outcome.cached)
        return Decision(verdict, f"{name}>judge", judge_used=True, judge_rescued=True, wait_ms=wait_ms)

    async def _judge(self, extraction, gold, sample, sync, details: dict) -> "Decision":
        """A judge-routed sample; why a fallback decided goes to ``details["fallback_reason"]``."""
        if extraction.answer is None:
            return Decision(Verdict(0.0, None, f"no answer found ({extraction.source})", "no_answer"), JUDGE)
        if self.judge is None or not self.config.judge.enable:
            verdict, fb = await self._fallback(extraction.answer, gold, sample, sync)
            details["fallback_reason"] = f"judge off: {fb}"
            return Decision(Verdict(verdict.score, verdict.extracted, verdict.reason, verdict.status), f"judge>{fb}", fallback=True)
        item = {
            "question": sample.get("problem") or "",
            "reference": "" if gold is None else str(gold),
            "answer": extraction.answer,
            "reasoning": extraction.think or "",
            "image": sample.get("image"),
        }
        outcome = self.judge.judge_sync(item) if sync else await self.judge.judge(item)
        wait_ms = float(getattr(outcome, "wait_ms", 0.0))
        if not outcome.failed:
            verdict = Verdict(float(outcome.score), extraction.answer[:200], f"{outcome.reason}{_image_note(outcome)}", cached=outcome.cached)
            return Decision(verdict, JUDGE, judge_used=True, wait_ms=wait_ms)
        kind = getattr(outcome, "kind", "failed")
        if kind in CANDIDATE_CAUSED:
            verdict, fb = Verdict(0.0, extraction.answer[:200], "judge fallback: zero"), "zero"
        else:
            verdict, fb = await self._fallback(extraction.answer, gold, sample, sync)
        verdict = Verdict(verdict.score, verdict.extracted, f"judge failed ({outcome.reason}); {verdict.reason}"[:300], verdict.status)
        details["fallback_reason"] = f"judge {kind}: {fb}"
        return Decision(verdict, f"judge>{fb}", judge_failed=True, fallback=True, timed_out=outcome.timed_out, wait_ms=wait_ms)


def clean_gold(gold: Any) -> Any:
    """The ground truth without the ``<answer>`` tags or ``\\boxed{}`` WeThink golds sometimes carry."""
    if isinstance(gold, str) and ("<answer>" in gold or "\\boxed" in gold):
        return answer_only(gold).answer or gold
    return gold


def _image_note(outcome: JudgeOutcome) -> str:
    return " (the judge refused the image: judged on the text)" if getattr(outcome, "image_dropped", False) else ""
