"""The reward configuration: one nested mapping with WeThink's defaults.

Every key can be set from verl (``+reward.reward_kwargs.<key>=…`` for the ``wethink`` manager,
``+reward.custom_reward_function.reward_kwargs.<key>=…`` for ``compute_score``), from EasyR1
(``worker.reward.reward_function_kwargs.<key>=…``) or from a YAML file (``--config``).
Dotted keys are accepted: ``{"judge.enable": true}`` equals ``{"judge": {"enable": true}}``.

``build_config`` validates the whole merged config once, against a schema derived from DEFAULTS
(the type of each default; a mapping default is a closed section) plus ``RULES`` (ranges, choices,
open tables): every problem (an unknown key with a "did you mean", a wrong type, a value out of
range) is reported together in one :class:`ConfigError`, before anything is scored.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Mapping  # (typing.Mapping's isinstance is several times slower)
from dataclasses import dataclass
from typing import Any, Callable

# WeThink's system prompt (exact; the two sentences joined by one newline).
WETHINK_SYSTEM_PROMPT = (
    "You FIRST think about the reasoning process as an internal monologue and then provide the final answer.\n"
    "The reasoning process MUST BE enclosed within <think> </think> tags. "
    "The final answer MUST BE enclosed within <answer> </answer> tags."
)

DEFAULTS: dict[str, Any] = {
    # overall = accuracy_weight * accuracy + format_weight * format (WeThink: 0.7 / 0.3)
    "accuracy_weight": 0.7,
    "format_weight": 0.3,
    # "wethink": <think>…</think><answer>…</answer>; "none": no format term; or "pkg.mod:fn"
    "format_rule": "wethink",
    "format": {"think_prefilled": "auto", "min_think_chars": 0},
    # accuracy counts only when the format passes (off in WeThink: the terms add up)
    "require_format_for_accuracy": False,
    # read \boxed{} after the reasoning when there is no <answer> block
    "boxed_fallback": True,
    # the response is already the answer (no <answer> block, no format term)
    "answer_only": False,
    "routing": {
        # the row's `reward` field: "category" means "let the category decide"
        "reward": {
            "rule": "category", "rule based": "category", "rule-based": "category", "rule_based": "category",
            "model": "judge", "model based": "judge", "model-based": "judge", "model_based": "judge",
            "llm": "judge", "judge": "judge", "llm judge": "judge", "reward model": "judge",
        },
        # the row's `category` field (matched case-insensitively, -, _ and spaces alike)
        "category": {
            "multiple choice": "choice", "multi choice": "choice", "mcq": "choice", "choice": "choice",
            "single choice": "choice", "multiple select": "choice",
            "fill in the blank": "auto", "fill in blank": "auto", "blank": "auto", "free form": "auto",
            "short answer": "auto", "open": "auto",
            "descriptive": "judge", "description": "judge", "open ended": "judge", "caption": "judge",
            "math": "math", "numerical": "number", "numeric": "number", "counting": "number", "count": "number",
            "ocr": "ocr", "text": "text", "yes no": "yesno", "yesno": "yesno", "true false": "yesno",
            "judgment": "yesno", "grounding": "iou", "detection": "iou", "bbox": "iou",
        },
        # a value found in neither table: "auto" (decide by the ground truth's shape, counted and
        # logged as unmapped), "error" (score 0 with an error), or a verifier name
        "on_unmapped": "auto",
        # neither field present
        "default": "auto",
    },
    # default options per verifier, e.g. {"number": {"rel_tol": 0.01}, "iou": {"iou_threshold": null}}
    "verifiers": {},
    # swap an implementation: {"text": "mypkg.rewards:my_text"} or {"choice": "text"}
    "aliases": {},
    # the hard bound around expensive verifier work (math-verify and user verifiers), per process
    # and per distinct setting: `workers` processes; a call runs at most timeout_s seconds (a
    # verifier's own `timeout` option may lower it, never raise it) after waiting at most
    # queue_timeout_s for a free worker (else the row is "busy": timed_out=1, not a verdict); a
    # worker over memory_limit_mb is a counted error
    "bounded": {"workers": 2, "timeout_s": 2.0, "memory_limit_mb": 3072, "queue_timeout_s": 60.0},
    # the LLM judge for descriptive answers (wethink_verl.judge; README "LLM judge")
    "judge": {
        "enable": False,
        # when the judge is off or its endpoint fails (unreachable, timeout, 429, 5xx, circuit open):
        # a verifier name, "zero" or "fixed". A reply without a valid verdict and a request the
        # endpoint refused (4xx) score 0 instead: the candidate's text can cause those
        "fallback": "text",
        "fallback_score": 0.0,
        # where verdicts come from: "http" (judge.url), "router" (verl's reward-model pool: the
        # reward_router_address verl hands the reward function), "ray" (our Ray judge service,
        # judge.ray.*), or "auto" (router when verl passes an address, else http when url is set,
        # else ray when judge.ray.model is set)
        "backend": "auto",
        # OpenAI-compatible base URL: "http://host:8000/v1", "https://api.deepseek.com" or a full
        # ".../chat/completions" URL
        "url": None,
        # the "model" field; null asks the endpoint (GET /v1/models, first id) and omits the field
        # if that fails (vLLM and SGLang then use their only model)
        "model": None,
        # name of the environment variable holding the API key (sent as a Bearer token; never logged)
        "api_key_env": None,
        # a built-in template name ("default", "short") or a path to a template file
        "template": "default",
        # the verdict scale: the judge must answer <score>T</score> with T one of these (in [0, 1])
        "tiers": [0.0, 0.5, 1.0],
        # sampling; request_kwargs are merged into every request body (e.g. {"seed": 0})
        "temperature": 0.0,
        "max_tokens": 256,
        "request_kwargs": {},
        # a longer reply body is not read (the verdict is then unparseable, scored 0: see fallback)
        "max_reply_bytes": 1048576,
        # seconds per request; the whole item (retries and backoff included) gets total_timeout_s
        # (null: timeout_s * (max_retries + 1) + backoff_max_s * max_retries)
        "timeout_s": 60.0,
        "total_timeout_s": None,
        # retries on timeouts, 429, 5xx, connection errors and bad bodies, with jittered
        # exponential backoff from backoff_s up to backoff_max_s (a 429's Retry-After is honoured)
        "max_retries": 3,
        "backoff_s": 0.5,
        "backoff_max_s": 8.0,
        # extra requests for a reply without a valid verdict (useful with temperature > 0)
        "parse_retries": 1,
        # requests in flight per judge and event loop (also the HTTP connection pool size)
        "concurrency": 64,
        # verdicts remembered for identical (question, reference, answer[, image][, reasoning])
        # items; identical items in flight share one request. 0 disables the cache.
        "cache_size": 65536,
        # length caps (characters) for what goes into the prompt
        "max_question_chars": 4000,
        "max_reference_chars": 4000,
        "max_answer_chars": 2000,
        # send the candidate's <think> reasoning too (tail-capped); it then joins the dedupe key
        "include_reasoning": False,
        "max_reasoning_chars": 2000,
        # send the image as an OpenAI image_url data URL (vision-language judges only: a text-only
        # endpoint rejects image parts); relative image paths are resolved against image_dir
        "include_image": False,
        "image_dir": None,
        # stop calling an endpoint once `failures` consecutive requests failed (timeouts, 429, 5xx,
        # connection errors) and nothing succeeded for down_s seconds: items then fall back at once
        # for reset_s seconds, then one probe request decides. failures <= 0 disables
        "circuit_breaker": {"failures": 10, "down_s": 10.0, "reset_s": 30.0},
        # our Ray judge service (backend "ray"): a named actor, created on first use when
        # ray.model is set and no actor of that name exists
        "ray": {
            "name": "wethink_judge",
            "namespace": "wethink",
            # Ray cluster to join when Ray is not initialised yet ("auto", "local" or an address)
            "address": "auto",
            "model": None,  # a local model directory or hub id; null: only connect, never create
            "engine": "auto",  # "auto" (vllm on a GPU when importable, else transformers) | "vllm" | "transformers" | "demo-grader" (the CPU demo's fitted grader)
            "max_batch_size": 16,  # dynamic batching: up to this many requests per generate call
            "max_wait_ms": 10.0,  # how long the first request of a batch waits for company
            "num_cpus": 1,
            "num_gpus": 0,
            "max_restarts": 3,  # Ray restarts a crashed service this many times (-1: forever)
            "detached": False,  # outlive the creating process (`wethink-verl judge serve` sets it)
            "dtype": "auto",  # "auto": bfloat16 on a GPU, float32 on CPU
            "max_input_tokens": 4096,  # longer prompts fail (client_error) instead of truncating
            "engine_kwargs": {},  # extra kwargs for vllm.LLM(...) or from_pretrained(...)
        },
    },
}  # fmt: skip


class ConfigError(ValueError):
    """The reward config has problems; ``problems`` lists each as "key: what is wrong"."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        n = len(self.problems)
        super().__init__(f"reward config: {n} problem{'s' if n != 1 else ''}: " + "; ".join(self.problems))


# ---- the schema: DEFAULTS' types + one rule per key that needs more -------------------------------
@dataclass(frozen=True)
class Rule:
    """What a key accepts beyond its default's type. ``kind``: "number" (int or float), "int",
    "bool", "str", "list", "mapping" or "any"; None: the default's type (``any`` for a null default)."""

    kind: str | None = None
    nullable: bool = False
    min: float | None = None  # inclusive
    gt: float | None = None  # exclusive lower bound
    max: float | None = None  # inclusive
    choices: tuple = ()
    table: bool = False  # a mapping with free keys (routing tables, request kwargs)
    check: Callable[[Any, Mapping], str | None] | None = None  # extra check -> a problem or None


def _verifier_problem(name: Any, cfg: Mapping, extra: tuple[str, ...] = ()) -> str | None:
    """None when ``name`` is a verifier (registered, an alias, importable "pkg.mod:fn") or in ``extra``."""
    if not isinstance(name, str) or not name.strip():
        return f"must be a verifier name, got {name!r}"
    if name in extra or name in (cfg.get("aliases") or {}):
        return None
    from ..verifiers.registry import available, get_verifier

    try:
        get_verifier(name)
    except KeyError as e:
        known = sorted(set(available()) | set(extra) | set(cfg.get("aliases") or {}))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{e.args[0]}{hint}" if ":" in name else f"unknown verifier {name!r}{hint}; known: {', '.join(known)}"
    return None


def _route_values(*extra: str) -> Callable[[Any, Mapping], str | None]:
    def check(table: Any, cfg: Mapping) -> str | None:
        problems = []
        for k, v in table.items():
            why = _verifier_problem(v, cfg, extra)
            if why:
                problems.append(f"{k!r} -> {why}")
        return "; ".join(problems) or None

    return check


def _one_route(*extra: str) -> Callable[[Any, Mapping], str | None]:
    return lambda value, cfg: _verifier_problem(value, cfg, extra)


def _format_rule(value: Any, cfg: Mapping) -> str | None:
    if value in ("wethink", "format", "none"):
        return None
    if isinstance(value, str) and ":" in value:
        return _verifier_problem(value, cfg)
    return f"must be 'wethink', 'none' or 'pkg.module:function', got {value!r}"


def _aliases(table: Any, cfg: Mapping) -> str | None:
    problems = [f"{k!r} -> {why}" for k, v in table.items() if (why := _verifier_problem(v, {}, ()))]
    return "; ".join(problems) or None


def _verifier_options(table: Any, cfg: Mapping) -> str | None:
    """``verifiers.<name>``: a mapping of options for a known verifier or alias; the option values
    are checked by ``verifiers.registry.validate_options`` where that exists."""
    from ..verifiers import registry

    validate = getattr(registry, "validate_options", None)
    problems = []
    for name, options in table.items():
        why = _verifier_problem(name, cfg)
        if why:
            problems.append(f"{name}: {why}")
        elif not isinstance(options, Mapping):
            problems.append(f"{name}: must be a mapping of options, got {type(options).__name__}")
        elif validate is not None:
            target = (cfg.get("aliases") or {}).get(name, name)
            try:
                validate(target, dict(options))
            except (ValueError, TypeError) as e:
                problems.append(f"{name}: {e}")
    return "; ".join(problems) or None


def _tiers(value: Any, cfg: Mapping) -> str | None:
    if len(value) < 2 or not all(_is_number(t) and 0.0 <= t <= 1.0 for t in value):
        return f"must be at least two numbers in [0, 1], got {value!r}"
    return None


_JUDGE_FALLBACK_EXTRA = ("zero", "fixed")

RULES: dict[str, Rule] = {
    "accuracy_weight": Rule(min=0),
    "format_weight": Rule(min=0),
    "format_rule": Rule(check=_format_rule),
    "format.think_prefilled": Rule(kind="any", choices=("auto", True, False)),
    "format.min_think_chars": Rule(min=0),
    "routing.reward": Rule(table=True, check=_route_values("category", "judge", "auto")),
    "routing.category": Rule(table=True, check=_route_values("judge", "auto")),
    "routing.on_unmapped": Rule(check=_one_route("auto", "error")),
    "routing.default": Rule(check=_one_route("auto", "judge")),
    "verifiers": Rule(table=True, check=_verifier_options),
    "aliases": Rule(table=True, check=_aliases),
    "bounded.workers": Rule(min=1),
    "bounded.timeout_s": Rule(gt=0),
    "bounded.memory_limit_mb": Rule(kind="int", nullable=True, min=0),  # 0 / null: no limit
    "judge.fallback": Rule(check=_one_route(*_JUDGE_FALLBACK_EXTRA)),
    "judge.fallback_score": Rule(min=0, max=1),
    "judge.backend": Rule(choices=("auto", "http", "router", "ray")),
    "judge.url": Rule(kind="str", nullable=True),
    "judge.model": Rule(kind="str", nullable=True),
    "judge.api_key_env": Rule(kind="str", nullable=True),
    "judge.tiers": Rule(check=_tiers),
    "judge.temperature": Rule(min=0),
    "judge.max_tokens": Rule(min=1),
    "judge.request_kwargs": Rule(table=True),
    "judge.timeout_s": Rule(gt=0),
    "judge.total_timeout_s": Rule(kind="number", nullable=True, gt=0),
    "judge.max_retries": Rule(min=0),
    "judge.backoff_s": Rule(min=0),
    "judge.backoff_max_s": Rule(min=0),
    "judge.parse_retries": Rule(min=0),
    "judge.concurrency": Rule(min=1),
    "judge.cache_size": Rule(min=0),
    "judge.max_question_chars": Rule(min=1),
    "judge.max_reference_chars": Rule(min=1),
    "judge.max_answer_chars": Rule(min=1),
    "judge.max_reasoning_chars": Rule(min=1),
    "judge.image_dir": Rule(kind="str", nullable=True),
    "judge.circuit_breaker.down_s": Rule(min=0),
    "judge.circuit_breaker.reset_s": Rule(min=0),
    "judge.ray.model": Rule(kind="str", nullable=True),
    "judge.ray.engine": Rule(choices=("auto", "vllm", "transformers")),
    "judge.ray.max_batch_size": Rule(min=1),
    "judge.ray.max_wait_ms": Rule(min=0),
    "judge.ray.num_cpus": Rule(min=0),
    "judge.ray.num_gpus": Rule(min=0),
    "judge.ray.max_restarts": Rule(min=-1),
    "judge.ray.max_input_tokens": Rule(min=1),
    "judge.ray.engine_kwargs": Rule(table=True),
}  # fmt: skip


_NO_RULE = Rule()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _kind_of(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "number"
    if isinstance(default, str):
        return "str"
    if isinstance(default, (list, tuple)):
        return "list"
    if isinstance(default, Mapping):
        return "mapping"
    return "any"


_KIND_OK: dict[str, Callable[[Any], bool]] = {
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, (list, tuple)),
    "mapping": lambda v: isinstance(v, Mapping),
    "any": lambda v: True,
}
_KIND_NAME = {"bool": "true or false", "int": "an integer", "number": "a number", "str": "a string",
              "list": "a list", "mapping": "a mapping", "any": "anything"}  # fmt: skip


def _suggest(key: str, path: str, siblings: list[str]) -> str:
    close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {path + close[0]!r}?)"
    elsewhere = [p for p in _leaf_paths(DEFAULTS) if p.rsplit(".", 1)[-1] == key]
    return f" (did you mean {' or '.join(repr(p) for p in elsewhere)}?)" if elsewhere else ""


def _leaf_paths(tree: Mapping, prefix: str = "") -> list[str]:
    out = []
    for k, v in tree.items():
        path = prefix + k
        out += _leaf_paths(v, path + ".") if isinstance(v, Mapping) and v and path not in RULES else [path]
    return out


def _check_value(path: str, value: Any, default: Any, cfg: Mapping, problems: list[str]) -> None:
    rule = RULES.get(path, _NO_RULE)
    kind = rule.kind or _kind_of(default)
    if value is None and (rule.nullable or (default is None and rule.kind is None)):
        return
    if rule.choices and value not in rule.choices:
        problems.append(f"{path}: must be one of {', '.join(repr(c) for c in rule.choices)}, got {value!r}")
        return
    if not _KIND_OK[kind](value):
        problems.append(f"{path}: must be {_KIND_NAME[kind]}{' or null' if rule.nullable else ''}, got {value!r} ({type(value).__name__})")
        return
    if _is_number(value):
        if rule.min is not None and value < rule.min:
            problems.append(f"{path}: must be >= {rule.min:g}, got {value!r}")
            return
        if rule.gt is not None and value <= rule.gt:
            problems.append(f"{path}: must be > {rule.gt:g}, got {value!r}")
            return
        if rule.max is not None and value > rule.max:
            problems.append(f"{path}: must be <= {rule.max:g}, got {value!r}")
            return
    if kind == "mapping" and not rule.table:
        _check_section(path + ".", value, default or {}, cfg, problems)
    if rule.check is not None:
        why = rule.check(value, cfg)
        if why:
            problems.append(f"{path}: {why}")


def _check_section(prefix: str, section: Mapping, defaults: Mapping, cfg: Mapping, problems: list[str]) -> None:
    for key, value in section.items():
        if key not in defaults:
            problems.append(f"{prefix}{key}: unknown key{_suggest(key, prefix, list(defaults))}")
            continue
        _check_value(prefix + key, value, defaults[key], cfg, problems)


def validate_config(cfg: Mapping) -> None:
    """Raise :class:`ConfigError` listing every problem of a merged config (see the module doc)."""
    problems: list[str] = []
    _check_section("", cfg, DEFAULTS, cfg, problems)
    weights = (cfg.get("accuracy_weight"), cfg.get("format_weight"))
    if all(_is_number(w) for w in weights) and sum(weights) <= 0:
        problems.append("accuracy_weight, format_weight: must not both be 0")
    if problems:
        raise ConfigError(problems)


def reward_range(cfg: Mapping) -> tuple[float, float]:
    """The (lowest, highest) reward a sample can get under ``cfg``'s weights."""
    from .compose import overall

    fmt_term = not cfg.get("answer_only") and cfg.get("format_rule") != "none"
    fmt = 1.0 if fmt_term else None
    return overall(0.0, 0.0 if fmt_term else None, cfg), overall(1.0, fmt, cfg)


def describe_reward_range(cfg: Mapping) -> str:
    lo, hi = reward_range(cfg)
    terms = f"{cfg['accuracy_weight']:g}·accuracy + {cfg['format_weight']:g}·format"
    if cfg.get("answer_only") or cfg.get("format_rule") == "none":
        terms = "accuracy (no format term)"
    note = "" if (lo, hi) == (0.0, 1.0) else " (WeThink's 0.7/0.3 gives [0, 1])"
    return f"reward = {terms}, in [{lo:g}, {hi:g}]{note}"


def _set_dotted(target: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ValueError(f"config key {key!r} runs through a non-mapping value")
    target[parts[-1]] = value


def _plain(value: Any) -> Any:
    """OmegaConf DictConfig/ListConfig (and other mappings) to plain dicts/lists."""
    if hasattr(value, "items") and callable(value.items):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return [_plain(v) for v in value]
    return value


def deep_merge(base: Mapping, override: Mapping) -> dict:
    out = copy.deepcopy(_plain(base))  # a DictConfig inside base must merge, not be replaced
    for key, value in _plain(override).items():
        if "." in key:
            nested: dict = {}
            _set_dotted(nested, key, value)
            out = deep_merge(out, nested)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def build_config(*overrides: Mapping | None) -> dict:
    """DEFAULTS merged with each override in turn (later wins), validated (:class:`ConfigError`)."""
    cfg = copy.deepcopy(DEFAULTS)
    for override in overrides:
        if override:
            cfg = deep_merge(cfg, override)
    validate_config(cfg)
    return cfg
