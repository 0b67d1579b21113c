"""The judge's configuration (the reward config's ``judge`` section): frozen dataclasses, each field
with its default, its documentation and its rule (``wethink_verl.settings``).

``JudgeConfig.from_mapping({"enable": True, "url": ...})`` merges a section over the defaults,
validates it (:class:`~wethink_verl.settings.ConfigError` listing every problem, keys named
``judge.*``) and returns the frozen, hashable instance. The reward config embeds it as its
``judge`` field. README "LLM judge", "External judge APIs" and "Judge rescue" explain the features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..settings import FrozenDict, Settings, is_number, section, setting

# the fallbacks that are not a verifier name (the reward config checks that the others are one)
JUDGE_FALLBACK_EXTRA = ("zero", "fixed")
BACKENDS = ("auto", "http", "router", "ray")
RESCUE_POLICIES = ("off", "abstain")
RATE_LIMIT_SCOPES = ("auto", "process", "cluster")
ENGINES = ("auto", "vllm", "transformers", "demo-grader")


def _tiers(value: Any, cfg: Mapping) -> str | None:
    if len(value) < 2 or not all(is_number(t) and 0.0 <= t <= 1.0 for t in value):
        return f"must be at least two numbers in [0, 1], got {value!r}"
    return None


def _rescue_table(table: Any, cfg: Mapping) -> str | None:
    bad = [f"{k!r} -> {v!r}" for k, v in table.items() if v not in RESCUE_POLICIES]
    return f"values must be one of {', '.join(map(repr, RESCUE_POLICIES))}: {'; '.join(bad)}" if bad else None


@dataclass(frozen=True)
class RateLimitConfig(Settings):
    """An external endpoint's quotas (README "External judge APIs"). In any 60 s window at most
    requests_per_minute requests and tokens_per_minute tokens are sent; a request the quota would
    delay past its item's budget fails as rate_limited (the fallback decides)."""

    SECTION = "judge.rate_limit"
    requests_per_minute: float | None = setting(None, "requests per 60 s window; null: unlimited", kind="number", nullable=True, gt=0)
    tokens_per_minute: float | None = setting(
        None, "tokens per 60 s window (a request's tokens: its prompt estimated at chars_per_token characters per token, "
        "every image at image_tokens, plus max_tokens; corrected from the reply's `usage`, and the estimate learns from "
        "it); null: unlimited", kind="number", nullable=True, gt=0)  # fmt: skip
    burst_s: float = setting(1.0, "the seconds' worth of quota that may go at once", min=0, max=60)
    scope: str = setting("auto", '"process" (this judge client), "cluster" (one Ray actor per endpoint shared by every reward '
                         'worker of the job), "auto" (cluster when Ray is initialised, else process)', choices=RATE_LIMIT_SCOPES)  # fmt: skip
    chars_per_token: float = setting(3.0, "the prompt's characters per token, before replies correct it", gt=0)
    image_tokens: int = setting(1000, "tokens counted per image", min=0)


@dataclass(frozen=True)
class RescueConfig(Settings):
    """Judge rescue (README "Judge rescue"): for a row a rule verifier checks, policy "abstain" sends
    it to the judge when the verifier abstains -- no answer it can read (status no_answer on an
    extracted answer) or a ground truth it cannot read (invalid_gold) -- and the answer passes the
    rescue screen (a short, substantive answer: no refusal, negation, tag or grader talk). A verdict
    (right, wrong, hedged) is never sent, nor a timeout, busy or error row. The judge then decides
    the accuracy: 1.0 for a verdict >= min_score, else 0 (the rule's own pay); format is the rule's.
    A failed judge call keeps the rule's 0 (judge_failed, fallback "rule")."""

    SECTION = "judge.rescue"
    policy: str = setting("off", '"off" or "abstain" for every rule-checked row', choices=RESCUE_POLICIES)
    by_category: FrozenDict = setting({}, "policy per row category (keys like routing.category); wins over by_verifier", check=_rescue_table)
    by_verifier: FrozenDict = setting({}, "policy per verifier name; overrides policy", check=_rescue_table)
    min_score: float = setting(1.0, "the judge's verdict that pays 1.0 (below it: 0)", gt=0, max=1)
    template: str = setting("rescue", "the template rescue items are asked with (a built-in name or a file)")
    max_answer_chars: int = setting(300, "longer answers are not rescued (the screen)", min=1)


@dataclass(frozen=True)
class CircuitBreakerConfig(Settings):
    """Stop calling an endpoint once ``failures`` consecutive requests failed (timeouts, 429, 5xx,
    connection errors) and nothing succeeded for ``down_s`` seconds: items then fall back at once for
    ``reset_s`` seconds, then one probe request decides."""

    SECTION = "judge.circuit_breaker"
    failures: int = setting(10, "consecutive failed requests that open the circuit; <= 0 disables it")
    down_s: float = setting(10.0, "seconds without a success before the circuit opens", min=0)
    reset_s: float = setting(30.0, "seconds items fall back at once before a probe request", min=0)


@dataclass(frozen=True)
class RayServiceConfig(Settings):
    """Our Ray judge service (backend "ray"): a named actor batching requests into a local
    transformers or vLLM backend, created on first use when ``model`` is set and no actor of that
    name exists."""

    SECTION = "judge.ray"
    name: str = setting("wethink_judge", "the actor's name")
    namespace: str = setting("wethink", "the actor's Ray namespace")
    address: str = setting("auto", 'the Ray cluster to join when Ray is not initialised yet ("auto", "local" or an address)')
    model: str | None = setting(None, "a local model directory or hub id; null: only connect, never create", kind="str", nullable=True)
    engine: str = setting("auto", '"auto" (vllm on a GPU when importable, else transformers), "vllm", "transformers" or '
                          '"demo-grader" (the CPU demo\'s fitted grader)', choices=ENGINES)  # fmt: skip
    max_batch_size: int = setting(16, "dynamic batching: up to this many requests per generate call", min=1)
    max_wait_ms: float = setting(10.0, "how long the first request of a batch waits for company", min=0)
    num_cpus: int = setting(1, "CPUs the actor reserves", min=0)
    num_gpus: int = setting(0, "GPUs the actor reserves", min=0)
    max_restarts: int = setting(3, "Ray restarts a crashed service this many times (-1: forever)", min=-1)
    detached: bool = setting(False, "outlive the creating process (`wethink-verl judge serve` sets it)")
    dtype: str = setting("auto", '"auto": bfloat16 on a GPU, float32 on CPU')
    max_input_tokens: int = setting(4096, "longer prompts fail (client_error) instead of truncating", min=1)
    engine_kwargs: FrozenDict = setting({}, "extra kwargs for vllm.LLM(...) or from_pretrained(...)")


@dataclass(frozen=True)
class JudgeConfig(Settings):
    """The LLM judge for descriptive answers (``wethink_verl.judge``; README "LLM judge")."""

    SECTION = "judge"
    enable: bool = setting(False, "judge rows routed to the judge (off: they use the fallback)")
    fallback: str = setting(
        "text", 'when the judge is off or its endpoint fails (unreachable, timeout, 429, 5xx, circuit open): a verifier '
        'name, "zero" or "fixed". A reply without a valid verdict and a request the endpoint refused (4xx) score 0 '
        "instead: the candidate's text can cause those")  # fmt: skip
    fallback_score: float = setting(0.0, 'the score of fallback "fixed"', min=0, max=1)
    backend: str = setting(
        "auto", 'where verdicts come from: "http" (judge.url), "router" (verl\'s reward-model pool: the '
        'reward_router_address verl hands the reward function), "ray" (our Ray judge service, judge.ray.*), or "auto" '
        "(router when verl passes an address, else http when url is set, else ray when judge.ray.model is set)",
        choices=BACKENDS)  # fmt: skip
    url: str | None = setting(None, 'OpenAI-compatible base URL: "http://host:8000/v1", "https://api.deepseek.com" or a full '
                              '".../chat/completions" URL', kind="str", nullable=True)  # fmt: skip
    model: str | None = setting(None, 'the "model" field; null asks the endpoint (GET /v1/models, first id) and omits the '
                                "field if that fails (vLLM and SGLang then use their only model)", kind="str", nullable=True)  # fmt: skip
    api_key_env: str | None = setting(None, "name of the environment variable holding the API key (sent as a Bearer "
                                      "token; never logged)", kind="str", nullable=True)  # fmt: skip
    template: str = setting("default", 'a built-in template name ("default", "short") or a path to a template file')
    tiers: tuple = setting([0.0, 0.5, 1.0], "the verdict scale: the judge must answer <score>T</score> with T one of these "
                           "(in [0, 1])", check=_tiers)  # fmt: skip
    temperature: float = setting(0.0, "sampling temperature", min=0)
    max_tokens: int = setting(256, "the reply's token cap", min=1)
    request_kwargs: FrozenDict = setting({}, 'merged into every request body (e.g. {"seed": 0})')
    max_reply_bytes: int = setting(1048576, "a longer reply body is not read (the verdict is then unparseable, scored 0)")
    timeout_s: float = setting(60.0, "seconds per request", gt=0)
    total_timeout_s: float | None = setting(
        None, "the whole item's budget, retries and backoff included (null: timeout_s * (max_retries + 1) + "
        "backoff_max_s * max_retries)", kind="number", nullable=True, gt=0)  # fmt: skip
    max_retries: int = setting(3, "retries on timeouts, 429, 5xx, connection errors and bad bodies, with jittered "
                               "exponential backoff (a 429's Retry-After is honoured)", min=0)  # fmt: skip
    backoff_s: float = setting(0.5, "the first backoff (seconds)", min=0)
    backoff_max_s: float = setting(8.0, "the longest backoff (seconds)", min=0)
    parse_retries: int = setting(1, "extra requests for a reply without a valid verdict (useful with temperature > 0)", min=0)
    concurrency: int = setting(64, "requests in flight per judge and event loop (also the HTTP connection pool size)", min=1)
    cache_size: int = setting(65536, "verdicts remembered for identical (question, reference, answer[, image][, reasoning]) "
                              "items; identical items in flight share one request. 0 disables the cache", min=0)  # fmt: skip
    max_question_chars: int | None = setting(4000, "the question's length cap (characters) in the prompt; null: no cap", kind="int", nullable=True, min=1)
    max_reference_chars: int | None = setting(4000, "the reference's length cap (characters) in the prompt; null: no cap", kind="int", nullable=True, min=1)
    max_answer_chars: int | None = setting(2000, "the answer's length cap (characters) in the prompt; null: no cap", kind="int", nullable=True, min=1)
    include_reasoning: bool = setting(False, "send the candidate's <think> reasoning too (tail-capped); it then joins the dedupe key")
    max_reasoning_chars: int | None = setting(2000, "the reasoning's length cap (characters, its tail); null: no cap", kind="int", nullable=True, min=1)
    include_image: bool = setting(False, "send the image as an OpenAI image_url data URL (vision-language judges only: "
                                  "a text-only endpoint rejects image parts)")  # fmt: skip
    image_dir: str | None = setting(None, "relative image paths are resolved against it", kind="str", nullable=True)
    rate_limit: RateLimitConfig = section(RateLimitConfig, "an external endpoint's quotas (null limits: unlimited)")
    rescue: RescueConfig = section(RescueConfig, "judge rescue of rows a rule verifier abstains on")
    circuit_breaker: CircuitBreakerConfig = section(CircuitBreakerConfig, "stop calling a failing endpoint for a while")
    ray: RayServiceConfig = section(RayServiceConfig, "our Ray judge service (backend ray)")


DEFAULTS: dict = JudgeConfig.defaults()
