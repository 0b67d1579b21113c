"""The reward config schema (DEFAULTS' types + RULES), checked once up front for every surface:
the score CLI (tests/test_score_cli.py), verl's reward_kwargs (the manager and compute_score) and
EasyR1's reward_function_kwargs (the reward file loaded the way EasyR1 loads it)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from functools import partial

import pytest

from wethink_verl.reward.config import DEFAULTS, RULES, ConfigError, RewardConfig, build_config, reward_range
from wethink_verl.settings import leaf_paths


@pytest.mark.parametrize(
    "override, problem",
    [
        ({"nosuchkey": 1}, "nosuchkey: unknown key"),
        ({"timeout_s": 3}, "did you mean 'bounded.timeout_s' or 'judge.timeout_s'?"),
        ({"judge": {"timout_s": 3}}, "judge.timout_s: unknown key (did you mean 'judge.timeout_s'?)"),
        ({"judge.ray.enigne": "vllm"}, "did you mean 'judge.ray.engine'?"),
        ({"accuracy_weight": "0.7"}, "accuracy_weight: must be a number"),
        ({"accuracy_weight": -0.1}, "accuracy_weight: must be >= 0"),
        ({"accuracy_weight": 0, "format_weight": 0}, "must not both be 0"),
        ({"boxed_fallback": "yes"}, "boxed_fallback: must be true or false"),
        ({"bounded": {"workers": 0}}, "bounded.workers: must be >= 1"),
        ({"bounded": {"workers": 1.5}}, "bounded.workers: must be an integer"),
        ({"bounded": {"timeout_s": 0}}, "bounded.timeout_s: must be > 0"),
        ({"judge": {"fallback": "bogus"}}, "judge.fallback: unknown verifier 'bogus'"),
        ({"judge": {"fallback_score": 2}}, "judge.fallback_score: must be <= 1"),
        ({"judge": {"backend": "grpc"}}, "judge.backend: must be one of"),
        ({"judge": {"tiers": [0, 2]}}, "judge.tiers: must be at least two numbers in [0, 1]"),
        ({"judge": {"url": 8000}}, "judge.url: must be a string or null"),
        ({"judge": {"total_timeout_s": -1}}, "judge.total_timeout_s: must be > 0"),
        ({"judge": {"ray": {"max_restarts": -2}}}, "judge.ray.max_restarts: must be >= -1"),
        ({"format": {"think_prefilled": "yes"}}, "format.think_prefilled: must be one of 'auto', True, False"),
        ({"format_rule": "strict"}, "format_rule: must be 'wethink', 'none' or 'pkg.module:function'"),
        ({"routing": {"category": {"ocr": "txt"}}}, "routing.category: 'ocr' -> unknown verifier 'txt' (did you mean 'text'?)"),
        ({"routing": {"on_unmapped": "eror"}}, "routing.on_unmapped: unknown verifier 'eror' (did you mean 'error'?)"),
        ({"verifiers": {"nmber": {"rel_tol": 0.1}}}, "verifiers: nmber: unknown verifier 'nmber' (did you mean 'number'?)"),
        ({"verifiers": {"number": 0.1}}, "verifiers: number: must be a mapping of options"),
        ({"aliases": {"text": "no_such_module:fn"}}, "aliases: 'text' -> cannot import verifier 'no_such_module:fn'"),
    ],
)
def test_each_mistake_is_named(override, problem):
    with pytest.raises(ConfigError) as err:
        build_config(override)
    assert problem in str(err.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        build_config({"nosuchkey": 1, "bounded": {"timeout_s": -1}, "judge": {"concurrency": 0}})
    assert len(err.value.problems) == 3 and str(err.value).startswith("reward config: 3 problems: ")


def test_valid_configs_pass_and_open_tables_stay_open():
    cfg = build_config(
        {"routing": {"category": {"my new category": "text", "essay": "judge"}, "reward": {"custom": "category"}},
         "judge": {"request_kwargs": {"seed": 0, "anything": {"nested": True}}, "ray": {"engine_kwargs": {"max_model_len": 8192}},
                   "fallback": "zero", "total_timeout_s": None, "model": "m"},
         "verifiers": {"number": {"rel_tol": 0.01}}, "aliases": {"choice": "text"}, "format": {"think_prefilled": True},
         "bounded.memory_limit_mb": None, "routing.on_unmapped": "error"}
    )  # fmt: skip
    assert cfg["judge"]["request_kwargs"]["anything"] == {"nested": True}
    assert reward_range(cfg) == (0.0, 1.0)


def test_the_schema_covers_every_default_and_every_rule_names_a_default():
    """A key added to DEFAULTS is validated by its default's type with no other change; a rule
    for a key that does not exist is a mistake in the table."""
    for path in RULES:
        node = DEFAULTS
        for part in path.split("."):
            assert part in node, f"RULES names {path!r}, which is not in DEFAULTS"
            node = node[part]
    assert "judge.ray.model" in leaf_paths(RewardConfig) and "routing.category" in leaf_paths(RewardConfig)


def test_reward_range_follows_the_weights():
    assert reward_range(build_config({"accuracy_weight": 5})) == (0.0, 5.3)
    assert reward_range(build_config({"answer_only": True, "accuracy_weight": 2})) == (0.0, 1.0)  # no format term: accuracy


# ---- verl: reward_kwargs ------------------------------------------------------------------------
def test_verl_manager_refuses_a_bad_reward_kwargs_at_construction(qwen_tokenizer_dir):
    pytest.importorskip("verl")
    from transformers import AutoTokenizer

    from wethink_verl.testing.verl_batch import compose_verl_config
    from wethink_verl.integrations.verl_manager import WeThinkRewardManager

    tok = AutoTokenizer.from_pretrained(qwen_tokenizer_dir)
    cfg = compose_verl_config(["+reward.reward_kwargs.judge.timout_s=5", "+reward.reward_kwargs.format_weight=-1"])
    with pytest.raises(ConfigError) as err:
        WeThinkRewardManager(config=cfg, tokenizer=tok, compute_score=None)
    assert "judge.timout_s: unknown key (did you mean 'judge.timeout_s'?)" in str(err.value)
    assert "format_weight: must be >= 0" in str(err.value)


def test_verl_compute_score_refuses_bad_kwargs():
    pytest.importorskip("verl")
    from wethink_verl.integrations.verl import compute_score

    with pytest.raises(ConfigError, match="bounded.workers: must be >= 1"):
        compute_score("wethink", "<think>x</think><answer>B</answer>", "B", {}, **{"bounded": {"workers": -3}})


# ---- EasyR1: reward_function_kwargs -------------------------------------------------------------
def test_easyr1_reward_file_refuses_bad_kwargs():
    path = subprocess.run([sys.executable, "-m", "wethink_verl.cli", "easyr1-reward-path"], capture_output=True, text=True, check=True).stdout.strip()
    spec = importlib.util.spec_from_file_location("custom_reward_fn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = partial(module.compute_score, **{"acuracy_weight": 0.5, "judge": {"fallback": "bogus"}})
    with pytest.raises(ConfigError) as err:
        fn([{"response": "<think>x</think><answer>B</answer>", "response_length": 9, "ground_truth": "B"}])
    assert "acuracy_weight: unknown key (did you mean 'accuracy_weight'?)" in str(err.value)
    assert "judge.fallback: unknown verifier 'bogus'" in str(err.value)


# ---- the config as frozen, documented dataclasses -----------------------------------------------
def test_every_default_is_documented_and_the_plain_defaults_round_trip():
    import json
    from dataclasses import fields

    from wethink_verl.reward.config import load_config
    from wethink_verl.settings import Settings, doc_of

    def undocumented(cls, prefix=""):
        out = []
        for f in fields(cls):
            if not doc_of(f).strip():
                out.append(prefix + f.name)
            if isinstance(f.default, Settings):
                out += undocumented(type(f.default), f"{prefix}{f.name}.")
        return out

    assert undocumented(RewardConfig) == []
    assert len(leaf_paths(RewardConfig)) > 60
    assert json.loads(json.dumps(DEFAULTS)) == DEFAULTS  # plain data, no frozen leftovers
    override = {"judge": {"request_kwargs": {"stop": ["</score>"]}, "tiers": [0, 1]}, "verifiers": {"number": {"rel_tol": 0.01}}}
    assert load_config(override).to_dict() == build_config(override)


def test_the_config_is_frozen_and_hashable_and_equal_configs_share_one_scorer():
    from dataclasses import FrozenInstanceError

    from wethink_verl.integrations.scorers import get_scorer
    from wethink_verl.reward.config import load_config

    cfg = load_config({"judge": {"request_kwargs": {"seed": 0, "stop": ["x"]}}})
    assert hash(cfg) == hash(load_config({"judge.request_kwargs": {"stop": ["x"], "seed": 0}}))
    with pytest.raises(FrozenInstanceError):
        cfg.format_weight = 1.0
    with pytest.raises(TypeError):
        cfg.judge.request_kwargs["seed"] = 1  # an open table is read-only too
    assert get_scorer({}) is get_scorer({"format_weight": 0.3}) is get_scorer({"judge": {"timeout_s": 60.0}})  # one config, spelled three ways
    assert get_scorer({"format_weight": 0.4, "accuracy_weight": 0.6}) is not get_scorer({})
    assert get_scorer({}).config == RewardConfig.from_mapping({}) == load_config()


def test_the_judge_section_validates_on_its_own_without_the_reward_stack():
    code = (
        "import sys\n"
        "from wethink_verl.judge.config import JudgeConfig\n"
        "from wethink_verl.settings import ConfigError\n"
        "cfg = JudgeConfig.from_mapping({'enable': True, 'url': 'http://x', 'rate_limit': {'requests_per_minute': 60}})\n"
        "assert cfg.rate_limit.requests_per_minute == 60 and cfg.ray.name == 'wethink_judge' and hash(cfg)\n"
        "try:\n"
        "    JudgeConfig.from_mapping({'timout_s': 1, 'rescue': {'by_category': {'ocr': 'always'}}, 'ray': {'engine': 'tf'}})\n"
        "except ConfigError as e:\n"
        "    print(e)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('wethink_verl.reward', 'wethink_verl.verifiers'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "reward config: 3 problems: " in out
    assert "judge.timout_s: unknown key (did you mean 'judge.timeout_s'?)" in out
    assert "judge.rescue.by_category: values must be one of 'off', 'abstain': 'ocr' -> 'always'" in out
    assert "judge.ray.engine: must be one of 'auto', 'vllm', 'transformers', 'demo-grader', got 'tf'" in out
    assert out.rstrip().endswith("[]")  # neither the reward stack nor a verifier was imported
