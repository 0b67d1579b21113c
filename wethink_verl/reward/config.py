"""The reward configuration: frozen, documented dataclasses with WeThink's defaults.

Every key can be set from verl (``+reward.reward_kwargs.<key>=…`` for the ``wethink`` manager,
``+reward.custom_reward_function.reward_kwargs.<key>=…`` for ``compute_score``), from EasyR1
(``worker.reward.reward_function_kwargs.<key>=…``) or from a YAML file (``--config``).
Dotted keys are accepted: ``{"judge.enable": true}`` equals ``{"judge": {"enable": true}}``.

:class:`RewardConfig` is assembled from the parts: the format options, the routing tables (their
defaults are the row contract's, ``wethink_verl.rows``), the verifier options and aliases, the
bounded pool and the judge's own section (``wethink_verl.judge.config.JudgeConfig``). Each field
holds its default, its documentation and its rule (``wethink_verl.settings``); ``DEFAULTS`` is the
plain nested dict derived from them.

``build_config`` validates the whole merged config once: every problem (an unknown key with a
"did you mean", a wrong type, a value out of range) is reported together in one
:class:`ConfigError`, before anything is scored. ``load_config`` (or ``RewardConfig.from_mapping``)
returns the frozen, hashable instance the scorer reads.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping  # (typing.Mapping's isinstance is several times slower)
from dataclasses import dataclass, fields
from typing import Any, Callable

from ..judge.config import JUDGE_FALLBACK_EXTRA, RESCUE_POLICIES, JudgeConfig  # noqa: F401 - RESCUE_POLICIES: public here before
from ..rows import CATEGORY_ROUTES, REWARD_ROUTES, WETHINK_SYSTEM_PROMPT  # noqa: F401 - the prompt: public here before
from ..settings import NO_RULE, ConfigError, FrozenDict, Rule, Settings, build, deep_merge, defaults_of, is_number
from ..settings import problems_of, section, setting

__all__ = ["DEFAULTS", "RULES", "ConfigError", "RewardConfig", "WETHINK_SYSTEM_PROMPT", "build_config", "deep_merge",
           "describe_reward_range", "load_config", "reward_range", "validate_config"]  # fmt: skip


# ---- checks that need the verifier registry --------------------------------------------------------
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


# ---- the parts ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FormatConfig(Settings):
    """Options of the built-in format check (``format_rule`` "wethink"), passed to a custom rule too."""

    SECTION = "format"
    think_prefilled: Any = setting("auto", "whether the chat template already opened <think> (the response then starts "
                                   'inside it): "auto" (accept both), true or false', kind="any", choices=("auto", True, False))  # fmt: skip
    min_think_chars: int = setting(0, "the reasoning's minimum length (characters) for the format to pass", min=0)


@dataclass(frozen=True)
class RoutingConfig(Settings):
    """Per-sample routing (``reward.router``): the row's ``reward`` then ``category`` field, looked
    up in these tables (keys matched case-insensitively, -, _ and spaces alike)."""

    SECTION = "routing"
    reward: FrozenDict = setting(REWARD_ROUTES, 'the row\'s `reward` field -> a verifier, "judge", "auto" or "category" '
                                 '("let the category decide")', check=_route_values("category", "judge", "auto"))  # fmt: skip
    category: FrozenDict = setting(CATEGORY_ROUTES, 'the row\'s `category` field -> a verifier, "judge" or "auto"',
                                   check=_route_values("judge", "auto"))  # fmt: skip
    on_unmapped: str = setting("auto", 'a value found in neither table: "auto" (decide by the ground truth\'s shape, '
                               'counted and logged as unmapped), "error" (score 0 with an error), or a verifier name',
                               check=_one_route("auto", "error"))  # fmt: skip
    default: str = setting("auto", 'neither field present: "auto", "judge" or a verifier name', check=_one_route("auto", "judge"))


@dataclass(frozen=True)
class BoundedConfig(Settings):
    """The hard bound around expensive verifier work (math-verify and user verifiers), per process
    and per distinct setting."""

    SECTION = "bounded"
    workers: int = setting(2, "worker processes", min=1)
    timeout_s: float = setting(2.0, "a call runs at most this long (a verifier's own `timeout` option may lower it, "
                               "never raise it)", gt=0)  # fmt: skip
    memory_limit_mb: int | None = setting(3072, "a worker over it is a counted error (0 / null: no limit)", kind="int", nullable=True, min=0)
    queue_timeout_s: float = setting(60.0, 'the longest wait for a free worker (else the row is "busy": timed_out=1, not a verdict)')


@dataclass(frozen=True)
class RewardConfig(Settings):
    """WeThink's reward: overall = accuracy_weight * accuracy + format_weight * format."""

    accuracy_weight: float = setting(0.7, "the accuracy term's weight (WeThink: 0.7)", min=0)
    format_weight: float = setting(0.3, "the format term's weight (WeThink: 0.3)", min=0)
    format_rule: str = setting("wethink", '"wethink": <think>…</think><answer>…</answer>; "none": no format term; or "pkg.mod:fn"',
                               check=_format_rule)  # fmt: skip
    format: FormatConfig = section(FormatConfig, "the format check's options")
    require_format_for_accuracy: bool = setting(False, "accuracy counts only when the format passes (off in WeThink: the terms add up)")
    boxed_fallback: bool = setting(True, r"read \boxed{} after the reasoning when there is no <answer> block")
    answer_only: bool = setting(False, "the response is already the answer (no <answer> block, no format term)")
    routing: RoutingConfig = section(RoutingConfig, "which verifier (or the judge) checks a row")
    verifiers: FrozenDict = setting({}, 'default options per verifier, e.g. {"number": {"rel_tol": 0.01}, "iou": '
                                    '{"iou_threshold": null}}', check=_verifier_options)  # fmt: skip
    aliases: FrozenDict = setting({}, 'swap an implementation: {"text": "mypkg.rewards:my_text"} or {"choice": "text"}', check=_aliases)
    bounded: BoundedConfig = section(BoundedConfig, "the bounded worker pool of expensive verifiers")
    judge: JudgeConfig = section(JudgeConfig, "the LLM judge for descriptive answers (wethink_verl.judge; README \"LLM judge\")")

    @classmethod
    def from_mapping(cls, mapping: Mapping | None = None) -> "RewardConfig":
        """The validated config for overrides ``mapping`` over the defaults (see :func:`build_config`)."""
        if isinstance(mapping, cls):
            return mapping
        return build(cls, build_config(mapping))


# Rules of the assembled config beyond its parts': a judge fallback other than "zero"/"fixed" must
# name a verifier (the judge knows no verifiers; the reward config does)
_EXTRA_RULES = {"judge.fallback": Rule(check=_one_route(*JUDGE_FALLBACK_EXTRA))}


def _rules_of(cls: type, prefix: str = "") -> dict[str, Rule]:
    out: dict[str, Rule] = {}
    for f in fields(cls):
        if isinstance(f.default, Settings):
            out.update(_rules_of(type(f.default), f"{prefix}{f.name}."))
        elif f.metadata.get("rule", NO_RULE) != NO_RULE:
            out[prefix + f.name] = f.metadata["rule"]
    return out


DEFAULTS: dict[str, Any] = defaults_of(RewardConfig)
RULES: dict[str, Rule] = {**_rules_of(RewardConfig), **_EXTRA_RULES}  # every key with a rule beyond its type


def validate_config(cfg: Mapping) -> None:
    """Raise :class:`ConfigError` listing every problem of a merged config (see the module doc)."""
    problems = problems_of(RewardConfig, cfg, rules=_EXTRA_RULES)
    weights = (cfg.get("accuracy_weight"), cfg.get("format_weight"))
    if all(is_number(w) for w in weights) and sum(weights) <= 0:
        problems.append("accuracy_weight, format_weight: must not both be 0")
    if problems:
        raise ConfigError(problems)


def build_config(*overrides: Mapping | None) -> dict:
    """DEFAULTS merged with each override in turn (later wins), validated (:class:`ConfigError`)."""
    cfg = defaults_of(RewardConfig)
    for override in overrides:
        if override:
            cfg = deep_merge(cfg, override)
    validate_config(cfg)
    return cfg


def load_config(*overrides: Mapping | None) -> RewardConfig:
    """The frozen :class:`RewardConfig` for ``overrides`` (validated as :func:`build_config` does)."""
    if len(overrides) == 1 and isinstance(overrides[0], RewardConfig):
        return overrides[0]
    return build(RewardConfig, build_config(*overrides))


def reward_range(cfg: RewardConfig | Mapping) -> tuple[float, float]:
    """The (lowest, highest) reward a sample can get under ``cfg``'s weights."""
    from .compose import overall

    cfg = load_config(cfg)
    fmt_term = not cfg.answer_only and cfg.format_rule != "none"
    fmt = 1.0 if fmt_term else None
    return overall(0.0, 0.0 if fmt_term else None, cfg), overall(1.0, fmt, cfg)


def describe_reward_range(cfg: RewardConfig | Mapping) -> str:
    cfg = load_config(cfg)
    lo, hi = reward_range(cfg)
    terms = f"{cfg.accuracy_weight:g}·accuracy + {cfg.format_weight:g}·format"
    if cfg.answer_only or cfg.format_rule == "none":
        terms = "accuracy (no format term)"
    note = "" if (lo, hi) == (0.0, 1.0) else " (WeThink's 0.7/0.3 gives [0, 1])"
    return f"reward = {terms}, in [{lo:g}, {hi:g}]{note}"
