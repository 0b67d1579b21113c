"""``wethink-verl report`` time and peak memory on a verl run's rollout dumps, next to the usual
notebook way (pandas ``read_json(lines=True)`` of every dump, concatenated, then groupby).

    .venv/bin/python benchmarks/bench_report.py [--steps 100] [--rows 2560] [--small-steps 10] [--work-dir DIR]

- The run directory is written once by verl 0.9.1's own ``RayPPOTrainer._write_generations``
  (``{step}.jsonl``, ``input``/``output``/``gts``/``score``/``step`` + every reward_extra_info key):
  a pool of responses (the bundled examples, hedges, tag-less answers, long reasonings) scored by
  our RewardScorer, drawn per step with a drift (hedges from 60 % of the steps on), each row's
  reasoning padded to a random length (200-2400 characters) so rows are the size real ones are.
- Each reader runs as a child process; peak memory is the largest resident set of the process
  tree (the report's reader workers included), sampled every 20 ms with psutil. Two run sizes
  show whether memory grows with the number of rows.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from wethink_verl.text_table import format_table  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "rollouts.jsonl"
PANDAS_PEER = """
import glob, sys, pandas as pd
frames = [pd.read_json(p, lines=True) for p in sorted(glob.glob(sys.argv[1] + "/**/*.jsonl", recursive=True))]
df = pd.concat(frames, ignore_index=True)
df["length"] = df["output"].str.len()
per_step = df.groupby("step").agg(score=("score", "mean"), accuracy=("accuracy", "mean"), length=("length", "mean"))
per_verifier = df.groupby(["step", "verifier"])["accuracy"].mean()
print(len(df), len(per_step), len(per_verifier))
"""


def response_pool() -> list[tuple[str, dict]]:
    """(response, extra_info) pairs scored once by our scorer: the examples plus hacks."""
    import json

    from wethink_verl.rows import sample_from_row
    from wethink_verl.reward import RewardScorer, extra_info

    scorer = RewardScorer({"bounded": {"workers": 1}})
    pool = []
    for line in EXAMPLES.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("note", "").startswith("bad:") or not isinstance(rec.get("response"), str):
            continue
        extra = {k: rec[k] for k in ("category", "reward", "problem", "verifier") if k in rec}
        for response, kind in ((rec["response"], "ok"), ("<think>Either.</think>\n<answer>B or C</answer>", "hack"),
                               ("So the answer is B.", "hack")):  # fmt: skip
            res = scorer.score(sample_from_row(response, rec.get("answer"), extra))
            pool.append((response, extra_info(res), kind, rec.get("answer")))
    return pool


def write_run(root: Path, steps: int, rows: int, seed: int = 0) -> None:
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    rng = random.Random(seed)
    pool = response_pool()
    ok = [p for p in pool if p[2] == "ok"]
    hacks = [p for p in pool if p[2] == "hack"]
    filler = "I look at the image again and check each part of the question carefully. "
    for step in range(1, steps + 1):
        hack_share = 0.25 if step > 0.6 * steps else 0.02
        picks = [rng.choice(hacks) if rng.random() < hack_share else rng.choice(ok) for _ in range(rows)]
        outputs = []
        for response, *_ in picks:
            pad = filler * rng.randint(3, 32)
            outputs.append(response.replace("<think>", "<think>" + pad, 1) if "<think>" in response else pad + response)
        infos = [p[1] for p in picks]
        extra = {k: [i[k] for i in infos] for k in infos[0]}
        inputs = ["system\nYou are a helpful assistant.\nuser\n" + (p[1].get("category") or "question") + " " + filler * 4 for p in picks]
        RayPPOTrainer._write_generations(inputs, outputs, [p[3] for p in picks], [i["score"] for i in infos], extra, str(root), step)


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak MiB of the process tree)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    top = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [top] + top.children(recursive=True)
            peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}): {err[-2000:]}")
    return wall, peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--small-steps", type=int, default=10)
    ap.add_argument("--rows", type=int, default=2560, help="rows per step (512 prompts x 5 rollouts)")
    ap.add_argument("--work-dir", help="keep the generated runs here (default: a temp dir)")
    args = ap.parse_args()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="bench_report_"))
    table = []
    for steps in (args.small_steps, args.steps):
        run = work / f"run_{steps}x{args.rows}" / "rollouts"
        if not (run.parent / ".complete").exists():
            t0 = time.perf_counter()
            write_run(run, steps, args.rows)
            (run.parent / ".complete").write_text("ok")
            print(f"wrote {steps} steps x {args.rows} rows with verl's _write_generations in {time.perf_counter() - t0:.0f} s", flush=True)
        size = sum(p.stat().st_size for p in run.glob("*.jsonl")) / 2**20
        for workers in (1, 2):
            out = work / f"out_{steps}_{workers}"
            wall, peak = measure([sys.executable, "-m", "wethink_verl.cli", "report", str(run.parent), "--out", str(out),
                                  "--quiet", "--workers", str(workers)])  # fmt: skip
            table.append([f"wethink-verl report --workers {workers}", steps * args.rows, f"{size:.0f}", wall, peak, steps * args.rows / wall])
        wall, peak = measure([sys.executable, "-c", PANDAS_PEER, str(run)])
        table.append(["pandas read_json + concat + groupby", steps * args.rows, f"{size:.0f}", wall, peak, steps * args.rows / wall])
    print(format_table(["reader", "rows", "MiB of JSONL", "seconds", "peak MiB", "rows/s"], table,
                       title=f"Report on verl rollout dumps ({os.cpu_count()} CPUs; peak = the process tree's resident set)"))  # fmt: skip


if __name__ == "__main__":
    main()
