"""A GRPO step's worth of WeThink-style responses (prompts × rollouts), deterministic by seed.

Mix (roughly WeThink's): multiple choice 45 %, fill-in-the-blank 35 % (numbers, words, yes/no,
some math expressions), descriptive 20 %. Within a group of rollouts answers repeat, as they do
in GRPO; about a quarter are wrong, a tenth badly formatted, a few adversarial.
"""

from __future__ import annotations

import random

LETTERS = "ABCD"
WORDS = ["red", "blue", "cat", "dog", "triangle", "circle", "tree", "car", "bridge", "river"]
MATH = [("\\frac{1}{2}", "0.5"), ("(x+1)^2", "x^2+2x+1"), ("2\\sqrt{2}", "\\sqrt{8}"), ("\\pi/2", "\\frac{\\pi}{2}"),
        ("3x+6", "3(x+2)"), ("\\frac{3}{4}", "0.75"), ("x^2-1", "(x-1)(x+1)"), ("12", "12")]  # fmt: skip
DESCRIPTIONS = ["A brown dog runs across a grassy park.", "Two children play with a red ball on the beach.",
                "A bar chart compares sales of four products.", "A city street at night with bright signs."]  # fmt: skip


def _response(think: str, answer: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.06:
        return f"{think} The answer is {answer}."  # no tags
    if r < 0.09:
        return f"{think}</think>\n<answer>{answer}</answer>"  # pre-filled <think>
    if r < 0.11:
        return f"<think>{think}</think><answer>{answer}</answer><answer>{answer}</answer>"  # two blocks
    return f"<think>{think}</think>\n<answer>{answer}</answer>"


def make_rows(prompts: int = 512, rollouts: int = 5, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for p in range(prompts):
        kind = rng.random()
        think = "Let me look at the image carefully. " * rng.randint(3, 30)
        if kind < 0.45:
            gold = rng.choice(LETTERS)
            problem = "Which option is shown?\nA. cat\nB. dog\nC. bird\nD. fish"
            extra = {"category": "multiple choice", "reward": "rule-based", "problem": problem}
            options = [gold, f"({gold})", f"The answer is {gold}.", rng.choice(LETTERS), "A or B"]
        elif kind < 0.80:
            sub = rng.random()
            extra = {"category": "fill-in-the-blank", "reward": "rule-based", "problem": "Fill in the blank."}
            if sub < 0.4:
                n = rng.randint(1, 5000)
                gold = str(n)
                options = [gold, f"There are {n} objects.", f"{n:,}", str(n + 1), f"{n} or {n + 1}"]
            elif sub < 0.65:
                gold = rng.choice(WORDS)
                options = [gold, f"It is {gold}.", gold.upper(), rng.choice(WORDS), f"{gold} or {rng.choice(WORDS)}"]
            elif sub < 0.8:
                gold = rng.choice(["Yes", "No"])
                options = [gold, f"{gold}, it is.", gold.lower(), "yes or no", "No" if gold == "Yes" else "Yes"]
            else:
                gold, equivalent = rng.choice(MATH)
                extra["verifier"] = "math"
                options = [equivalent, gold, f"\\boxed{{{equivalent}}}", "x+1", equivalent]
        else:
            gold = rng.choice(DESCRIPTIONS)
            extra = {"category": "descriptive", "reward": "model-based", "problem": "Describe the image."}
            options = [gold, rng.choice(DESCRIPTIONS), gold.lower(), "An image.", rng.choice(DESCRIPTIONS)]
        group = [rng.choice(options[:3]) if rng.random() < 0.7 else rng.choice(options) for _ in range(rollouts)]
        for answer in group:
            rows.append({"response": _response(think, answer, rng), "ground_truth": gold, "extra_info": dict(extra),
                         "prompt": extra["problem"], "data_source": "wethink"})  # fmt: skip
    return rows
