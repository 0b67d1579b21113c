"""The EasyR1 reward file against EasyR1's documented contract, without importing EasyR1 (both
packages are called `verl`; they can never share an environment).

EasyR1 (`verl/workers/reward/function.py`) loads the file with
`importlib.util.spec_from_file_location("custom_reward_fn", path)`, registers it in sys.modules,
reads `REWARD_TYPE`, wraps the function in `partial(fn, **reward_function_kwargs)` and calls it with
a list of `{"response", "response_length", "ground_truth"}`; it puts `score["overall"]` at the last
token and reduces every returned key with `np.mean`.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from functools import partial

import numpy as np
import pytest
from verl_rows import example_rows, expected

from wethink_verl.rows import pack_ground_truth


def _load_like_easyr1(path: str):
    spec = importlib.util.spec_from_file_location("custom_reward_fn", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_reward_fn"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop("custom_reward_fn", None)
    return module


@pytest.fixture(scope="module")
def reward_path() -> str:
    out = subprocess.run([sys.executable, "-m", "wethink_verl.cli", "easyr1-reward-path"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _inputs(rows):
    out = []
    for row in rows:
        extra = row["extra_info"]
        gt = pack_ground_truth(
            row["ground_truth"] if row["ground_truth"] is not None else "",
            category=extra.get("category"), reward=extra.get("reward"), problem=extra.get("problem"),
            verifier=extra.get("verifier"), verifier_kwargs=extra.get("verifier_kwargs"),
        )  # fmt: skip
        out.append({"response": row["response"], "response_length": len(row["response"]), "ground_truth": gt})
    return out


def test_reward_file_contract_with_packed_answers(reward_path):
    module = _load_like_easyr1(reward_path)
    assert module.REWARD_TYPE == "batch" and module.REWARD_NAME == "wethink"
    fn = partial(getattr(module, "compute_score"), **{})
    rows = example_rows()
    scores = fn(_inputs(rows))
    assert len(scores) == len(rows)
    keys = list(scores[0])
    assert keys[0] == "overall" and {"accuracy", "format"} <= set(keys)
    for row, score in zip(rows, scores):
        assert list(score) == keys  # same keys for every sample
        assert all(isinstance(v, float) for v in score.values())  # np.mean-able, no strings
        want_acc, want_fmt, want = expected(row)
        assert score["overall"] == pytest.approx(want, abs=1e-3), row["id"]
        assert (score["accuracy"], score["format"]) == pytest.approx((want_acc, want_fmt), abs=1e-3), row["id"]
    metrics = {k: float(np.mean([s[k] for s in scores])) for k in keys}
    assert 0.0 < metrics["overall"] < 1.0


def test_reward_function_kwargs_reach_the_config(reward_path):
    module = _load_like_easyr1(reward_path)
    fn = partial(module.compute_score, **{"accuracy_weight": 0.5, "format_weight": 0.5, "routing": {"default": "choice"}})
    [score] = fn([{"response": "<think>x</think><answer>B</answer>", "response_length": 9, "ground_truth": "C"}])
    assert score["overall"] == pytest.approx(0.5) and score["accuracy"] == 0.0


def test_plain_answers_still_work(reward_path):
    module = _load_like_easyr1(reward_path)
    scores = module.compute_score(
        [
            {"response": "<think>count</think><answer>There are 3 cats.</answer>", "response_length": 12, "ground_truth": "3"},
            {"response": "<think>x</think><answer>(B)</answer>", "response_length": 8, "ground_truth": "B"},
            {"response": "no tags at all", "response_length": 4, "ground_truth": "B"},
        ]
    )
    assert [s["overall"] for s in scores] == pytest.approx([1.0, 1.0, 0.0])
