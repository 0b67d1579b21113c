"""``wethink-verl demo``: WeThink's whole reward path for real on a CPU, except the policy model.

1. generate a small WeThink-style multimodal dataset (Pillow images; all three categories)
2. ``prepare`` it to verl parquet and load it through verl's ``RLHFDataset`` with an offline
   Qwen2.5-VL processor, checking image tokens == image features for every row
3. take the bundled rollouts (right, other spelling, wrong, malformed, hack) for those prompts
4. fit the DEMO judge (``demo_judge.py``): a word-overlap grader fitted in under a second on
   synthetic (question, reference, candidate) -> tier pairs and checked on held-out pairs; its
   verdicts mean something (and its limits are measured), unlike a random-weight LLM's
5. score the rollouts with verl's real ``RewardLoopManager`` and the ``wethink`` manager in Ray
   local mode; descriptive answers go through our Ray judge service to that grader, with the
   default (injection-hardened) judge prompt
6. compute GRPO advantages with verl's ``core_algos``
7. print the means per rollout kind x category, write ``report.json`` (every sample with its
   response, verifier, route, status and reason) and ``reward_breakdown.png``
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..text_table import format_table
from .output_dir import claim_output_dir, record_outputs

class DemoError(RuntimeError):
    def __init__(self, stage: str, cause: BaseException):
        super().__init__(f"demo stage '{stage}' failed: {type(cause).__name__}: {cause}")
        self.stage = stage


@dataclass
class DemoConfig:
    output_dir: str = "outputs/demo"
    rows: int = 12  # prompts (the generator cycles chart / shapes / sign scenes over all categories)
    seed: int = 0
    judge: bool = True  # descriptive answers to the Ray judge service (else the rule fallback)
    reward_workers: int = 2


class _Stages:
    def __init__(self, total: int):
        self.total, self.i, self.timings = total, 0, {}

    @contextmanager
    def stage(self, name: str):
        self.i += 1
        print(f"[{self.i}/{self.total}] {name} ...", flush=True)
        t0 = time.perf_counter()
        try:
            yield
        except DemoError:
            raise
        except BaseException as e:  # noqa: BLE001 - name the stage, keep the cause
            raise DemoError(name, e) from e
        self.timings[name] = round(time.perf_counter() - t0, 2)
        print(f"      done in {self.timings[name]:.1f} s", flush=True)


def run_demo(cfg: DemoConfig) -> dict:
    """The seven stages in order (the module docstring says what each does), each a function
    below handed what the earlier ones made; returns what ``report.json`` holds."""
    out = claim_output_dir(cfg.output_dir)  # removes only an earlier demo run's own outputs
    stages = _Stages(7)
    report: dict[str, Any] = {"config": asdict(cfg)}
    with stages.stage("generate a WeThink-style multimodal dataset (Pillow images)"):
        records, image_root = _generate_dataset(cfg, out, report)
    with stages.stage("prepare -> verl parquet, load through verl's RLHFDataset (offline Qwen2.5-VL processor)"):
        loaded = _prepare_and_load(records, image_root, out, report)
    with stages.stage("bundled rollouts: right, other spelling, wrong, malformed, hack (5 per prompt)"):
        rollouts = _bundled_rollouts(loaded.rows, cfg, out)
    with stages.stage("fit the demo judge (a word-overlap grader, synthetic pairs, held-out check)"):
        judge = _fit_judge(cfg, out)
    with stages.stage("score with verl's RewardLoopManager + the wethink manager (Ray local, demo judge on Ray)"):
        data, scored = _score_with_verl(cfg, loaded, rollouts, judge, report)
    with stages.stage("GRPO advantages with verl's core_algos"):
        samples = _grpo_samples(data, scored, rollouts)
    with stages.stage("report: table, reward_breakdown.png, report.json"):
        _write_report(samples, judge, report, stages.timings, out)
    record_outputs(out)
    return report


def _generate_dataset(cfg: DemoConfig, out: Path, report: dict) -> tuple[str, str]:
    from ..data.synthetic import write_synthetic_wethink

    records, image_root = write_synthetic_wethink(out / "data", cfg.rows, seed=cfg.seed)
    cats: dict[str, int] = {}
    for line in open(records, encoding="utf-8"):
        cat = json.loads(line).get("category")
        cats[cat] = cats.get(cat, 0) + 1
    print(f"      {cfg.rows} rows -> {records}; categories {cats}")
    missing = {"multiple choice", "fill-in-the-blank", "descriptive"} - set(cats)
    if missing:
        raise ValueError(f"the demo needs every category; {cfg.rows} rows lack {sorted(missing)} (use --rows 6 or more)")
    report["dataset"] = {"records": records, "image_root": image_root, "categories": cats}
    return records, image_root


@dataclass
class _Loaded:
    """The prepared rows as verl's dataset hands them over, and the processor that read them."""

    rows: list[dict]
    tokenizer: Any
    processor_dir: str


def _prepare_and_load(records: str, image_root: str, out: Path, report: dict) -> _Loaded:
    from transformers import AutoTokenizer
    from verl.utils import hf_processor
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from ..data.prepare import PrepareConfig, prepare
    from .offline_models import build_qwen25vl_processor

    result = prepare(PrepareConfig(input=records, image_root=image_root, output_dir=str(out / "verl"), progress=False))
    train = result.files.get("train.parquet") or str(out / "verl" / "train.parquet")
    proc_dir = str(build_qwen25vl_processor())
    tokenizer = AutoTokenizer.from_pretrained(proc_dir)
    processor = hf_processor(proc_dir)
    data_cfg = _verl_data_config(out)
    dataset = RLHFDataset(data_files=train, tokenizer=tokenizer, config=data_cfg, processor=processor)
    rows, mismatches = _rows_with_image_tokens(RLHFDataset, dataset, tokenizer, processor, data_cfg)
    if mismatches:
        raise RuntimeError(f"{mismatches} rows have image tokens != image features")
    print(f"      {len(rows)} rows loaded; image tokens == image features on every row "
          f"({min(r['image_tokens'] for r in rows)}-{max(r['image_tokens'] for r in rows)} per image)")  # fmt: skip
    report["prepare"] = {"files": result.files, "rows": len(rows), "image_token_mismatches": mismatches}
    return _Loaded(rows, tokenizer, proc_dir)


def _verl_data_config(out: Path):
    from omegaconf import OmegaConf

    return OmegaConf.create({
        "prompt_key": "prompt", "image_key": "images", "max_prompt_length": 1024, "truncation": "error",
        "filter_overlong_prompts": True, "filter_overlong_prompts_workers": None, "return_raw_chat": True,
        "cache_dir": str(out / "verl-cache"), "shuffle": False,
    })  # fmt: skip


def _rows_with_image_tokens(dataset_cls, dataset, tokenizer, processor, data_cfg) -> tuple[list[dict], int]:
    """(one row per dataset item, with its image-token count; rows whose image tokens differ from
    the image features), each prompt built as verl's agent loop builds it."""
    from ..data.agent_loop import agent_loop_prompt, image_token_counts

    rows, mismatches = [], 0
    for i in range(len(dataset)):
        item = dataset[i]
        ids, mm_inputs, _ = agent_loop_prompt(dataset_cls, item["raw_prompt"], tokenizer, processor, data_cfg)
        pads, features = image_token_counts(ids, mm_inputs, processor)
        mismatches += pads != features
        extra = dict(item.get("extra_info") or {})
        rows.append({
            "uid": f"p{i:02d}", "category": extra.get("category"), "reward": extra.get("reward"),
            "problem": extra.get("problem"), "ground_truth": item["reward_model"]["ground_truth"],
            "extra_info": extra, "raw_prompt": item["raw_prompt"], "image_tokens": pads,
        })  # fmt: skip
    return rows, mismatches


def _bundled_rollouts(rows: list[dict], cfg: DemoConfig, out: Path) -> list[dict]:
    from .rollouts import make_rollouts, save_rollouts

    rollouts = make_rollouts(rows, seed=cfg.seed)
    save_rollouts(rollouts, str(out / "rollouts.jsonl"))
    print(f"      {len(rollouts)} rollouts -> {out / 'rollouts.jsonl'}")
    return rollouts


def _fit_judge(cfg: DemoConfig, out: Path) -> dict[str, Any]:
    """What judged the descriptive answers: the fitted demo grader, or nothing (``--no-judge``)."""
    if not cfg.judge:
        print("      skipped (--no-judge)")
        return {"engine": None, "note": "judge off (--no-judge): descriptive answers use the counted text-rule fallback."}
    from .demo_judge import fit_demo_grader

    judge_dir = out / "demo-judge"
    fit = fit_demo_grader(judge_dir, seed=cfg.seed)
    held = fit["held_out"]
    print(f"      {fit['train_pairs']} pairs in {fit['fit_seconds']:.2f} s; held-out agreement by case: "
          + ", ".join(f"{k} {v:.0%}" for k, v in held["by_case"].items()))
    return {"engine": "demo-grader", "model_dir": str(judge_dir), "fit": fit, "note": (
        f"judge = the DEMO grader, {fit['model']}, fitted in {fit['fit_seconds']:.1f} s on "
        f"{fit['train_pairs']} synthetic pairs; held-out agreement {held['agreement']:.0%} "
        f"(injection text {held['by_case']['injection']:.0%}, one changed fact {held['by_case']['changed fact']:.0%}).")}  # fmt: skip


DEMO_JUDGE_NAME = "wethink_demo_judge"


def _score_with_verl(cfg: DemoConfig, loaded: _Loaded, rollouts: list[dict], judge: dict, report: dict):
    """(the reward batch, verl's scored batch): verl's RewardLoopManager with the wethink manager,
    in a local Ray cluster; the demo judge is our Ray judge service."""
    import ray

    from ..testing.verl_batch import compose_verl_config, make_reward_batch, score_with_reward_loop

    # logical CPUs: 2 reward workers + the judge actor must all be schedulable on a 2-core box
    ray.init(num_cpus=max(4, os.cpu_count() or 2), include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    overrides = [
        f"actor_rollout_ref.model.path={loaded.processor_dir}", f"reward.num_workers={cfg.reward_workers}",
        "reward.reward_manager.name=wethink", "+reward.reward_kwargs.bounded.workers=1",
    ]  # fmt: skip
    service = _start_judge_service(judge) if cfg.judge else None
    if service is not None:
        overrides += _judge_overrides(judge["model_dir"])
    verl_cfg = compose_verl_config(overrides)
    batch_rows = [{"response": r["response"], "ground_truth": r["ground_truth"], "extra_info": r["extra_info"],
                   "prompt": r["problem"] or "", "data_source": "wethink"} for r in rollouts]  # fmt: skip
    data = make_reward_batch(loaded.tokenizer, batch_rows)
    for i, r in enumerate(rollouts):
        data.non_tensor_batch["raw_prompt"][i] = r["raw_prompt"]
    t0 = time.perf_counter()
    scored = score_with_reward_loop(verl_cfg, data)
    report["reward_seconds"] = round(time.perf_counter() - t0, 2)
    if service is not None:
        judge["service"] = ray.get(service.info.remote())
        ray.kill(service)
    ray.shutdown()
    return data, scored


def _start_judge_service(judge: dict):
    import ray

    from ..judge.service import get_or_create_service

    ray_cfg = {"model": judge["model_dir"], "engine": "demo-grader", "name": DEMO_JUDGE_NAME, "namespace": "wethink",
               "address": "auto", "max_batch_size": 16, "max_wait_ms": 20}  # fmt: skip
    service = get_or_create_service(ray_cfg)
    ray.get(service.info.remote())
    return service


def _judge_overrides(model_dir: str) -> list[str]:
    return [
        "+reward.reward_kwargs.judge.enable=true", "+reward.reward_kwargs.judge.backend=ray",
        f"+reward.reward_kwargs.judge.ray.model={model_dir}", f"+reward.reward_kwargs.judge.ray.name={DEMO_JUDGE_NAME}",
        "+reward.reward_kwargs.judge.ray.engine=demo-grader", "+reward.reward_kwargs.judge.timeout_s=60",
        "+reward.reward_kwargs.judge.fallback=text",
    ]  # fmt: skip


def _grpo_samples(data, scored, rollouts: list[dict]) -> list[dict]:
    """One report sample per rollout, with its GRPO advantage (verl's core_algos, per prompt)."""
    import numpy as np
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    prompt_len = data.batch["prompts"].shape[-1]
    response_mask = data.batch["attention_mask"][:, prompt_len:]
    index = np.array([r["uid"] for r in rollouts], dtype=object)
    advantages, _ = compute_grpo_outcome_advantage(scored.batch["rm_scores"], response_mask, index)
    lengths = response_mask.sum(-1)
    return [_sample(r, scored.non_tensor_batch, i, float(advantages[i, int(lengths[i]) - 1])) for i, r in enumerate(rollouts)]


def _write_report(samples: list[dict], judge: dict, report: dict, stage_seconds: dict, out: Path) -> None:
    from ..reward.config import DEFAULTS
    from .breakdown import by_category, plot_demo

    weights = (float(DEFAULTS["accuracy_weight"]), float(DEFAULTS["format_weight"]))
    summary = plot_demo(samples, out / "reward_breakdown.png", weights, judge)
    _print_tables(summary["by_kind_and_category"], weights)
    print("\n" + summary["headline"])
    print(judge["note"])
    report.update(
        reward_weights={"accuracy": weights[0], "format": weights[1]}, judge=judge,
        by_kind_and_category=summary["by_kind_and_category"], by_category=by_category(samples),
        injection_attempts=summary["injection_attempts"], samples=samples, stage_seconds=stage_seconds,
    )  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"      wrote {out / 'report.json'} and {out / 'reward_breakdown.png'}")


SAMPLE_NUMBERS = ("accuracy", "format", "score")
SAMPLE_FLAGS = ("judge_used", "judge_failed", "fallback", "timed_out")
SAMPLE_TEXTS = ("verifier", "route", "status", "reason")


def _sample(rollout: dict, nt: dict, i: int, advantage: float) -> dict:
    """One scored rollout for report.json: what was said, who judged it, what it got and why."""
    out = {"uid": rollout["uid"], "category": rollout["category"], "kind": rollout["kind"], "response": rollout["response"]}
    out.update({k: str(nt[k][i]) for k in SAMPLE_TEXTS})
    out.update({k: float(nt[k][i]) for k in SAMPLE_NUMBERS})
    out.update({k: int(nt[k][i]) for k in SAMPLE_FLAGS})
    out["advantage"] = round(advantage, 4)
    return out


def _print_tables(rows: list[dict], weights: tuple[float, float]) -> None:
    table = [[r["kind"], r["category"], r["n"], ",".join(r["verifiers"]), r["accuracy"], r["format"], r["score"], r["advantage"],
              r["judge_used"], r["fallback"]] for r in rows]  # fmt: skip
    headers = ["rollout", "category", "n", "verifier", "accuracy", "format", "overall", "advantage", "judge verdicts", "fallbacks"]
    print(format_table(headers, table, title=f"Mean per rollout kind and category (overall = {weights[0]:g}·accuracy + "
                                             f"{weights[1]:g}·format; advantage = GRPO within each prompt's rollouts)"))  # fmt: skip


def main_cli(cfg: DemoConfig) -> int:
    try:
        run_demo(cfg)
    except DemoError as e:
        print(f"\nERROR: {e}", file=sys.stderr)
        return 1
    return 0
