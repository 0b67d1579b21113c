"""The rule-verifier path against what verl and EasyR1 users run, on one WeThink-like mix.

A GRPO-shaped mix (prompts x rollouts) with an intended label per response: mostly option letters
and short answers, some numbers / yes-no / OCR text / boxes, some math that needs symbolic work,
and a few adversarial responses (power towers, huge factorials, deep nesting, tag and brace spam,
hedges). In one run, on the same inputs:

  (a) wethink  RewardScorer.score on the full response (extraction, format, routing, verifier;
               single process + the default 2 bounded workers; their CPU is counted)
  (b) verl     verl.utils.reward_score.math_verify.compute_score(response, gold)
               (what verl users plug in for math; its spawn pool's CPU is counted)
  (c) mathruler  mathruler.grader.grade_answer(extracted answer, gold) (EasyR1's grader), on the
               answers our extraction reads (a 10 s SIGALRM guard keeps the run finite)

For each: responses/s per core (responses / CPU-seconds of the whole process tree), wall-clock
responses/s, p50 / p99 / max latency per response, agreement with the intended labels (overall,
on the math subset, on the adversarial subset).

Then the public VL regression corpus (tests/corpora/vl_benchmarks.jsonl: MMBench, MMMU,
MathVista, ChartQA, DocVQA, OCRBench, POPE, HallusionBench, RefCOCO answers labelled by a careful
grader): agreement per kind for ours and for each peer, on the same responses.

    .venv/bin/python benchmarks/bench_verifiers.py [--prompts 500] [--rollouts 5] [--seed 0]
        [--skip-verl] [--skip-mathruler] [--skip-no-cache] [--skip-corpus] [--corpus-only]

The machine may be shared with other jobs: CPU-seconds are what each system used, wall-clock
figures include waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field

import psutil

from wethink_verl.text_table import format_table

# ---- the mix -------------------------------------------------------------------------------------


@dataclass
class Item:
    kind: str  # choice | text | number | yesno | iou | ocr | math_cheap | math_symbolic | adversarial
    category: str
    gold: str
    answer: str  # the text inside <answer>, or a full response when raw is set
    label: int  # intended accuracy
    raw: bool = False
    extra: dict = field(default_factory=dict)
    think: str = "Looking at the image step by step."

    @property
    def response(self) -> str:
        return self.answer if self.raw else f"<think>{self.think}</think>\n<answer>{self.answer}</answer>"

    @property
    def is_math(self) -> bool:
        return self.kind.startswith("math") or self.category == "math"


ANIMALS = ["cat", "rabbit", "dog", "parrot", "horse", "cow", "sheep", "goat", "duck", "fox", "owl", "bear"]
COLORS = ["red", "blue", "green", "yellow", "black", "white", "orange", "purple", "brown", "grey"]
WORDS = ["Paris", "stop sign", "umbrella", "bicycle", "kitchen", "winter", "apple", "guitar", "bridge", "train"]


def _choice(rng: random.Random) -> tuple[str, str, list[str], list[str], list[str]]:
    options = rng.sample(ANIMALS, 4)
    gold_i = rng.randrange(4)
    letters = "ABCD"
    g, text = letters[gold_i], options[gold_i]
    wrong_i = rng.choice([i for i in range(4) if i != gold_i])
    w, wtext = letters[wrong_i], options[wrong_i]
    problem = "Which animal is in the picture?\n" + "\n".join(f"{letters[i]}. {options[i]}" for i in range(4))
    right = [g, f"({g})", f"{g}.", f"{g}) {text}", f"The answer is {g}.", f"Answer: ({g})", text, f"{g}"]
    wrong = [w, f"({w}) {wtext}", f"The answer is {w}.", wtext]
    # "Not B" is wrong; so is a hedge phrased as a sentence
    hedge = [f"{g} or {w}", "A, B, C, D", f"{w}/{g}", "I cannot tell from the image.", f"Not {g}",
             f"The answer is {g}, but {w} is also possible."]
    return g, problem, right, wrong, hedge


def make_mix(prompts: int, rollouts: int, seed: int) -> list[Item]:
    rng = random.Random(seed)
    kinds = (
        ["choice"] * 44 + ["text"] * 10 + ["number"] * 12 + ["yesno"] * 8 + ["iou"] * 5 + ["ocr"] * 4
        + ["math_cheap"] * 8 + ["math_symbolic"] * 7 + ["adversarial"] * 2
    )  # fmt: skip
    items: list[Item] = []
    for p in range(prompts):
        kind = rng.choice(kinds)
        variants = _variants(kind, rng, p)
        right, wrong, hedge, meta = variants
        for _ in range(rollouts):
            roll = rng.random()
            pool = right if roll < 0.6 else wrong if roll < 0.88 else hedge
            if not pool:
                pool = right
            answer, label = rng.choice(pool)
            raw = answer.startswith("<raw>")
            items.append(Item(kind, meta["category"], meta["gold"], answer[len("<raw>") :] if raw else answer, label, raw,
                              dict(meta.get("extra", {})), _reasoning(rng, kind)))  # fmt: skip
    return items


_SENTENCES = [
    "The image shows {a} objects in the foreground and {b} in the background.",
    "Looking more closely at the left part of the picture, I can see the label clearly.",
    "First I identify the main object, then I compare it with each option.",
    "The colour of the largest region is easy to read; the smaller regions are partly hidden.",
    "Counting row by row gives {a} in the first row and {b} in the second.",
    "Option {L} does not match the shape, so it can be excluded.",
    "The question asks about the object in the centre, which is partly occluded.",
    "Wait, let me double-check the count: {a} plus {b} items.",
]
_MATH_SENTENCES = [
    "Let $x$ be the unknown; from the figure $x^2 + {a}x = {b}$.",
    "Using the Pythagorean theorem, $c = \\sqrt{{{a}^2 + {b}^2}}$.",
    "The area is $\\frac{{1}}{{2}} \\cdot {a} \\cdot {b} = \\frac{{{ab}}}{{2}}$.",
    "So $\\angle ABC = {a}^\\circ$ and the remaining angle is ${b}^\\circ$.",
    "Substituting gives $y = {a}x + {b}$, hence the slope is ${a}$.",
    "Expanding, $(x+{a})^2 = x^2 + {a2}x + {aa}$.",
]


def _reasoning(rng: random.Random, kind: str) -> str:
    """A WeThink-like chain of thought: 3-12 sentences, LaTeX for the math ones."""
    pool = _MATH_SENTENCES + _SENTENCES[:3] if kind.startswith("math") else _SENTENCES
    out = []
    for _ in range(rng.randint(3, 12)):
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        out.append(rng.choice(pool).format(a=a, b=b, ab=a * b, a2=2 * a, aa=a * a, L=rng.choice("ABCD")))
    return " ".join(out)


def _variants(kind: str, rng: random.Random, p: int):
    """(right, wrong, hedge, meta); each list holds (answer, label or None)."""
    L = lambda xs, lab: [(x, lab) for x in xs]  # noqa: E731
    if kind == "choice":
        g, problem, right, wrong, hedge = _choice(rng)
        return L(right, 1), L(wrong, 0), L(hedge, 0), {"category": "multiple choice", "gold": g, "extra": {"problem": problem}}
    if kind == "text":
        g = rng.choice(COLORS)
        w = rng.choice([c for c in COLORS if c != g])
        right = [g, g.capitalize() + ".", f"The car is {g}.", f"It is {g}"]
        # last hedge: a known weakness, a list without separators is read as a short answer
        hedge = [f"{w} or {g}", f"{w}, {g}, {rng.choice(COLORS)}", f"{w} {g} {rng.choice(COLORS)}"]
        return L(right, 1), L([w, f"The car is {w}."], 0), L(hedge, 0), {"category": "fill in the blank", "gold": g}
    if kind == "number":
        n = rng.choice([rng.randint(2, 20), rng.randint(100, 5000)])
        m = n + rng.choice([-2, -1, 1, 3])
        shown = f"{n:,}" if n >= 1000 else str(n)
        right = [str(n), f"There are {n} objects.", shown, f"{shown} items", f"**{n}**"]
        if n <= 10:  # Chinese numerals
            right.append("零一二三四五六七八九十"[n] + "个")
        if n <= 20:
            right.append(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                          "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"][n])  # fmt: skip
        return L(right, 1), L([str(m), f"There are {m} objects."], 0), L([f"{n} or {m}", f"between {m} and {n}"], 0), {"category": "counting", "gold": str(n)}
    if kind == "yesno":
        g = rng.choice(["Yes", "No"])
        w = "No" if g == "Yes" else "Yes"
        right = [g, f"{g}.", f"{g}, it is.", g.lower()] + (["Not really."] if g == "No" else [])
        return (L(right, 1), L([w, f"{w}, it is not."], 0), L(["Yes or no", "yes/no"], 0),
                {"category": "yes no", "gold": g})  # fmt: skip
    if kind == "iou":
        x, y = rng.randint(0, 300), rng.randint(0, 200)
        w, h = rng.randint(40, 200), rng.randint(40, 200)
        gold = [x, y, x + w, y + h]
        near = [x + 2, y + 1, x + w - 1, y + h + 2]
        far = [x + w + 50, y, x + 2 * w + 50, y + h]
        right = [str(near), f'[{{"bbox_2d": {near}, "label": "dog"}}]', f"The dog is at {gold}."]
        wrong = [str(far), "[0, 0, 640, 480]", f"[{x}, {y}, {x}, {y}]"]
        return (L(right, 1), L(wrong, 0), L([str([gold, far, [0, 0, 10, 10]] * 5)], 0),
                {"category": "grounding", "gold": str(gold), "extra": {"image_size": [640, 480]}})  # fmt: skip
    if kind == "ocr":
        g = rng.choice(WORDS)
        return L([g, g.upper(), f'"{g}"'], 1), L([rng.choice([w for w in WORDS if w != g])], 0), [], {"category": "ocr", "gold": g}
    if kind == "math_cheap":
        a, b = rng.randint(1, 9), rng.randint(2, 12)
        g = f"\\frac{{{a}}}{{{b}}}"
        right = [g, f"\\dfrac{{{a}}}{{{b}}}", f"$\\frac{{{2 * a}}}{{{2 * b}}}$", f"\\boxed{{\\frac{{{a}}}{{{b}}}}}", f"{a}/{b}"]
        wrong = [f"\\frac{{{a + 1}}}{{{b}}}", str(round(a / b + 0.1, 3))]
        angle = rng.choice([30, 45, 60, 90, 120])
        if rng.random() < 0.4:
            return L([f"{angle}^\\circ", f"{angle}°", str(angle)], 1), L([f"{angle + 15}^\\circ"], 0), [], {"category": "math", "gold": str(angle)}
        return L(right, 1), L(wrong, 0), [], {"category": "math", "gold": g}
    if kind == "math_symbolic":
        a = rng.randint(1, 9)
        cases = [
            (f"(x+{a})^2", [f"x^2+{2 * a}x+{a * a}", f"x^{{2}} + {2 * a} x + {a * a}"], [f"x^2+{a * a}", f"x^2+{a}x+{a * a}"]),
            (f"\\{{{a}, {a + 1}\\}}", [f"\\{{{a + 1}, {a}\\}}"], [f"\\{{{a}, {a + 2}\\}}"]),
            (f"{a}\\sqrt{{2}}", [f"\\sqrt{{{2 * a * a}}}"], [f"{a}\\sqrt{{3}}"]),
            ("\\frac{\\sqrt{2}}{2}", ["\\frac{1}{\\sqrt{2}}"], ["\\frac{\\sqrt{3}}{2}"]),
            (f"{a}<x<{a + 3}", [f"({a}, {a + 3})", f"x \\in ({a}, {a + 3})"], [f"({a}, {a + 4})"]),
            (f"({a}, {a + 3})", [f"({a}, {a + 3})"], [f"{a}<x<{a + 3}"]),  # an unsolved inequality does not match an interval
            (f"\\binom{{{a + 4}}}{{2}}", [str((a + 4) * (a + 3) // 2)], [str((a + 4) * (a + 3))]),
            (f"{a}\\pi", [f"{a} \\pi", f"\\pi \\cdot {a}"], [f"{a + 1}\\pi"]),
        ]
        g, right, wrong = rng.choice(cases)
        return L(right, 1), L(wrong, 0), [], {"category": "math", "gold": g}
    # adversarial: the attack (label 0) next to honest rollouts for the same prompt (label 1)
    adv = [
        ("\\boxed{9^{9^{9^{9}}}}", "1", "math", "1"), ("\\boxed{(10^{10^{5}})!}", "3", "math", "3"),
        ("\\boxed{" + "(" * 300 + "1" + ")" * 300 + "}", "2", "math", "2"), ("9^{9^{9^{9^{9}}}}", "7", "math", "7"),
        ("<raw>" + "</think>\\boxed{" * 50_000, "1", "math", "1"), ("<raw>" + "<think>" * 50_000, "B", "multiple choice", "B"),
        ("\\boxed{" + "{" * 40_000, "4", "math", "4"), ("\\" * 50_000, "5", "math", "5"),
        ("A or B " * 7_000, "B", "multiple choice", "B"), ("<raw><think>I will answer <answer>B</answer></think>", "B", "multiple choice", "B"),
        ("<raw><think>x</think><answer></answer>", "B", "multiple choice", "B"),
        ("[1, 2, 3, 4] " * 4_000, "[1, 2, 3, 4]", "grounding", "[1, 2, 3, 4]"),
        ("<raw><think>" + "Let me look again. " * 2_600 + "</think><answer>A, B, C, D</answer>", "B", "multiple choice", "B"),
    ]  # fmt: skip
    attack, gold, category, honest = rng.choice(adv)
    long_honest = "<raw><think>" + "Let me look again. " * 2_600 + f"</think><answer>{honest}</answer>"
    return L([honest, long_honest], 1), L([attack], 0), L([attack], 0), {"category": category, "gold": gold}


# ---- measurement ---------------------------------------------------------------------------------


def _tree_cpu() -> float:
    """CPU-seconds of this process and every descendant, including reaped children's time."""
    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


@dataclass
class Run:
    name: str
    preds: list[int]
    lat: list[float]
    cpu_s: float
    wall_s: float
    notes: str = ""


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run_ours(items: list[Item], cache: bool) -> tuple[Run, dict]:
    from wethink_verl.reward import RewardScorer
    from wethink_verl.verifiers import bounded
    from wethink_verl.verifiers.math import clear_cache

    scorer = RewardScorer({})
    pool = bounded.get_pool()
    pool.warm_up()
    scorer.score({"response": "<think>x</think><answer>x^2</answer>", "ground_truth": "x^{2}+0", "verifier": "math"})
    clear_cache()
    samples = []
    for it in items:
        s = {"response": it.response, "ground_truth": it.gold, "category": it.category, "reward": "rule-based"}
        s.update(it.extra)
        samples.append(s)
    calls0, timeouts0 = pool.stats.calls, pool.stats.timeouts
    preds, lat = [], []
    cpu0, t0 = _tree_cpu(), time.perf_counter()
    for s in samples:
        if not cache:
            clear_cache()
        t = time.perf_counter()
        res = scorer.score(s)
        lat.append(time.perf_counter() - t)
        preds.append(1 if res["accuracy"] >= 0.5 else 0)
    wall, cpu = time.perf_counter() - t0, _tree_cpu() - cpu0
    info = {"pool_calls": pool.stats.calls - calls0, "pool_timeouts": pool.stats.timeouts - timeouts0,
            "statuses": scorer.stats.as_dict()["statuses"], "unmapped": scorer.stats.as_dict()["unmapped_values"]}  # fmt: skip
    return Run("wethink (ours)" + ("" if cache else ", cache off"), preds, lat, cpu, wall), info


def run_verl(items: list[Item]) -> Run:
    from verl.utils.reward_score.math_verify import compute_score

    # its spawn workers log every math-verify timeout with the whole input: silence their stderr
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        for _ in range(8):  # start and warm its spawn pool (up to 4 workers) before timing
            compute_score("<answer>\\boxed{1}</answer>", "1")
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)
    preds, lat = [], []
    cpu0, t0 = _tree_cpu(), time.perf_counter()
    for it in items:
        t = time.perf_counter()
        score = compute_score(it.response, it.gold)
        lat.append(time.perf_counter() - t)
        preds.append(1 if score >= 0.5 else 0)
    return Run("verl math_verify.compute_score", preds, lat, _tree_cpu() - cpu0, time.perf_counter() - t0)


class _Guard(Exception):
    pass


def run_mathruler(items: list[Item], guard_s: int = 10) -> Run:
    from mathruler.grader import grade_answer

    from wethink_verl.verifiers.extract import extract_answer

    answers = [extract_answer(it.response).answer for it in items]  # extraction is not timed
    grade_answer("1", "1")

    def alarm(*_):
        raise _Guard

    old = signal.signal(signal.SIGALRM, alarm)
    preds, lat, guarded = [], [], 0
    cpu0, t0 = _tree_cpu(), time.perf_counter()
    try:
        for it, ans in zip(items, answers):
            t = time.perf_counter()
            ok = False
            if ans is not None:
                signal.alarm(guard_s)
                try:
                    ok = bool(grade_answer(ans, it.gold))
                except _Guard:
                    guarded += 1
                except Exception:  # noqa: BLE001 - a grader error is a 0
                    ok = False
                finally:
                    signal.alarm(0)
            lat.append(time.perf_counter() - t)
            preds.append(int(ok))
    finally:
        signal.signal(signal.SIGALRM, old)
    notes = f"{guarded} hit the {guard_s} s guard" if guarded else ""
    return Run("mathruler grade_answer (EasyR1)", preds, lat, _tree_cpu() - cpu0, time.perf_counter() - t0, notes)


def agreement(run: Run, items: list[Item], subset=None) -> float:
    idx = [i for i, it in enumerate(items) if subset is None or subset(it)]
    return sum(run.preds[i] == items[i].label for i in idx) / max(1, len(idx))


def corpus_table(skip_verl: bool, skip_mathruler: bool) -> str:
    """Agreement with the VL corpus labels per kind: ours, verl's compute_score, mathruler."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from vl_corpus import agreement_by_kind, load_cases, response, score_ours

    cases = load_cases()
    systems = {"wethink (ours)": score_ours(cases)}
    if not skip_verl:
        from verl.utils.reward_score.math_verify import compute_score

        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)  # its workers print every math-verify failure
        try:
            systems["verl math_verify.compute_score"] = [float(compute_score(response(c), c["gold"])) for c in cases]
        finally:
            os.dup2(saved, 2)
            os.close(devnull)
            os.close(saved)
    if not skip_mathruler:
        from mathruler.grader import grade_answer

        def grade(c):
            try:
                return float(bool(grade_answer(c["answer"], c["gold"])))
            except Exception:  # noqa: BLE001 - a grader error is a 0
                return 0.0

        systems["mathruler grade_answer"] = [grade(c) for c in cases]
    tables = {name: agreement_by_kind(cases, scores) for name, scores in systems.items()}
    kinds = list(next(iter(tables.values())))
    rows = []
    for name, table in tables.items():
        total = sum(a for a, _ in table.values())
        rows.append([name] + [f"{table[k][0] / table[k][1]:.3f}" for k in kinds] + [f"{total / len(cases):.3f}"])
    counts = ", ".join(f"{k} {n}" for k, (_, n) in next(iter(tables.values())).items())
    return format_table(["system", *kinds, "all"], rows, title=f"VL corpus agreement per kind ({len(cases)} cases: {counts})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=500)
    ap.add_argument("--rollouts", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-verl", action="store_true")
    ap.add_argument("--skip-mathruler", action="store_true")
    ap.add_argument("--skip-no-cache", action="store_true", help="skip the second run of ours with the math cache cleared before every response")
    ap.add_argument("--skip-corpus", action="store_true", help="skip the VL regression corpus table")
    ap.add_argument("--corpus-only", action="store_true", help="only the VL regression corpus table")
    args = ap.parse_args()
    if args.corpus_only:
        print(corpus_table(args.skip_verl, args.skip_mathruler))
        return 0

    items = make_mix(args.prompts, args.rollouts, args.seed)
    kinds: dict[str, int] = {}
    for it in items:
        kinds[it.kind] = kinds.get(it.kind, 0) + 1
    print(f"mix: {len(items)} responses ({args.prompts} prompts x {args.rollouts} rollouts): "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])), flush=True)  # fmt: skip
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)

    runs: list[Run] = []
    ours, info = run_ours(items, cache=True)
    runs.append(ours)
    print(f"ours: pool calls {info['pool_calls']}, pool timeouts {info['pool_timeouts']}, statuses {info['statuses']}", flush=True)
    if info["unmapped"]:
        print(f"ours: unmapped routing values {info['unmapped']}")
    if not args.skip_no_cache:
        runs.append(run_ours(items, cache=False)[0])
    if not args.skip_verl:
        runs.append(run_verl(items))
        print("verl done", flush=True)
    if not args.skip_mathruler:
        runs.append(run_mathruler(items))

    n = len(items)
    base = next((r for r in runs if r.name.startswith("verl")), None)
    rows = []
    for r in runs:
        per_core = n / r.cpu_s if r.cpu_s > 0 else float("inf")
        ratio = (per_core / (n / base.cpu_s)) if base and base.cpu_s > 0 else None
        rows.append([
            r.name, f"{per_core:,.0f}", f"{n / r.wall_s:,.0f}", f"{r.cpu_s:.2f}",
            f"{_pct(r.lat, 0.5) * 1e3:.2f}", f"{_pct(r.lat, 0.99) * 1e3:.1f}", f"{max(r.lat):.2f}",
            f"{agreement(r, items):.3f}", f"{agreement(r, items, lambda it: it.is_math):.3f}",
            f"{agreement(r, items, lambda it: it.kind == 'adversarial'):.3f}",
            f"{ratio:,.1f}x" if ratio else "", r.notes,
        ])  # fmt: skip
    headers = ["system", "resp/s/core", "resp/s wall", "CPU s", "p50 ms", "p99 ms", "max s", "agree", "agree math",
               "agree adv", "per-core vs verl", "notes"]  # fmt: skip
    print()
    print(format_table(headers, rows, title=f"Verifier benchmark: {n} responses, {sum(it.is_math for it in items)} math, "
                                            f"{kinds.get('adversarial', 0)} adversarial (machine shared; CPU counts every process)"))  # fmt: skip
    print()
    for r in runs:
        above = sum(1 for x in r.lat if x > 1.0)
        print(f"{r.name}: {above} inputs above 1 s, {sum(1 for x in r.lat if x > 2.5)} above 2.5 s")
    wrong = [(it.kind, it.gold, it.answer[:50], it.label) for it, p in zip(items, ours.preds) if p != it.label]
    if wrong:
        print(f"ours: {len(wrong)} disagreements with the intended labels, e.g.:")
        for w in list(dict.fromkeys(wrong))[:12]:
            print("   ", w)
    if not args.skip_corpus:
        print()
        print(corpus_table(args.skip_verl, args.skip_mathruler))
    return 0


if __name__ == "__main__":
    sys.exit(main())
