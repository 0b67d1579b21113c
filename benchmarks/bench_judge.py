"""The LLM judge's overheads on this machine:

1. client throughput against an instant loopback judge (the scripted test-double server in its
   own process; every request distinct, cache off): how many judge requests per second the
   client can drive, so that it is never the bottleneck next to a real judge (15-80 requests/s
   for a 7B judge on one H100);
2. the dedupe hit rate on a GRPO-shaped batch (prompts x 5 rollouts; short answers repeat within a
   group), i.e. requests a training step does not send;
3. our Ray judge service on the tiny offline Qwen2 (transformers backend): dynamic batching vs
   one request at a time (max_batch_size 1), same requests, same model.

    .venv/bin/python benchmarks/bench_judge.py [--requests 20000] [--concurrency 64] [--prompts 512]
        [--service-requests 64] [--max-batch-size 16] [--skip-service]

Prints a table. The machine may be shared: treat the numbers as a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import subprocess
import sys
import time
import urllib.request

from wethink_verl.judge import build_judge
from wethink_verl.testing.ports import free_port
from wethink_verl.text_table import format_table


def _items(n: int, tag: str) -> list[dict]:
    return [{"question": f"{tag} question {i}: what is on the sofa?", "reference": "A grey tabby cat.",
             "answer": f"answer {i}", "reasoning": "", "image": None} for i in range(n)]  # fmt: skip


def _start_loopback(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "wethink_verl.testing.judge_servers", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("loopback judge server did not start")


def bench_client(n: int, concurrency: int) -> dict:
    port = free_port()
    proc = _start_loopback(port)
    try:
        judge = build_judge({"enable": True, "url": f"http://127.0.0.1:{port}/v1", "model": "scripted-judge",
                             "cache_size": 0, "concurrency": concurrency})  # fmt: skip

        async def run():
            await judge.judge_many(_items(500, "warm"))
            t0 = time.perf_counter()
            outs = await judge.judge_many(_items(n, "bench"))
            elapsed = time.perf_counter() - t0
            await judge.aclose()
            return outs, elapsed

        outs, elapsed = asyncio.run(run())
        judge.close()
    finally:
        proc.terminate()
        proc.wait(10)
    ok = sum(not o.failed for o in outs)
    return {"n": n, "ok": ok, "seconds": elapsed, "per_s": n / elapsed}


def grpo_batch(prompts: int, rollouts: int, seed: int = 0) -> list[dict]:
    """Short descriptive answers: per prompt a few phrasings with skewed odds, as a policy samples them."""
    rng = random.Random(seed)
    items = []
    for p in range(prompts):
        variants = [f"prompt {p} phrasing {k}" for k in range(rng.randint(2, 6))]
        weights = [1.0 / (k + 1) ** 1.5 for k in range(len(variants))]
        for _ in range(rollouts):
            items.append({"question": f"q{p}", "reference": f"ref {p}", "answer": rng.choices(variants, weights)[0]})
    return items


def bench_dedupe(prompts: int, rollouts: int) -> dict:
    port = free_port()
    proc = _start_loopback(port)
    try:
        judge = build_judge({"enable": True, "url": f"http://127.0.0.1:{port}/v1", "model": "scripted-judge"})
        items = grpo_batch(prompts, rollouts)

        async def run():
            outs = await judge.judge_many(items)
            await judge.aclose()
            return outs

        asyncio.run(run())
        stats = judge.stats_dict()
        judge.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return {"items": len(items), "requests": stats["calls"], "hit_rate": stats["dedupe_hit_rate"],
            "inflight_hits": stats["inflight_hits"], "cache_hits": stats["cache_hits"]}  # fmt: skip


def bench_service(n: int, max_batch_size: int, max_tokens: int) -> list[dict]:
    import ray

    from wethink_verl.demo.offline_models import build_tiny_qwen2_lm
    from wethink_verl.judge.service import get_or_create_service

    model = str(build_tiny_qwen2_lm())
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    results = []
    try:
        for label, size in (("one at a time", 1), (f"batched (max {max_batch_size})", max_batch_size)):
            name = f"bench_judge_{size}"
            handle = get_or_create_service({"name": name, "namespace": "wethink_bench", "model": model, "engine": "transformers",
                                            "max_batch_size": size, "max_wait_ms": 20.0, "num_cpus": 1})  # fmt: skip
            ray.get(handle.ping.remote(), timeout=600)
            judge = build_judge({"enable": True, "backend": "ray", "ray": {"name": name, "namespace": "wethink_bench"},
                                 "template": "short", "max_tokens": max_tokens, "cache_size": 0, "parse_retries": 0,
                                 "timeout_s": 600.0, "concurrency": n})  # fmt: skip
            judge.judge_many_sync(_items(min(n, 2 * size), f"warm{size}"))
            t0 = time.perf_counter()
            outs = judge.judge_many_sync(_items(n, f"bench{size}"))
            elapsed = time.perf_counter() - t0
            info = ray.get(handle.info.remote())
            judge.close()
            ray.kill(handle, no_restart=True)
            served = sum(o.kind in ("ok", "unparseable") for o in outs)
            results.append({"label": label, "n": n, "served": served, "seconds": elapsed, "per_s": n / elapsed,
                            "mean_batch": info["mean_batch_size"]})  # fmt: skip
    finally:
        ray.shutdown()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--rollouts", type=int, default=5)
    parser.add_argument("--service-requests", type=int, default=64)
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--skip-service", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("wethink_verl.judge").setLevel(logging.ERROR)  # the tiny model's garbage verdicts are expected

    rows = []
    c = bench_client(args.requests, args.concurrency)
    rows.append(["client -> instant loopback judge", f"{c['n']} distinct requests, concurrency {args.concurrency}",
                 f"{c['per_s']:.0f} requests/s", ">= 2000 requests/s", "yes" if c["per_s"] >= 2000 and c["ok"] == c["n"] else "NO"])  # fmt: skip
    d = bench_dedupe(args.prompts, args.rollouts)
    rows.append(["dedupe, GRPO batch", f"{args.prompts} prompts x {args.rollouts} rollouts = {d['items']} items",
                 f"{d['hit_rate']:.1%} hits ({d['requests']} requests sent)", "reported", "-"])  # fmt: skip
    if not args.skip_service:
        one, batched = bench_service(args.service_requests, args.max_batch_size, args.max_tokens)
        speedup = batched["per_s"] / one["per_s"]
        for r in (one, batched):
            rows.append([f"Ray judge service, {r['label']}", f"{r['n']} requests, tiny Qwen2, {args.max_tokens} new tokens",
                         f"{r['per_s']:.1f} requests/s (mean batch {r['mean_batch']:.1f})", "", ""])  # fmt: skip
        rows.append(["  batched vs one at a time", "", f"{speedup:.1f}x", ">= 4x", "yes" if speedup >= 4 else "NO"])
    print(format_table(["benchmark", "workload", "result", "target", "met"], rows, title=f"bench_judge ({os.cpu_count()} cores)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
