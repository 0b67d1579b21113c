"""The reward configuration: one nested mapping with WeThink's defaults.

Every key can be set from verl (``+reward.reward_kwargs.<key>=…`` for the ``wethink`` manager,
``+reward.custom_reward_function.reward_kwargs.<key>=…`` for ``compute_score``), from EasyR1
(``worker.reward.reward_function_kwargs.<key>=…``) or from a YAML file (``--config``).
Dotted keys are accepted: ``{"judge.enable": true}`` equals ``{"judge": {"enable": true}}``.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

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
    # the hard bound around expensive verifier work (math-verify and user verifiers)
    "bounded": {"workers": 2, "timeout_s": 2.0, "memory_limit_mb": 3072},
    # the LLM judge for descriptive answers (wethink_verl.judge; README "LLM judge")
    "judge": {
        "enable": False,
        # when the judge is off or cannot answer: a verifier name, "zero" or "fixed"
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
            "engine": "auto",  # "auto" (vllm on a GPU when importable, else transformers) | "vllm" | "transformers"
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
    """DEFAULTS merged with each override in turn (later wins)."""
    cfg = copy.deepcopy(DEFAULTS)
    for override in overrides:
        if override:
            cfg = deep_merge(cfg, override)
    weights = (cfg["accuracy_weight"], cfg["format_weight"])
    if any(not isinstance(w, (int, float)) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"accuracy_weight and format_weight must be >= 0 and not both 0, got {weights}")
    if cfg["routing"]["on_unmapped"] not in ("auto", "error") and not isinstance(cfg["routing"]["on_unmapped"], str):
        raise ValueError("routing.on_unmapped must be 'auto', 'error' or a verifier name")
    return cfg
