"""Judge rescue (``judge.rescue.policy: abstain``) measured: what it costs in judge calls and what
it gains in recall, next to rules alone, with three judges on the same inputs in one run.

Inputs
- a GRPO-shaped batch (``grpo_batch.make_rows``: 512 prompts x 5 rollouts, WeThink's category
  mix), in which ``--reword`` of the rule-checked rollouts answer in words the rules cannot read
  (an option by a synonym, "one half" for ``\\frac{1}{2}``, "That is right." for yes), right or
  wrong as the rollout was;
- the labelled corpora: ``tests/corpora/vl_benchmarks.jsonl`` (390 answers in benchmark styles;
  our rules already agree with its labels, so it measures what rescue must not break) and
  ``tests/corpora/vl_rescue.jsonl`` (44 answers every rule abstains on, labelled by a careful
  grader: what rescue is for).

Judges
- ``perfect`` (scripted, 127.0.0.1): knows the truth of every (reference, answer) pair: the upper bound;
- ``pays everything`` (scripted): says 1 to anything: what the rescue screen lets through;
- ``vLLM CPU`` (the real vLLM server on this machine, tiny random-weight Qwen2, verdicts constrained
  to the tiers by structured outputs): noise verdicts at real serving cost; on ``--vllm-prompts``
  prompts (default 64: a CPU serves a few requests a second).

    .venv/bin/python benchmarks/bench_judge_rescue.py [--prompts 512] [--rollouts 5] [--reword 0.1]
        [--vllm-prompts 64] [--skip-vllm]

Prints two tables: the batch (judge calls per batch with rescue off and on, rule samples
rescued, right rewordings paid, wrong ones paid, wall time) and the corpora (recall with rules
alone and with rescue, false positives added).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from wethink_verl.text_table import format_table  # noqa: E402

CORPORA = {"vl_benchmarks": HERE.parent / "tests/corpora/vl_benchmarks.jsonl", "vl_rescue": HERE.parent / "tests/corpora/vl_rescue.jsonl"}
CONSTRAINED = {"structured_outputs": {"regex": r"<score>(0|0\.5|1)</score>"}}
# how a policy names an option, a value or a yes when it does not write what the rules read
SYNONYMS = {"cat": ("The feline.", "A kitten."), "dog": ("The canine.", "A puppy."), "bird": ("The one with feathers.",),
            "fish": ("The one with fins.",)}  # fmt: skip
MATH_WORDS = {"0.5": "one half", "\\frac{1}{2}": "one half", "0.75": "three quarters", "\\frac{3}{4}": "three quarters",
              "\\sqrt{8}": "two times the square root of two", "2\\sqrt{2}": "two times the square root of two",
              "\\frac{\\pi}{2}": "pi over two", "\\pi/2": "pi over two"}  # fmt: skip
OPTIONS = {"A": "cat", "B": "dog", "C": "bird", "D": "fish"}  # grpo_batch's multiple-choice problem
ROLLOUTS = 5


# ---- inputs -------------------------------------------------------------------------------------
def _reworded(row: dict, rng: random.Random) -> tuple[str, float] | None:
    """(an answer the rules cannot read, its truth) for a rule row, or None."""
    extra, gold = row["extra_info"], str(row["ground_truth"])
    if extra["category"] == "multiple choice":
        letter = gold if rng.random() < 0.7 else rng.choice([k for k in OPTIONS if k != gold])
        return rng.choice(SYNONYMS[OPTIONS[letter]]), float(letter == gold)
    if extra.get("verifier") == "math" and gold in MATH_WORDS:
        right = rng.random() < 0.7
        return (MATH_WORDS[gold] if right else "one third"), float(right)
    if gold in ("Yes", "No"):
        return "That is right.", float(gold == "Yes")
    return None


def grpo_samples(prompts: int, rollouts: int, reword: float, seed: int = 0) -> list[tuple[dict, float | None]]:
    """(scorer sample, truth where known) for a GRPO batch with ``reword`` of the rule rows reworded."""
    from grpo_batch import make_rows

    from wethink_verl.rows import sample_from_row

    rng = random.Random(seed + 7)
    out = []
    for k, row in enumerate(make_rows(prompts, rollouts, seed)):
        # every prompt its own question (grpo_batch reuses a few texts; a real batch does not)
        row = dict(row, extra_info=dict(row["extra_info"], problem=f"[image {k // rollouts}] {row['extra_info']['problem']}"))
        truth = None
        if row["extra_info"]["category"] != "descriptive" and rng.random() < reword:
            found = _reworded(row, rng)
            if found:
                answer, truth = found
                row = dict(row, response=row["response"].split("<answer>")[0] + f"<answer>{answer}</answer>")
        sample = sample_from_row(row["response"], row["ground_truth"], row["extra_info"], row["data_source"])
        if row["extra_info"]["category"] == "descriptive":
            from wethink_verl.verifiers.extract import extract_answer

            answer = extract_answer(row["response"]).answer or ""
            truth = float(answer.strip().casefold() == str(row["ground_truth"]).casefold())
        out.append((sample, truth))
    return out


def corpus_samples(path: Path) -> list[tuple[dict, float]]:
    from vl_corpus import load_cases, sample

    return [(sample(c), float(c["label"])) for c in load_cases(path)]


# ---- the judges ---------------------------------------------------------------------------------
def oracle(samples: list[tuple[dict, float | None]]) -> dict:
    """(reference, answer) as the judge prompt shows them -> truth, for every sample the judge may
    see: as a descriptive item (the gold) and as a rescue (the rescue's reference)."""
    from wethink_verl.judge.prompt import neutralize
    from wethink_verl.reward import RewardScorer
    from wethink_verl.reward.rescue import reference_text
    from wethink_verl.reward.scorer import clean_gold
    from wethink_verl.verifiers.extract import extract_answer

    rules = RewardScorer({})
    table = {}
    for s, truth in samples:
        answer = extract_answer(s["response"]).answer
        if answer is None or truth is None:
            continue
        gold = str(clean_gold(s["ground_truth"]))
        name = rules.route(s).verifier
        refs = {gold, reference_text(gold, name, rules.verifier_options(name, s) if name != "judge" else {})}
        for ref in refs:
            table[(neutralize(ref.strip()), neutralize(answer.strip()))] = truth
    return table


def score_all(url: str, samples: list[dict], rescue: bool, **judge_cfg) -> tuple[list[dict], dict, float, dict]:
    """(results, judge stats, seconds, scorer stats) for the samples with a fresh judge."""
    from wethink_verl.judge import build_judge
    from wethink_verl.reward import RewardScorer

    cfg = {"enable": True, "url": url, "fallback": "zero", "rescue": {"policy": "abstain" if rescue else "off"}, **judge_cfg}
    judge = build_judge(cfg)
    scorer = RewardScorer({"judge": cfg}, judge=judge)

    async def run():
        try:
            return await scorer.ascore_many(samples, concurrency=256)
        finally:
            await judge.aclose()

    t0 = time.perf_counter()
    res = asyncio.run(run())
    elapsed = time.perf_counter() - t0
    stats = judge.stats_dict()
    judge.close()
    return res, stats, elapsed, scorer.stats.as_dict()


# ---- measures -----------------------------------------------------------------------------------
def batch_row(label: str, batch, res_off, res_on, calls_off, calls_on, s_off, s_on, rescues: dict, verdicts: dict) -> list:
    rule = [i for i, r in enumerate(res_off) if not r["verifier"].startswith("judge")]
    abstained = [i for i in rule if res_off[i]["status"] in ("no_answer", "invalid_gold")]
    rescued = [i for i in rule if res_on[i]["judge_rescued"]]
    reworded = [i for i in rule if batch[i][1] is not None]
    right = [i for i in reworded if batch[i][1] == 1.0]
    wrong = [i for i in reworded if batch[i][1] == 0.0]
    paid = lambda idx: sum(res_on[i]["accuracy"] == 1.0 for i in idx)  # noqa: E731
    screened = sum(v for k, v in rescues.items() if k.endswith("screened out"))
    readable = sum(rescues.values())  # abstentions with an extracted answer: the rest had none to send
    return [label, f"{len(batch) // ROLLOUTS} x {ROLLOUTS}", f"{calls_off} / {calls_on} (+{calls_on - calls_off})", len(rule),
            f"{len(abstained)} ({readable} with an answer)", screened, f"{len(rescued)} ({len(rescued) / len(rule):.1%})",
            f"{paid(right)}/{len(right)}", f"{paid(wrong)}/{len(wrong)}", " ".join(f"{k}:{v}" for k, v in verdicts.items()),
            f"{s_off:.2f} / {s_on:.2f}"]  # fmt: skip


def corpus_rows(label: str, name: str, cases, res_rules, res_on, calls) -> list:
    pos = [i for i, (_, y) in enumerate(cases) if y >= 0.5]
    neg = [i for i, (_, y) in enumerate(cases) if y == 0.0]
    rec = lambda res: sum(res[i]["accuracy"] >= 0.5 for i in pos) / len(pos)  # noqa: E731
    fp = lambda res: sum(res[i]["accuracy"] >= 0.5 for i in neg)  # noqa: E731
    return [label, f"{name} ({len(cases)})", calls, f"{rec(res_rules):.1%}", f"{rec(res_on):.1%}", f"{(rec(res_on) - rec(res_rules)) * 100:+.1f} pp",
            f"{fp(res_rules)} -> {fp(res_on)} of {len(neg)}"]  # fmt: skip


def bench_judge(label: str, url: str, batch, corpora: dict, **judge_cfg) -> tuple[list, list]:
    samples = [s for s, _ in batch]
    score_all(url, samples[:40], True, **judge_cfg)  # warm the endpoint (first requests, connections) outside the timings
    res_off, st_off, t_off, _ = score_all(url, samples, False, **judge_cfg)
    res_on, st_on, t_on, sc_on = score_all(url, samples, True, **judge_cfg)
    brow = batch_row(label, batch, res_off, res_on, st_off["calls"], st_on["calls"], t_off, t_on, sc_on["rescues"], st_on["verdicts_by_score"])
    crows = []
    for name, cases in corpora.items():
        res_rules, _, _, _ = score_all(url, [s for s, _ in cases], False, **judge_cfg)
        res_c, st_c, _, _ = score_all(url, [s for s, _ in cases], True, **judge_cfg)
        crows.append(corpus_rows(label, name, cases, res_rules, res_c, st_c["calls"]))
    return brow, crows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--rollouts", type=int, default=5)
    parser.add_argument("--reword", type=float, default=0.1, help="share of rule rollouts answering in words the rules cannot read")
    parser.add_argument("--vllm-prompts", type=int, default=64)
    parser.add_argument("--skip-vllm", action="store_true")
    args = parser.parse_args(argv)
    global ROLLOUTS
    ROLLOUTS = args.rollouts
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("wethink_verl").setLevel(logging.ERROR)  # rows without an answer and noise verdicts are expected

    from wethink_verl.testing.judge_servers import ScriptedJudgeServer

    from wethink_verl.reward import RewardScorer

    batch = grpo_samples(args.prompts, args.rollouts, args.reword)
    corpora = {name: corpus_samples(path) for name, path in CORPORA.items()}
    asyncio.run(RewardScorer({}).ascore_many([s for s, _ in batch]))  # warm the worker pool and math caches outside the timings
    truth = oracle(batch + [c for cases in corpora.values() for c in cases])
    brows, crows = [], []
    fast = {"timeout_s": 30.0, "concurrency": 64}
    for label, default in (("perfect (scripted)", "oracle"), ("pays everything (scripted)", "score=1")):
        with ScriptedJudgeServer(default=default, oracle=truth) as srv:
            b, c = bench_judge(label, srv.url, batch, corpora, **fast)
        brows.append(b)
        crows += c
    if not args.skip_vllm:
        b, c = bench_vllm(args, corpora)
        brows.append(b)
        crows += c
    print(format_table(["judge", "prompts x rollouts", "judge calls: off / rescue", "rule samples", "rule abstained", "screened out",
                        "rescued (judge decided)", "right rewordings paid", "wrong rewordings paid", "verdicts (rescue on)",
                        "seconds off / on"], brows,
                       title=f"judge rescue on a GRPO batch ({args.rollouts} rollouts per prompt, {args.reword:.0%} of rule rollouts reworded)"))  # fmt: skip
    print()
    print(format_table(["judge", "corpus (cases)", "judge calls", "recall, rules", "recall, + rescue", "gained", "false positives"], crows,
                       title="recall on the labelled corpora (rules alone vs rules + rescue)"))  # fmt: skip
    return 0


def bench_vllm(args, corpora: dict) -> tuple[list, list]:
    from wethink_verl.demo.offline_models import build_tiny_qwen2_lm
    from wethink_verl.testing.vllm_server import VLLMServer, judge_python

    batch = grpo_samples(args.vllm_prompts, args.rollouts, args.reword)
    with VLLMServer(str(build_tiny_qwen2_lm()), python=judge_python(), served_model_name=None, max_model_len=1024) as server:
        return bench_judge("vLLM CPU (tiny random Qwen2)", server.url, batch, corpora, max_tokens=16, parse_retries=0, timeout_s=120.0,
                           total_timeout_s=600.0, request_kwargs=CONSTRAINED)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
