"""``wethink-verl demo``: WeThink's whole reward path for real on a CPU, except the policy model.

1. generate a small WeThink-style multimodal dataset (Pillow images; all three categories)
2. ``prepare`` it to verl parquet and load it through verl's ``RLHFDataset`` with an offline
   Qwen2.5-VL processor, checking image tokens == image features for every row
3. take the bundled rollouts (right, other spelling, wrong, malformed, hack) for those prompts
4. score them with verl's real ``RewardLoopManager`` and the ``wethink`` manager in Ray local
   mode; descriptive answers go to our Ray judge service (a DEMO judge: a tiny random-weight
   model on the CPU, constrained to answer one of the verdict tiers — its verdicts are noise; it
   shows the serving path, the injection-hardened prompt and the fixed result keys, not quality)
5. compute GRPO advantages with verl's ``core_algos``
6. print a table, write ``report.json`` and ``reward_breakdown.png`` to the output directory
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

from ..table import format_table
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
    judge_max_tokens: int = 24


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


def _plot(samples: list[dict], path: Path, weights: tuple[float, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wa, wf = weights
    n = len(samples)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(max(10, n * 0.22), 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    xs = range(n)
    acc = [wa * s["accuracy"] for s in samples]
    fmt = [wf * s["format"] for s in samples]
    ax.bar(xs, acc, color="#2b7bb9", label=f"{wa:g} × accuracy")
    ax.bar(xs, fmt, bottom=acc, color="#f0a030", label=f"{wf:g} × format")
    for x, s in zip(xs, samples):
        if s["judge_used"]:
            ax.text(x, acc[x] + fmt[x] + 0.02, "J", ha="center", fontsize=7, color="#444")
        elif s["fallback"]:
            ax.text(x, acc[x] + fmt[x] + 0.02, "f", ha="center", fontsize=7, color="#a00")
    ax.set_ylabel("reward")
    ax.set_ylim(0, 1.15)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("WeThink reward per rollout (J: judge verdict, f: counted fallback); groups of 5 rollouts per prompt")
    colors = ["#2a9d4a" if s["advantage"] >= 0 else "#c0392b" for s in samples]
    ax2.bar(xs, [s["advantage"] for s in samples], color=colors)
    ax2.axhline(0, color="black", linewidth=0.6)
    ax2.set_ylabel("GRPO advantage")
    ax2.set_xticks(list(xs))
    ax2.set_xticklabels([f"{s['uid']}:{s['kind'][:5]}" for s in samples], rotation=90, fontsize=6)
    for boundary in range(5, n, 5):
        ax.axvline(boundary - 0.5, color="#bbb", linewidth=0.5)
        ax2.axvline(boundary - 0.5, color="#bbb", linewidth=0.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_demo(cfg: DemoConfig) -> dict:
    out = claim_output_dir(cfg.output_dir)  # removes only an earlier demo run's own outputs
    stages = _Stages(6)
    report: dict[str, Any] = {"config": asdict(cfg)}

    with stages.stage("generate a WeThink-style multimodal dataset (Pillow images)"):
        from ..data.synthetic import write_synthetic_wethink

        records, image_root = write_synthetic_wethink(out / "data", cfg.rows, seed=cfg.seed)
        cats = {}
        for line in open(records, encoding="utf-8"):
            cat = json.loads(line).get("category")
            cats[cat] = cats.get(cat, 0) + 1
        print(f"      {cfg.rows} rows -> {records}; categories {cats}")
        missing = {"multiple choice", "fill-in-the-blank", "descriptive"} - set(cats)
        if missing:
            raise ValueError(f"the demo needs every category; {cfg.rows} rows lack {sorted(missing)} (use --rows 6 or more)")
        report["dataset"] = {"records": records, "image_root": image_root, "categories": cats}

    with stages.stage("prepare -> verl parquet, load through verl's RLHFDataset (offline Qwen2.5-VL processor)"):
        from omegaconf import OmegaConf
        from transformers import AutoTokenizer
        from verl.utils import hf_processor
        from verl.utils.dataset.rl_dataset import RLHFDataset

        from ..data.agent_loop import agent_loop_prompt, image_token_counts
        from ..data.prepare import PrepareConfig, prepare
        from .offline_models import build_qwen25vl_processor

        result = prepare(PrepareConfig(input=records, image_root=image_root, output_dir=str(out / "verl"), progress=False))
        train = result.files.get("train.parquet") or str(out / "verl" / "train.parquet")
        proc_dir = str(build_qwen25vl_processor())
        tokenizer = AutoTokenizer.from_pretrained(proc_dir)
        processor = hf_processor(proc_dir)
        data_cfg = OmegaConf.create({
            "prompt_key": "prompt", "image_key": "images", "max_prompt_length": 1024, "truncation": "error",
            "filter_overlong_prompts": True, "filter_overlong_prompts_workers": None, "return_raw_chat": True,
            "cache_dir": str(out / "verl-cache"), "shuffle": False,
        })  # fmt: skip
        dataset = RLHFDataset(data_files=train, tokenizer=tokenizer, config=data_cfg, processor=processor)
        rows, mismatches = [], 0
        for i in range(len(dataset)):
            item = dataset[i]
            ids, mm_inputs, _ = agent_loop_prompt(RLHFDataset, item["raw_prompt"], tokenizer, processor, data_cfg)
            pads, features = image_token_counts(ids, mm_inputs, processor)
            mismatches += pads != features
            extra = dict(item.get("extra_info") or {})
            rows.append({
                "uid": f"p{i:02d}", "category": extra.get("category"), "reward": extra.get("reward"),
                "problem": extra.get("problem"), "ground_truth": item["reward_model"]["ground_truth"],
                "extra_info": extra, "raw_prompt": item["raw_prompt"], "image_tokens": pads,
            })  # fmt: skip
        if mismatches:
            raise RuntimeError(f"{mismatches} rows have image tokens != image features")
        print(f"      {len(rows)} rows loaded; image tokens == image features on every row "
              f"({min(r['image_tokens'] for r in rows)}-{max(r['image_tokens'] for r in rows)} per image)")  # fmt: skip
        report["prepare"] = {"files": result.files, "rows": len(rows), "image_token_mismatches": mismatches}

    with stages.stage("bundled rollouts: right, other spelling, wrong, malformed, hack (5 per prompt)"):
        from .rollouts import make_rollouts, save_rollouts

        rollouts = make_rollouts(rows, seed=cfg.seed)
        save_rollouts(rollouts, str(out / "rollouts.jsonl"))
        print(f"      {len(rollouts)} rollouts -> {out / 'rollouts.jsonl'}")

    with stages.stage("score with verl's RewardLoopManager + the wethink manager (Ray local, demo judge on Ray)"):
        import ray

        from ..integrations.verl_batch import compose_verl_config, make_reward_batch, score_with_reward_loop
        from .offline_models import build_tiny_qwen2_lm

        # logical CPUs: 2 reward workers + the judge actor must all be schedulable on a 2-core box
        ray.init(num_cpus=max(4, os.cpu_count() or 2), include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        overrides = [
            f"actor_rollout_ref.model.path={proc_dir}", f"reward.num_workers={cfg.reward_workers}",
            "reward.reward_manager.name=wethink", "+reward.reward_kwargs.bounded.workers=1",
        ]  # fmt: skip
        if cfg.judge:
            judge_dir = str(build_tiny_qwen2_lm())
            from ..judge.service import get_or_create_service

            ray_cfg = {"model": judge_dir, "engine": "transformers", "name": "wethink_demo_judge", "namespace": "wethink",
                       "address": "auto", "max_batch_size": 16, "max_wait_ms": 20}  # fmt: skip
            service = get_or_create_service(ray_cfg)
            info = ray.get(service.info.remote())
            print(f"      DEMO judge: tiny random-weight Qwen2 on the CPU, constrained to the verdict tiers "
                  f"(its verdicts are noise), loaded in {info.get('load_s', 0):.1f} s")
            overrides += [
                "+reward.reward_kwargs.judge.enable=true", "+reward.reward_kwargs.judge.backend=ray",
                f"+reward.reward_kwargs.judge.ray.model={judge_dir}", "+reward.reward_kwargs.judge.ray.name=wethink_demo_judge",
                "+reward.reward_kwargs.judge.ray.engine=transformers", f"+reward.reward_kwargs.judge.max_tokens={cfg.judge_max_tokens}",
                "+reward.reward_kwargs.judge.timeout_s=60", "+reward.reward_kwargs.judge.fallback=text",
                # constrained verdicts (vLLM's structured_outputs.choice, honoured by our transformers
                # backend too): the random demo model must answer one of the tiers; it still chooses
                "+reward.reward_kwargs.judge.request_kwargs.structured_outputs.choice="
                "['<score>0</score>','<score>0.5</score>','<score>1</score>']",
            ]  # fmt: skip
        verl_cfg = compose_verl_config(overrides)
        batch_rows = [{"response": r["response"], "ground_truth": r["ground_truth"], "extra_info": r["extra_info"],
                       "prompt": r["problem"] or "", "data_source": "wethink"} for r in rollouts]  # fmt: skip
        data = make_reward_batch(tokenizer, batch_rows)
        for i, r in enumerate(rollouts):
            data.non_tensor_batch["raw_prompt"][i] = r["raw_prompt"]
        t0 = time.perf_counter()
        scored = score_with_reward_loop(verl_cfg, data)
        report["reward_seconds"] = round(time.perf_counter() - t0, 2)
        if cfg.judge:
            report["judge_service"] = ray.get(service.info.remote())
            ray.kill(service)
        ray.shutdown()

    with stages.stage("GRPO advantages with verl's core_algos"):
        import numpy as np
        from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

        prompt_len = data.batch["prompts"].shape[-1]
        response_mask = data.batch["attention_mask"][:, prompt_len:]
        index = np.array([r["uid"] for r in rollouts], dtype=object)
        advantages, _ = compute_grpo_outcome_advantage(scored.batch["rm_scores"], response_mask, index)
        lengths = response_mask.sum(-1)
        nt = scored.non_tensor_batch
        samples = []
        for i, r in enumerate(rollouts):
            samples.append({
                "uid": r["uid"], "category": r["category"], "kind": r["kind"], "verifier": str(nt["verifier"][i]),
                "accuracy": float(nt["accuracy"][i]), "format": float(nt["format"][i]), "score": float(nt["score"][i]),
                "advantage": round(float(advantages[i, int(lengths[i]) - 1]), 4), "judge_used": int(nt["judge_used"][i]),
                "judge_failed": int(nt["judge_failed"][i]), "fallback": int(nt["fallback"][i]), "timed_out": int(nt["timed_out"][i]),
            })  # fmt: skip

    with stages.stage("report: table, reward_breakdown.png, report.json"):
        table = [[s["uid"], s["category"], s["kind"], s["verifier"], s["accuracy"], s["format"], s["score"], s["advantage"]] for s in samples]
        print(format_table(["prompt", "category", "rollout", "verifier", "accuracy", "format", "overall", "advantage"], table,
                           title="Per sample (overall = 0.7·accuracy + 0.3·format; advantage = GRPO, normalised within each prompt's 5 rollouts)"))  # fmt: skip
        per_cat: dict[str, list[dict]] = {}
        for s in samples:
            per_cat.setdefault(s["category"], []).append(s)
        totals = []
        for cat, items in sorted(per_cat.items()):
            n = len(items)
            totals.append([cat, n, sum(s["accuracy"] for s in items) / n, sum(s["format"] for s in items) / n,
                           sum(s["score"] for s in items) / n, sum(s["judge_used"] for s in items),
                           sum(s["judge_failed"] for s in items), sum(s["fallback"] for s in items)])  # fmt: skip
        print()
        print(format_table(["category", "n", "accuracy", "format", "overall", "judge verdicts", "judge failed", "fallbacks"], totals,
                           title="Per category"))  # fmt: skip
        kinds = {}
        for s in samples:
            kinds.setdefault(s["kind"], []).append(s["score"])
        print()
        print(format_table(["rollout kind", "n", "mean overall"], [[k, len(v), sum(v) / len(v)] for k, v in kinds.items()], title="Per rollout kind"))
        if cfg.judge:
            print("\nNote: descriptive rows were graded by the DEMO judge, a random-weight model: its verdicts are noise and say\n"
                  "nothing about grading quality or injection safety (tests/test_judge_prompt.py covers the latter). Point\n"
                  "judge.url at a real judge, or use verl's reward-model pool, for meaningful descriptive rewards.")
        _plot(samples, out / "reward_breakdown.png", (0.7, 0.3))
        report.update(samples=samples, per_category=totals, stage_seconds=stages.timings)
        (out / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        print(f"      wrote {out / 'report.json'} and {out / 'reward_breakdown.png'}")
    record_outputs(out)
    return report


def main_cli(cfg: DemoConfig) -> int:
    try:
        run_demo(cfg)
    except DemoError as e:
        print(f"\nERROR: {e}", file=sys.stderr)
        return 1
    return 0
