"""One GRPO step (512 prompts × 5 rollouts = 2560 responses) through verl's real RewardLoopManager
on this machine (Ray local mode): the `wethink` manager vs verl's `naive` manager with
`verl.utils.reward_score.math_verify.compute_score` on the same batch, side by side.

    .venv/bin/python benchmarks/bench_reward_loop.py [--prompts 512] [--rollouts 5] [--workers 2]

Workers are started and warmed before timing (one small batch each), as in a training run where
the reward loop lives for the whole job. Prints a table and the speed ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def verl_math_verify_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl's stock math-verify reward (what a verl user would plug in), in verl's signature."""
    from verl.utils.reward_score.math_verify import compute_score

    return compute_score(solution_str, str(ground_truth))


def _run(label: str, overrides: list[str], rows: list[dict], tokenizer_dir: str, num_workers: int) -> dict:
    from transformers import AutoTokenizer
    from verl.experimental.reward_loop.reward_loop import RewardLoopManager

    from wethink_verl.testing.verl_batch import compose_verl_config, make_reward_batch, shutdown_reward_loop

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = compose_verl_config([f"actor_rollout_ref.model.path={tokenizer_dir}", f"reward.num_workers={num_workers}", *overrides])
    data = make_reward_batch(tok, rows)
    warm = make_reward_batch(tok, rows[: 8 * num_workers])
    manager = RewardLoopManager(cfg)
    try:
        t0 = time.perf_counter()
        manager.compute_rm_score(warm)
        warm_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = manager.compute_rm_score(data)
        elapsed = time.perf_counter() - t0
    finally:
        shutdown_reward_loop(manager)
    scores = out.batch["rm_scores"].sum(dim=1)
    return {"label": label, "seconds": elapsed, "warmup_s": warm_s, "per_s": len(rows) / elapsed, "mean_reward": float(scores.mean())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--rollouts", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="reward.num_workers (RewardLoopWorker actors)")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import ray
    from grpo_batch import make_rows

    from wethink_verl.demo.offline_models import build_qwen_tokenizer
    from wethink_verl.text_table import format_table

    rows = make_rows(args.prompts, args.rollouts)
    tokenizer_dir = str(build_qwen_tokenizer())
    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False)
    results = [
        _run(
            "wethink manager (1 bounded worker per RewardLoopWorker)",
            ["reward.reward_manager.name=wethink", "+reward.reward_kwargs.bounded.workers=1"],
            rows, tokenizer_dir, args.workers,
        ),
    ]  # fmt: skip
    if not args.skip_naive:
        results.append(
            _run(
                "naive + verl math_verify.compute_score",
                ["reward.reward_manager.name=naive", f"reward.custom_reward_function.path={Path(__file__).resolve()}",
                 "reward.custom_reward_function.name=verl_math_verify_score"],
                rows, tokenizer_dir, args.workers,
            )
        )  # fmt: skip
    ray.shutdown()
    n = len(rows)
    table = [[r["label"], n, round(r["seconds"], 2), round(r["per_s"], 1), round(r["warmup_s"], 2), round(r["mean_reward"], 3)] for r in results]
    print(format_table(["reward", "responses", "seconds", "responses/s", "warm-up s", "mean reward"], table,
                       title=f"One GRPO step through verl's RewardLoopManager ({args.prompts}×{args.rollouts}, reward.num_workers={args.workers}, {os.cpu_count()} CPUs)"))  # fmt: skip
    if len(results) == 2:
        print(f"\nwethink is {results[1]['seconds'] / results[0]['seconds']:.1f}x faster than naive + verl math_verify on the same batch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
