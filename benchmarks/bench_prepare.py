"""``wethink-verl prepare`` throughput and memory, and ``WeThinkDataset.__getitem__`` vs verl's
``RLHFDataset.__getitem__``, on a generated WeThink-style set with images.

    .venv/bin/python benchmarks/bench_prepare.py [--rows 10000] [--small-rows 2500] [--work-dir DIR]

- prepare runs as a child process (the real CLI); its peak RSS comes from ``os.wait4`` (the
  child and the worker processes it waited for). The same conversion at two sizes shows whether
  memory grows with the number of rows.
- the synthetic images are tiny (96x72), so image decoding is nearly free in those runs; a
  separate line times the same decode check on real-sized images (a 1024x768 JPEG photo, a
  1200x900 PNG chart, a 1700x2200 PNG document page, as in LLaVA-CoT's sources) to estimate
  the 120K-row time on real data.
- ``__getitem__``: RLHFDataset over the prepared parquet and WeThinkDataset over the JSONL, the
  same rows, passes interleaved (A B A B …) and the best pass of each kept, so load from other
  processes on the machine hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

TARGET_ROWS, TARGET_SECONDS = 120_000, 300


def run_prepare(records: str, images: str, out: str, *extra: str) -> dict:
    """One CLI run in a child process: wall seconds, peak RSS (MiB), the summary json."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "wethink_verl.cli", "prepare", "--input", records, "--image-root", images,
           "--output-dir", out, "--format", "verl", "--no-progress", *extra]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"prepare failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    with open(os.path.join(out, "prepare_summary.json")) as f:
        summary = json.load(f)
    size = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    return {"wall": wall, "peak_mib": usage.ru_maxrss / 1024, "summary": summary, "bytes": size}


def real_size_decode_ms(work: str, n: int = 12) -> dict[str, float]:
    """ms per image for prepare's decode check on real-sized images."""
    import random

    from PIL import Image, ImageDraw, ImageFilter

    from wethink_verl.data.schema import ImageChecker

    rng = random.Random(0)
    root = os.path.join(work, "real_images")
    os.makedirs(root, exist_ok=True)
    kinds = {"jpeg 1024x768 photo": ("jpg", (1024, 768)), "png 1200x900 chart": ("png", (1200, 900)), "png 1700x2200 document": ("png", (1700, 2200))}
    out = {}
    for label, (ext, size) in kinds.items():
        names = []
        for k in range(n):
            im = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
            d = ImageDraw.Draw(im)
            for _ in range(60):
                x, y = rng.randrange(size[0]), rng.randrange(size[1])
                box = [x, y, x + rng.randrange(20, 300), y + rng.randrange(10, 200)]
                d.rectangle(box, fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
                d.text((x, y), "Total revenue 2019 %d" % rng.randrange(1000), fill="black")
            if ext == "jpg":  # photo-like texture: noise, blurred
                noise = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3)).filter(ImageFilter.GaussianBlur(1))
                im = Image.blend(im, noise, 0.3)
            name = f"{ext}_{size[0]}_{k}.{ext}"
            im.save(os.path.join(root, name), **({"quality": 90} if ext == "jpg" else {}))
            names.append(name)
        best = float("inf")
        for _ in range(3):
            checker = ImageChecker(root, "decode", cache_size=0)
            t0 = time.perf_counter()
            for name in names:
                checker.check(name)
            best = min(best, (time.perf_counter() - t0) / n * 1000)
        out[label] = best
    return out


def getitem_compare(records: str, images: str, parquet: str, work: str, rows: int, passes: int = 3) -> dict:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from omegaconf import OmegaConf
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset, get_dataset_class

    from wethink_verl.demo.offline_models import build_qwen25vl_processor

    proc_dir = str(build_qwen25vl_processor())
    tok, proc = hf_tokenizer(proc_dir), hf_processor(proc_dir)
    base = {"prompt_key": "prompt", "image_key": "images", "max_prompt_length": 2048, "filter_overlong_prompts": False,
            "filter_overlong_prompts_workers": None, "return_raw_chat": True, "cache_dir": os.path.join(work, "verl-cache")}  # fmt: skip
    t0 = time.perf_counter()
    ref = RLHFDataset(parquet, tok, OmegaConf.create(base), processor=proc)
    init_ref = time.perf_counter() - t0
    cfg = OmegaConf.create({**base, "custom_cls": {"path": "pkg://wethink_verl.data.dataset", "name": "WeThinkDataset"},
                            "wethink": {"image_root": images}})  # fmt: skip
    t0 = time.perf_counter()
    ours = get_dataset_class(cfg)(records, tok, cfg, processor=proc)
    init_ours = time.perf_counter() - t0
    assert len(ours) == len(ref) == rows, (len(ours), len(ref), rows)
    best = {"RLHFDataset": float("inf"), "WeThinkDataset": float("inf")}
    for _ in range(passes):
        for name, ds in (("RLHFDataset", ref), ("WeThinkDataset", ours)):
            t0 = time.perf_counter()
            for i in range(len(ds)):
                ds[i]
            best[name] = min(best[name], (time.perf_counter() - t0) / len(ds))
    return {"us": {k: v * 1e6 for k, v in best.items()}, "init": {"RLHFDataset": init_ref, "WeThinkDataset": init_ours}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--small-rows", type=int, default=2_500, help="the second size for the memory comparison")
    ap.add_argument("--work-dir", default=None, help="default: a temporary directory, removed at the end")
    args = ap.parse_args()

    from wethink_verl.data.synthetic import write_synthetic_wethink
    from wethink_verl.text_table import format_table

    work = args.work_dir or tempfile.mkdtemp(prefix="bench_prepare_")
    # verl's parquet loading caches an Arrow copy: keep it with the generated data, not in ~/.cache
    os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(work, "hf-datasets-cache"))
    try:
        t0 = time.perf_counter()
        records, images = write_synthetic_wethink(os.path.join(work, "big"), args.rows, seed=0)
        small_records, small_images = write_synthetic_wethink(os.path.join(work, "small"), args.small_rows, seed=0)
        print(f"generated {args.rows} + {args.small_rows} rows with images in {time.perf_counter() - t0:.1f} s", flush=True)

        runs = [
            ("paths, 1 process", records, images, args.rows, ("--workers", "1")),
            ("paths, 1 process", small_records, small_images, args.small_rows, ("--workers", "1")),
            ("paths, 2 workers", records, images, args.rows, ("--workers", "2")),
            ("--embed-images, 1 process", records, images, args.rows, ("--workers", "1", "--embed-images")),
            ("--embed-images, 1 process", small_records, small_images, args.small_rows, ("--workers", "1", "--embed-images")),
            ("--embed-images, 2 workers", records, images, args.rows, ("--workers", "2", "--embed-images")),
        ]
        table, results = [], {}
        for label, recs, imgs, n, extra in runs:
            r = run_prepare(recs, imgs, os.path.join(work, "out"), *extra)
            assert r["summary"]["rows_in"] == n and sum(r["summary"]["written"].values()) == n
            rate = n / r["summary"]["seconds"]
            results[(label, n)] = r
            table.append([label, n, round(r["summary"]["seconds"], 2), round(r["wall"], 2), round(rate), round(TARGET_ROWS / rate / 60, 2),
                          round(r["peak_mib"]), round(r["bytes"] / 2**20, 1)])  # fmt: skip
            print(f"  {label:28s} {n:6d} rows: {rate:7.0f} rows/s, peak {r['peak_mib']:.0f} MiB", flush=True)
        print()
        print(format_table(
            ["prepare --format verl", "rows", "convert s", "wall s", "rows/s", "120K min (extrap.)", "peak RSS MiB", "output MiB"],
            table, f"prepare on {os.cpu_count()} cores (shared machine: load average {os.getloadavg()[0]:.1f} at the end)"))  # fmt: skip

        flat = []
        for label in ("paths, 1 process", "--embed-images, 1 process"):
            small, big = results[(label, args.small_rows)], results[(label, args.rows)]
            flat.append([label, round(small["peak_mib"]), round(big["peak_mib"]), round(big["peak_mib"] / small["peak_mib"], 2)])
        print()
        print(format_table(["peak memory", f"{args.small_rows} rows MiB", f"{args.rows} rows MiB", "ratio"], flat,
                           f"memory vs rows ({args.rows // args.small_rows}x the rows)"))  # fmt: skip

        decode = real_size_decode_ms(work)
        print()
        rows = []
        for label, ms in decode.items():
            rows.append([label, round(ms, 2), round(TARGET_ROWS * ms / 1000 / 60, 1), round(TARGET_ROWS * ms / 1000 / 60 / (os.cpu_count() or 1), 1)])
        print(format_table(["real-sized image", "decode check ms", "120K min, 1 core", f"120K min, {os.cpu_count()} workers"], rows,
                           "the decode check on real-sized images (--image-check decode; header/exists skip it)"))  # fmt: skip

        parquet = os.path.join(work, "getitem", "train.parquet")
        run_prepare(records, images, os.path.dirname(parquet), "--workers", "1")
        g = getitem_compare(records, images, parquet, work, args.rows)
        ratio = g["us"]["RLHFDataset"] / g["us"]["WeThinkDataset"]
        print()
        print(format_table(
            ["dataset", "__getitem__ us", "items/s", "init s"],
            [[name, round(us, 1), round(1e6 / us), round(g["init"][name], 2)] for name, us in g["us"].items()],
            f"__getitem__ on the same {args.rows} rows (best of 3 interleaved passes): WeThinkDataset is {ratio:.2f}x RLHFDataset's speed",
        ))  # fmt: skip
        return 0
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
